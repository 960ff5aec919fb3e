"""The teaching edition: run-time cards, exercises with worked solutions, a student and an instructor book.

Every chapter of ``_toc.yml`` that has an executed notebook under it (``book/_generated/<run>/<run>``)
is a *teaching chapter*. Its front matter (learning objectives, prerequisites with an estimated time) and
its summary and "What's next" are prose in ``book/<chapter>.md``; this module generates the rest into
``book/_teaching/`` (git-ignored, rewritten before every HTML build by :func:`write_teaching_pages`):

* ``<run>-card.md``: the **measured** run time of the chapter's notebook, read from the build stamp that
  :func:`cxrlib.book.build.execute` writes (``seconds``, ``profile``, ``cpus``, ``gpu``, ``finished``):
  the sentence is generated, never typed; and a link to the **clean notebook** ``notebooks/<nb>.ipynb``
  (parameters cell, no outputs), not the executed copy;
* ``<run>-exercises.md``: one ``{exercise}`` per item of the notebook's ``## Exercises`` list (the text
  is written once, in the notebook), each followed by its ``{solution}`` from ``book/solutions/<nb>.md``
  (sections ``## Exercise <N>``).

**Editions are configuration** (:data:`EDITIONS`): the student edition builds with the repository's
``_config.yml`` (``hide_solutions: true``: sphinx-exercise drops every ``{solution}`` before it is even
parsed); the instructor edition builds from a copy of it with ``hide_solutions: false`` into
``_build/instructor/`` and first executes the **solution runs**: ``params/solutions/<nb>--ex<N>.yaml``,
parameter overrides on top of ``params/classroom/<nb>.yaml``, each an ordinary run of the notebook into
``book/_generated/<nb>--ex<N>/`` (:func:`cxrlib.book.build.solution_runs`). The numbers of a solution
come from :mod:`cxrlib.chapters.solutions` (``python -m cxrlib.chapters.solutions``, run as its own
process), which reads the run folders (the chapter's run and its
solution runs) and writes ``book/_teaching/answers/<id>.md`` snippets that the solutions include.

Adding a chapter: give its notebook a ``## Exercises`` list, write ``book/solutions/<nb>.md`` with one
``## Exercise <N>`` section per item, put the front matter and the two includes in the chapter (copy any
teaching chapter), and add solution runs / answers where an exercise needs numbers.
``tests/test_teaching.py`` lists the teaching chapters from ``_toc.yml`` and fails on anything missing.
"""
from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from cxrlib.book.artifacts import SMOKE_PROFILE_SUFFIX
from cxrlib.core.config import lookup
from cxrlib.core.repo import GENERATED, REPO
from cxrlib.core.runs import read_build_stamp

TEACHING_DIR = Path("book") / "_teaching"
SOLUTIONS_DIR = Path("book") / "solutions"
ANSWERS_DIR = TEACHING_DIR / "answers"
CLEAN_NOTEBOOKS = "_notebooks"
"""Folder of the HTML output holding copies of ``notebooks/*.ipynb`` (see ``book/_ext/teaching_links.py``)."""
_EXECUTED_PAGE = re.compile(r"^book/_generated/(?P<run>[^/]+)/(?P=run)$")
_ITEM = re.compile(r"^(?P<number>\d+)\.\s+(?P<text>.*)$")
_SOLUTION_HEADING = re.compile(r"^##\s+Exercise\s+(?P<number>\d+)\s*$")


@dataclass(frozen=True)
class Edition:
    """One way to build the book: a row of :data:`EDITIONS`."""

    name: str
    hide_solutions: bool
    output: Path  # jupyter-book --path-output, relative to the repository ("." = the default _build/)
    solution_runs: bool  # execute params/solutions/ before building
    announcement: str = ""


EDITIONS = {
    "student": Edition("student", hide_solutions=True, output=Path("."), solution_runs=False),
    "instructor": Edition("instructor", hide_solutions=False, output=Path("_build") / "instructor", solution_runs=True,
                          announcement="Instructor edition: every exercise shows its worked solution."),
}


def get_edition(name: str) -> Edition:
    """The edition named ``name`` (a key of :data:`EDITIONS`)."""
    return lookup(EDITIONS, name, what="edition")


@dataclass(frozen=True)
class TeachingChapter:
    chapter: str  # the chapter's file in _toc.yml, e.g. book/data
    run: str  # the executed notebook's run, e.g. 01_data

    @property
    def notebook(self) -> str:
        return self.run.split("--")[0]


