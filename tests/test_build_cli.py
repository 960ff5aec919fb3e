"""``cxrlib book``: a failing run is reported in a summary while the other runs go on; bad ``--only`` names.

The build runs on a tiny repository made here (three one-cell notebooks), so the test costs a few kernel
starts and never touches ``book/_generated`` of the real repository.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from cxrlib import cli
from cxrlib.book import build
from cxrlib.core.staging import RunFolderBusy, is_complete


def notebook(path: Path, code: str) -> None:
    parameters = nbformat.v4.new_code_cell("out_dir = 'out'\nprofile = 'classroom'\nseed = 0\nsource = None")
    parameters.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def tiny_repo(tmp_path):
    (tmp_path / "notebooks").mkdir()
    params = tmp_path / "params" / "classroom"
    params.mkdir(parents=True)
    write = ("from cxrlib.book.artifacts import RunArtifacts\nrun = RunArtifacts(out_dir, 'tiny', {})\n"
             "(run.out_dir / 'x.csv').write_text('a\\n1\\n')\nprint('wrote', out_dir)\nrun.finish()")
    notebook(tmp_path / "notebooks" / "01_ok.ipynb", write)
    notebook(tmp_path / "notebooks" / "02_bad.ipynb",
             "print('about to fail')\nraise ValueError('predictions.csv: column prob_A has 2 empty scores')")
    notebook(tmp_path / "notebooks" / "03_uses_bad.ipynb", "print(open(source).read())")
    notebook(tmp_path / "notebooks" / "04_after.ipynb", write)
    (params / "01_ok.yaml").write_text("seed: 0\n")
    (params / "02_bad.yaml").write_text("seed: 0\n")
    (params / "03_uses_bad.yaml").write_text("source: book/_generated/02_bad/x.csv\n")
    (params / "04_after.yaml").write_text("seed: 0\n")
    return tmp_path


def args(*extra) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    build.add_arguments(parser)
    return parser.parse_args(["--no-download", *extra])


def test_unknown_only_names_are_an_error_listing_the_runs(tiny_repo, capsys):
    with pytest.raises(build.UnknownRunError, match=r"--only 03_fintune: no run of profile 'classroom' starts with "
                                                    r"this name; the runs are: 01_ok, 02_bad, 03_uses_bad, 04_after"):
        build.discover_runs("classroom", repo=tiny_repo, only=["01", "03_fintune"])
    assert [r.name for r in build.discover_runs("classroom", repo=tiny_repo, only=["01", "04"])] == ["01_ok", "04_after"]
    assert build.run(args("--only", "03_fintune", "--no-html"), repo=tiny_repo) == 2
    err = capsys.readouterr().err
    assert "03_fintune" in err and "01_ok, 02_bad" in err


def test_concurrent_runs_wait_for_what_they_read_and_never_exceed_the_jobs(tiny_repo, monkeypatch):
    """--jobs: at most that many runs at a time; a run starts only after the runs whose outputs it reads are done,
    and is skipped when one of them failed; the others go on. Kernels get cores/jobs threads."""
    params = tiny_repo / "params" / "classroom"
    (params / "05_uses_ok.yaml").write_text("source: book/_generated/01_ok/x.csv\n")
    (tiny_repo / "notebooks" / "05_uses_ok.ipynb").write_text((tiny_repo / "notebooks" / "01_ok.ipynb").read_text())
    runs = build.discover_runs("classroom", repo=tiny_repo)
    lock, events, active, peak, threads = threading.Lock(), [], [0], [0], set()

    def fake_execute(run, profile, repo, force=False, kernel="python3", shared_kernel=None, jobs=1):
        with lock:
            events.append(("start", run.name))
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            threads.add(build.os.environ.get("OMP_NUM_THREADS"))
        time.sleep(0.2 if run.name == "01_ok" else 0.05)
        with lock:
            active[0] -= 1
            events.append(("end", run.name))
        if run.name == "02_bad":
            raise ValueError("bad")
        return True

    monkeypatch.setattr(build, "execute", fake_execute)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(build.os, "cpu_count", lambda: 4)
    outcome = build.execute_all(runs, "classroom", repo=tiny_repo, jobs=2)
    assert peak[0] == 2, events
    assert outcome.done == ["01_ok", "04_after", "05_uses_ok"], "list order, whatever finished first"
    assert list(outcome.failed) == ["02_bad"] and list(outcome.skipped) == ["03_uses_bad"]
    assert events.index(("end", "01_ok")) < events.index(("start", "05_uses_ok"))
    assert ("start", "03_uses_bad") not in events
    assert threads == {"2"} and "OMP_NUM_THREADS" not in build.os.environ


def test_the_classroom_build_runs_one_notebook_per_core_the_paper_build_one():
    assert build.default_jobs("paper") == 1
    assert 1 <= build.default_jobs("classroom") <= 4
    assert args().jobs is None and args("--jobs", "3").jobs == 3


def test_cli_reports_unknown_only_names_of_the_real_profile(capsys):
    assert cli.main(["book", "--only", "03_fintune", "--no-download", "--no-html"]) == 2
    err = capsys.readouterr().err
    assert "--only 03_fintune" in err and "03_finetune" in err and "Traceback" not in err


@pytest.mark.slow
def test_failing_run_is_summarised_and_the_others_go_on(tiny_repo, capsys, monkeypatch):
    monkeypatch.setattr(build, "build_html", lambda *a, **k: pytest.fail("HTML built despite a failed run"))
    assert build.run(args(), repo=tiny_repo) == 1
    out = capsys.readouterr().out
    summary = out[out.index("[book] 2 executed"):]
    assert "2 executed, 0 up to date, 1 failed, 1 skipped" in summary
    assert "FAILED  02_bad: ValueError: predictions.csv: column prob_A has 2 empty scores" in summary
    assert "log: book/_generated/_logs/02_bad.log" in summary
    assert "SKIPPED 03_uses_bad: needs the outputs of 02_bad, which did not complete" in summary
    assert "HTML not built" in out and "Traceback" not in out
    assert len(summary.splitlines()) <= 6
    log = (tiny_repo / "book" / "_generated" / "_logs" / "02_bad.log").read_text()
    assert "about to fail" in log and "ValueError" in log
    assert "wrote" in (tiny_repo / "book" / "_generated" / "_logs" / "01_ok.log").read_text()
    # the classroom build ran two at a time here (default_jobs): each log holds its own run's outputs only
    assert "about to fail" not in (tiny_repo / "book" / "_generated" / "_logs" / "01_ok.log").read_text()
    generated = tiny_repo / "book" / "_generated"
    for ok in ("01_ok", "04_after"):
        assert (generated / ok / "x.csv").exists()
        assert json.loads((generated / ok / ".build-stamp.json").read_text())["fingerprint"]
    assert not (generated / "02_bad" / ".build-stamp.json").exists()
    assert not (generated / "03_uses_bad").exists()

    # a second build: the completed runs are up to date, the failed one is tried again
    assert build.run(args("--no-html", "--only", "01", "02"), repo=tiny_repo) == 1
    out = capsys.readouterr().out
    assert "01_ok: up to date, skipped" in out and "0 executed, 1 up to date, 1 failed, 0 skipped" in out


# ------------------------------------------------------------------------ two builds of one run at once

KERNEL = """
import sys, time
from pathlib import Path
import pandas as pd
from cxrlib.book.artifacts import RunArtifacts
out_dir, started, go = sys.argv[1:4]
run = RunArtifacts(out_dir, "tiny", {})
for i in range(3):
    run.table(pd.DataFrame({"a": [i]}), f"t{i}", "A table")
