"""Executed notebooks as pages of the book: what a reader of ``book/_generated/<run>/<run>.html`` sees.

Papermill's executed copy is the record of a run; before every HTML build :func:`prepare_pages` rewrites the
copy of each notebook page of ``_toc.yml`` so that it reads as an executed notebook (issue 25, item 6). The
rewriting is idempotent (a page prepared twice is the page prepared once) and changes only what the page
shows, never an artifact:

- **the parameters once**: the values papermill injected are merged into the notebook's parameters cell
  (its comments stay), and the injected cell is hidden (``remove-cell``);
- **no validation block**: the ``validate_params(...)`` call (and its import) is shown as one comment line
  (the clean notebook, which a reader downloads and runs, keeps it);
- **no stray reprs or machine files**: an ``execute_result`` that is only a path's repr (``PosixPath(...)``,
  the return value of ``run.table``/``run.finish``) is dropped; a warning's location in the kernel's temporary
  cell file (``/tmp/ipykernel_<pid>/<n>.py:<line>: ``) is removed (folders of the build machine are already
  hidden when the run finishes: :func:`cxrlib.book.build.hide_machine_folders`);
- **no NaN cell**: a missing value in an HTML table of the outputs shows as the chapters' tables show it
  (:data:`cxrlib.core.runs.MISSING`), the table's text says why a value is missing;
- **every figure shown or linked**: a cell whose output the chapter owns (tagged ``remove-output``:
  ``tests/test_book.py``) is followed by a short note linking each table and figure it wrote to where the
  chapter shows it (a ``{ref}`` to the artifact's label, so a link that points nowhere fails the strict
  build); a figure no chapter includes is shown in the note itself.

:func:`cxrlib.book.browser_check.notebook_page_problems` checks the rendered pages for the same rules.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from cxrlib.core.repo import REPO
from cxrlib.core.runs import MISSING, read_provenance

PAGE_CELL = "cxrlib_page"
"""Metadata key of the cells this module adds (removed and written again on every preparation)."""
REMOVE_CELL, REMOVE_OUTPUT = "remove-cell", "remove-output"
PARAMETERS, INJECTED = "parameters", "injected-parameters"
MERGED_NOTE = "# this run's values: papermill's parameters merged into the defaults"
VALIDATION_NOTE = "# the parameters are checked here (cxrlib.core.params.validate_params)"
_PATH_REPR = re.compile(r"^(?:Posix|Windows|Pure|PurePosix|PureWindows)?Path\((['\"]).*\1\)$", re.S)
_KERNEL_FILE = re.compile(r"\S*ipykernel_\d+/\d+\.py:\d+: ")
_MISSING_CELL = re.compile(r"<td>(?:NaN|nan|None|&lt;NA&gt;|<NA>|NaT)</td>")
_CAPTION_OUTPUT = re.compile(r"^\*\*(?P<id>[\w.-]+)\.\*\*\s")
_INCLUDE = re.compile(r"_generated/(?P<run>[^/\s]+)/(?P<id>[^/\s]+)\.md\b")


@dataclass(frozen=True)
class Shown:
    """Where a chapter shows an artifact: the chapter's file (``book/data``) and title."""

    chapter: str
    title: str


def chapter_index(repo: Path = REPO) -> dict[tuple[str, str], Shown]:
    """(run, artifact id) -> the chapter that includes ``_generated/<run>/<id>.md``, for every ``book/*.md``."""
    found = {}
    for chapter in sorted((Path(repo) / "book").glob("*.md")):
        text = chapter.read_text(encoding="utf-8")
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), chapter.stem)
        title = re.sub(r"\{[\w:-]+\}`([^`<]*?)\s*(?:<[^>]*>)?`", r"\1", title).replace("`", "").replace("*", "")
        for match in _INCLUDE.finditer(text):
            found.setdefault((match["run"], match["id"]), Shown(f"book/{chapter.stem}", title.replace("<", "")))
    return found


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _assignments(source: str) -> dict[str, ast.Assign]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    return {node.targets[0].id: node for node in tree.body
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)}


