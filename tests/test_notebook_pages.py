"""Executed notebooks as pages (issue 25, item 6): cxrlib.book.notebook_pages on hand-made notebooks."""
import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cxrlib.book import notebook_pages as pages
from cxrlib.core.runs import MISSING

REPO = Path(__file__).resolve().parents[1]


def _code(source, tags=(), outputs=()):
    cell = new_code_cell(source, outputs=list(outputs))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _markdown_output(text):
    return new_output("display_data", data={"text/markdown": text, "text/plain": "<Markdown>"})


def _run_folder(tmp_path, artifacts):
    run_dir = tmp_path / "book" / "_generated" / "07_x"
    run_dir.mkdir(parents=True)
    (run_dir / "provenance.json").write_text(json.dumps({"artifacts": artifacts}))
    return run_dir


def _notebook(tmp_path):
    artifacts = [{"id": "tab_a", "kind": "table", "file": "tab_a.csv", "caption": "Counts. *profile: classroom.*"},
                 {"id": "fig_a", "kind": "figure", "file": "fig_a.png", "caption": "Curves per epoch. *seed: 0.*"},
                 {"id": "fig_b", "kind": "figure", "file": "fig_b.png", "caption": "A figure no chapter shows. *x*"},
                 {"id": "txt_a", "kind": "text", "file": "txt_a.txt", "caption": "*seed: 0.* The model learned."}]
    run_dir = _run_folder(tmp_path, artifacts)
    (run_dir / "txt_a.txt").write_text("The model learned.\n")
    nb = new_notebook(cells=[
        new_markdown_cell("# Notebook 07"),
        _code('out_dir = "out/07_x"  # where the run goes\nprofile = "classroom"\nsizes = [1,\n         2]\nlr = 1e-3',
              tags=["parameters"]),
        _code('# Parameters\nout_dir = "book/_generated/07_x"\nprofile = "classroom"\nsizes = [4]\nlr = 0.001\nextra = 3\n',
              tags=["injected-parameters"]),
        _code('from cxrlib.core.params import validate_params\n\nparams = validate_params(globals(), "07_x", rules={\n'
              '    "lr": ">0",\n})\nimport pandas as pd\nprint("data root: [data root]")',
              outputs=[new_output("stream", name="stdout", text="/tmp/ipykernel_123/456.py:34: RandomInitWarning: no weights\n")]),
        _code('run.table(frame, "tab_a", "Counts")\nfig = plot()\nrun.figure(fig, "fig_a", "Curves")\nplt.show()',
              tags=["remove-output"],
              outputs=[_markdown_output("**tab_a.** Counts. *profile: classroom.*"),
                       new_output("display_data", data={"text/html": "<table><tr><td>NaN</td><td>1</td></tr></table>",
                                                        "text/plain": "NaN 1"}),
                       _markdown_output("**fig_a.** Curves per epoch. *seed: 0.*"),
                       new_output("execute_result", data={"text/plain": "PosixPath('book/_generated/07_x.partial/tab_a.csv')"},
                                  execution_count=3)]),
        _code('run.figure(fig, "fig_b", "A figure")\nplt.show()',
              outputs=[_markdown_output("**fig_b.** A figure no chapter shows. *x*")]),
        _code('run.text(sentence, "txt_a")', tags=["remove-output"],
              outputs=[_markdown_output("The model learned. *seed: 0.*")]),
        _code('frame', outputs=[new_output("execute_result", data={"text/html": "<td>NaN</td><td>&lt;NA&gt;</td>",
                                                                   "text/plain": "frame"}, execution_count=5)]),
    ])
    chapters = {("07_x", "tab_a"): pages.Shown("book/x", "The X chapter"),
                ("07_x", "fig_a"): pages.Shown("book/x", "The X chapter"),
                ("07_x", "txt_a"): pages.Shown("book/x", "The X chapter")}
    return nb, run_dir, chapters


