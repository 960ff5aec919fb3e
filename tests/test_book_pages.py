"""The book's reader-facing pages and extensions, without a notebook run: the repository address from one
setting (``book/_ext/repository.py``), exercises numbered per chapter (``book/_ext/exercise_numbers.py``),
captions and alt text (``book/_ext/figures.py``), the generated tables of "Run it yourself"
(:mod:`cxrlib.book.setup_guide`), the session plans (:mod:`cxrlib.book.sessions`), the data of the
threshold explorer (:mod:`cxrlib.book.roc_explorer`) and the glossary.

The extensions are checked in small Sphinx builds of a two-page book made here (seconds, no Jupyter Book
run); the whole book is built in ``tests/test_book.py``.
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from cxrlib.book import roc_explorer, sessions, setup_guide, teaching
from cxrlib.data.root import SOURCES
from cxrlib.stats import metrics

REPO = Path(__file__).resolve().parents[1]
EXT = REPO / "book" / "_ext"


def _extension(name: str):
    spec = importlib.util.spec_from_file_location(f"_book_ext_{name}", EXT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------------ a tiny book
@pytest.fixture
def build_book(tmp_path):
    """A function building a small book with the repository's local extensions and the book theme."""
    from sphinx.application import Sphinx

    def build(pages: dict[str, str], theme_options: dict | None = None, name: str = "book") -> dict[str, str]:
        root = tmp_path / name
        src = root / "src"
        src.mkdir(parents=True, exist_ok=True)
        (src / "conf.py").write_text(
            "extensions = ['myst_parser', 'sphinx_exercise', 'repository', 'exercise_numbers', 'figures']\n"
            "myst_enable_extensions = ['colon_fence', 'dollarmath']\n"
            "html_theme = 'sphinx_book_theme'\n"
            f"html_theme_options = {theme_options or {}!r}\n"
            f"root_doc = 'index'\n", encoding="utf-8")
        toc = "\n".join(n for n in pages if n != "index")
        for docname, text in pages.items():
            if docname == "index":
                text += f"\n\n```{{toctree}}\n{toc}\n```\n"
            (src / f"{docname}.md").write_text(text, encoding="utf-8")
        sys.path.insert(0, str(EXT))
        try:
            app = Sphinx(str(src), str(src), str(root / "html"), str(root / "doctrees"), "html", status=None,
                         warning=None, freshenv=True, warningiserror=False)
            app.build()
        finally:
            sys.path.remove(str(EXT))
        return {p.stem: p.read_text(encoding="utf-8") for p in (root / "html").glob("*.html")}

    return build


# ------------------------------------------------------------------------------------------------ repository
def test_the_repository_address_is_one_setting_of_the_config():
    from jupyter_book.config import get_final_config

    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert set(config["repository"]) == {"url"}, "the address is written once, as repository: url:"
    assert "use_repository_button" not in config.get("html", {}), "the button follows the address (book/_ext/repository.py)"
    assert "repository" in config["sphinx"]["local_extensions"]
    sphinx, _ = get_final_config(user_yaml=REPO / "_config.yml", cli_config={"latex_individualpages": False},
                                 sourcedir=REPO, validate=False)
    assert sphinx["html_theme_options"]["repository_url"] == config["repository"]["url"]


_CLONE_PAGE = "# Run it\n\n```{repository-clone}\n```\n"


def _text(html: str) -> str:
    """The page's text (tags removed: highlighted code splits a command into spans)."""
    from html import unescape

    return unescape(re.sub(r"<[^>]+>", "", html))


def test_without_an_address_the_page_says_whom_to_ask_and_shows_no_button(build_book):
    html = build_book({"index": _CLONE_PAGE}, {"repository_url": ""})["index"]
    assert "Ask your teacher or the maintainers for the repository address" in html
    assert "git clone" not in _text(html)
    assert "source-repository-button" not in html


def test_with_an_address_the_page_shows_it_and_the_button_is_on(build_book):
    url = "https://github.com/teachers/cxr-ssl"
    html = build_book({"index": _CLONE_PAGE}, {"repository_url": url})["index"]
    assert f"git clone {url}" in _text(html) and "cd cxr-ssl" in _text(html)
    assert "Ask your teacher" not in html
    assert "source-repository-button" in html and f'href="{url}"' in html, "the theme's repository button is missing"


def test_an_address_the_theme_cannot_draw_is_shown_without_the_button(build_book):
    url = "https://git.example.org/teachers/cxr-ssl.git"
    html = build_book({"index": _CLONE_PAGE}, {"repository_url": url})["index"]
    assert f"git clone {url}" in _text(html) and "cd cxr-ssl" in _text(html)
    assert "source-repository-button" not in html