def _same(a: str, b: str) -> bool:
    try:
        return ast.literal_eval(a) == ast.literal_eval(b)
    except (ValueError, SyntaxError):
        return a.strip() == b.strip()


def merge_parameters(cells: list) -> None:
    """Show the parameters once: the injected values replace the defaults in the parameters cell (comments
    kept; names the cell lacks are appended) and the injected cell is hidden."""
    defaults = next((c for c in cells if PARAMETERS in _tags(c)), None)
    injected = next((c for c in cells if INJECTED in _tags(c)), None)
    if defaults is None or injected is None:
        return
    values = {name: ast.get_source_segment(injected.source, node.value)
              for name, node in _assignments(injected.source).items()}
    lines = defaults.source.splitlines()
    changed = False
    present = _assignments(defaults.source)
    for name, node in sorted(present.items(), key=lambda item: -item[1].lineno):  # bottom up: offsets stay valid
        old = ast.get_source_segment(defaults.source, node.value)
        if name not in values or _same(old, values[name]):
            continue
        value = node.value
        first, last = lines[value.lineno - 1], lines[value.end_lineno - 1]
        lines[value.lineno - 1:value.end_lineno] = [first[:value.col_offset] + values[name] + last[value.end_col_offset:]]
        changed = True
    added = [f"{name} = {value}" for name, value in values.items() if name not in present]
    if changed or added:
        lines = ([] if lines and lines[0] == MERGED_NOTE else [MERGED_NOTE]) + lines + added
    defaults.source = "\n".join(lines)
    injected.setdefault("metadata", {})["tags"] = _tags(injected) + ([] if REMOVE_CELL in _tags(injected) else [REMOVE_CELL])


def hide_validation(cell) -> None:
    """The ``validate_params`` import and call of a code cell as one comment line."""
    if cell.cell_type != "code" or "validate_params" not in cell.source:
        return
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return
    lines = cell.source.splitlines()
    for node in reversed(tree.body):
        call = getattr(node, "value", None)
        if isinstance(node, ast.ImportFrom) and [a.name for a in node.names] == ["validate_params"]:
            replacement = []
        elif isinstance(call, ast.Call) and getattr(call.func, "id", None) == "validate_params":
            replacement = [VALIDATION_NOTE]
        else:
            continue
        lines[node.lineno - 1:node.end_lineno] = replacement
    while lines and not lines[0].strip():
        lines.pop(0)
    cell.source = "\n".join(lines)


def _is_path_repr(output) -> bool:
    data = output.get("data", {})
    return output.get("output_type") == "execute_result" and set(data) == {"text/plain"} \
        and bool(_PATH_REPR.match(str(data["text/plain"]).strip()))


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def clean_outputs(cell) -> None:
    """Drop path reprs, remove kernel cell-file locations, show missing table values as the chapters do."""
    if cell.cell_type != "code":
        return
    cell.outputs = [o for o in cell.get("outputs", []) if not _is_path_repr(o)]
    for output in cell.outputs:
        if "text" in output:
            output["text"] = _KERNEL_FILE.sub("", _text(output["text"]))
        for key in ("evalue",):
            if key in output:
                output[key] = _KERNEL_FILE.sub("", _text(output[key]))
        data = output.get("data", {})
        if "text/html" in data:
            data["text/html"] = _MISSING_CELL.sub(f"<td>{MISSING}</td>", _text(data["text/html"]))


def artifacts_written(cell, artifacts: list[dict]) -> list[dict]:
    """The artifacts (rows of the run's provenance, texts with their ``body``: :func:`run_artifacts`) a code
    cell wrote, from what it displayed: a table or figure shows ``**<id>.** caption``, a text its body."""
    shown = []
    for output in cell.get("outputs", []):
        markdown = _text(output.get("data", {}).get("text/markdown", "")).strip()
        match = _CAPTION_OUTPUT.match(markdown)
        for artifact in artifacts:
            if artifact not in shown and ((match and artifact["id"] == match["id"])
                                          or (artifact.get("body") and markdown.startswith(artifact["body"]))):
                shown.append(artifact)
    return shown


