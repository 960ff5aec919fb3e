"""The main job end to end: every classroom notebook executes and the HTML book builds offline, warning-free.

The first tests are source-level (no build): the chapters own the tables and figures they include from
``book/_generated/<run>/``, so the executed notebook page must not show them a second time (the producing
cell is tagged ``remove-output``), and an artifact no chapter includes stays visible in its notebook page.
"""
import ast
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from cxrlib.book import build
from cxrlib.core.notebooks import SharedKernel
from cxrlib.core.params import notebook_schema

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "book").glob("*.md"))
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# A directive that shows a file (``{include}``, ``{figure}``, ``{image}``, ``{csv-table}`` with ``:file:``),
# or a Markdown image, pointing into book/_generated/<run>/<artifact>.<ext>.
_DIRECTIVE = re.compile(r"^\s*(?:`{3,}|:{3,})\{(?:include|figure|image|csv-table|literalinclude)\}\s+(?P<path>\S+)")
_FILE_OPTION = re.compile(r"^\s*:file:\s+(?P<path>\S+)")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\((?P<path>[^)\s]+)\)")
_GENERATED = re.compile(r"(?:^|/)_generated/(?P<run>[^/]+)/(?P<file>[^/]+)\.(?:md|csv|png|svg|jpg)$")
ARTIFACT_METHODS = ("table", "figure", "text")
REMOVE_OUTPUT = "remove-output"


def chapter_artifacts(chapters=CHAPTERS) -> list[tuple[str, str, str]]:
    """(chapter file name, notebook name, artifact id) for every artifact a chapter shows, in order."""
    found = []
    for chapter in chapters:
        for line in chapter.read_text(encoding="utf-8").splitlines():
            paths = [m.group("path") for m in (_DIRECTIVE.match(line), _FILE_OPTION.match(line)) if m]
            paths += [m.group("path") for m in _MD_IMAGE.finditer(line)]
            for path in paths:
                match = _GENERATED.search(path)
                if match:
                    found.append((chapter.name, match.group("run").split("--")[0], match.group("file")))
    return found


