"""Session plans of the teaching page (``book/teach.md``): 90-minute lessons built from the chapters.

A plan is a row of :data:`SESSIONS`: a sequence of steps (read a chapter's section, run a notebook, work
exercises, check yourself), each with its minutes. The minutes of reading and discussion are our
*estimates* (as the chapters' "Estimated time"); the run time of a notebook is the **measured** one, read
from the run's build stamp like the chapters' run-time cards (:func:`cxrlib.book.teaching.measured_time`),
never typed. A run that took longer than its step says so ("start it at the beginning"). The exercises are
linked by their labels (:func:`cxrlib.book.teaching.exercise_label`) and their count is checked against
the notebook's ``## Exercises`` list, so a plan cannot point at an exercise that is gone.

:func:`write_sessions` renders every plan into ``book/_teaching/sessions.md`` before each HTML build. The
student edition carries the plans too; they link exercises, never solutions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cxrlib.book import teaching
from cxrlib.core.repo import REPO

SNIPPET = teaching.TEACHING_DIR / "sessions.md"
LENGTH_MIN = 90
KINDS = ("read", "run", "exercises", "check")


@dataclass(frozen=True)
class Step:
    """One block of a session. ``kind``: ``read`` (``page``'s section ``section``, a heading of the page),
    ``run`` (the notebook run ``run``, with its measured time), ``exercises`` (``exercises`` of ``run``'s
    notebook, by number) or ``check`` (the "Check yourself" of ``page``); ``text`` is added to a run step."""

    kind: str
    minutes: int
    text: str = ""
    page: str = ""
    section: str = ""
    run: str = ""
    exercises: tuple[int, ...] = ()


@dataclass(frozen=True)
class Session:
    key: str
    title: str
    goal: str
    prepare: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def minutes(self) -> int:
        return sum(step.minutes for step in self.steps)


SESSIONS = (
    Session(
        "contrastive", "Contrastive pre-training: SimCLR and MoCo",
        "Students explain what the NT-Xent loss rewards, read a pre-training loss curve against its chance "
        "level, and change one thing of the pre-training and say what moved.",
        ("`bash scripts/book.sh --only 02_pretrain` on the machine the class uses (it measures the run time shown "
         "below), or the whole classroom build the day before;",
         "each student: the set-up of [Run it yourself](/book/run_it.md) and `cxrlib data-check`;"),
        (Step("read", 10, page="book/pretrain", section="Learning without labels"),
         Step("read", 20, page="book/pretrain", section="SimCLR and the NT-Xent loss"),
         Step("read", 10, page="book/pretrain", section="MoCo and InfoNCE with a queue"),
         Step("run", 20, run="02_pretrain", text="While it runs, read the chapter's augmentations section."),
         Step("exercises", 25, run="02_pretrain", exercises=(2, 4)),
         Step("check", 5, page="book/pretrain")),
    ),
    Session(
        "evaluation", "Reading a classifier: ROC, AUROC and honest intervals",
        "Students move a threshold and predict what happens to sensitivity and specificity, explain why an "
        "AUROC needs an interval by patient, and compare two models on the same images.",
        ("`bash scripts/book.sh --only 04_evaluate` (it reads the DenseNet-121 predictions of the classroom data);",
         "the built book open on every machine (the threshold explorer runs offline);"),
        (Step("read", 20, page="book/roc_primer", section="Move the threshold yourself"),
         Step("check", 5, page="book/roc_primer"),
         Step("read", 15, page="book/statistics", section="One AUROC, two intervals"),
         Step("read", 10, page="book/statistics", section="Paired comparisons: same images, two models"),
         Step("run", 10, run="04_evaluate", text="While it runs, read the chapter's section on thresholds."),
         Step("exercises", 25, run="04_evaluate", exercises=(1, 3)),
         Step("check", 5, page="book/statistics")),
    ),
    Session(
        "transfer", "Transfer learning and the linear probe",
        "Students fine-tune a backbone with part of it frozen, read its learning curves, and tell a "
        "fine-tuned model from a linear probe of frozen features.",
        ("`bash scripts/book.sh --only 02_pretrain 03_finetune 06_linear_probe` (notebook 06 reads notebook 02's "
         "checkpoints);",
         "optional, with internet: `python -m cxrlib.models fetch convnextv2_atto` for the pre-trained weights "
         "(see [Run it yourself](/book/run_it.md)); without them the run starts from random weights and says so;"),
        (Step("read", 15, page="book/finetune", section="Partial unfreezing"),
         Step("run", 15, run="03_finetune", text="While it runs, read the protocol section of the chapter."),
         Step("read", 10, page="book/finetune", section="Reading the learning curves"),
         Step("read", 15, page="book/linear_probe", section="Measuring the features: the linear probe"),
         Step("exercises", 30, run="03_finetune", exercises=(1, 2)),
         Step("check", 5, page="book/linear_probe")),
    ),
)


def _slug(heading: str) -> str:
    """The anchor MyST gives a heading (``myst_heading_anchors`` in ``_config.yml``)."""
    from myst_parser.mdit_to_docutils.base import default_slugify

    return default_slugify(heading)


def _page_title(page: str, repo: Path) -> str:
    for line in (repo / f"{page}.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise ValueError(f"{page}.md has no '# ' title")


def _headings(page: str, repo: Path) -> list[str]:
    return [line[3:].strip() for line in (repo / f"{page}.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("## ")]


def check_session(session: Session, repo: Path = REPO) -> None:
    """Raise ``ValueError`` when a step names a section, run or exercise that does not exist, or the plan
    does not fill :data:`LENGTH_MIN` minutes."""
    for step in session.steps:
        if step.kind not in KINDS:
            raise ValueError(f"session {session.key}: step kind {step.kind!r} is not one of {KINDS}")
        if step.kind in ("read", "check") and step.section and step.section not in _headings(step.page, repo):
            raise ValueError(f"session {session.key}: {step.page}.md has no section {step.section!r}")
        if step.kind == "check" and "Check yourself" not in _headings(step.page, repo):
            raise ValueError(f"session {session.key}: {step.page}.md has no '## Check yourself'")
        if step.kind in ("run", "exercises") and not (repo / "params" / "classroom" / f"{step.run}.yaml").exists():
            raise ValueError(f"session {session.key}: no classroom run {step.run}")
        if step.kind == "exercises":
            count = len(teaching.notebook_exercises(repo / "notebooks" / f"{step.run.split('--')[0]}.ipynb"))
            wrong = [n for n in step.exercises if not 1 <= n <= count]
            if wrong:
                raise ValueError(f"session {session.key}: notebook {step.run} has {count} exercises, not {wrong}")
    if session.minutes != LENGTH_MIN:
        raise ValueError(f"session {session.key}: its steps take {session.minutes} min, not {LENGTH_MIN}")


def _step_text(step: Step, repo: Path) -> str:
    if step.kind == "read":
        return (f"Read and discuss [{step.section}](/{step.page}.md#{_slug(step.section)}) "
                f"({_page_title(step.page, repo)}).")
    if step.kind == "check":
        return f"[Check yourself](/{step.page}.md#check-yourself) of *{_page_title(step.page, repo)}*, answers hidden until asked."
    notebook = step.run.split("--")[0]
    if step.kind == "exercises":
        links = ", ".join(f"{{ref}}`exercise {n} <{teaching.exercise_label(notebook, n)}>`" for n in step.exercises)
        return f"Exercises of notebook `{notebook}`: {links} (in pairs; compare answers at the end)."
    measured = teaching.measured_time(step.run, repo)
    stamp = teaching.build_stamp(step.run, repo) or {}
    if measured is None:
        timing = (f"its run time is not measured in this build (`cxrlib book --only {step.run}` records it): "
                  "time it once before class")
    else:
        timing = f"it took **{measured}** in this build (profile {stamp.get('profile', 'unrecorded')})"
        if float(stamp["seconds"]) > 60 * step.minutes:
            timing += ", longer than this block: start it at the beginning of the session"
    return f"Run notebook `{notebook}` with the classroom parameters: {timing}. {step.text}".strip()


def render_session(session: Session, repo: Path = REPO) -> str:
    check_session(session, repo)
    lines = [f"### {session.title}", "", f"**Goal.** {session.goal}", "", "**Before class.**", ""]
    lines += [f"- {item}" for item in session.prepare]
    lines += ["", "| minutes | step |", "|---|---|"]
    start = 0
    for step in session.steps:
        lines.append(f"| {start}-{start + step.minutes} | {_step_text(step, repo)} |")
        start += step.minutes
    lines += ["", "*Minutes of reading, discussion and exercises: our estimate. Run times: measured in this build "
              "(from the run's build stamp).*", ""]
    return "\n".join(lines)


def write_sessions(repo: Path = REPO) -> Path:
    """Write ``book/_teaching/sessions.md`` (before every HTML build)."""
    path = repo / SNIPPET
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "<!-- generated by cxrlib.book.sessions -->\n\n" + "\n".join(render_session(s, repo) for s in SESSIONS)
    path.write_text(text, encoding="utf-8")
    return path