def run_artifacts(run_dir: Path) -> list[dict]:
    """The artifacts a finished run folder's provenance lists; a text artifact with its ``body`` (its
    ``.txt``, which ``RunArtifacts.text`` displays first). None recorded: []."""
    try:
        artifacts = read_provenance(run_dir).get("artifacts", [])
    except FileNotFoundError:
        return []
    rows = []
    for artifact in artifacts:
        row = dict(artifact)
        if artifact.get("kind") == "text" and (run_dir / artifact.get("file", "")).is_file():
            row["body"] = (run_dir / artifact["file"]).read_text(encoding="utf-8").strip()
        rows.append(row)
    return rows


def artifact_note(run: str, written: list[dict], chapters: dict[tuple[str, str], Shown], hidden: bool) -> str:
    """The markdown of the note after a cell: a link to where a chapter shows each artifact (when the cell's
    output is hidden), the image of a figure no chapter shows; "" when there is nothing to add."""
    lines = []
    for artifact in written:
        shown = chapters.get((run, artifact["id"]))
        kind = artifact.get("kind", "artifact")
        if shown and hidden:
            target = (f"{{ref}}`{shown.title} <{artifact['id']}>`" if kind in ("table", "figure")
                      else f"{{doc}}`{shown.title} </{shown.chapter}>`")
            lines.append(f"- {kind} `{artifact['id']}`: {target}")
        elif not shown and kind == "figure":
            alt = re.sub(r"[\[\]*_`]", "", artifact.get("caption", artifact["id"]).split(". ")[0])[:200]
            lines.append(f"![{alt}]({artifact['file']})")
    if not lines:
        return ""
    if any(line.startswith("- ") for line in lines):
        lines.insert(0, "*What this cell wrote is shown in the chapter, not repeated here:*\n")
    return "\n".join(lines)


def prepare_page(nb, run: str, run_dir: Path, chapters: dict[tuple[str, str], Shown]):
    """Rewrite one executed notebook (an ``nbformat`` notebook) as a page of the book; returns it."""
    import nbformat

    nb.cells = [c for c in nb.cells if PAGE_CELL not in c.get("metadata", {})]
    merge_parameters(nb.cells)
    artifacts = run_artifacts(Path(run_dir))
    cells = []
    for cell in nb.cells:
        hide_validation(cell)
        clean_outputs(cell)
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        note = artifact_note(run, artifacts_written(cell, artifacts), chapters, REMOVE_OUTPUT in _tags(cell))
        if note:
            added = nbformat.v4.new_markdown_cell(note)
            added.metadata[PAGE_CELL] = "artifacts"
            added["id"] = f"cxrlib-page-{len(cells)}"  # a fixed id: preparing a page twice changes nothing
            cells.append(added)
    nb.cells = cells
    return nb


def page_notebooks(repo: Path = REPO) -> list[Path]:
    """The executed notebooks that are pages of the book (``_toc.yml``) and exist."""
    from cxrlib.book.reading_path import sidebar

    repo = Path(repo)
    return [repo / f"{page.file}.ipynb" for page in sidebar(repo)
            if page.run and (repo / f"{page.file}.ipynb").exists()]


def prepare_pages(repo: Path = REPO) -> list[Path]:
    """:func:`prepare_page` for every notebook page of the book (rewritten only when it changes)."""
    import nbformat

    repo = Path(repo)
    chapters = chapter_index(repo)
    written = []
    for path in page_notebooks(repo):
        before = path.read_text(encoding="utf-8")
        nb = prepare_page(nbformat.reads(before, as_version=4), path.parent.name, path.parent, chapters)
        after = nbformat.writes(nb) + "\n"
        if after != before:
            path.write_text(after, encoding="utf-8")
            written.append(path)
    return written