def _artifact_id_pattern(node: ast.AST) -> re.Pattern | None:
    """The artifact id of a ``RunArtifacts.table/figure`` call as a regex (an f-string's fields match anything)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.compile(re.escape(node.value))
    if isinstance(node, ast.JoinedStr):
        return re.compile("".join(re.escape(part.value) if isinstance(part, ast.Constant) else ".+"
                                  for part in node.values))
    return None


def artifact_cells(notebook: Path) -> list[tuple[int, nbformat.NotebookNode, list[re.Pattern]]]:
    """(index, cell, artifact-id patterns) for every code cell that writes an artifact through a
    ``RunArtifacts`` object (``run.table(frame, "id", ...)``, ``run.figure(fig, "id", ...)``)."""
    cells = nbformat.read(notebook, as_version=4).cells
    trees = {}
    writers = set()
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        try:
            trees[index] = ast.parse(cell.source)
        except SyntaxError:  # IPython magics
            continue
        for node in ast.walk(trees[index]):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and getattr(node.value.func, "id", getattr(node.value.func, "attr", None)) == "RunArtifacts"):
                writers.update(t.id for t in node.targets if isinstance(t, ast.Name))
    found = []
    for index, tree in trees.items():
        patterns = []
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ARTIFACT_METHODS and getattr(node.func.value, "id", None) in writers):
                continue
            arg = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "artifact_id"), None)
            pattern = _artifact_id_pattern(arg) if arg is not None else None
            assert pattern is not None, f"{notebook.name} cell {index}: artifact id is not a string literal or f-string"
            patterns.append(pattern)
        if patterns:
            found.append((index, cells[index], patterns))
    return found


def test_chapters_reference_artifacts_of_existing_notebook_cells():
    included = chapter_artifacts()
    assert included, "no chapter includes an artifact from book/_generated/"
    for chapter, notebook, artifact in included:
        path = REPO / "notebooks" / f"{notebook}.ipynb"
        assert path.exists(), f"{chapter} includes {artifact} of run {notebook}, which has no notebook"
        producers = [i for i, _, patterns in artifact_cells(path) if any(p.fullmatch(artifact) for p in patterns)]
        assert len(producers) == 1, f"{chapter} includes {notebook}/{artifact}: produced by cells {producers} of {path.name}"


def test_each_artifact_is_shown_once_in_the_book():
    """A chapter that includes an artifact owns it: no second chapter includes it, and the executed
    notebook page hides the producing cell's output (``remove-output``); a cell whose output is hidden
    writes no artifact that no chapter shows, so nothing disappears from the book."""
    included = chapter_artifacts()
    seen: dict[tuple[str, str], str] = {}
    for chapter, notebook, artifact in included:
        key = (notebook, artifact)
        assert key not in seen, f"{notebook}/{artifact} is included by {seen[key]} and again by {chapter}"
        seen[key] = chapter
    for path in NOTEBOOKS:
        shown = {a for n, a in seen if n == path.stem}
        for index, cell, patterns in artifact_cells(path):
            tags = cell.metadata.get("tags", [])
            in_chapter = [p.pattern for p in patterns if any(p.fullmatch(a) for a in shown)]
            elsewhere = [p.pattern for p in patterns if not any(p.fullmatch(a) for a in shown)]
            if in_chapter:
                assert REMOVE_OUTPUT in tags, (
                    f"{path.name} cell {index} writes {in_chapter}, which a chapter shows: tag the cell "
                    f"'{REMOVE_OUTPUT}' so the executed notebook page does not repeat it")
            if REMOVE_OUTPUT in tags:
                assert not elsewhere, (
                    f"{path.name} cell {index} is tagged '{REMOVE_OUTPUT}' but writes {elsewhere}, which no chapter "
                    "shows: include it in a chapter or move it to its own cell")


def test_toc_follows_the_notebook_numbers():
    """Reading order: within each part, chapter and executed notebook pages appear in the order of the
    notebook numbers (the last part, "Building the book", holds the sweep notebook 13 after the methods
    part's later notebooks such as 12)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))

    def walk(entries, files):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []) + entry.get("chapters", []), files)
        return files

    executed_all = []
    for part in toc.get("parts", []):
        executed = [f.split("/")[-1] for f in walk(part.get("chapters", []), []) if f.startswith("book/_generated/")]
        assert executed == sorted(executed), f"executed notebooks out of notebook order in {part.get('caption')}: {executed}"
        executed_all += executed
    runs = {r.name for r in build.discover_runs("classroom")}
    assert set(executed_all) == runs, f"_toc.yml and params/classroom disagree: {sorted(set(executed_all) ^ runs)}"


@pytest.fixture(scope="module")
def smoke_editions(tmp_path_factory):
    """Every classroom run and every solution run at smoke size (``params/smoke/``) in a copy of the tree,
    then both HTML editions (``-W -n``): the student book (``_build/html``) and the instructor book with the
    solutions (``_build/instructor/_build/html``). The whole code path of the main job, and of the
    teaching edition, in minutes, without touching ``book/_generated``."""
    tree = build.stage_tree(REPO, tmp_path_factory.mktemp("smoke-book"))
    runs = build.discover_runs("classroom", repo=tree, smoke=True)
    solution_runs = build.solution_runs(tree, smoke=True)
    with SharedKernel() as kernel:  # as `cxrlib book --smoke`: one kernel, torch imported once
        outcome = build.execute_all(runs + solution_runs, "classroom", repo=tree, shared_kernel=kernel)
    assert outcome.ok, outcome.summary(tree)
    return tree, runs, build.build_html(tree), build.build_html(tree, edition="instructor")


@pytest.fixture(scope="module")
def smoke_book(smoke_editions):
    """The student edition of :func:`smoke_editions`: (tree, classroom runs, index.html)."""
    tree, runs, student, _ = smoke_editions
    return tree, runs, student


@pytest.mark.slow
def test_every_run_wrote_provenance_and_captioned_artifacts(smoke_book):
    tree, runs, _ = smoke_book
    for run in runs:
        out = tree / run.out_dir
        record = json.loads((out / "provenance.json").read_text())
        assert record["params"]["profile"] == "classroom-smoke"
        assert record["artifacts"], f"{run.name} wrote no artifacts"
        for artifact in record["artifacts"]:
            assert (out / artifact["file"]).exists()
            for fact in ("dataset:", "split:", "image size:", "weights:", "profile: classroom-smoke", "seed:"):
                assert fact in artifact["caption"], f"{run.name}/{artifact['id']}: caption lacks '{fact}'"


