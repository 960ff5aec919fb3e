"""Artifacts carry their run context in every caption, and provenance records what ran on what."""
import errno
import json
import os
import time
from importlib import resources

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pathlib import Path  # noqa: E402

from cxrlib.book.artifacts import RunArtifacts, data_fingerprint, markdown_table  # noqa: E402
from cxrlib.core import io as io_module  # noqa: E402
from cxrlib.published import index, load  # noqa: E402

CONTEXT = {"dataset": "NIH ChestX-ray14", "split": "official", "image_size": 224, "weights": "none",
           "profile": "classroom", "seed": 0}


def test_table_figure_and_provenance(tmp_path):
    run = RunArtifacts(tmp_path / "out", "01_data", {"seed": 0}, context=CONTEXT)
    frame = pd.DataFrame({"class": ["A", "B|C"], "n": [1, 2], "w": [0.12345, float("nan")]})
    run.table(frame, "d000_table1", "Class counts")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    run.figure(fig, "d000_fig1", "A line", split="test")
    plt.close(fig)
    data_file = tmp_path / "meta.csv"
    data_file.write_text("a,b\n1,2\n")
    run.record_data("metadata", data_file)
    run.started -= 3600  # as if the notebook had started an hour ago
    record = json.loads(run.finish().read_text())

    assert pd.read_csv(tmp_path / "out" / "d000_table1.csv").shape == (2, 3)
    assert (tmp_path / "out" / "d000_fig1.png").stat().st_size > 0
    for artifact in record["artifacts"]:
        for fact in ("dataset: NIH ChestX-ray14", "image size: 224", "weights: none", "profile: classroom", "seed: 0"):
            assert fact in artifact["caption"]
    assert "split: test" in record["artifacts"][1]["caption"]
    assert record["data"]["metadata"]["fingerprint"].startswith("sha256:")
    assert record["versions"]["pandas"] == pd.__version__
    assert record["params"] == {"seed": 0}
    assert 3600 <= record["wall_time_s"] < 3600 + 600  # now - started, not a duration of its own
    assert record["started"] == time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(run.started))
    snippet = (tmp_path / "out" / "d000_table1.md").read_text()
    assert snippet.startswith(":::{table}") and "B\\|C" in snippet and "0.123" in snippet and "–" in snippet


def test_repeated_artifact_id_is_refused(tmp_path):
    run = RunArtifacts(tmp_path, "x", {})
    run.table(pd.DataFrame({"a": [1]}), "t", "A table")
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="already used"):
        run.figure(fig, "t", "Same id")
    plt.close(fig)


def test_folder_fingerprint_changes_with_content(tmp_path):
    (tmp_path / "a.png").write_bytes(b"12")
    before = data_fingerprint(tmp_path)
    (tmp_path / "b.png").write_bytes(b"3")
    assert data_fingerprint(tmp_path) != before



def test_folder_fingerprint_is_the_digest_of_its_sorted_file_listing(tmp_path):
    """The listing a provenance record hashes, pinned (records written before stay comparable): every file
    below the folder as ``relative/name<TAB>size``, sorted by name parts ("a/b" before "a-c"), a link to a
    file with its target's size, a link to a folder not entered, a dangling link skipped."""
    import hashlib
    import os

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a-c").mkdir()
    (tmp_path / "a" / "b" / "x.png").write_bytes(b"12")
    (tmp_path / "a-c" / "y").write_bytes(b"1")
    (tmp_path / ".hidden").write_bytes(b"zzz")
    os.symlink(tmp_path / "a-c" / "y", tmp_path / "to_file")
    os.symlink(tmp_path / "a", tmp_path / "to_folder")
    os.symlink(tmp_path / "nothing", tmp_path / "dangling")
    listing = ".hidden\t3\na/b/x.png\t2\na-c/y\t1\nto_file\t1\n"
    assert data_fingerprint(tmp_path) == "listing-sha256:" + hashlib.sha256(listing.encode()).hexdigest()


def test_markdown_table_shape():
    text = markdown_table(pd.DataFrame({"x": [1.0], "y": ["a"]}))
    assert text.splitlines() == ["| x | y |", "|---|---|", "| 1.000 | a |"]


def test_published_tables_are_indexed_once_and_load_as_written():
    folder = resources.files("cxrlib.published")
    entries = index()
    csv_files = sorted(item.name for item in folder.iterdir() if item.name.endswith(".csv"))
    indexed = sorted(entry["file"] for entry in entries.values())
    assert indexed == csv_files  # every transcription is indexed, exactly once, and every entry has its file
    for table_id, entry in entries.items():
        table = load(table_id)
        with folder.joinpath(entry["file"]).open(encoding="utf-8") as handle:
            data_lines = [line for line in handle.read().splitlines()[1:] if line.strip()]
        assert len(table.frame) == len(data_lines), table_id  # no row lost or invented
        assert not table.frame.isna().all(axis=1).any(), f"{table_id}: a blank row"
        assert not any(str(c).startswith("Unnamed") for c in table.frame.columns), f"{table_id}: a nameless column"
        assert table.citation.strip() and table.document == str(entry["document"])
    with pytest.raises(KeyError, match="unknown published table 'd999_table1'"):
        load("d999_table1")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device that is always full)")
