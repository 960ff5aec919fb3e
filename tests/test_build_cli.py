"""``cxrlib book``: a failing run is reported in a summary while the other runs go on; bad ``--only`` names.

The build runs on a tiny repository made here (three one-cell notebooks), so the test costs a few kernel
starts and never touches ``book/_generated`` of the real repository.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import nbformat
import pytest

from cxrlib import cli
from cxrlib.book import build


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
