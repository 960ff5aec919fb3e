"""The teaching edition, from the sources (no build): every chapter of ``_toc.yml`` with an executed
notebook has its objectives, prerequisites with an estimated time, measured run time, summary, "What's
next" and exercises, and every exercise has a worked solution whose numbers come from run folders.

The chapters are listed from ``_toc.yml`` (:func:`cxrlib.book.teaching.teaching_chapters`), so a new
chapter is covered as soon as it is in the table of contents. The built student and instructor books
are checked in ``tests/test_book.py`` (smoke build).
"""
import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from cxrlib.book import build, teaching
from cxrlib.chapters import solutions
from cxrlib.core.params import notebook_schema

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = teaching.teaching_chapters(REPO)
_ANSWER_INCLUDE = re.compile(r"/book/_teaching/answers/(?P<key>[^/\s]+)\.md")


def test_teaching_chapters_come_from_the_toc():
    toc = (REPO / "_toc.yml").read_text(encoding="utf-8")
    executed = re.findall(r"file:\s*book/_generated/([^/\s]+)/\1\s*$", toc, flags=re.M)
    assert executed and sorted(c.run for c in CHAPTERS) == sorted(executed), \
        "every executed notebook page of _toc.yml must sit under a teaching chapter"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.chapter)
def test_chapter_has_every_teaching_element(chapter):
    text = (REPO / f"{chapter.chapter}.md").read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]
    assert re.search(r"^:{3,}\{admonition\} Learning objectives", head, flags=re.M), "objectives at the top"
    objectives = head.split("Learning objectives", 1)[1].split("\n::::", 1)[0]
    assert len(re.findall(r"^- ", objectives, flags=re.M)) >= 2, "at least two learning objectives"
    assert re.search(r"^:{3,}\{admonition\} Prerequisites", head, flags=re.M), "prerequisites at the top"
    assert re.search(r"\*\*Estimated time\*\*[^\n]*\d+ min", head), "prerequisites with an estimated time"
    assert f"_teaching/{chapter.run}-card.md" in head, "the measured run time and the clean-notebook link (card)"
    headings = re.findall(r"^## (.+?)\s*$", text, flags=re.M)
    for name in ("Summary", "What's next", "Exercises"):
        assert name in headings, f"{chapter.chapter}.md has no '## {name}'"
    assert headings.index("Summary") < headings.index("What's next") < headings.index("Exercises")
    after_summary = text.split("\n## Summary\n", 1)[1].split("\n## ", 1)[0]
    assert after_summary.strip(), "an empty summary"
    exercises = text.split("\n## Exercises\n", 1)[1]
    assert f"_teaching/{chapter.run}-exercises.md" in exercises


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.chapter)
def test_every_exercise_has_a_solution(chapter):
    notebook = REPO / "notebooks" / f"{chapter.notebook}.ipynb"
    exercises = teaching.notebook_exercises(notebook)
    assert len(exercises) >= 2, f"{notebook.name}: fewer than two exercises under '## Exercises'"
    found = teaching.solution_texts(REPO / teaching.SOLUTIONS_DIR / f"{chapter.notebook}.md")
    assert sorted(found) == list(range(1, len(exercises) + 1)), (
        f"book/solutions/{chapter.notebook}.md: solutions {sorted(found)} for {len(exercises)} exercises")
    for number, text in found.items():
        assert len(text.split()) >= 15 or _ANSWER_INCLUDE.search(text), f"exercise {number}: no worked solution"
        assert not re.search(r"^#", text, flags=re.M), f"exercise {number}: no headings inside a solution"
    rendered = teaching.render_exercises(chapter, REPO)
    assert rendered.count("{exercise}") == rendered.count("{solution}") == len(exercises)
    assert teaching.render_summary(chapter, REPO).strip()


def test_solutions_include_only_answers_that_exist_and_answers_read_runs_that_exist():
    classroom = {r.name for r in build.discover_runs("classroom", repo=REPO)}
    solution_runs = {r.name for r in build.solution_runs(REPO)}
    included = set()
    for path in sorted((REPO / teaching.SOLUTIONS_DIR).glob("[0-9][0-9]_*.md")):
        included |= {m["key"] for m in _ANSWER_INCLUDE.finditer(path.read_text(encoding="utf-8"))}
    assert included <= set(solutions.ANSWERS), f"solutions include unknown answers {included - set(solutions.ANSWERS)}"
    assert set(solutions.ANSWERS) <= included, f"answers no solution shows: {set(solutions.ANSWERS) - included}"
    for key, answer in solutions.ANSWERS.items():
        unknown = set(answer.runs) - classroom - solution_runs
        assert not unknown, f"answer {key} reads runs that no parameter file makes: {unknown}"
    unused = solution_runs - {run for a in solutions.ANSWERS.values() for run in a.runs}
    assert not unused, f"solution runs that no answer reads: {unused}"