@pytest.mark.parametrize("kind", ["figure", "table"])
def test_a_full_disk_is_the_first_thing_said(tmp_path, kind, monkeypatch):
    """Disk full while Pillow writes a PNG: its own follow-up AttributeError ('_idat' ... 'fileno') came
    first and ENOSPC was only chained below it."""
    run = RunArtifacts(tmp_path / "out", "01_data", {"seed": 0}, context=CONTEXT)
    target = run.out_dir / ("f1.png" if kind == "figure" else "f1.csv")

    real_mkstemp = io_module.tempfile.mkstemp

    def full_temporary_file(dir=None, prefix="", suffix=""):  # the artifact's temporary file sits on a full disk
        if not prefix.startswith(f".{target.name}."):
            return real_mkstemp(dir=dir, prefix=prefix, suffix=suffix)
        path = Path(dir) / f"{prefix}full{suffix}"
        path.touch()
        return os.open("/dev/full", os.O_WRONLY), str(path)

    monkeypatch.setattr(io_module.tempfile, "mkstemp", full_temporary_file)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with pytest.raises(OSError) as caught:
        if kind == "figure":
            run.figure(fig, "f1", "A figure")
        else:
            run.table(pd.DataFrame({"a": range(100_000)}), "f1", "A table")
    plt.close(fig)
    assert caught.value.errno == errno.ENOSPC
    assert str(caught.value).startswith("[Errno 28] No space left on device while writing")
    assert str(target) in str(caught.value)
    assert caught.value.__suppress_context__  # nothing printed above it
    run.abort(discard=True)


def test_a_generated_admonition_keeps_its_closing_fence_apart_from_the_run_facts(tmp_path):
    """A generated warning (e.g. a model that did not learn) ends with ':::'; the run facts that follow must
    be a paragraph of their own, or the fence does not close and the page below it is swallowed."""
    run = RunArtifacts(tmp_path / "out", "01_data", {"seed": 0}, context=CONTEXT)
    warning = run.text(":::{warning}\nDid the model learn? NO.\n:::", "w1").read_text()
    assert warning.splitlines()[2] == ":::" and warning.splitlines()[3] == "" and "dataset" in warning.splitlines()[4]
    sentence = run.text("A plain sentence.", "s1").read_text()
    assert sentence.startswith("A plain sentence. ") and "dataset" in sentence.splitlines()[0]
    run.abort(discard=True)


def test_a_smoke_text_artifact_reads_without_a_stray_full_stop(tmp_path):
    """The facts after a smoke run's generated sentence follow the SMOKE label directly ("...: *facts*"),
    never "...: . *facts*" (seen in notebooks 02, 05, 12)."""
    from cxrlib.book.artifacts import SMOKE_CAPTION, RunArtifacts

    run = RunArtifacts(tmp_path / "run", "01_data", {"seed": 0}, context={**CONTEXT, "profile": "classroom-smoke"})
    assert ": ." not in run.caption("")
    assert run.caption("").startswith(SMOKE_CAPTION + " *")
    assert run.caption("A table.").startswith(SMOKE_CAPTION + " A table. *")
    run.abort()


def test_an_artifact_of_a_smoke_run_says_smoke_whatever_profile_it_names(tmp_path):
    """Notebook 05 shows a reading of published counts with ``profile="published"``; in the paper smoke its
    caption lost the SMOKE label (CI: test_every_paper_file_ran_end_to_end_and_says_smoke)."""
    from cxrlib.book.artifacts import SMOKE_CAPTION, RunArtifacts

    run = RunArtifacts(tmp_path / "run", "05_explain", {"seed": 0}, context={**CONTEXT, "profile": "paper-smoke"})
    caption = run.caption("Published counts.", profile="published")
    assert caption.startswith(SMOKE_CAPTION) and "profile: published" in caption
    assert "run profile: paper-smoke" in caption
    assert "run profile" not in run.caption("Ours.")
    run.abort()
    classroom = RunArtifacts(tmp_path / "c", "05_explain", {"seed": 0}, context={**CONTEXT, "profile": "classroom"})
    assert not classroom.caption("Published counts.", profile="published").startswith(SMOKE_CAPTION)
    classroom.abort()


def test_an_empty_table_is_still_a_table():
    """A frame without columns (notebook 13's row differences when no row learned, in the smoke book) gave
    "|  |" and a strict HTML build failed on it ("exactly one table expected")."""
    import pandas as pd

    from cxrlib.core.runs import markdown_table

    text = markdown_table(pd.DataFrame())
    lines = text.splitlines()
    assert len(lines) == 2 and lines[0].startswith("| ") and set(lines[1]) <= set("|-")
    assert "no rows" in lines[0]
    assert markdown_table(pd.DataFrame({"a": [1.0]})).splitlines()[1] == "|---|"
