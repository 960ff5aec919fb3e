"""Notebook contracts: paired with a py:percent twin and in sync, parametrised, no outputs, chapter-shaped."""
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CHAPTER_HEADINGS = ("Overview", "Prerequisites", "Summary", "Exercises")


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_in_sync(path):
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{path.name} has no py:percent twin (run: jupytext --sync {path})"
    from_ipynb = [(c.cell_type, c.source.strip()) for c in nbformat.read(path, as_version=4).cells]
    from_text = [(c.cell_type, c.source.strip()) for c in jupytext.read(twin).cells]
    assert from_ipynb == from_text, f"{path.name} and {twin.name} differ: run `jupytext --sync {twin}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parametrised_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "out_dir" in tagged[0].source and "profile" in tagged[0].source and "seed" in tagged[0].source
    assert not any(c.get("outputs") or c.get("execution_count") for c in notebook.cells if c.cell_type == "code")
    ids = [c.get("id") for c in notebook.cells]
    assert all(ids) and len(set(ids)) == len(ids), "stable, unique cell ids"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_reads_as_a_chapter(path):
    headings = " ".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    for heading in CHAPTER_HEADINGS:
        assert f"## {heading}" in headings, f"{path.name} lacks a '## {heading}' section"


@pytest.mark.parametrize("profile", ["classroom", "paper"])
def test_params_name_existing_notebooks_and_parameters(profile):
    for params_file in sorted((REPO / "params" / profile).rglob("*.yaml")):
        notebook = REPO / "notebooks" / f"{params_file.stem.split('--')[0]}.ipynb"
        assert notebook.exists(), f"{params_file} names a missing notebook"
        params = yaml.safe_load(params_file.read_text()) or {}
        source = next(c.source for c in nbformat.read(notebook, as_version=4).cells
                      if "parameters" in c.metadata.get("tags", []))
        for name in params:
            assert f"{name} =" in source or f"{name}=" in source, f"{params_file.name}: {name} is not a notebook parameter"
