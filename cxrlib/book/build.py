"""Build the companion book: run every notebook of a profile with papermill, then ``jupyter-book build``.

A *run* is one YAML file in ``params/<profile>/``: its stem names the run (``01_data``,
``03_finetune--convnextv2_atto``); the part before ``--`` names the notebook in ``notebooks/``. The
YAML holds the papermill parameters. Each run executes into ``book/_generated/<run>/`` (the executed
notebook ``<run>.ipynb`` beside its artifacts), which the book's table of contents points at.

Runs are resumable: a run whose notebook, parameters and library are unchanged since its last
successful execution (see ``.build-stamp.json``), and whose recorded inputs are still the same by content
wherever they now are (:func:`cxrlib.core.runs.input_changes`: a moved checkout, data root or environment
stays up to date), is skipped; an input that changed re-runs it, one that is gone stops it with a message
naming the input. ``--force`` re-runs everything.

**Smoke mode** (``--smoke``): every run of the profile executes end to end at tiny sizes, with the
overrides of ``params/smoke/<notebook>.yaml`` (and ``params/smoke/<run>.yaml`` where a run needs more)
merged over its parameters, and ``profile`` set to ``<profile>-smoke`` so that every caption says SMOKE.
It proves that the code path runs (the tests build the whole book this way, in a copy of the tree:
:func:`stage_tree`); its numbers are not results.

A failing run does not stop the build: its cell outputs and error are in its log file
(``book/_generated/_logs/<run>.log``, also kept for successful runs), the runs that read its outputs are
skipped, the other runs go on, and the build ends with a short summary (run, error line, log path), no
HTML, and exit status 1. ``--only`` names that match no run are an error listing the runs.

**Editions** (``--edition``, rows of :data:`cxrlib.book.teaching.EDITIONS`): ``student`` (default) builds
the book without the exercises' solutions into ``_build/html``; ``instructor`` also executes the
solution runs of ``params/solutions/`` (:func:`solution_runs`) and builds with the solutions shown into
``_build/instructor/_build/html``. The build stamp of each run records its wall time, profile and machine,
from which each chapter's run-time sentence is generated (:mod:`cxrlib.book.teaching`).

**Jobs** (``--jobs``): the classroom build runs up to :func:`default_jobs` notebooks at a time, each in a
kernel of its own with ``cores / jobs`` threads, a run starting once the runs whose outputs it reads
(:func:`upstream_runs`) are done. The classroom notebooks train small networks on small images, where a
second thread adds little, so two one-thread kernels on two cores finish the book sooner than one
two-thread kernel at a time. Each run's build stamp records how many ran at once (its time is then the
time it took beside another run). The paper profile (GPU runs) and smoke builds (one shared kernel) run
one at a time.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path


from cxrlib.book import teaching
from cxrlib.book.artifacts import SMOKE_PROFILE_SUFFIX
from cxrlib.core.io import YamlFileError, read_yaml_mapping
from cxrlib.core.notebooks import RESET_TAG, SharedKernel, execute_notebook
from cxrlib.core.repo import GENERATED, REPO
from cxrlib.core.runs import (
    BUILD_STAMP, DATA_ROOT_SHOWN, PROVENANCE, Anchors, RunInputMissing, input_changes, read_build_stamp, read_provenance,
    read_table, write_build_stamp,
)
from cxrlib.core.staging import held, is_complete, reset_staging
from cxrlib.data.root import data_root
from cxrlib.stats import learning

LOGS = GENERATED / "_logs"
PROFILES = ("classroom", "paper")
PENDING = ".build-pending"
"""File in a run's staging folder: the fingerprint of the execution that is under way (resume key)."""
SMOKE = Path("params") / "smoke"
SOLUTIONS = Path("params") / "solutions"
"""Solution runs of the instructor edition: ``<notebook>--ex<N>.yaml``, overrides of the classroom parameters."""
SMOKE_KEEP = "keep"
"""Key of a profile's smoke file listing the parameters the run keeps from its own file."""
SITE_PACKAGES_SHOWN = "[site-packages]"
"""How an executed notebook page names the environment's package folder (:func:`hide_machine_folders`)."""
STAGED = ("notebooks", "params", "book", "_toc.yml", "_config.yml")
"""What :func:`stage_tree` copies: everything a build reads besides the installed library."""