@pytest.mark.slow
def test_html_pages_show_the_artifacts(smoke_book):
    tree, runs, index = smoke_book
    assert index.exists()
    html_root = index.parent
    pages = {p.relative_to(html_root).as_posix(): p.read_text(errors="ignore") for p in html_root.rglob("*.html")}
    for run in runs:
        executed = f"book/_generated/{run.name}/{run.name}.html"
        assert executed in pages, f"executed notebook page {executed} missing"
    data_page = pages["book/data.html"]
    table1 = pd.read_csv(tree / "book/_generated/01_data/d000_table1.csv")
    total = int(table1.loc[table1["class"] == "Total", "total"].iloc[0])
    assert f"<td><p>{total}</p></td>" in data_page, "the data chapter does not show Table 1's computed total"
    figures = [(run, artifact) for _, run, artifact in chapter_artifacts([tree / "book" / "data.md"])
               if (tree / "book/_generated" / run / f"{artifact}.png").exists()]
    assert figures, "the data chapter includes no figure of its run"
    for run, artifact in figures:  # each figure is on the page, and the image served is the run's PNG
        src = re.search(rf'<img[^>]+src="([^"]*/{re.escape(artifact)}\d*\.png)"', data_page)
        assert src, f"the data chapter does not show {artifact}.png"
        served = (html_root / "book" / src.group(1)).resolve()
        assert served.read_bytes() == (tree / "book/_generated" / run / f"{artifact}.png").read_bytes(), artifact


@pytest.mark.slow
def test_every_page_renders_in_a_real_browser(smoke_book, tmp_path):
    """Every page of the smoke book in headless Chromium: no missing image, broken internal link,
    unrendered math or uncaught JavaScript error; every executed notebook page reads as an executed notebook
    (``notebook`` problems: parameters once, each figure cell followed by its image or a link to its chapter,
    no machine folders, path reprs, validate_params block or NaN cell); screenshots of the document pages and
    the scoreboard land in ``_build/browser-check/`` for a look."""
    import os
    import subprocess

    from cxrlib.book import browser_check

    _, _, index = smoke_book
    try:
        browser_check.find_browser()
    except browser_check.BrowserMissing:
        subprocess.run(["bash", str(REPO / "scripts" / "chromium.sh"), "install"], check=False)
    try:
        browser_check.find_browser()
    except browser_check.BrowserMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have Chromium (scripts/chromium.sh install): {exc}")
        pytest.skip(f"Chromium could not be installed (scripts/chromium.sh install): {exc}")
    notebook_pages = [p for p in browser_check.site_pages(index.parent)
                      if p.relative_to(index.parent).as_posix().startswith(browser_check.NOTEBOOK_PAGES)]
    assert len(notebook_pages) >= len(build.discover_runs("classroom", repo=smoke_book[0])), "notebook pages missing"
    problems = browser_check.check_site(index.parent, screenshots_dir=REPO / "_build" / "browser-check")
    assert not problems, f"{len(problems)} problems in a real browser:\n" + "\n".join(map(str, problems))

def _pages(index: Path) -> dict[str, str]:
    return {p.relative_to(index.parent).as_posix(): p.read_text(errors="ignore") for p in index.parent.rglob("*.html")}


_EXERCISE = re.compile(r'<div class="exercise[^"]*" id="(ex-[^"]+)"')
_SOLUTION = re.compile(r'<div class="solution[^"]*" id="(sol-[^"]+)"')


@pytest.mark.slow
def test_student_edition_has_every_exercise_and_no_solution(smoke_editions):
    from cxrlib.book import teaching

    tree, _, student, _ = smoke_editions
    expected = {teaching.exercise_label(c.notebook, n) for c in teaching.teaching_chapters(tree)
                for n in range(1, len(teaching.notebook_exercises(tree / "notebooks" / f"{c.notebook}.ipynb")) + 1)}
    pages = _pages(student)
    found = {label for html in pages.values() for label in _EXERCISE.findall(html)}
    assert found == expected, f"exercises missing from the student book: {sorted(expected - found)}"
    assert not any(_SOLUTION.search(html) for html in pages.values()), "a solution is in the student book"
    site = "\n".join(pages.values()) + (student.parent / "searchindex.js").read_text(errors="ignore")
    assert "Solution to" not in site and "Computed from the run folder" not in site
    for answer in (tree / "book/_teaching/answers").glob("*.md"):  # written by the instructor build
        for line in answer.read_text().splitlines():
            if len(line) > 60 and not line.startswith(("|", "*", "!")):
                assert line[:60] not in site, f"solution text of {answer.name} in the student book"


