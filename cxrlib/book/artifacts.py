"""Artifacts of a notebook run: tables (CSV), figures (PNG), captions and one ``provenance.json``.

Every notebook writes into its papermill parameter ``out_dir``:

* ``<id>.csv`` / ``<id>.png``: the table or figure; ids that reproduce a document's table or figure
  follow ``d<NNN>_<table|fig><N>`` (``d000_table1``, ``d004_fig3_1``);
* ``<id>.md``: a MyST snippet (caption + table, or caption + figure) that the book's chapters include,
  so the chapter always shows what the run produced, with the run's own caption;
* ``provenance.json``: parameters, package versions, the inputs (each by its location class and
  fingerprint, :func:`cxrlib.core.runs.input_record`: a reader resolves it again on its own machine, so a
  moved checkout or a recreated environment keeps working), git commit, wall time and the list of
  artifacts with their captions;
* ``COMPLETE.json``: the completion marker (every file of the folder with its size and SHA-256),
  written last: :func:`is_complete` tells a reader whether a folder is a finished run.

**A run folder is never half written.** :class:`RunArtifacts` locks ``out_dir`` (a second run on the
same ``out_dir`` is refused while the first runs) and writes everything into the staging folder
``<out_dir>.partial`` beside it (:mod:`cxrlib.core.staging`); ``run.out_dir`` is that folder while the
run lasts, and library code handed the final path (``TrainConfig.out_dir``, ``PretrainConfig.out_dir``)
writes there too. :meth:`RunArtifacts.finish` writes the provenance and the marker and swaps the staging
folder in for ``out_dir``. A run that fails, is refused or is killed leaves the previous ``out_dir``
byte for byte as it was; its staging folder stays, so a re-run resumes a training inside it. The
staging folder starts as a copy of the previous run (its training files, caches and sub-runs) without
that run's artifacts, provenance and marker. An ``out_dir`` that is not a run folder (an existing file, a
folder of other files without ``COMPLETE.json``, the working folder) is refused with
:class:`~cxrlib.core.staging.NotARunFolder` before anything is written.

Every caption ends with the run context (data set, split, image size, weights, profile, seed), as the
book promises for every number it shows. A caption or a printed line names a file by its location
(:meth:`RunArtifacts.shown`), never by the build machine's folders. The folder's files are read back
through :mod:`cxrlib.core.runs`.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from cxrlib.core import staging as staging_lib
from cxrlib.core.io import atomic_write, disk_full_first, jsonable, write_text_atomic
from cxrlib.core.runs import (  # noqa: F401  (data_fingerprint, find_book_root: readers' API)
    BUILD_STAMP, PROVENANCE, Anchors, asset_path, data_fingerprint, find_book_root, input_record, markdown_table,
    shown_path, write_csv,
)
from cxrlib.core.staging import MARKER, NotARunFolder, RunFolderBusy, is_complete, read_marker  # noqa: F401  (readers' API)
from cxrlib.data.root import data_root as resolve_data_root

MANIFEST = ".artifacts.json"  # in the staging folder: the files this attempt wrote (an unfinished attempt's are removed)

TRACKED_PACKAGES = (
    "cxrlib", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "matplotlib", "torch",
    "torchvision", "timm", "lightly", "lightning", "torchxrayvision", "opencv-python-headless",
)
CONTEXT_FIELDS = ("dataset", "split", "image_size", "weights", "profile", "seed")
SMOKE_PROFILE_SUFFIX = "-smoke"
SMOKE_CAPTION = "SMOKE (tiny sizes, proves the code path; not a result):"
"""How every caption of a smoke run (profile ``<profile>-smoke``) begins."""


def package_versions(names=TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions (without importing the packages)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(start: Path | None = None) -> str:
    """The commit of the checkout holding ``start`` (``"unknown"`` outside git), with ``+dirty`` if modified."""
    cwd = start or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class RunArtifacts:
    """Writes a notebook's artifacts and its provenance into ``out_dir``.

    ``context`` holds the run facts every caption must state (``dataset``, ``split``, ``image_size``,
    ``weights``, ``profile``, ``seed``); a single artifact may override or add to them.

    ``out_dir`` is the staging folder while the run is open (write there) and ``final_dir`` the folder
    the run becomes at :meth:`finish` (see the module docstring). ``carry_over=False`` starts from an
    empty staging folder instead of a copy of the previous run; ``lock_timeout`` (seconds) waits for
    another run of the same ``out_dir`` instead of refusing at once.
    """

    out_dir: Path
    notebook: str
    params: dict
    context: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    data: dict = field(default_factory=dict)
    artifacts: list = field(default_factory=list)
    carry_over: bool = True
    lock_timeout: float = 0.0

    def __post_init__(self):
        self.final_dir = Path(os.path.abspath(self.out_dir))
        earlier = _OPEN.get(self.final_dir)
        if earlier is not None and earlier.is_open:  # the same notebook's cell run again: take the run over
            self._staging = earlier
        else:
            self._staging = staging_lib.open_staging(
                self.final_dir, carry_over=_previous_run_files if self.carry_over else False,
                lock_timeout=self.lock_timeout)
        _OPEN[self.final_dir] = self._staging
        self.out_dir = self._staging.path
        self.anchors = Anchors(data_root=resolve_data_root(self.params.get("data_root")),
                               repo=find_book_root(self.final_dir))
        self._remove_unfinished_attempt()

    def _remove_unfinished_attempt(self) -> None:
        """Delete what an earlier, unfinished attempt of this notebook wrote into the staging folder."""
        manifest = self.out_dir / MANIFEST
        try:
            names = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            names = []
        for name in [*names, PROVENANCE, MARKER]:
            if isinstance(name, str) and "/" not in name and name not in ("", ".", ".."):
                (self.out_dir / name).unlink(missing_ok=True)
        write_text_atomic(manifest, "[]")

    def _record_files(self, *names: str) -> None:
        manifest = self.out_dir / MANIFEST
        try:
            known = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = []
        write_text_atomic(manifest, json.dumps(sorted(set(known) | set(names))))

    @property
    def is_open(self) -> bool:
        """True until :meth:`finish` (or :meth:`abort`)."""
        return self._staging.is_open

    def caption(self, text: str, **context) -> str:
        """``text`` with the run's facts (its context, overridden by ``context``). An artifact of a smoke run
        is labelled SMOKE whatever it overrides; one that names another profile than its run's (a reading of
        published numbers: ``profile="published"``) also names the run's profile."""
        facts = {**self.context, **context}
        run_profile = str(self.context.get("profile") or "")
        if run_profile and str(facts.get("profile") or "") != run_profile:
            facts["run_profile"] = run_profile
        known = [f"{name.replace('_', ' ')}: {facts[name]}" for name in CONTEXT_FIELDS if facts.get(name) not in (None, "")]
        extra = [f"{k.replace('_', ' ')}: {v}" for k, v in facts.items() if k not in CONTEXT_FIELDS and v not in (None, "")]
        tail = "; ".join(known + extra)
        if any(str(p or "").endswith(SMOKE_PROFILE_SUFFIX) for p in (run_profile, facts.get("profile"))):
            text = f"{SMOKE_CAPTION} {text}"
        lead = text.strip().rstrip(".")
        if not tail:
            return text
        if not lead:
            return f"*{tail}.*"
        return f"{lead} *{tail}.*" if lead.endswith(":") else f"{lead}. *{tail}.*"

    def record_data(self, name: str, path: str | os.PathLike) -> str:
        """Record an input (file or folder) in the provenance by its location class and fingerprint
        (:func:`cxrlib.core.runs.input_record`: readers resolve it again on their machine); returns the
        fingerprint."""
        self.data[name] = input_record(path, self.anchors)
        return self.data[name]["fingerprint"]

    def shown(self, path: str | os.PathLike) -> str:
        """``path`` as a caption or a printed line names it: by its location, never by this machine's
        folders (:func:`cxrlib.core.runs.shown_path`)."""
        return shown_path(path, self.anchors)

    def _claim(self, artifact_id: str, *files: str) -> None:
        if not self.is_open:
            raise RuntimeError(f"the run of {self.final_dir} has finished: start a new RunArtifacts to write more")
        if any(a["id"] == artifact_id for a in self.artifacts):
            raise ValueError(f"artifact id {artifact_id!r} is already used in this run (its .md snippet would be overwritten)")
        self._record_files(*files)

    def table(self, frame: pd.DataFrame, artifact_id: str, caption: str, float_format: str = "{:.3f}", **context) -> Path:
        """Save ``<id>.csv`` and its MyST snippet; returns the CSV path."""
        self._claim(artifact_id, f"{artifact_id}.csv", f"{artifact_id}.md")
        full = self.caption(caption, **context)
        csv_path = self.out_dir / f"{artifact_id}.csv"
        with disk_full_first(csv_path):
            write_csv(csv_path, frame)
        snippet = f":::{{table}} {full}\n:name: {artifact_id}\n\n{markdown_table(frame, float_format)}\n:::\n"
        write_text_atomic(self.out_dir / f"{artifact_id}.md", snippet)
        self.artifacts.append({"id": artifact_id, "kind": "table", "file": csv_path.name, "caption": full})
        _display_markdown(f"**{artifact_id}.** {full}")
        _display(frame)
        return csv_path

    def figure(self, fig, artifact_id: str, caption: str, dpi: int = 150, **context) -> Path:
        """Save ``<id>.png`` and its MyST snippet; the figure stays open for inline display."""
        self._claim(artifact_id, f"{artifact_id}.png", f"{artifact_id}.md")
        full = self.caption(caption, **context)
        png_path = self.out_dir / f"{artifact_id}.png"
        with disk_full_first(png_path):
            atomic_write(png_path, lambda handle: fig.savefig(handle, format="png", dpi=dpi, bbox_inches="tight"))
        snippet = f":::{{figure}} {asset_path(self.final_dir / png_path.name)}\n:name: {artifact_id}\n\n{full}\n:::\n"
        write_text_atomic(self.out_dir / f"{artifact_id}.md", snippet)
        self.artifacts.append({"id": artifact_id, "kind": "figure", "file": png_path.name, "caption": full})
        _display_markdown(f"**{artifact_id}.** {full}")
        return png_path

    def text(self, markdown: str, artifact_id: str, **context) -> Path:
        """Save a generated sentence or paragraph as ``<id>.md`` (for a chapter to include in its prose) and
        ``<id>.txt``, followed by the run's context in italics; returns the ``.md`` path. Write it from the
        numbers of this run only, so the book's text follows the last run."""
        self._claim(artifact_id, f"{artifact_id}.txt", f"{artifact_id}.md")
        facts = self.caption("", **context).lstrip(". ")
        body = markdown.strip()
        write_text_atomic(self.out_dir / f"{artifact_id}.txt", body + "\n")
        # after a closing fence (an admonition, a code block) the facts are a paragraph of their own
        joint = "\n\n" if body.splitlines()[-1].startswith((":::", "```")) else " "
        snippet = f"{body}" + (f"{joint}{facts}" if facts else "") + "\n"
        md_path = write_text_atomic(self.out_dir / f"{artifact_id}.md", snippet)
        self.artifacts.append({"id": artifact_id, "kind": "text", "file": f"{artifact_id}.txt", "caption": f"{facts} {body}".strip()})
        _display_markdown(snippet)
        return md_path

    def finish(self) -> Path:
        """Write ``provenance.json`` and the completion marker, swap the run in for ``out_dir``; returns the
        provenance's path in the finished folder. Call it once, in the notebook's last cell."""
        if not self.is_open:
            raise RuntimeError(f"the run of {self.final_dir} has already finished")
        record = {
            "notebook": self.notebook,
            "params": jsonable(self.params),
            "context": jsonable(self.context),
            "data": self.data,
            "artifacts": self.artifacts,
            "versions": package_versions(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "git_commit": git_commit(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "wall_time_s": round(time.time() - self.started, 2),
        }
        with disk_full_first(self.out_dir / PROVENANCE):
            write_text_atomic(self.out_dir / PROVENANCE, json.dumps(record, indent=2, sort_keys=True))
        (self.out_dir / MANIFEST).unlink(missing_ok=True)
        listed = [PROVENANCE] + [name for a in self.artifacts for name in (a["file"], f"{a['id']}.md")]
        final = staging_lib.commit(self._staging, {"notebook": self.notebook, "provenance": PROVENANCE},
                                   required=listed)
        _OPEN.pop(self.final_dir, None)
        self.out_dir = final
        return final / PROVENANCE

    def abort(self, discard: bool = False) -> None:
        """Give up the run: ``out_dir`` stays as it was; the lock is released (``discard``: the staging
        folder is deleted too, so nothing of this attempt is resumed)."""
        staging_lib.abort(self._staging, discard=discard)
        _OPEN.pop(self.final_dir, None)


_OPEN: dict[Path, staging_lib.Staging] = {}


def _previous_run_files(previous: Path) -> list[str]:
    """What a new run does not carry over from the previous ``out_dir``: its provenance, its artifacts
    (from the provenance) and the executed notebook and build stamp that ``cxrlib book`` keeps there."""
    names = [PROVENANCE, MANIFEST, BUILD_STAMP]
    names += [p.name for p in previous.glob("*.ipynb")]
    try:
        record = json.loads((previous / PROVENANCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    for artifact in record.get("artifacts", []):
        if isinstance(artifact, dict):
            names += [artifact.get("file", ""), f"{artifact.get('id', '')}.md"]
    return [n for n in names if n]


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def _display(obj) -> None:
    if _in_notebook():
        from IPython.display import display

        display(obj)


def _display_markdown(text: str) -> None:
    if _in_notebook():
        from IPython.display import Markdown, display

        display(Markdown(text))