class UnknownRunError(ValueError):
    """``--only`` names a run that does not exist in the profile."""


@dataclass(frozen=True)
class Run:
    name: str
    notebook: Path
    params_file: Path
    params: dict
    smoke: bool = False

    @property
    def out_dir(self) -> Path:
        return GENERATED / self.name


def merge_params(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` on top; dictionaries merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = merge_params(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def smoke_overrides(run_name: str, repo: Path = REPO, profile: str = "classroom") -> dict:
    """The smoke-size parameters of a run: ``params/smoke/<notebook>.yaml``, then ``<run>.yaml`` if present;
    for another profile than the classroom one, then ``params/smoke/<profile>/<notebook>.yaml`` and
    ``<profile>/<run>.yaml`` if present. A profile file's ``keep:`` lists parameters that the run's own
    file keeps (the sizes above do not replace them: e.g. the paper's list of tasks)."""
    notebook = run_name.split("--")[0]
    base = repo / SMOKE / f"{notebook}.yaml"
    if not base.exists():
        raise FileNotFoundError(f"no smoke parameters for notebook {notebook}: add {base.relative_to(repo)} "
                                "(the overrides that make it run in seconds)")
    layers = [base, repo / SMOKE / f"{run_name}.yaml"]
    if profile != "classroom":
        layers += [repo / SMOKE / profile / f"{notebook}.yaml", repo / SMOKE / profile / f"{run_name}.yaml"]
    overrides: dict = {}
    for layer in dict.fromkeys(layers):  # a run named like its notebook reads its file once
        if layer.exists():
            values = read_yaml_mapping(layer)
            keep = values.pop(SMOKE_KEEP, []) or []
            overrides = {k: v for k, v in merge_params(overrides, values).items() if k not in keep}
    return overrides


def stage_tree(repo: Path, destination: Path) -> Path:
    """Copy what a build reads (:data:`STAGED`, without generated outputs) to ``destination``, so that a
    smoke build can run beside a real one without touching its ``book/_generated``."""
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("_generated", "_teaching", "_build", ".ipynb_checkpoints", "__pycache__")
    for name in STAGED:
        source = repo / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(source, destination / name)
    return destination


def discover_runs(profile: str, repo: Path = REPO, only: list[str] | None = None, smoke: bool = False) -> list[Run]:
    """The runs of a profile, in file-name order (which is the book's order).

    ``only``: prefixes of run names; a prefix that matches no run raises :class:`UnknownRunError` listing
    the runs of the profile. ``smoke``: merge :func:`smoke_overrides` into each run's parameters.
    """
    folder = repo / "params" / profile
    if not folder.is_dir():
        raise FileNotFoundError(f"no parameter folder {folder}; profiles: {', '.join(PROFILES)}")
    files = sorted(folder.rglob("*.yaml"))
    if only:
        unknown = [o for o in only if not any(f.stem.startswith(o) for f in files)]
        if unknown:
            raise UnknownRunError(f"--only {' '.join(unknown)}: no run of profile {profile!r} starts with "
                                  f"{'this name' if len(unknown) == 1 else 'these names'}; the runs are: "
                                  + ", ".join(f.stem for f in files))
        files = [f for f in files if any(f.stem.startswith(o) for o in only)]  # only these files are read
    runs = []
    for params_file in files:
        name = params_file.stem
        notebook = repo / "notebooks" / f"{name.split('--')[0]}.ipynb"
        if not notebook.exists():
            raise FileNotFoundError(f"{params_file} names notebook {notebook.name}, which does not exist")
        runs.append(Run(name, notebook, params_file, read_yaml_mapping(params_file)))
    if smoke:
        runs = [Run(r.name, r.notebook, r.params_file, merge_params(r.params, smoke_overrides(r.name, repo, profile)), True)
                for r in runs]
    return runs


def solution_runs(repo: Path = REPO, only: list[str] | None = None, smoke: bool = False) -> list[Run]:
    """The instructor edition's solution runs: ``params/solutions/<notebook>--ex<N>.yaml`` holds the
    parameters an exercise changes; they go on top of ``params/classroom/<notebook>.yaml`` (and, with
    ``smoke``, on top of the smoke sizes, so the exercise's own change survives). Same order and
    ``--only`` prefixes as :func:`discover_runs` (without the error: a prefix may name main runs only)."""
    runs = []
    for params_file in sorted((repo / SOLUTIONS).glob("*--ex*.yaml")):
        name = params_file.stem
        if only and not any(name.startswith(o) for o in only):
            continue
        notebook_name = name.split("--")[0]
        notebook = repo / "notebooks" / f"{notebook_name}.ipynb"
        base_file = repo / "params" / "classroom" / f"{notebook_name}.yaml"
        if not notebook.exists() or not base_file.exists():
            raise FileNotFoundError(f"{params_file} names notebook {notebook_name}, which has no notebook or "
                                    f"classroom parameters ({base_file.relative_to(repo)})")
        params = read_yaml_mapping(base_file)
        if smoke:
            params = merge_params(params, smoke_overrides(notebook_name, repo))
        params = merge_params(params, read_yaml_mapping(params_file))
        runs.append(Run(name, notebook, params_file, params, smoke))
    return runs


def upstream_runs(run: Run, repo: Path = REPO) -> list[str]:
    """Names of the runs whose outputs this run reads (a parameter naming ``book/_generated/<run>/...``),
    whether or not they have been built."""
    generated = (repo / GENERATED).resolve()
    names = []
    for value in run.params.values():
        if not isinstance(value, str):
            continue
        try:
            inside = (repo / value).resolve().relative_to(generated)
        except ValueError:
            continue
        if inside.parts and inside.parts[0] not in names and inside.parts[0] != run.name:
            names.append(inside.parts[0])
    return names


def upstream_stamps(run: Run, repo: Path) -> list[Path]:
    """Build stamps of the runs whose outputs this run reads (:func:`upstream_runs`), so that re-running
    ``02_pretrain`` also re-runs the notebooks that use its checkpoints."""
    generated = (repo / GENERATED).resolve()
    return [generated / name / BUILD_STAMP for name in upstream_runs(run, repo)
            if (generated / name / BUILD_STAMP).exists()]


def _fingerprint(run: Run, repo: Path) -> str:
    digest = hashlib.sha256()
    digest.update(run.notebook.read_bytes())
    digest.update(json.dumps(run.params, sort_keys=True, default=str).encode())
    for stamp in upstream_stamps(run, repo):
        digest.update(stamp.read_bytes())
    for source in sorted((repo / "cxrlib").rglob("*")):
        if source.is_file() and source.suffix in {".py", ".csv", ".yaml"}:
            digest.update(source.read_bytes())
    return digest.hexdigest()


def log_path(run: Run, repo: Path = REPO) -> Path:
    """The file that holds a run's papermill log and cell outputs."""
    return repo / LOGS / f"{run.name}.log"


def execute(run: Run, profile: str, repo: Path = REPO, force: bool = False, kernel: str = "python3",
            shared_kernel: SharedKernel | None = None, jobs: int = 1) -> bool:
    """Execute one run with papermill; returns False when it was up to date and skipped.

    The cell outputs and papermill's log go to :func:`log_path`; a failing cell raises papermill's
    ``PapermillExecutionError`` (the executed notebook with the error is in the run folder, without a
    build stamp). ``shared_kernel``: run in that kernel (:mod:`cxrlib.core.notebooks`; the paper smoke
    harness does), else in a kernel of its own. The run's build lock (:func:`cxrlib.core.staging.held`) is
    held from the preparation of its staging folder to its build stamp: a second build of the same run
    meanwhile raises :class:`~cxrlib.core.staging.RunFolderBusy` and touches nothing. ``jobs``: how many runs
    this build executes at a time (recorded in the build stamp).
    """
    out_dir = repo / run.out_dir
    with held(out_dir, "build"):  # a second build of this run is refused before it touches anything
        return _execute(run, profile, out_dir, repo, force, kernel, shared_kernel, jobs)


_LOG_LOCK = threading.Lock()
_LOG_STATE: dict = {"users": 0, "saved": None}


@contextmanager
def _papermill_log(log_file: Path):
    """papermill's log (cell outputs) of the run executing in this thread into ``log_file``, not the console;
    runs executing at the same time in other threads write their own files."""
    import logging

    handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    thread = threading.get_ident()
    handler.addFilter(lambda record: record.thread == thread)
    logger = logging.getLogger("papermill")
    with _LOG_LOCK:
        if _LOG_STATE["users"] == 0:
            _LOG_STATE["saved"] = (logger.level, logger.propagate)
        _LOG_STATE["users"] += 1
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False  # cell outputs go to the log file, not the console
    try:
        yield logger
    finally:
        with _LOG_LOCK:
            logger.removeHandler(handler)
            _LOG_STATE["users"] -= 1
            if _LOG_STATE["users"] == 0:
                logger.setLevel(_LOG_STATE["saved"][0])
                logger.propagate = _LOG_STATE["saved"][1]
        handler.close()


def _execute(run: Run, profile: str, out_dir: Path, repo: Path, force: bool, kernel: str,
             shared_kernel: SharedKernel | None, jobs: int = 1) -> bool:
    fingerprint = _fingerprint(run, repo)
    if not force and (read_build_stamp(out_dir) or {}).get("fingerprint") == fingerprint and is_complete(out_dir):
        if _inputs_unchanged(run, repo):
            print(f"[book] {run.name}: up to date, skipped")
            return False
    resumed = _prepare_staging(out_dir, fingerprint, force)
    executed_copy = out_dir.with_name(f".{run.name}.executing.ipynb")
    # out_dir relative to the checkout (the notebook works in it): no page shows the build machine's folders
    parameters = {**run.params, "out_dir": run.out_dir.as_posix(),
                  "profile": profile + (SMOKE_PROFILE_SUFFIX if run.smoke else "")}
    started = time.time()
    log_file = log_path(run, repo)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"[book] {run.name}: executing {run.notebook.relative_to(repo)} with {run.params_file.relative_to(repo)} "
          f"{'(resuming the interrupted run) ' if resumed else ''}(log: {_shown(log_file, repo)})", flush=True)
    with _papermill_log(log_file) as logger:
        try:
            execute_notebook(run.notebook, executed_copy, parameters, repo, kernel=shared_kernel, kernel_name=kernel,
                             log_output=True)
        except BaseException as error:
            logger.error("run %s failed:\n%s", run.name, "".join(traceback.format_exception(error)))
            raise
    if not is_complete(out_dir):
        raise RuntimeError(f"{run.notebook.name} finished without completing its run folder {_shown(out_dir, repo)} "
                           "(its last cell must call RunArtifacts.finish())")
    hide_machine_folders(executed_copy, _run_anchors(run, repo))
    os.replace(executed_copy, out_dir / f"{run.name}.ipynb")
    gpus = Path("/proc/driver/nvidia/gpus")
    write_build_stamp(out_dir, {"fingerprint": fingerprint, "seconds": round(time.time() - started, 1),
                                "profile": parameters["profile"], "cpus": os.cpu_count(), "jobs": jobs,
                                "gpu": gpus.is_dir() and any(gpus.iterdir()),
                                "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    print(f"[book] {run.name}: done in {time.time() - started:.0f} s", flush=True)
    return True


def _run_anchors(run: Run, repo: Path) -> Anchors:
    """Where the run's inputs are on this machine: the data root the notebook resolves from its parameters
    (:func:`cxrlib.data.root.data_root`) and the checkout ``repo``."""
    return Anchors(data_root=data_root(run.params.get("data_root")), repo=Path(os.path.abspath(repo)))


def _inputs_unchanged(run: Run, repo: Path) -> bool:
    """Whether the inputs the finished run recorded are still what it read, by content, wherever the checkout,
    the data root or the environment now are (:func:`cxrlib.core.runs.input_changes`). An input that changed
    means re-running (False); one that is gone stops the run with :class:`~cxrlib.core.runs.RunInputMissing`
    naming it (re-running could not read it either)."""
    changes = input_changes(repo / run.out_dir, _run_anchors(run, repo))
    gone = [change for change in changes if change.missing]
    if gone:
        raise RunInputMissing(f"{run.name}: its input {gone[0].name!r} ({gone[0].detail}) is gone; install or fetch "
                              "it (or point CXRLIB_DATA at the data root), then build again")
    for change in changes:
        print(f"[book] {run.name}: input {change.name!r} changed ({change.detail}): re-running", flush=True)
    return not changes


def machine_folders(anchors: Anchors) -> list[tuple[str, str]]:
    """(folder of this machine, how a page names it), longest first: the environment's package folders
    (``[site-packages]``), the checkout and the library's own (names below them become relative to them),
    the data root (:data:`~cxrlib.core.runs.DATA_ROOT_SHOWN`) and the home folder (``~``), each as written
    and with its links resolved."""
    import sysconfig

    paths = sysconfig.get_paths()
    named = [(paths["purelib"], SITE_PACKAGES_SHOWN), (paths["platlib"], SITE_PACKAGES_SHOWN)]
    named += [(anchors.repo, "."), (REPO, "."), (anchors.data_root, DATA_ROOT_SHOWN), (Path.home(), "~")]
    folders: dict[str, str] = {}
    for folder, label in named:
        for form in ([] if folder is None else [os.path.abspath(folder), os.path.realpath(folder)]):
            if form != os.sep:
                folders.setdefault(form, label)
    return sorted(folders.items(), key=lambda item: -len(item[0]))


def hide_machine_folders(notebook: Path, anchors: Anchors) -> None:
    """Rewrite an executed notebook so that no cell output, injected parameter or papermill record names a
    folder of the build machine (:func:`machine_folders`): the notebook becomes a page of the book, and a
    checkout moves. A path below the checkout becomes relative to it (``book/_generated/<run>/...``)."""
    import nbformat

    patterns = [(re.compile(re.escape(folder) + r"(/|(?![\w.-]))"), label)
                for folder, label in machine_folders(anchors)]

    def hide(value):
        if isinstance(value, list):
            return [hide(v) for v in value]
        if isinstance(value, dict):
            return {k: hide(v) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        for pattern, label in patterns:
            value = pattern.sub(lambda m, label=label: ("" if label == "." else label + m.group(1)) if m.group(1)
                                else label, value)
        return value

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if {"injected-parameters", RESET_TAG} & set(cell.get("metadata", {}).get("tags", [])):
            cell.source = hide(cell.source)
        for output in cell.get("outputs", []):
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    output[key] = hide(output[key])
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    output["data"][mime] = hide(value)
    record = nb.metadata.get("papermill", {})
    for key in ("parameters", "input_path", "output_path"):
        if key in record:
            record[key] = hide(record[key])
    nbformat.write(nb, notebook)


def _prepare_staging(out_dir: Path, fingerprint: str, force: bool) -> bool:
    """Make the staging folder of a run that is about to execute; True when an interrupted execution of
    the same notebook, parameters and library is resumed (its staging folder is kept, so a training in it
    continues). Otherwise the run starts from an empty staging folder, as a fresh run; the previous
    complete ``out_dir`` stays as it is until the new run has finished (:mod:`cxrlib.core.staging`; the
    folder is prepared under the run's lock, so a run that holds it is never disturbed)."""
    return reset_staging(out_dir, fingerprint, PENDING, resume=not force)


def build_html(repo: Path = REPO, strict: bool = True, edition: str = "student") -> Path:
    """Write the document pages and the scoreboard from the reproduction registry
    (:func:`cxrlib.book.registry.write_pages`, from the run folders of this build), the teaching pages
    (:func:`cxrlib.book.teaching.write_teaching_pages`: run-time cards, exercises, the instructor
    edition's answers), the session plans (:mod:`cxrlib.book.sessions`), the tables of the "Run it
    yourself" page (:mod:`cxrlib.book.setup_guide`) and the data of the ROC primer's threshold explorer
    (:mod:`cxrlib.book.roc_explorer`), the executed notebooks as pages (:func:`cxrlib.book.notebook_pages.prepare_pages`:
    parameters once, figures linked to their chapter, no stray reprs), then run ``jupyter-book build`` on the repository root with the
    edition's configuration; returns the HTML index path."""
    from cxrlib.book import notebook_pages, registry, roc_explorer, sessions, setup_guide

    chosen = teaching.get_edition(edition)
    registry.write_pages(repo)
    notebook_pages.prepare_pages(repo)
    teaching.write_teaching_pages(repo, edition)
    sessions.write_sessions(repo)
    setup_guide.write_guide(repo)
    roc_explorer.write_explorer(repo)
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe if exe.exists() else "jupyter-book"), "build", str(repo),
               "--config", str(teaching.edition_config(repo, chosen)), "--path-output", str(repo / chosen.output)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    print("[book] " + " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=repo)
    return repo / chosen.output / "_build" / "html" / "index.html"


def _shown(path: Path, repo: Path) -> str:
    try:
        return str(path.relative_to(repo))
    except ValueError:
        return str(path)


def error_line(error: BaseException) -> str:
    """One line for the summary: ``ValueError: ...`` (a notebook's own exception, not papermill's wrapper)."""
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    text = f"{ename}: {evalue}" if ename else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass
class Outcome:
    """What happened to the runs of one build."""

    done: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, tuple[str, Path]] = field(default_factory=dict)  # run -> (error line, log)
    skipped: dict[str, str] = field(default_factory=dict)  # run -> why
    not_learned: dict[str, list[str]] = field(default_factory=dict)  # run -> "<model folder>: why", per model
    below_chance: dict[str, list[str]] = field(default_factory=dict)  # run -> "<table>: <row>: <interval>"

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped

    def summary(self, repo: Path = REPO) -> str:
        counts = (f"[book] {len(self.done)} executed, {len(self.up_to_date)} up to date, {len(self.failed)} failed, "
                  f"{len(self.skipped)} skipped")
        lines = [counts]
        for name, (line, log) in self.failed.items():
            lines.append(f"  FAILED  {name}: {line}\n          log: {_shown(log, repo)}")
        for name, why in self.skipped.items():
            lines.append(f"  SKIPPED {name}: {why}")
        for name, models in self.not_learned.items():
            lines.append(f"  WARNING {name}: {len(models)} trained model(s) did not learn (their numbers must not "
                         "be read as results):")
            lines.extend(f"          {model}" for model in models)
        for name, intervals in self.below_chance.items():
            why = ("a model of this run did not learn, see above" if name in self.not_learned
                   else "explain it where it is shown, or mend the model")
            lines.append(f"  WARNING {name}: {len(intervals)} AUROC interval(s) lie wholly below chance 0.5 (a ranking "
                         f"reversed beyond the test set's noise: {why}):")
            lines.extend(f"          {interval}" for interval in intervals)
        return "\n".join(lines)

    def note_learning(self, run: Run, repo: Path = REPO) -> None:
        """Record the models of ``run``'s folder whose ``learning.json`` says they did not learn, and the AUROC
        intervals of its tables that lie wholly below chance (:func:`cxrlib.stats.learning.auroc_intervals_below_chance`)."""
        folder = repo / run.out_dir
        failed = [f"{where}: {'; '.join(check.reasons)}"
                  for where, check in learning.read_learning_checks(folder).items() if not check.learned]
        if failed:
            self.not_learned[run.name] = failed
        below = [f"{table}: {interval}" for table, frame in _result_tables(folder)
                 for interval in learning.auroc_intervals_below_chance(frame)]
        if below:
            self.below_chance[run.name] = below


def _result_tables(folder: Path):
    """(file name, table) of every table artifact (a CSV) that the run in ``folder`` recorded in its provenance."""
    if not (folder / PROVENANCE).exists():
        return
    for artifact in read_provenance(folder).get("artifacts", []):
        path = folder / artifact["file"]
        if artifact.get("kind") == "table" and path.suffix == ".csv" and path.exists():
            yield path.name, read_table(folder, path.stem)


def default_jobs(profile: str) -> int:
    """How many runs ``cxrlib book`` executes at a time by default: one per core, at most four, for the
    classroom profile (CPU runs); one for the paper profile (GPU runs share one device)."""
    return max(1, min(4, os.cpu_count() or 1)) if profile == "classroom" else 1


@contextmanager
def _threads_per_kernel(jobs: int):
    """Kernels started meanwhile use ``cores // jobs`` threads (torch, OpenMP, MKL), unless set outside."""
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    names = [name for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if name not in os.environ]
    os.environ.update({name: threads for name in names})
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)


def execute_all(runs: list[Run], profile: str, repo: Path = REPO, force: bool = False,
                kernel: str = "python3", shared_kernel: SharedKernel | None = None, jobs: int = 1) -> Outcome:
    """Execute ``runs``; a failing run is recorded and the others go on, except the runs that read the
    outputs of a failed or skipped run (:func:`upstream_runs`), which are skipped. ``jobs`` > 1 (without a
    ``shared_kernel``): up to that many at a time, each once the runs it reads are done, in list order."""
    if jobs > 1 and shared_kernel is None and len(runs) > 1:
        return _execute_concurrently(runs, profile, repo, force, kernel, jobs)
    outcome = Outcome()
    for item in runs:
        if _skip_blocked(item, outcome, repo):
            continue
        try:
            executed = execute(item, profile, repo=repo, force=force, kernel=kernel, shared_kernel=shared_kernel)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # noqa: BLE001 - reported in the summary, with the log
            _record_failure(item, error, outcome, repo)
            continue
        _record_done(item, executed, outcome, repo)
    return outcome


def _skip_blocked(item: Run, outcome: Outcome, repo: Path) -> bool:
    blocked = [name for name in upstream_runs(item, repo) if name in outcome.failed or name in outcome.skipped]
    if blocked:
        outcome.skipped[item.name] = f"needs the outputs of {', '.join(blocked)}, which did not complete"
        print(f"[book] {item.name}: skipped ({outcome.skipped[item.name]})", flush=True)
    return bool(blocked)


def _record_failure(item: Run, error: BaseException, outcome: Outcome, repo: Path) -> None:
    outcome.failed[item.name] = (error_line(error), log_path(item, repo))
    print(f"[book] {item.name}: FAILED: {outcome.failed[item.name][0]}", flush=True)


def _record_done(item: Run, executed: bool, outcome: Outcome, repo: Path) -> None:
    (outcome.done if executed else outcome.up_to_date).append(item.name)
    outcome.note_learning(item, repo)


def _execute_concurrently(runs: list[Run], profile: str, repo: Path, force: bool, kernel: str, jobs: int) -> Outcome:
    """:func:`execute_all` with up to ``jobs`` runs at a time (threads, each driving a kernel of its own)."""
    outcome = Outcome()
    order = {item.name: i for i, item in enumerate(runs)}
    pending, running = list(runs), {}
    finished = lambda name: name in outcome.done or name in outcome.up_to_date  # noqa: E731
    cwd = os.getcwd()
    os.chdir(repo)  # papermill changes the working folder while it runs: the same folder for every run
    try:
        with _threads_per_kernel(jobs), ThreadPoolExecutor(max_workers=jobs) as pool:
            while pending or running:
                pending = [item for item in pending if not _skip_blocked(item, outcome, repo)]
                ready = [item for item in pending
                         if all(finished(name) for name in upstream_runs(item, repo) if name in order)]
                for item in ready[:jobs - len(running)]:
                    pending.remove(item)
                    running[pool.submit(execute, item, profile, repo=repo, force=force, kernel=kernel,
                                        jobs=jobs)] = item
                if not running:  # what is left waits for runs that are not in this build
                    for item in pending:
                        outcome.skipped[item.name] = "needs the outputs of a run that never became ready"
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    item = running.pop(future)
                    try:
                        _record_done(item, future.result(), outcome, repo)
                    except Exception as error:  # noqa: BLE001 - reported in the summary, with the log
                        _record_failure(item, error, outcome, repo)
    finally:
        os.chdir(cwd)
    for names in (outcome.done, outcome.up_to_date):
        names.sort(key=order.get)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cxrlib book", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="classroom")
    parser.add_argument("--only", nargs="*", help="run only these runs (prefixes of run names)")
    parser.add_argument("--force", action="store_true", help="re-execute runs that are up to date")
    parser.add_argument("--no-html", action="store_true", help="execute notebooks only")
    parser.add_argument("--no-download", action="store_true", help="do not fetch missing classroom data")
    parser.add_argument("--edition", choices=tuple(teaching.EDITIONS), default="student",
                        help="student: the book without solutions (default); instructor: also run the solution runs "
                             "(params/solutions/) and show every solution, into _build/instructor/")
    parser.add_argument("--smoke", action="store_true",
                        help="run every notebook end to end at tiny sizes (params/smoke/), in one shared kernel "
                             "(cxrlib.core.notebooks); proves the code path, the numbers are not results. With "
                             "--profile paper: every paper parameter file and every sweep file, with stand-in data and random weight files for what this machine "
                             "lacks, in a staged copy (cxrlib.book.paper_smoke); with --only, those runs alone "
                             "(no sweeps)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="runs executed at a time, each in a kernel of its own with cores/jobs threads (default: "
                             "one per core, at most 4, for the classroom profile; 1 for the paper profile and "
                             "smoke builds, which share one kernel)")
    parser.add_argument("--smoke-dir", default=None,
                        help="work folder of --profile paper --smoke (emptied first; default _build/paper-smoke)")


def run(args: argparse.Namespace, repo: Path = REPO) -> int:
    """``cxrlib book``: 0 when every run completed (and the HTML built), 1 when a run failed or was
    skipped, 2 for a bad ``--only``."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    if args.profile == "paper" and getattr(args, "smoke", False):
        print("cxrlib book: --profile paper --smoke stages data and weights: run it through `cxrlib book` "
              "(cxrlib.book.paper_smoke.book)", file=sys.stderr)
        return 2
    try:
        runs = discover_runs(args.profile, repo=repo, only=args.only, smoke=getattr(args, "smoke", False))
        edition = teaching.get_edition(getattr(args, "edition", "student"))
        if edition.solution_runs and args.profile == "classroom":
            runs += solution_runs(repo, only=args.only, smoke=getattr(args, "smoke", False))
    except (UnknownRunError, YamlFileError) as error:
        print(f"cxrlib book: {error}", file=sys.stderr)
        return 2
    if args.profile == "classroom" and not args.no_download:
        from cxrlib.data.download import download_missing_classroom

        download_missing_classroom()
    smoke = getattr(args, "smoke", False)
    with SharedKernel() if smoke else nullcontext() as shared:  # smoke runs: imports cost more than the runs
        jobs = getattr(args, "jobs", None) or default_jobs(args.profile)
        outcome = execute_all(runs, args.profile, repo=repo, force=args.force, shared_kernel=shared, jobs=jobs)
    print(outcome.summary(repo), flush=True)
    if not outcome.ok:
        if not args.no_html:
            print("[book] HTML not built: fix the failed runs and run `cxrlib book` again "
                  "(runs that completed are up to date and will be skipped)", flush=True)
        return 1
    if not args.no_html:
        index = build_html(repo, edition=edition.name)
        print(f"[book] open {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