@pytest.mark.slow
def test_instructor_edition_shows_every_solution_with_its_computed_answer(smoke_editions):
    tree, _, _, instructor = smoke_editions
    pages = _pages(instructor)
    exercises = {label for html in pages.values() for label in _EXERCISE.findall(html)}
    solutions = {label for html in pages.values() for label in _SOLUTION.findall(html)}
    assert exercises and {"sol-" + e[3:] for e in exercises} == solutions, "an exercise without its solution"
    site = "\n".join(pages.values())
    assert "Not computed in this build" not in site, "an answer's run folders were missing"
    assert site.count("Computed from the run folder") >= len(list((tree / "book/_teaching/answers").glob("*.md")))
    assert "Instructor edition" in site


@pytest.mark.slow
def test_no_page_names_a_folder_of_the_build_machine(smoke_editions):
    """Issue 27: captions, tables, answers and notebook outputs name files by location (package, data root,
    checkout), so a moved checkout or a recreated environment shows the same book."""
    import sysconfig

    from cxrlib.data.root import data_root

    tree, _, student, instructor = smoke_editions
    folders = {str(tree), str(REPO), str(data_root()), sysconfig.get_paths()["purelib"], str(Path.home())}
    for index in (student, instructor):
        for name, html in _pages(index).items():
            shown = [folder for folder in folders if folder in html]
            assert not shown, f"{name} shows {shown}"


@pytest.mark.slow
def test_chapters_state_the_measured_run_time_and_link_the_clean_notebook(smoke_editions):
    import nbformat
    from html import unescape

    from cxrlib.book import teaching

    tree, _, student, _ = smoke_editions
    pages = _pages(student)
    for chapter in teaching.teaching_chapters(tree):
        html = pages[f"{chapter.chapter}.html"]
        stamp = json.loads((tree / "book/_generated" / chapter.run / ".build-stamp.json").read_text())
        shown = f"{stamp['seconds']:.0f} s" if stamp["seconds"] < 120 else f"{stamp['seconds'] / 60:.1f} min"
        assert f"<strong>{shown}</strong>" in html, f"{chapter.chapter}: run time {shown} of the build stamp not shown"
        links = [unescape(h) for h in re.findall(r'href="([^"]*_downloads/[^"]+\.ipynb)"', html)]
        assert links, f"{chapter.chapter}: no download link to the clean notebook"
        target = (student.parent / Path(chapter.chapter).parent / links[0]).resolve()
        assert target.name == f"{chapter.notebook}.ipynb" and target.exists()
        assert target.read_bytes() == (tree / "notebooks" / target.name).read_bytes()
        page = pages[f"book/_generated/{chapter.run}/{chapter.run}.html"]
        button = re.search(r'href="([^"]*_notebooks/[^"]+\.ipynb)"', page)
        assert button, f"{chapter.run}: the download button does not serve the clean notebook"
        clean = (student.parent / f"book/_generated/{chapter.run}" / unescape(button.group(1))).resolve()
        notebook = nbformat.read(clean, as_version=4)
        assert all(not c.get("outputs") for c in notebook.cells), f"{clean.name}: the download has outputs"
        assert "_sources/book/_generated" not in page, f"{chapter.run}: a download still serves the executed copy"


def test_every_notebook_has_smoke_sizes_that_are_its_parameters():
    """``cxrlib book --smoke`` needs ``params/smoke/<notebook>.yaml`` for every notebook, naming only
    parameters of its parameter cell."""
    for notebook in NOTEBOOKS:
        overrides = build.smoke_overrides(notebook.stem, REPO)
        names = set(notebook_schema(notebook))
        assert set(overrides) <= names, f"params/smoke/{notebook.stem}.yaml: not parameters: {set(overrides) - names}"


def test_smoke_overrides_merge_into_nested_parameters():
    merged = build.merge_params({"a": 1, "opts": {"x": 1, "y": 2}}, {"opts": {"y": 3}, "b": [1]})
    assert merged == {"a": 1, "opts": {"x": 1, "y": 3}, "b": [1]}