Path(started).write_text("written")
while not Path(go).exists():
    time.sleep(0.05)
run.finish()
"""


@pytest.fixture
def one_run_repo(tmp_path, monkeypatch):
    """A repository with one run whose 'kernel' is a plain process (no papermill): it writes three tables,
    says so in ``started`` and finishes once ``go`` exists."""
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "params" / "classroom").mkdir(parents=True)
    (repo / "notebooks" / "01_ok.ipynb").write_text("{}")
    (repo / "params" / "classroom" / "01_ok.yaml").write_text("seed: 0\n")
    flags = tmp_path / "started", tmp_path / "go"

    def fake_kernel(notebook, output, parameters, cwd, **_):
        subprocess.run([sys.executable, "-c", KERNEL, parameters["out_dir"], *map(str, flags)], cwd=cwd, check=True,
                       capture_output=True, text=True, timeout=120)
        nbformat.write(nbformat.v4.new_notebook(), output)

    monkeypatch.setattr(build, "execute_notebook", fake_kernel)
    return repo, flags


def test_a_second_forced_build_of_a_run_touches_nothing_of_the_first(one_run_repo):
    repo, (started, go) = one_run_repo
    [run] = build.discover_runs("classroom", repo=repo)
    outcome: dict = {}

    def first():
        try:
            outcome["first"] = build.execute(run, "classroom", repo=repo, force=True)
        except Exception as error:  # noqa: BLE001 - the test reports it
            outcome["first"] = error

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), f"the first build did not start: {outcome}"
    try:
        with pytest.raises(RunFolderBusy, match="another build"):
            build.execute(run, "classroom", repo=repo, force=True)
    finally:
        go.write_text("go")
        thread.join(timeout=120)
    assert outcome["first"] is True
    out = repo / run.out_dir
    listed = json.loads((out / "provenance.json").read_text())["artifacts"]
    assert [a["file"] for a in listed] == ["t0.csv", "t1.csv", "t2.csv"]
    assert all((out / a["file"]).is_file() and (out / f"{a['id']}.md").is_file() for a in listed)
    assert is_complete(out)
    assert build.execute(run, "classroom", repo=repo) is False  # up to date, and rightly so


def test_a_run_folder_edited_without_changing_sizes_is_built_again(one_run_repo, capsys):
    repo, (_, go) = one_run_repo
    go.write_text("go")
    [run] = build.discover_runs("classroom", repo=repo)
    assert build.execute(run, "classroom", repo=repo) is True
    assert build.execute(run, "classroom", repo=repo) is False
    table = repo / run.out_dir / "t1.csv"
    table.write_text(table.read_text().replace("1", "8"))  # same size
    assert build.execute(run, "classroom", repo=repo) is True
    assert "up to date" not in capsys.readouterr().out.splitlines()[-1]
    assert table.read_text() == "a\n1\n"


def test_a_python_tag_in_a_parameter_file_is_one_message_and_other_runs_still_build(tiny_repo, capsys, monkeypatch):
    bad = tiny_repo / "params" / "classroom" / "02_bad.yaml"
    bad.write_text("seed: 0\nsource: !!python/object/apply:os.system ['touch pwned']\n")
    executed = []
    monkeypatch.setattr(build, "execute", lambda run, *a, **k: executed.append(run.name) or True)
    assert build.run(args("--no-html"), repo=tiny_repo) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(bad) in lines[0] and "line 2" in lines[0] and "python/object/apply:os.system" in lines[0]
    assert not executed and not (tiny_repo / "pwned").exists() and not Path("pwned").exists()
    assert build.run(args("--no-html", "--only", "01", "04"), repo=tiny_repo) == 0  # the bad file is not read
    assert executed == ["01_ok", "04_after"]

def test_kernels_run_without_the_tcp_encryption_warning(tmp_path, capfd):
    """Every kernel a build starts (a kernel of its own per run, or the smoke builds' shared kernel) gets
    CurveZMQ keys from its manager (``cxrlib.core.notebooks.TRANSPORT_ENCRYPTION``), so ipykernel does
    not log "Kernel is running over TCP without encryption" once per notebook."""
    from cxrlib.core.notebooks import SharedKernel, execute_notebook

    source = tmp_path / "nb.ipynb"
    notebook(source, "print('ran', seed)")
    execute_notebook(source, tmp_path / "own.ipynb", {"seed": 1}, tmp_path)
    with SharedKernel() as kernel:
        execute_notebook(source, tmp_path / "shared.ipynb", {"seed": 2}, tmp_path, kernel=kernel)
    for name, seed in (("own", 1), ("shared", 2)):
        outputs = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4).cells[-1].outputs
        assert outputs and outputs[0]["text"].strip() == f"ran {seed}"
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err


def test_a_shared_kernel_clears_names_returns_to_the_folder_and_freezes_the_survivors(tmp_path):
    """Each notebook in a :class:`SharedKernel` starts clean: a name the previous notebook defined is gone
    (a notebook that forgets an import fails), the working folder is its own, and what survived the reset
    sits in the collector's permanent generation (``gc.freeze``: later collections skip it)."""
    from papermill.exceptions import PapermillExecutionError

    from cxrlib.core.notebooks import SharedKernel, execute_notebook

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    notebook(tmp_path / "defines.ipynb", "import os\nleft_over = 42\nos.chdir('/')")
    notebook(tmp_path / "reports.ipynb", "import gc, os\nprint(os.getcwd(), gc.get_freeze_count() > 0, 'left_over' in dir())")
    notebook(tmp_path / "uses.ipynb", "print(left_over)")
    with SharedKernel() as kernel:
        execute_notebook(tmp_path / "defines.ipynb", tmp_path / "a.ipynb", {}, first, kernel=kernel)
        execute_notebook(tmp_path / "reports.ipynb", tmp_path / "b.ipynb", {}, second, kernel=kernel)
        with pytest.raises(PapermillExecutionError, match="NameError"):
            execute_notebook(tmp_path / "uses.ipynb", tmp_path / "c.ipynb", {}, first, kernel=kernel)
    printed = nbformat.read(tmp_path / "b.ipynb", as_version=4).cells[-1].outputs[0]["text"].split()
    assert printed == [str(second.resolve()), "True", "False"]
