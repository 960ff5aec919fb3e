"""A moved checkout or a recreated environment keeps building (issue 27).

A run records its inputs by location class (a package's shipped file, the data root, the checkout), never
by an absolute path alone: after the checkout moves and the environment is recreated elsewhere, the build
still counts the run as up to date (same inputs by content), the answers of the instructor edition resolve
the inputs again, and an input that changed re-runs the run while one that vanished stops it, naming it.

The build is faked at the papermill edge only (:func:`cxrlib.book.build.execute_notebook`): the fake
notebook writes its run folder with :class:`cxrlib.book.artifacts.RunArtifacts` as notebook 01 does, so
everything around it (staging, provenance, build stamp, up-to-date check, answers) is the real code.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from cxrlib.book import build
from cxrlib.book.artifacts import RunArtifacts
from cxrlib.chapters import solutions
from cxrlib.core import runs
from cxrlib.data.metadata import shipped_path

PACKAGE = "cxrfakeshipped"
METADATA = f"data/{Path(shipped_path('nih')).name}"


def _environment(site: Path) -> Path:
    """An installed package that ships NIH's metadata, as the torchxrayvision wheel does."""
    folder = site / PACKAGE
    (folder / "data").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    shutil.copy(shipped_path("nih"), folder / METADATA)
    info = site / f"{PACKAGE}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(f"{PACKAGE}\n")
    return folder / METADATA


def _use_environment(monkeypatch, site: Path) -> None:
    monkeypatch.setattr(sys, "path", [str(site), *[p for p in sys.path if "site-env" not in p]])
    importlib.invalidate_caches()


