"""A run folder is never wrong: staged writes, one swap at the end, a completion marker, one run at a time."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from cxrlib.book.artifacts import MARKER, RunArtifacts, RunFolderBusy, is_complete
from cxrlib.core import staging


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def finished_run(out, value=1, extra=None):
    run = RunArtifacts(out, "nb", {"value": value})
    run.table(pd.DataFrame({"a": [value]}), "t1", "A table")
    if extra:
        (run.out_dir / extra).write_text(str(value))
    run.finish()
    return run


def test_a_finished_run_is_complete_and_nothing_else_is_left(tmp_path):
    out = tmp_path / "run"
    run = finished_run(out, extra="model.txt")
    assert run.out_dir == out and not run.is_open
    assert is_complete(out) and is_complete(out, verify="sha256")
    marker = json.loads((out / MARKER).read_text())
    assert set(marker["files"]) == {"t1.csv", "t1.md", "model.txt", "provenance.json"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.lock", "run"]  # no staging, no old folder
    with pytest.raises(RuntimeError, match="already finished"):
        run.finish()


def test_readers_see_damage(tmp_path):
    out = tmp_path / "run"
    finished_run(out)
    (out / "t1.csv").write_text("a\n22\n")  # other size
    assert not is_complete(out)
    (out / "t1.csv").unlink()
    assert not is_complete(out)
    assert not is_complete(tmp_path / "missing") and not is_complete(tmp_path)


def test_a_failed_run_leaves_the_finished_folder_byte_equal(tmp_path):
    out = tmp_path / "run"
    finished_run(out, value=1, extra="model.txt")
    before = snapshot(out)
    run = RunArtifacts(out, "nb", {"value": 2})
    assert run.out_dir == staging.staging_dir(out) and run.final_dir == out
    run.table(pd.DataFrame({"a": [2]}), "t1", "A table")
    run.table(pd.DataFrame({"b": [2]}), "t2", "Another")
    (run.out_dir / "model.txt").write_text("2")
    # the notebook fails here: no finish(); the kernel ends
    run.abort()
    assert snapshot(out) == before and is_complete(out, verify="sha256")
    # the next attempt starts from the unfinished staging folder, without the failed attempt's artifacts
    retry = RunArtifacts(out, "nb", {"value": 2})
    assert not (retry.out_dir / "t2.csv").exists() and not (retry.out_dir / "t1.csv").exists()
    assert (retry.out_dir / "model.txt").read_text() == "2"  # training state is kept for resume
    retry.table(pd.DataFrame({"a": [3]}), "t3", "Third")
    retry.finish()
    assert is_complete(out) and sorted(snapshot(out)) == ["COMPLETE.json", "model.txt", "provenance.json", "t3.csv", "t3.md"]


def test_a_new_run_carries_over_files_but_not_the_old_artifacts(tmp_path):
    out = tmp_path / "run"
    finished_run(out, value=1, extra="cache.bin")
    (out / "run.ipynb").write_text("{}")  # what `cxrlib book` keeps beside the artifacts
    run = RunArtifacts(out, "nb", {"value": 2})
    assert sorted(p.name for p in run.out_dir.iterdir()) == [".artifacts.json", "cache.bin"]
    run.abort(discard=True)
    assert not staging.staging_dir(out).exists()
    fresh = RunArtifacts(out, "nb", {}, carry_over=False)
    assert sorted(p.name for p in fresh.out_dir.iterdir()) == [".artifacts.json"]
    fresh.abort(discard=True)


def test_paths_under_the_run_are_staged(tmp_path):
    out = tmp_path / "run"
    assert staging.staged_path(out / "train") == out / "train"
    run = RunArtifacts(out, "nb", {})
    assert staging.staged_path(out / "train" / "x.ckpt") == run.out_dir / "train" / "x.ckpt"
    assert staging.staged_path(str(out)) == run.out_dir
    assert staging.staged_path(tmp_path / "other") == tmp_path / "other"
    run.finish()
    assert staging.staged_path(out / "train") == out / "train"


HOLDER = textwrap.dedent(
    """
    import sys, time
    from cxrlib.book.artifacts import RunArtifacts
    run = RunArtifacts(sys.argv[1], "nb", {})
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderBusy, match=f"process {holder.pid}"):
            RunArtifacts(out, "nb", {})
    finally:
        holder.kill()
        holder.wait()
    run = RunArtifacts(out, "nb", {})  # the lock died with its process
    run.finish()
    assert is_complete(out)


def test_the_same_notebook_cell_run_again_takes_the_run_over(tmp_path):
    out = tmp_path / "run"
    first = RunArtifacts(out, "nb", {})
    second = RunArtifacts(out, "nb", {})
    assert second.out_dir == first.out_dir
    second.finish()
    assert is_complete(out)


def test_a_swap_cut_short_is_repaired(tmp_path):
    out = tmp_path / "run"
    finished_run(out, value=1)
    run = RunArtifacts(out, "nb", {"value": 2})
    run.table(pd.DataFrame({"a": [2]}), "t9", "New")
    staging.write_marker(run.out_dir)
    os.rename(out, out.with_name(f".run.old-{os.getpid()}"))  # killed between the two renames
    run.abort()
    assert not out.exists()
    again = RunArtifacts(out, "nb", {})
    assert (out / "t9.csv").exists() and is_complete(out)  # the finished staging folder was swapped in
    assert not list(tmp_path.glob(".run.old-*"))
    again.abort(discard=True)