# ------------------------------------------------------------------------------------------------ exercises
def test_renumbering_restarts_at_one_on_each_page():
    ext = _extension("exercise_numbers")
    numbers = {"a": {"exercise": {"ex-a-1": (5,), "ex-a-2": (6,)}, "figure": {"f": (3,)}},
               "b": {"exercise": {"ex-b-2": (8,), "ex-b-1": (7,)}}, "c": {}}
    ext.renumber_per_page(numbers)
    assert numbers["a"]["exercise"] == {"ex-a-1": (1,), "ex-a-2": (2,)}
    assert numbers["b"]["exercise"] == {"ex-b-1": (1,), "ex-b-2": (2,)}
    assert numbers["a"]["figure"] == {"f": (3,)}, "only exercises are renumbered"


def _exercises(labels: list[str]) -> str:
    return "\n\n".join(f":::{{exercise}}\n:label: {label}\n\nDo {label}.\n:::" for label in labels)


def test_exercises_are_numbered_per_chapter_in_a_build(build_book):
    pages = build_book({"index": "# Book\n\n" + _exercises(["ex-i-1"]),
                        "one": "# One\n\n" + _exercises(["ex-one-1", "ex-one-2"]),
                        "two": "# Two\n\n" + _exercises(["ex-two-1", "ex-two-2", "ex-two-3"])})
    for page, count in (("one", 2), ("two", 3)):
        shown = re.findall(r"Exercise (\d+)", re.sub(r"<[^>]+>", "", pages[page]))
        assert sorted(set(map(int, shown))) == list(range(1, count + 1)), (page, shown)


# ------------------------------------------------------------------------------------------------ figures
_FIGURE = """# Figures

:::{figure} dot.png
:name: fig-a

A readable description of the figure. *dataset: kermany; split: test; profile: classroom; seed: 0.*
:::
"""


def test_figure_alt_text_is_the_description_and_the_run_facts_are_marked(build_book, tmp_path):
    import base64

    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
    (tmp_path / "book" / "src").mkdir(parents=True)
    (tmp_path / "book" / "src" / "dot.png").write_bytes(png)
    html = build_book({"index": _FIGURE})["index"]
    alt = re.search(r'<img[^>]+alt="([^"]*)"', html)
    assert alt and alt.group(1) == "A readable description of the figure.", alt
    assert re.search(r'<em class="run-facts">dataset: kermany; split: test; profile: classroom; seed: 0\.</em>', html)
    assert "figures.js" in html and "figures.css" in html, "click-to-enlarge script and caption style"


def test_caption_facts_are_recognised_only_at_the_end():
    from docutils import nodes

    ext = _extension("figures")
    caption = nodes.caption("", "", nodes.Text("Loss per epoch. "), nodes.emphasis(text="dataset: x; seed: 0."))
    assert ext.run_facts(caption) is not None and ext.description(caption) == "Loss per epoch."
    plain = nodes.caption("", "", nodes.Text("See "), nodes.emphasis(text="this"), nodes.Text(" figure."))
    assert ext.run_facts(plain) is None and ext.description(plain) == "See this figure."


def test_figures_are_saved_at_150_dpi_or_more():
    import inspect

    from cxrlib.book.artifacts import RunArtifacts

    assert inspect.signature(RunArtifacts.figure).parameters["dpi"].default >= 150


# ------------------------------------------------------------------------------------------------ run it yourself
def test_the_data_list_has_an_item_per_data_set_with_its_download():
    rows = setup_guide.data_rows()
    ordered = sorted(SOURCES.values(), key=lambda s: not s.classroom)
    assert [r["key"] for r in rows] == [s.key for s in ordered]
    for row, source in zip(rows, ordered):
        if source.recipe is not None and not source.recipe.manual:
            assert row["how"].startswith(f"public download: `cxrlib download {source.key}`")
        else:
            assert row["how"].startswith("by hand") and source.url in row["how"], "a manual data set says so"
        for alternative in source.alternatives:
            assert (f"`cxrlib download {alternative.key}`" in row["how"]) == (not alternative.manual)
    text = setup_guide.render_data()
    classroom, paper = text.split("**Paper profile only:**")
    assert all(f"(`{s.key}`)" in (classroom if s.classroom else paper) for s in ordered)


def test_the_weights_list_names_every_backbone_and_its_fetch_command():
    from cxrlib.models.registry import REGISTRY

    rows = setup_guide.weights_rows()
    assert sorted(r["key"] for r in rows) == sorted(REGISTRY)
    text = setup_guide.render_weights()
    assert all(f"`python -m cxrlib.models fetch {key}`" in text for key in REGISTRY)


