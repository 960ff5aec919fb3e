"""Exercises numbered per chapter: "Exercise 1", "Exercise 2", ... on every chapter page.

sphinx-exercise registers exercises as an enumerable node, and Sphinx numbers enumerable nodes across
the whole book when the table of contents has no section numbers (this book's: the chapters'
exercises ran from 5 to 52, while the text and the solutions say "exercise 1"). A chapter's exercises
all sit on the chapter's page (``book/_teaching/<run>-exercises.md`` is included there), so numbering
them per page numbers them per chapter. Runs after Sphinx has assigned the book-wide numbers (on the
same ``env-get-updated`` event, later) and restarts them at 1 on each page, in page order; the
exercises' titles, the solutions' "Solution to Exercise N" and ``{numref}`` all read these numbers.
"""

FIGTYPE = "exercise"


def renumber_per_page(fignumbers: dict) -> None:
    """``env.toc_fignumbers`` with each page's exercise numbers restarted at 1, in their order."""
    for numbers in fignumbers.values():
        exercises = numbers.get(FIGTYPE)
        if exercises:
            ordered = sorted(exercises, key=lambda label: exercises[label])
            numbers[FIGTYPE] = {label: (index,) for index, label in enumerate(ordered, start=1)}


def _renumber(app, env):
    renumber_per_page(env.toc_fignumbers)
    return []


def setup(app):
    app.connect("env-get-updated", _renumber, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