def test_predictions_of_an_unfinished_or_altered_run_are_refused(tmp_path):
    from cxrlib.core.staging import MARKER, write_marker
    from cxrlib.stats import evaluate

    rows = "image_id,patient_id,A,prob_A\na,p1,1,0.9\nb,p2,0,0.2\n"
    partial = tmp_path / "run.partial" / "train"
    partial.mkdir(parents=True)
    (partial / "predictions_test.csv").write_text(rows)
    with pytest.raises(ValueError, match="has not finished"):
        evaluate.read_predictions(partial / "predictions_test.csv")
    finished = tmp_path / "run" / "train"
    finished.mkdir(parents=True)
    (finished / "predictions_test.csv").write_text(rows)
    write_marker(tmp_path / "run")
    assert list(evaluate.read_predictions(finished / "predictions_test.csv")["image_id"]) == ["a", "b"]
    (finished / "predictions_test.csv").write_text(rows + "c,p3,1,0.7\n")
    with pytest.raises(ValueError, match=MARKER):
        evaluate.read_predictions(finished / "predictions_test.csv")
    loose = tmp_path / "elsewhere.csv"
    loose.write_text(rows)
    assert len(evaluate.read_predictions(loose)) == 2


# --------------------------------------------------------------------- out_dir naming someone's data


def test_an_existing_file_as_out_dir_is_refused_and_kept(tmp_path):
    data = tmp_path / "results.csv"
    data.write_text("patient,score\np1,0.9\n")
    with pytest.raises(staging.NotARunFolder, match="existing file"):
        RunArtifacts(data, "nb", {})
    assert data.read_text() == "patient,score\np1,0.9\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]  # no lock, no staging, no .old copy


def test_a_folder_that_is_not_a_run_folder_is_refused_and_kept(tmp_path):
    folder = tmp_path / "my_analysis"
    folder.mkdir()
    for name in ("analysis.ipynb", "provenance.json", "notes.txt"):
        (folder / name).write_text(name)
    before = snapshot(folder)
    with pytest.raises(staging.NotARunFolder, match=f"without {MARKER}"):
        RunArtifacts(folder, "nb", {})
    assert snapshot(folder) == before
    assert not staging.staging_dir(folder).exists() and not list(tmp_path.glob(".my_analysis.old-*"))


def test_the_working_folder_as_out_dir_is_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "01_data.ipynb").write_text("{}")
    monkeypatch.chdir(work)
    for out_dir in (".", str(tmp_path)):
        with pytest.raises(staging.NotARunFolder, match="working folder"):
            RunArtifacts(out_dir, "nb", {})
    assert os.getcwd() == str(work) and (work / "01_data.ipynb").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_run_folders_empty_folders_and_staging_folders_are_still_accepted(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    finished_run(empty)  # an empty folder may become a run folder
    assert is_complete(empty)
    finished_run(empty, value=2)  # a finished run folder is re-run
    assert pd.read_csv(empty / "t1.csv")["a"].tolist() == [2]
    first = tmp_path / "first"  # never finished: only its staging folder exists, and is resumed
    run = RunArtifacts(first, "nb", {})
    (run.out_dir / "model.txt").write_text("epoch 3")
    run.abort()
    again = RunArtifacts(first, "nb", {})
    assert again._staging.reused and (again.out_dir / "model.txt").read_text() == "epoch 3"
    again.finish()
    assert is_complete(first)


# ------------------------------------------------------------------------- what a commit may contain


def test_an_edit_that_keeps_the_size_is_seen(tmp_path):
    out = tmp_path / "run"
    finished_run(out, value=1)
    data = (out / "t1.csv").read_bytes()
    (out / "t1.csv").write_bytes(data.replace(b"1", b"7"))  # same size, other content
    assert (out / "t1.csv").stat().st_size == len(data)
    assert not is_complete(out)
    assert is_complete(out, verify="size")  # what the size check alone said


def test_a_hash_is_not_reused_after_a_same_size_edit(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "_SETTLED_S", -1.0)  # cache every hash at once
    out = tmp_path / "run"
    finished_run(out, value=1)
    assert is_complete(out) and is_complete(out)  # the second check reads the cache
    path = out / "t1.csv"
    stat = path.stat()
    path.write_bytes(path.read_bytes().replace(b"1", b"7"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old modification time
    assert not is_complete(out)


def test_a_commit_that_misses_a_listed_artifact_is_refused(tmp_path):
    out = tmp_path / "run"
    finished_run(out, value=1)
    before = snapshot(out)
    run = RunArtifacts(out, "nb", {"value": 2})
    run.table(pd.DataFrame({"a": [2]}), "t1", "A table")
    (run.out_dir / "t1.csv").unlink()  # what another process did to the staging folder
    with pytest.raises(RuntimeError, match="lacks t1.csv"):
        run.finish()
    assert snapshot(out) == before
    run.abort()


def test_a_staging_folder_replaced_under_a_run_is_not_committed(tmp_path):
    out = tmp_path / "run"
    run = RunArtifacts(out, "nb", {})
    shutil.rmtree(run.out_dir)  # someone deleted and re-created the staging folder without the lock
    run.out_dir.mkdir()
    with pytest.raises(RuntimeError, match="replaced by another process"):
        run.finish()
    assert not out.exists()
    run.abort()


def test_predictions_edited_without_changing_their_size_are_refused(tmp_path):
    from cxrlib.stats import evaluate

    rows = "image_id,patient_id,A,prob_A\na,p1,1,0.9\nb,p2,0,0.2\n"
    run = RunArtifacts(tmp_path / "run", "nb", {})
    (run.out_dir / "predictions_test.csv").write_text(rows)
    run.finish()
    path = tmp_path / "run" / "predictions_test.csv"
    assert len(evaluate.read_predictions(path)) == 2
    path.write_text(rows.replace("0.9", "0.1"))  # same size: the scores a notebook would read are others
    with pytest.raises(ValueError, match=MARKER):
        evaluate.read_predictions(path)