def teaching_chapters(repo: Path = REPO) -> list[TeachingChapter]:
    """The chapters of ``_toc.yml`` with an executed notebook page among their sections, in book order
    (:func:`cxrlib.book.reading_path.sidebar`)."""
    from cxrlib.book.reading_path import sidebar

    pages = sidebar(repo)
    found = []
    for page in pages:
        runs = [m["run"] for p in pages if p.parent == page.file and (m := _EXECUTED_PAGE.match(p.file))]
        if runs:
            found.append(TeachingChapter(page.file, runs[0]))
    return found


# ------------------------------------------------------------------------------------------------ exercises
def notebook_section(notebook: Path, heading: str) -> list[str]:
    """The markdown lines under ``## <heading>`` of a notebook, up to the next heading or cell end."""
    found: list[str] = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "markdown":
            continue
        inside = False
        for line in cell.source.splitlines():
            if re.match(rf"^#{{2,3}}\s+{re.escape(heading)}\s*$", line.strip()):
                inside = True
                continue
            if inside and line.startswith("#"):
                inside = False
            if inside:
                found.append(line)
    return found


def notebook_exercises(notebook: Path) -> list[str]:
    """The items of the notebook's ``## Exercises`` list (markdown cells), continuation lines joined."""
    items: list[str] = []
    for line in notebook_section(notebook, "Exercises"):
        match = _ITEM.match(line)
        if match:
            items.append(match["text"].strip())
        elif line.strip() and items:
            items[-1] += " " + line.strip()
    return items


def render_summary(chapter: TeachingChapter, repo: Path = REPO) -> str:
    """The notebook's ``## Summary`` (for chapters without a summary of their own)."""
    lines = notebook_section(repo / "notebooks" / f"{chapter.notebook}.ipynb", "Summary")
    if not any(line.strip() for line in lines):
        raise ValueError(f"notebooks/{chapter.notebook}.ipynb has no '## Summary' section")
    return "\n".join(lines).strip() + "\n"