def test_solution_runs_name_parameters_of_their_notebook():
    runs = build.solution_runs(REPO)
    assert runs, "no solution runs in params/solutions/"
    for run in runs:
        names = set(notebook_schema(run.notebook))
        overrides = yaml.safe_load(run.params_file.read_text()) or {}
        assert set(overrides) <= names, f"{run.params_file.name}: not parameters of {run.notebook.name}: {set(overrides) - names}"
        assert overrides, f"{run.params_file.name} changes nothing"
        classroom = yaml.safe_load((REPO / "params/classroom" / f"{run.notebook.stem}.yaml").read_text())
        assert run.params == build.merge_params(classroom, overrides)


def test_smoke_solution_runs_keep_the_exercise_change():
    for run in build.solution_runs(REPO, smoke=True):
        overrides = yaml.safe_load(run.params_file.read_text()) or {}
        for key, value in overrides.items():
            assert run.params[key] == value, f"{run.name}: smoke sizes replaced the exercise's {key}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.notebook)
def test_the_downloadable_notebook_is_clean(chapter):
    notebook = nbformat.read(REPO / "notebooks" / f"{chapter.notebook}.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert any("parameters" in c.metadata.get("tags", []) for c in code), "no parameters cell"
    assert all(not c.outputs and c.execution_count is None for c in code), "the clean notebook carries outputs"


def test_runtime_sentence_comes_from_the_build_stamp(tmp_path):
    stamp = tmp_path / "book/_generated/01_data/.build-stamp.json"
    assert "Not measured" in teaching.runtime_sentence("01_data", tmp_path)
    stamp.parent.mkdir(parents=True)
    stamp.write_text(json.dumps({"fingerprint": "x", "seconds": 437.2, "profile": "classroom", "cpus": 2, "gpu": False,
                                 "finished": "2026-11-27 17:00 UTC"}))
    sentence = teaching.runtime_sentence("01_data", tmp_path)
    assert "7.3 min" in sentence and "profile classroom" in sentence and "2 CPU cores" in sentence and "no GPU" in sentence
    stamp.write_text(json.dumps({"fingerprint": "x", "seconds": 12.0, "profile": "classroom-smoke"}))
    assert "12 s" in teaching.runtime_sentence("01_data", tmp_path)
    assert "Smoke profile" in teaching.runtime_sentence("01_data", tmp_path)
    assert "at a time" not in teaching.runtime_sentence("01_data", tmp_path)
    stamp.write_text(json.dumps({"fingerprint": "x", "seconds": 90.0, "profile": "classroom", "jobs": 2}))
    assert "2 notebooks executing at a time" in teaching.runtime_sentence("01_data", tmp_path)


def test_editions_differ_only_in_configuration(tmp_path):
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    assert config["sphinx"]["config"]["hide_solutions"] is True, "the plain build is the student edition"
    pins = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"sphinx-exercise==1.2.1"' in pins
    (tmp_path / "_config.yml").write_text((REPO / "_config.yml").read_text(encoding="utf-8"))
    student = teaching.edition_config(tmp_path, teaching.EDITIONS["student"])
    assert student == tmp_path / "_config.yml"
    instructor = teaching.edition_config(tmp_path, teaching.EDITIONS["instructor"])
    assert instructor.parent == tmp_path, "Jupyter Book resolves local extensions from the config's folder"
    derived = yaml.safe_load(instructor.read_text(encoding="utf-8"))
    assert derived["sphinx"]["config"]["hide_solutions"] is False
    derived["sphinx"]["config"]["hide_solutions"] = True
    derived["html"].pop("announcement")
    assert derived == config, "the instructor configuration differs from _config.yml in more than the solutions"


def test_book_command_takes_the_edition():
    import argparse

    parser = argparse.ArgumentParser()
    build.add_arguments(parser)
    assert parser.parse_args([]).edition == "student"
    assert parser.parse_args(["--edition", "instructor"]).edition == "instructor"
    with pytest.raises(SystemExit):
        parser.parse_args(["--edition", "teacher"])
