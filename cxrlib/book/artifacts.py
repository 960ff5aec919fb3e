"""Artifacts of a notebook run: tables (CSV), figures (PNG), captions and one ``provenance.json``.

Every notebook writes into its papermill parameter ``out_dir``:

* ``<id>.csv`` / ``<id>.png``: the table or figure; ids that reproduce a document's table or figure
  follow ``d<NNN>_<table|fig><N>`` (``d000_table1``, ``d004_fig3_1``);
* ``<id>.md``: a MyST snippet (caption + table, or caption + figure) that the book's chapters include,
  so the chapter always shows what the run produced, with the run's own caption;
* ``provenance.json``: parameters, package versions, data hashes, git commit, wall time and the list
  of artifacts with their captions.

Every caption ends with the run context (data set, split, image size, weights, profile, seed), as the
book promises for every number it shows.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from cxrlib.core.io import file_sha256, jsonable

TRACKED_PACKAGES = (
    "cxrlib", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "matplotlib", "torch",
    "torchvision", "timm", "lightly", "lightning", "torchxrayvision", "opencv-python-headless",
)
CONTEXT_FIELDS = ("dataset", "split", "image_size", "weights", "profile", "seed")


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


def data_fingerprint(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder's sorted (relative name, size) listing (cheap for image folders)."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{item.relative_to(path)}\t{item.stat().st_size}\n".encode())
        return "listing-sha256:" + digest.hexdigest()
    return "sha256:" + file_sha256(path)


def find_book_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``_config.yml`` (the Jupyter Book root)."""
    for folder in [start, *start.parents]:
        if (folder / "_config.yml").exists() and (folder / "_toc.yml").exists():
            return folder
    return None


def markdown_table(frame: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    """A pipe table for MyST (no index; floats formatted; NaN shown as an en dash)."""
    def cell(value) -> str:
        if isinstance(value, float):
            return "–" if pd.isna(value) else float_format.format(value)
        text = str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


@dataclass
class RunArtifacts:
    """Writes a notebook's artifacts and its provenance into ``out_dir``.

    ``context`` holds the run facts every caption must state (``dataset``, ``split``, ``image_size``,
    ``weights``, ``profile``, ``seed``); a single artifact may override or add to them.
    """

    out_dir: Path
    notebook: str
    params: dict
    context: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    data: dict = field(default_factory=dict)
    artifacts: list = field(default_factory=list)

    def __post_init__(self):
        self.out_dir = Path(self.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def caption(self, text: str, **context) -> str:
        facts = {**self.context, **context}
        known = [f"{name.replace('_', ' ')}: {facts[name]}" for name in CONTEXT_FIELDS if facts.get(name) not in (None, "")]
        extra = [f"{k.replace('_', ' ')}: {v}" for k, v in facts.items() if k not in CONTEXT_FIELDS and v not in (None, "")]
        tail = "; ".join(known + extra)
        return f"{text.rstrip('.')}. *{tail}.*" if tail else text

    def record_data(self, name: str, path: str | os.PathLike) -> str:
        """Fingerprint an input (file or folder) into the provenance."""
        fingerprint = data_fingerprint(path)
        self.data[name] = {"path": str(path), "fingerprint": fingerprint}
        return fingerprint

    def _asset_path(self, filename: str) -> str:
        book_root = find_book_root(self.out_dir.resolve())
        if book_root is None:
            return filename
        return "/" + (self.out_dir.resolve() / filename).relative_to(book_root).as_posix()

    def _claim(self, artifact_id: str) -> None:
        if any(a["id"] == artifact_id for a in self.artifacts):
            raise ValueError(f"artifact id {artifact_id!r} is already used in this run (its .md snippet would be overwritten)")

    def table(self, frame: pd.DataFrame, artifact_id: str, caption: str, float_format: str = "{:.3f}", **context) -> Path:
        """Save ``<id>.csv`` and its MyST snippet; returns the CSV path."""
        self._claim(artifact_id)
        full = self.caption(caption, **context)
        csv_path = self.out_dir / f"{artifact_id}.csv"
        frame.to_csv(csv_path, index=False)
        snippet = f":::{{table}} {full}\n:name: {artifact_id}\n\n{markdown_table(frame, float_format)}\n:::\n"
        (self.out_dir / f"{artifact_id}.md").write_text(snippet, encoding="utf-8")
        self.artifacts.append({"id": artifact_id, "kind": "table", "file": csv_path.name, "caption": full})
        _display_markdown(f"**{artifact_id}.** {full}")
        _display(frame)
        return csv_path

    def figure(self, fig, artifact_id: str, caption: str, dpi: int = 120, **context) -> Path:
        """Save ``<id>.png`` and its MyST snippet; the figure stays open for inline display."""
        self._claim(artifact_id)
        full = self.caption(caption, **context)
        png_path = self.out_dir / f"{artifact_id}.png"
        fig.savefig(png_path, dpi=dpi, bbox_inches="tight")
        snippet = f":::{{figure}} {self._asset_path(png_path.name)}\n:name: {artifact_id}\n\n{full}\n:::\n"
        (self.out_dir / f"{artifact_id}.md").write_text(snippet, encoding="utf-8")
        self.artifacts.append({"id": artifact_id, "kind": "figure", "file": png_path.name, "caption": full})
        _display_markdown(f"**{artifact_id}.** {full}")
        return png_path

    def finish(self) -> Path:
        """Write ``provenance.json`` and return its path."""
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
        path = self.out_dir / "provenance.json"
        path.write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        return path


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