def _checkout(root: Path) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "params" / "classroom").mkdir(parents=True)
    (root / "_config.yml").write_text("title: moved\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    nbformat.write(nbformat.v4.new_notebook(), root / "notebooks" / "01_data.ipynb")
    (root / "params" / "classroom" / "01_data.yaml").write_text("seed: 0\n")
    return root


def _fake_notebook(calls: list, data_root: Path):
    """Notebook 01's provenance, without papermill: its inputs recorded as the notebook records them."""
    def execute_notebook(notebook, output, parameters, cwd, **_):
        calls.append(parameters["out_dir"])
        here = os.getcwd()
        os.chdir(cwd)  # papermill runs the notebook in the checkout; out_dir is relative to it
        try:
            metadata = importlib.util.find_spec(PACKAGE).submodule_search_locations[0] + "/" + METADATA
            run = RunArtifacts(parameters["out_dir"], "01_data", {"profile": parameters["profile"], "seed": 0,
                                                                  "data_root": str(data_root), "nih_metadata": metadata})
            run.record_data("nih_metadata", metadata)
            run.record_data("nih_official_lists", data_root / "nih-cxr14" / "test_list.txt")
            run.table(pd.DataFrame({"class": ["Atelectasis", "Total"], "total_diff": [0.0, float("nan")]}),
                      "d000_table1_vs_published", f"Compared; metadata {run.shown(metadata)}")
            run.finish()
        finally:
            os.chdir(here)
        injected = nbformat.v4.new_code_cell(f"out_dir = {os.path.abspath(cwd)}/{parameters['out_dir']!r}")
        injected.metadata["tags"] = ["injected-parameters"]
        shown = nbformat.v4.new_code_cell("print(...)", outputs=[nbformat.v4.new_output(
            "stream", name="stdout", text=f"data root: {data_root}\nrun folder: {os.path.abspath(cwd)}/{parameters['out_dir']}\n")])
        nbformat.write(nbformat.v4.new_notebook(cells=[injected, shown]), output)
    return execute_notebook


def test_a_moved_checkout_with_a_recreated_environment_stays_up_to_date_and_answers(tmp_path, monkeypatch, data_root):
    calls: list = []
    monkeypatch.setattr(build, "execute_notebook", _fake_notebook(calls, data_root))
    metadata = _environment(tmp_path / "site-env-1")
    _use_environment(monkeypatch, tmp_path / "site-env-1")
    first = _checkout(tmp_path / "course" / "cxr-ssl")
    [run] = build.discover_runs("classroom", repo=first)
    assert build.execute(run, "classroom", repo=first) and calls == ["book/_generated/01_data"]
    folder = first / build.GENERATED / "01_data"
    record = runs.read_provenance(folder)["data"]
    assert record["nih_metadata"]["location"] == {"anchor": "package", "package": PACKAGE, "version": "1.0",
                                                  "relative": METADATA}
    assert record["nih_official_lists"]["location"] == {"anchor": "data_root", "relative": "nih-cxr14/test_list.txt"}
    before = solutions.ANSWERS["01_data--ex2"].compute({"01_data": folder})

    # the checkout moves; the environment is deleted and recreated elsewhere (same package, same files)
    moved = tmp_path / "elsewhere" / "cxr-ssl"
    shutil.move(first.parent, moved.parent)
    shutil.rmtree(metadata.parents[2])
    _environment(tmp_path / "site-env-2")
    _use_environment(monkeypatch, tmp_path / "site-env-2")
    [run] = build.discover_runs("classroom", repo=moved)
    assert not build.execute(run, "classroom", repo=moved), "the moved run with the same inputs re-ran"
    assert len(calls) == 1
    folder = moved / build.GENERATED / "01_data"
    assert solutions.ANSWERS["01_data--ex2"].compute({"01_data": folder}) == before
    assert str(tmp_path) not in before
    for page in [*folder.glob("*.md"), folder / "01_data.ipynb"]:  # what pages show: no folder of either machine
        assert str(tmp_path) not in page.read_text(), page.name
    assert str(data_root) not in (folder / "01_data.ipynb").read_text()
    assert "run folder: book/_generated/01_data" in (folder / "01_data.ipynb").read_text()
    assert f"{PACKAGE} 1.0: {METADATA}" in (folder / "d000_table1_vs_published.md").read_text()

    # an input that really changed re-runs the run; one that vanished stops it with one message naming it
    new_metadata = tmp_path / "site-env-2" / PACKAGE / METADATA
    new_metadata.write_bytes(new_metadata.read_bytes() + b"\n")
    assert build.execute(run, "classroom", repo=moved) and len(calls) == 2
    new_metadata.unlink()
    with pytest.raises(runs.RunInputMissing, match=f"01_data: its input 'nih_metadata' .*{METADATA} of the package"):
        build.execute(run, "classroom", repo=moved)
    assert len(calls) == 2
    outcome = build.execute_all([run], "classroom", repo=moved)
    assert list(outcome.failed) == ["01_data"] and "nih_metadata" in outcome.failed["01_data"][0]


def test_locations_are_classes_and_the_absolute_path_is_provenance_only(tmp_path, data_root):
    anchors = runs.Anchors(data_root=data_root, repo=tmp_path)
    (tmp_path / "book").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("x")
    try:
        assert runs.locate(shipped_path("nih"), anchors)["anchor"] == "package"
        assert runs.locate(data_root / "nih-cxr14", anchors) == {"anchor": "data_root", "relative": "nih-cxr14"}
        assert runs.locate(tmp_path / "book", anchors) == {"anchor": "repo", "relative": "book"}
        assert runs.locate(outside, anchors) == {"anchor": "absolute"}
        assert runs.shown_path(outside, anchors) == outside.name
        assert runs.shown_path(data_root / "nih-cxr14", anchors) == "[data root]/nih-cxr14"
        record = runs.input_record(tmp_path / "book", anchors)
        moved = runs.Anchors(data_root=data_root, repo=tmp_path / "nowhere")
        with pytest.raises(runs.RunInputMissing, match="'book', book of the checkout"):
            runs.resolve(record, moved, "book")
        assert runs.resolve(record, anchors) == tmp_path / "book"
    finally:
        outside.unlink()


def test_a_record_written_before_locations_counts_as_changed_not_missing(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / runs.PROVENANCE).write_text(json.dumps(
        {"params": {}, "data": {"old": {"path": str(tmp_path / "gone.csv"), "fingerprint": "sha256:0"}}}))
    [change] = runs.input_changes(folder, runs.Anchors())
    assert change.name == "old" and not change.missing
