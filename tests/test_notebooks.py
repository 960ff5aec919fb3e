"""Notebook contracts: paired with a py:percent twin and in sync, parametrised, no outputs, chapter-shaped."""
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from cxrlib.core.params import notebook_schema

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
CHAPTER_HEADINGS = ("Overview", "Prerequisites", "Summary", "Exercises", "What's next")


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ends_with_whats_next(path):
    """The last Markdown section of a notebook points the reader to the next chapter."""
    markdown = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    headings = re.findall(r"^## (.+)$", "\n".join(markdown), flags=re.MULTILINE)
    assert headings and headings[-1].strip() == "What's next", f"{path.name}: last section is {headings[-1:]}"
    last = "\n".join(markdown).rsplit("## What's next", 1)[1]
    links = re.findall(r"\]\((/[^)#\s]+)", last)
    assert links, f"{path.name}: 'What's next' links to no chapter"
    for link in links:
        assert (REPO / link.lstrip("/")).exists(), f"{path.name}: 'What's next' links to missing {link}"


# Markdown that may hold braces legitimately: fenced code, inline code (MyST roles included), math.
_NOT_PROSE = re.compile(r"(`{3,}|~{3,}).*?\1|\$\$.*?\$\$|\\\[.*?\\\]|(`+).+?\2|\$[^$\n]+\$", re.DOTALL)
_DIRECTIVE_OPENER = re.compile(r"^\s*(?:`{3,}|:{3,})\{[\w:-]+\}", re.MULTILINE)
_ROLE = re.compile(r"\{[\w:.-]+\}(`+).+?\1", re.DOTALL)
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_]\w*|\[[^\]{}]*\])*(?:![rsa])?(?::[^{}]*)?\}")


def unformatted_placeholders(markdown: str) -> list[str]:
    """``{name}``-style fields left in Markdown prose (a Python format string that was never formatted),
    outside code, math, MyST roles (``{cite}`key` ``) and directive openers (`` ```{include} ``)."""
    text = _ROLE.sub(" ", _DIRECTIVE_OPENER.sub("", markdown))
    text = _NOT_PROSE.sub(" ", text)
    return _PLACEHOLDER.findall(text)


def test_placeholder_detector():
    assert unformatted_placeholders("CIs over test *patients* ({n_boot} redraws)") == ["{n_boot}"]
    assert unformatted_placeholders("{run.name} and {x:.2f}") == ["{run.name}", "{x:.2f}"]
    assert not unformatted_placeholders("C from {0.01, 0.05} by {cite}`gazda`; $W_{c}$ and $$\\frac{n}{c}$$")
    assert not unformatted_placeholders("```{include} a.md\n```\n`f\"{n_boot}\"` in code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_markdown_has_no_unformatted_placeholders(path):
    """Markdown cells are not f-strings: a ``{name}`` in them reaches the reader literally."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown":
            found = unformatted_placeholders(cell.source)
            assert not found, f"{path.name} cell {index}: unformatted placeholder(s) {found} in Markdown"


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


@pytest.mark.parametrize("params_file", sorted((REPO / "params" / "classroom").glob("*.yaml")), ids=lambda p: p.stem)
def test_classroom_params_equal_the_parameter_cell(params_file):
    """One source of defaults: a classroom parameter file repeats the notebook's own values, so a user
    who runs the notebook without ``-f`` gets the book's run (out_dir and paths between runs aside)."""
    notebook = REPO / "notebooks" / f"{params_file.stem.split('--')[0]}.ipynb"
    cell = notebook_schema(notebook)
    params = yaml.safe_load(params_file.read_text()) or {}
    differ = {k: (v, cell.get(k)) for k, v in params.items() if k in cell and cell[k] != v
              and not (k.endswith("_dir") or k.endswith("_file"))}
    assert not differ, f"{params_file.name} and the parameter cell of {notebook.name} disagree (yaml, cell): {differ}"


def test_finetune_engine_defaults_are_the_classroom_run():
    """TrainConfig's defaults equal notebook 03's parameter cell for every training parameter."""
    import dataclasses

    from cxrlib.training.finetune import TrainConfig

    cell = notebook_schema(REPO / "notebooks" / "03_finetune.ipynb")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    defaults = {name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                for name, f in fields.items() if name != "out_dir"}
    differ = {k: (defaults[k], v) for k, v in cell.items() if k in defaults and defaults[k] != v}
    assert not differ, f"TrainConfig defaults and notebook 03's parameter cell disagree (default, cell): {differ}"