def solution_texts(path: Path) -> dict[int, str]:
    """``book/solutions/<nb>.md`` split at its ``## Exercise <N>`` headings: {N: MyST text}."""
    if not path.exists():
        return {}
    texts: dict[int, list[str]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _SOLUTION_HEADING.match(line)
        if match:
            current = int(match["number"])
            texts[current] = []
        elif current is not None:
            texts[current].append(line)
    return {n: "\n".join(lines).strip() for n, lines in texts.items()}


def exercise_label(notebook: str, number: int) -> str:
    return f"ex-{notebook.replace('_', '-')}-{number}"


def render_exercises(chapter: TeachingChapter, repo: Path = REPO) -> str:
    """The MyST of a chapter's exercises, each followed by its solution (hidden in the student edition)."""
    exercises = notebook_exercises(repo / "notebooks" / f"{chapter.notebook}.ipynb")
    solutions = solution_texts(repo / SOLUTIONS_DIR / f"{chapter.notebook}.md")
    missing = [n for n in range(1, len(exercises) + 1) if n not in solutions]
    if missing:
        raise ValueError(f"{SOLUTIONS_DIR / (chapter.notebook + '.md')}: no '## Exercise N' section for "
                         f"exercise(s) {missing} of notebooks/{chapter.notebook}.ipynb")
    extra = sorted(set(solutions) - set(range(1, len(exercises) + 1)))
    if extra:
        raise ValueError(f"{SOLUTIONS_DIR / (chapter.notebook + '.md')}: solutions {extra} have no exercise in the notebook")
    blocks = [f"<!-- generated by cxrlib.book.teaching from notebooks/{chapter.notebook}.ipynb and "
              f"{SOLUTIONS_DIR.as_posix()}/{chapter.notebook}.md -->"]
    for number, text in enumerate(exercises, start=1):
        label = exercise_label(chapter.notebook, number)
        blocks += [f"::::::{{exercise}}\n:label: {label}\n\n{text}\n::::::",
                   f"::::::{{solution}} {label}\n:label: sol-{label[3:]}\n:class: dropdown\n\n{solutions[number]}\n::::::"]
    return "\n\n".join(blocks) + "\n"


# ------------------------------------------------------------------------------------------------ run time
def build_stamp(run: str, repo: Path = REPO) -> dict | None:
    return read_build_stamp(repo / GENERATED / run)


def measured_time(run: str, repo: Path = REPO) -> str | None:
    """The run's measured wall time as shown in the book (``"42 s"``, ``"7.3 min"``), from its build stamp;
    None when this build has not measured it."""
    stamp = build_stamp(run, repo)
    if not stamp or "seconds" not in stamp:
        return None
    seconds = float(stamp["seconds"])
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def runtime_sentence(run: str, repo: Path = REPO) -> str:
    """One sentence with the notebook's measured run time, from its build stamp (never typed)."""
    shown = measured_time(run, repo)
    if shown is None:
        return (f"**Run time.** Not measured in this build: run `cxrlib book --only {run}` (the build stamp "
                f"`book/_generated/{run}/.build-stamp.json` records it).")
    stamp = build_stamp(run, repo)
    profile = stamp.get("profile", "unrecorded")
    where = []
    if stamp.get("cpus"):
        where.append(f"{stamp['cpus']} CPU cores")
    where.append("with a GPU present" if stamp.get("gpu") else "no GPU")
    if int(stamp.get("jobs") or 1) > 1:
        where.append(f"{stamp['jobs']} notebooks executing at a time, so alone it takes less")
    when = f" on {stamp['finished']}" if stamp.get("finished") else ""
    note = (" Smoke profile: tiny sizes that prove the code path, not the classroom run time."
            if str(profile).endswith(SMOKE_PROFILE_SUFFIX) else
            " Measured on the build machine; a shared or slower machine takes longer.")
    return (f"**Run time.** Notebook `{run}` took **{shown}** to execute in this build "
            f"(profile {profile}, {', '.join(where)}{when}; recorded by `cxrlib book` in its build stamp).{note}")


def render_card(chapter: TeachingChapter, repo: Path = REPO) -> str:
    """Run time and the clean-notebook download for a chapter (``book/_teaching/<run>-card.md``)."""
    notebook = f"notebooks/{chapter.notebook}.ipynb"
    return (f"{runtime_sentence(chapter.run, repo)}\n\n"
            f"**Notebook.** {{download}}`Download {chapter.notebook}.ipynb </{notebook}>` (the clean notebook from "
            f"`notebooks/`: parameters cell, no outputs; run it with the classroom parameters or "
            f"`papermill {notebook} out.ipynb -f params/classroom/{chapter.notebook}.yaml`). "
            f"The page [with outputs](/book/_generated/{chapter.run}/{chapter.run}.ipynb) is this build's executed copy.\n")


# ------------------------------------------------------------------------------------------------ editions
def edition_config(repo: Path, edition: Edition) -> Path:
    """The ``_config.yml`` an edition builds with: the repository's own for the student edition, a copy
    with ``hide_solutions: false`` (and an announcement) for the instructor edition, written beside it as
    ``_config.<edition>.yml`` (git-ignored)."""
    config = yaml.safe_load((repo / "_config.yml").read_text(encoding="utf-8"))
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    if sphinx_config.get("hide_solutions", False) == edition.hide_solutions and not edition.announcement:
        return repo / "_config.yml"
    sphinx_config["hide_solutions"] = edition.hide_solutions
    if edition.announcement:
        config.setdefault("html", {})["announcement"] = edition.announcement
    # beside _config.yml: Jupyter Book resolves local extensions (and other paths) from the config's folder
    path = repo / f"_config.{edition.name}.yml"
    path.write_text(f"# generated by cxrlib.book.teaching for the {edition.name} edition from _config.yml\n"
                    + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def write_teaching_pages(repo: Path = REPO, edition: str = "student") -> list[Path]:
    """Write the cards, the exercises and (instructor edition) the solutions' answers into ``book/_teaching/``."""
    folder = repo / TEACHING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in teaching_chapters(repo):
        for name, text in ((f"{chapter.run}-card.md", render_card(chapter, repo)),
                           (f"{chapter.run}-summary.md", render_summary(chapter, repo)),
                           (f"{chapter.run}-exercises.md", render_exercises(chapter, repo))):
            (folder / name).write_text(text, encoding="utf-8")
            written.append(folder / name)
    if not get_edition(edition).hide_solutions:
        # cxrlib.chapters sits below the book build's import rules (only chapters and the CLI import it):
        # the answers are computed by its own command, in a separate process.
        answers = repo / ANSWERS_DIR
        subprocess.run([sys.executable, "-m", "cxrlib.chapters.solutions", str(repo / GENERATED), str(answers)],
                       check=True, cwd=repo)
        written += sorted(answers.glob("*.md"))
    return written