def test_a_page_shows_the_parameters_once_with_the_values_that_ran(tmp_path):
    nb, run_dir, chapters = _notebook(tmp_path)
    page = pages.prepare_page(nb, "07_x", run_dir, chapters)
    parameters = page.cells[1].source
    assert 'out_dir = "book/_generated/07_x"  # where the run goes' in parameters  # comment kept
    assert "sizes = [4]" in parameters and "lr = 1e-3" in parameters  # same value: the default as written
    assert parameters.splitlines()[0] == pages.MERGED_NOTE and parameters.endswith("extra = 3")
    assert "remove-cell" in page.cells[2].metadata["tags"]


def test_a_page_has_no_validation_block_no_reprs_no_kernel_files_no_nan(tmp_path):
    nb, run_dir, chapters = _notebook(tmp_path)
    page = pages.prepare_page(nb, "07_x", run_dir, chapters)
    text = nbformat.writes(page)
    assert "validate_params(globals()" not in text and "from cxrlib.core.params import validate_params" not in text
    assert page.cells[3].source.startswith(pages.VALIDATION_NOTE) and "import pandas as pd" in page.cells[3].source
    assert "PosixPath" not in text and "ipykernel_" not in text and "RandomInitWarning: no weights" in text
    assert "<td>NaN</td>" not in text and "&lt;NA&gt;" not in text and f"<td>{MISSING}</td>" in text


def test_a_hidden_output_is_linked_to_its_chapter_and_an_unshown_figure_is_shown(tmp_path):
    nb, run_dir, chapters = _notebook(tmp_path)
    page = pages.prepare_page(nb, "07_x", run_dir, chapters)
    sources = [c.source for c in page.cells]
    notes = [c for c in page.cells if pages.PAGE_CELL in c.metadata]
    assert len(notes) == 3
    after_tables = sources[sources.index(page.cells[4].source) + 1]
    assert "{ref}`The X chapter <tab_a>`" in after_tables and "{ref}`The X chapter <fig_a>`" in after_tables
    after_b = sources[[i for i, c in enumerate(page.cells) if "fig_b" in c.source and c.cell_type == "code"][0] + 1]
    assert after_b.startswith("![A figure no chapter shows](fig_b.png)")
    assert any("{doc}`The X chapter </book/x>`" in s for s in sources)  # a text has no label: its chapter


def test_preparing_a_page_twice_changes_nothing(tmp_path):
    nb, run_dir, chapters = _notebook(tmp_path)
    once = nbformat.writes(pages.prepare_page(nb, "07_x", run_dir, chapters))
    twice = nbformat.writes(pages.prepare_page(nbformat.reads(once, as_version=4), "07_x", run_dir, chapters))
    assert once == twice
    nbformat.validate(nbformat.reads(once, as_version=4))


def test_prepare_pages_rewrites_the_notebook_pages_of_the_toc(tmp_path):
    nb, run_dir, _ = _notebook(tmp_path)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/x\n"
                                       "    sections:\n      - file: book/_generated/07_x/07_x\n")
    (tmp_path / "book" / "x.md").write_text("# The X chapter\n\n```{include} /book/_generated/07_x/tab_a.md\n```\n"
                                            "```{include} /book/_generated/07_x/fig_a.md\n```\n")
    nbformat.write(nb, run_dir / "07_x.ipynb")
    assert pages.chapter_index(tmp_path)[("07_x", "fig_a")] == pages.Shown("book/x", "The X chapter")
    assert pages.prepare_pages(tmp_path) == [run_dir / "07_x.ipynb"]
    assert pages.prepare_pages(tmp_path) == []  # prepared: nothing left to change
    assert "{ref}`The X chapter <fig_a>`" in (run_dir / "07_x.ipynb").read_text()


def test_every_figure_cell_of_the_notebooks_writes_an_artifact():
    """The link note needs the artifact a cell wrote: every cell that draws (``plt.show()``) writes a figure
    through ``run.figure``, so a page never ends such a cell with nothing."""
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type == "code" and "plt.show()" in cell.source:
                assert ".figure(" in cell.source, f"{path.name} cell {index} shows a figure that no run.figure writes"