def test_the_run_it_page_uses_the_generated_tables_and_the_readme_commands():
    page = (REPO / "book" / "run_it.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for command in ("bash scripts/book.sh", "bash scripts/test.sh"):
        assert command in readme and command in page
    assert "_teaching/run_it-data.md" in page and "_teaching/run_it-weights.md" in page
    assert "{repository-clone}" in page
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    assert toc.index("book/run_it") < toc.index("book/data"), "the set-up page comes before the first lesson"
    assert "run_it.md" in (REPO / "book" / "intro.md").read_text(encoding="utf-8"), "reachable from the intro"


# ------------------------------------------------------------------------------------------------ sessions
def test_session_plans_fill_90_minutes_and_point_at_what_exists():
    assert len(sessions.SESSIONS) >= 2
    for session in sessions.SESSIONS:
        sessions.check_session(session, REPO)
        assert any(step.kind == "run" for step in session.steps) and any(step.kind == "exercises" for step in session.steps)


def test_session_run_times_come_from_the_build_stamp(monkeypatch):
    session = sessions.SESSIONS[0]
    run_step = next(step for step in session.steps if step.kind == "run")
    stamps = {run_step.run: {"seconds": 437.2, "profile": "classroom"}}
    monkeypatch.setattr(teaching, "build_stamp", lambda run, repo=REPO: stamps.get(run))
    text = sessions.render_session(session, REPO)
    assert "**7.3 min**" in text and "profile classroom" in text
    assert ("longer than this block" in text) == (437.2 > 60 * run_step.minutes)
    stamps[run_step.run] = {"seconds": 30.0, "profile": "classroom"}
    assert "longer than this block" not in sessions.render_session(session, REPO)
    stamps.clear()
    assert "not measured in this build" in sessions.render_session(session, REPO)


def test_a_session_that_names_a_missing_section_or_exercise_is_refused():
    good = sessions.SESSIONS[0]
    missing = sessions.Step("read", 20, page="book/pretrain", section="No such section")
    with pytest.raises(ValueError, match="no section"):
        sessions.check_session(sessions.Session("x", "x", "x", (), (missing, *good.steps[1:])), REPO)
    step = next(s for s in good.steps if s.kind == "exercises")
    wrong = sessions.Step("exercises", step.minutes, run=step.run, exercises=(99,))
    with pytest.raises(ValueError, match="exercises"):
        sessions.check_session(sessions.Session("x", "x", "x", (), tuple(wrong if s is step else s for s in good.steps)), REPO)


def test_the_teaching_page_links_no_solution_and_says_where_the_instructor_edition_is():
    page = (REPO / "book" / "teach.md").read_text(encoding="utf-8")
    assert "bash scripts/book.sh --edition instructor" in page and "_build/instructor/_build/html/index.html" in page
    assert "_teaching/sessions.md" in page
    assert not re.search(r"\]\([^)]*instructor[^)]*\)", page), "a link into the instructor edition"
    for session in sessions.SESSIONS:
        assert "sol-" not in sessions.render_session(session, REPO)


# ------------------------------------------------------------------------------------------------ ROC explorer
def test_explorer_counts_equal_the_confusion_counts_at_each_threshold():
    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.2
    s = np.round(np.where(y, rng.normal(0.6, 0.2, 400), rng.normal(0.4, 0.2, 400)), 2)  # ties on purpose
    data = roc_explorer.finding_data(y, s, steps=50)
    assert data["positives"] == y.sum() and data["negatives"] == (~y).sum()
    assert data["thresholds"] == sorted(data["thresholds"])
    for t, tp, fp in zip(data["thresholds"], data["tp"], data["fp"]):
        counts = metrics.confusion_counts(y, s >= t)
        assert (counts.tp, counts.fp) == (tp, fp)
    assert (data["tp"][0], data["fp"][0]) == (y.sum(), (~y).sum()), "the lowest threshold calls everything positive"
    assert (data["tp"][-1], data["fp"][-1]) == (0, 0), "the last threshold calls nothing positive"
    assert data["auroc"] == round(metrics.auroc(y, s), 4)


def test_explorer_snippet_is_one_html_block_with_the_data():
    data = {"source": "x", "images": 3, "findings": {"A": roc_explorer.finding_data([0, 1, 1], [0.1, 0.4, 0.9], steps=4)}}
    snippet = roc_explorer.render(data)
    block = snippet.split("</div>", 1)[0]
    assert "\n\n" not in block, "a blank line would end MyST's HTML block"
    payload = re.search(r'<script type="application/json" class="roc-explorer-data">(.*?)</script>', block).group(1)
    assert json.loads(payload) == data


def test_explorer_data_comes_from_the_real_predictions(data_root):
    data = roc_explorer.explorer_data(data_root, steps=20)
    assert data["images"] > 20_000 and set(data["findings"]) == set(roc_explorer.FINDINGS)
    for finding in data["findings"].values():
        assert finding["positives"] + finding["negatives"] == data["images"]
        assert 0.5 < finding["auroc"] < 1


# ------------------------------------------------------------------------------------------------ glossary
REQUIRED_TERMS = ("run folder", "registry row", "profile", "paper smoke", "smoke build", "classroom analogue",
                  "pipeline demo", "linear probe", "SSL", "SimCLR", "MoCo", "NT-Xent", "AUROC", "DeLong test",
                  "bootstrap", "patient-level split", "partial unfreezing")
_TERM_ROLE = re.compile(r"\{term\}`(?:[^`<]*<)?(?P<term>[^`>]+)>?`")


def _glossary_terms() -> set[str]:
    text = (REPO / "book" / "glossary.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```\{glossary\}\n(.*?)```", text, flags=re.S)
    return {line.strip() for block in blocks for line in block.splitlines() if line and not line.startswith(" ")}


def test_the_glossary_defines_and_the_pages_link_the_required_terms():
    defined = _glossary_terms()
    assert set(REQUIRED_TERMS) <= defined, set(REQUIRED_TERMS) - defined
    linked = {m["term"] for page in (REPO / "book").glob("*.md") if page.name != "glossary.md"
              for m in _TERM_ROLE.finditer(page.read_text(encoding="utf-8"))}
    assert set(REQUIRED_TERMS) <= linked, f"terms no page links: {set(REQUIRED_TERMS) - linked}"
    undefined = {t for t in linked if t.lower() not in {d.lower() for d in defined}}  # Sphinx ignores case
    assert not undefined, f"links to undefined terms: {undefined}"


@pytest.mark.parametrize("chapter", teaching.teaching_chapters(REPO), ids=lambda c: c.chapter)
def test_every_chapter_has_check_yourself_questions_with_hidden_answers(chapter):
    text = (REPO / f"{chapter.chapter}.md").read_text(encoding="utf-8")
    assert "\n## Check yourself\n" in text
    section = text.split("\n## Check yourself\n", 1)[1].split("\n## ", 1)[0]
    questions = re.findall(r"^\d+\. ", section, flags=re.M)
    answers = re.findall(r":::\{admonition\} Answer\n\s*:class: dropdown", section)
    assert 2 <= len(questions) <= 4 and len(answers) == len(questions)


@pytest.mark.parametrize("chapter", teaching.teaching_chapters(REPO), ids=lambda c: c.chapter)
def test_prerequisites_that_name_the_auroc_link_the_primer(chapter):
    text = (REPO / f"{chapter.chapter}.md").read_text(encoding="utf-8")
    prerequisites = text.split("{admonition} Prerequisites", 1)[1].split("\n::::", 1)[0]
    if re.search(r"\bROC\b|AUROC", prerequisites):
        assert "roc_primer.md" in prerequisites, "the prerequisite names the AUROC: link the ROC primer"
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    assert toc.index("book/roc_primer") < toc.index("book/finetune"), "the primer comes before its first use"


def test_a_caption_of_a_check_on_random_numbers_lists_no_run_fact_of_the_images():
    """Issue 24: a table computed from random numbers (notebook 02's loss check) must not list the run's
    augmentation policy, epochs or batch size: every image/training fact of the run context is overridden
    with None in such a call (the caption drops a None fact: cxrlib.book.artifacts.RunArtifacts.caption)."""
    import ast

    from cxrlib.book.artifacts import CONTEXT_FIELDS

    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        context_keys = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "RunArtifacts":
                for kw in node.keywords:
                    if kw.arg == "context" and isinstance(kw.value, ast.Call):
                        context_keys |= {k.arg for k in kw.value.keywords if k.arg}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("table", "figure")):
                continue
            given = {kw.arg: kw.value for kw in node.keywords if kw.arg}
            if not (isinstance(given.get("dataset"), ast.Constant) and "random" in str(given["dataset"].value)):
                continue
            for key in context_keys - set(CONTEXT_FIELDS):
                value = given.get(key)
                assert isinstance(value, ast.Constant) and value.value is None, (
                    f"{path.name}:{node.lineno}: a table of random numbers keeps the run fact {key!r}")
