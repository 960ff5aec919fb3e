"""Run folders: the one reader and writer of what a run leaves on disk.

A *run folder* is what one run wrote: a notebook run of ``cxrlib book`` (``book/_generated/<run>/``,
written through :class:`cxrlib.book.artifacts.RunArtifacts`) or a training engine's ``out_dir`` inside
it (:mod:`cxrlib.training.finetune`, :mod:`cxrlib.training.ssl`). Its files, and where each is read:

* ``COMPLETE.json``: the completion marker, written last by :func:`cxrlib.core.staging.commit`; a reader
  asks :func:`cxrlib.core.staging.is_complete` (or :func:`finished_artifact`, which does) whether the
  folder is a finished run;
* ``provenance.json`` (:data:`PROVENANCE`): the notebook's parameters, context, inputs, artifacts,
  versions and wall time (:func:`read_provenance`, :func:`run_params`, :func:`input_path`);
* ``<id>.csv`` / ``<id>.png`` / ``<id>.md`` / ``<id>.txt``: the artifacts (:func:`read_table`,
  :func:`finished_artifact`; a figure's address in the book: :func:`asset_path`);
* ``params.yaml`` (:data:`CONFIG`): a training engine's configuration (:func:`read_config`, :func:`write_config`),
  and ``weights.json`` (:data:`WEIGHTS`): what its backbone started from;
* ``predictions_<split>.csv`` (:func:`predictions_file`), ``metrics.json`` (:data:`METRICS`) and the
  per-epoch ``metrics.csv``: a fine-tuning run's results (:mod:`cxrlib.training.run_folder` makes them);
* ``.build-stamp.json`` (:data:`BUILD_STAMP`): what ``cxrlib book`` executed, and how long it took
  (:func:`read_build_stamp`).

Every file is written whole or not at all (:func:`cxrlib.core.io.atomic_write`; here :func:`write_csv`,
:func:`write_config` and :func:`write_json`), and a table shown in the book is rendered one way
(:func:`markdown_table`: a missing value is an en dash).

**Inputs by location, not by absolute path.** A checkout moves (another folder, a shared drive, a
container, a CI cache) and an environment is recreated (a new ``.venv``, another Python): an absolute
path recorded on one machine means nothing on the next. A run records each input (:func:`input_record`)
with its *location class* (:data:`ANCHORS`), resolved again by every reader on the machine it runs on
(:func:`resolve`):

* ``package``: a file that ships inside an installed package (the NIH metadata of the
  ``torchxrayvision`` wheel): the package, its version and the path inside it;
* ``data_root``: a file or folder below the data root (:func:`cxrlib.data.root.data_root`);
* ``repo``: a file or folder of the checkout (the book root: the folder holding ``_config.yml`` and
  ``_toc.yml``), e.g. another run's folder ``book/_generated/03_finetune``;
* ``absolute``: anything else (only then is the recorded path used).

The recorded absolute ``path`` is provenance only. An input's *identity* is its content fingerprint
(:func:`data_fingerprint`; the package version is recorded beside it, to say why it changed), never its
path: :func:`input_changes` compares it with what the locations hold now, which is how ``cxrlib book``
decides whether a finished run is still up to date (:func:`cxrlib.book.build.execute`). :func:`shown_path`
is how a caption or a printed line names an input without the build machine's folders.

Light (pandas, YAML); imports nothing of ``cxrlib`` beyond :mod:`cxrlib.core`.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cxrlib.core.io import atomic_write, file_sha256, write_json_atomic
from cxrlib.core.staging import is_complete

PROVENANCE = "provenance.json"
CONFIG = "params.yaml"
METRICS = "metrics.json"
WEIGHTS = "weights.json"
LEARNING = "learning.json"  # did the model learn? (cxrlib.stats.learning.LearningCheck.to_dict)
"""What a training run's backbone started from (:class:`cxrlib.models.WeightsInfo` as JSON)."""
BUILD_STAMP = ".build-stamp.json"
ARTIFACT_SUFFIXES = (".csv", ".png")
"""The data file of an artifact: its table, else its figure (the ``.md`` beside it is the snippet)."""
MISSING = "–"
"""How a table in the book shows a missing value (None, NaN, NA)."""
ANCHORS = ("package", "data_root", "repo", "absolute")
"""The location classes of a recorded input, in the order :func:`locate` tries them."""
DATA_ROOT_SHOWN = "[data root]"
"""How a page names the data root (plain text in MyST: no HTML tag, no math)."""


class RunInputMissing(FileNotFoundError):
    """An input that a run recorded is not where its location says, on this machine."""


# ------------------------------------------------------------------------------------------ reading
def read_provenance(folder: str | os.PathLike) -> dict:
    """``provenance.json`` of a run folder; a clear error when there is none."""
    path = Path(folder) / PROVENANCE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} has no {PROVENANCE}: not a finished notebook run (RunArtifacts.finish "
                                "writes it)") from None


def run_params(folder: str | os.PathLike) -> dict:
    """The notebook parameters a run recorded in its provenance (paths in them are provenance only: read
    inputs with :func:`input_path`)."""
    return read_provenance(folder)["params"]


def read_table(folder: str | os.PathLike, artifact: str) -> pd.DataFrame:
    """The table ``<artifact>.csv`` of a run folder (a file without even a header, as pandas writes a frame
    without columns, is an empty table)."""
    try:
        return pd.read_csv(Path(folder) / f"{artifact}.csv")
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def finished_artifact(folder: str | os.PathLike, artifact: str) -> Path | None:
    """The data file of an artifact (``.csv``, else ``.png``) in a finished run folder, or None."""
    folder = Path(folder)
    if not is_complete(folder, verify="marker"):
        return None
    for suffix in ARTIFACT_SUFFIXES:
        if (folder / f"{artifact}{suffix}").exists():
            return folder / f"{artifact}{suffix}"
    return None


def read_config(folder: str | os.PathLike) -> dict:
    """``params.yaml`` of a training run folder (an empty dict for an empty file)."""
    return yaml.safe_load((Path(folder) / CONFIG).read_text(encoding="utf-8")) or {}


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file of a run folder (``metrics.json``, ``weights.json``)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def predictions_file(folder: str | os.PathLike, split: str) -> Path:
    """``predictions_<split>.csv`` of a fine-tuning run folder (``split``: ``val`` or ``test``)."""
    return Path(folder) / f"predictions_{split}.csv"


def read_build_stamp(folder: str | os.PathLike) -> dict | None:
    """The build stamp ``cxrlib book`` wrote into a run folder, or None."""
    try:
        return json.loads((Path(folder) / BUILD_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------------------ writing
def write_csv(path: str | os.PathLike, frame: pd.DataFrame, **options: Any) -> Path:
    """``frame.to_csv`` written atomically (``index=False`` unless ``options`` say otherwise)."""
    options = {"index": False, **options}
    return atomic_write(path, lambda handle: frame.to_csv(handle, **options), mode="w")


def write_config(folder: str | os.PathLike, config: Mapping[str, Any]) -> Path:
    """``params.yaml`` of a training run folder, written atomically (keys in the given order)."""
    text = yaml.safe_dump(dict(config), sort_keys=False)
    return atomic_write(Path(folder) / CONFIG, lambda handle: handle.write(text), mode="w")


def write_json(path: str | os.PathLike, value: Any) -> Path:
    """A JSON file of a run folder (``metrics.json``, ``weights.json``), written atomically."""
    return write_json_atomic(path, value)


def write_build_stamp(folder: str | os.PathLike, stamp: Mapping[str, Any]) -> Path:
    """The build stamp of a run folder (one line of JSON)."""
    return write_json_atomic(Path(folder) / BUILD_STAMP, dict(stamp), indent=None)


# ------------------------------------------------------------------------------------------ tables
def markdown_cell(value: Any, float_format: str | Callable[[float], str] = "{:.3f}") -> str:
    """One cell of a pipe table: a missing value as :data:`MISSING`, a float by ``float_format`` (a format
    string or a function), anything else as text with ``|`` escaped and line breaks as spaces."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return MISSING
    if isinstance(value, float):
        return float_format(value) if callable(float_format) else float_format.format(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, float_format: str | Callable[[float], str] = "{:.3f}") -> str:
    """A pipe table for MyST (no index; cells as :func:`markdown_cell`). A frame without columns (e.g. a
    comparison with nothing to compare) is a one-cell table that says so: ``|  |`` alone is no table."""
    if len(frame.columns) == 0:
        return "| (no rows) |\n|---|"
    header = "| " + " | ".join(markdown_cell(c, float_format) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(markdown_cell(v, float_format) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


# ------------------------------------------------------------------------------------- the book tree
def find_book_root(start: str | os.PathLike) -> Path | None:
    """The nearest folder at or above ``start`` holding ``_config.yml`` and ``_toc.yml`` (the Jupyter Book
    root, which is the checkout's root)."""
    start = Path(os.path.abspath(start))
    for folder in [start, *start.parents]:
        if (folder / "_config.yml").exists() and (folder / "_toc.yml").exists():
            return folder
    return None


def asset_path(path: str | os.PathLike) -> str:
    """How a page of the book addresses a file of a run folder: ``/book/_generated/<run>/<file>`` from the
    book root (the file name alone outside a book)."""
    path = Path(os.path.abspath(path))
    root = find_book_root(path.parent)
    return path.name if root is None else "/" + path.relative_to(root).as_posix()


# ------------------------------------------------------------------------------------------- inputs
def data_fingerprint(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder's sorted (relative name, size) listing (cheap for image folders);
    it does not depend on where the file or folder is."""
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_dir():
        for parts, size in sorted(_files_below(path)):
            digest.update(f"{'/'.join(parts)}\t{size}\n".encode())
        return "listing-sha256:" + digest.hexdigest()
    return "sha256:" + file_sha256(path)


def _files_below(folder: Path) -> list[tuple[tuple[str, ...], int]]:
    """(relative name parts, size) of every file below ``folder``, as ``Path.rglob("*")`` filtered by
    ``is_file()`` lists them (links to files count, links to folders are not entered) but with
    ``os.scandir``: a listing of the 112,120 NIH images in a second, not several."""
    found, pending = [], [(os.fspath(folder), ())]
    while pending:
        where, parts = pending.pop()
        with os.scandir(where) as entries:
            for entry in entries:
                name = (*parts, entry.name)
                try:
                    if entry.is_dir() and not entry.is_symlink():
                        pending.append((entry.path, name))
                    elif entry.is_file():
                        found.append((name, entry.stat().st_size))
                except OSError:  # vanished, or a link to nothing
                    continue
    return found


@dataclass(frozen=True)
class Anchors:
    """Where the location classes ``data_root`` and ``repo`` are on this machine (None: not known here);
    ``package`` locations are found through the import system."""

    data_root: Path | None = None
    repo: Path | None = None


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, base: Path) -> str | None:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return None


def _package_folder(package: str) -> Path | None:
    """The folder of an installed top-level package (found without importing it)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _package_version(package: str, entry: Path | None = None) -> str | None:
    """The version of the installed distribution that provides the top-level ``package`` (None: no
    distribution does, e.g. a folder of the checkout that happens to be on ``sys.path``)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        pass
    folder = entry if entry is not None else _package_folder(package)
    entry = folder if entry is not None else (None if folder is None else folder.parent)
    for info in [] if entry is None else sorted(entry.glob("*.dist-info")):
        top_level = info / "top_level.txt"
        if top_level.exists() and package in top_level.read_text(encoding="utf-8").split():
            return importlib.metadata.Distribution.at(info).version
    return None


def _package_location(path: Path) -> dict | None:
    """``{"anchor": "package", ...}`` when ``path`` is inside the folder of an installed distribution's
    top-level package (found on ``sys.path`` as the import system finds it)."""
    for entry in sys.path:
        base = _real(entry or os.getcwd())
        relative = _inside(path, base)
        if not relative or relative == "." or "/" not in relative:
            continue
        package, _, inner = relative.partition("/")
        folder = _package_folder(package)
        if folder is None or _real(folder) != base / package:
            continue
        version = _package_version(package, base)
        if version is not None:
            return {"anchor": "package", "package": package, "version": version, "relative": inner}
    return None


def locate(path: str | os.PathLike, anchors: Anchors) -> dict:
    """The location of ``path`` by class (:data:`ANCHORS`): ``{"anchor": ..., "relative": ...}`` (a package
    location also names the package and its version)."""
    real = _real(path)
    found = _package_location(real)
    if found:
        return found
    for anchor in ("data_root", "repo"):
        base = getattr(anchors, anchor)
        relative = None if base is None else _inside(real, _real(base))
        if relative is not None:
            return {"anchor": anchor, "relative": relative}
    return {"anchor": "absolute"}


def input_record(path: str | os.PathLike, anchors: Anchors) -> dict:
    """What a run records of one input: its location, its fingerprint and (provenance only) its absolute path."""
    return {"path": os.path.abspath(path), "fingerprint": data_fingerprint(path), "location": locate(path, anchors)}


def _located(record: Mapping, anchors: Anchors) -> Path | None:
    """Where the record's location is on this machine (whether or not something is there)."""
    location = record.get("location") or {"anchor": "absolute"}
    anchor = location.get("anchor")
    if anchor == "package":
        folder = _package_folder(location["package"])
        return None if folder is None else folder / location["relative"]
    if anchor in ("data_root", "repo"):
        base = getattr(anchors, anchor)
        return None if base is None else Path(base) / location["relative"]
    return Path(record["path"])


def describe_location(record: Mapping) -> str:
    """The location of a recorded input in words, without the recording machine's folders."""
    location = record.get("location") or {"anchor": "absolute"}
    anchor = location.get("anchor")
    if anchor == "package":
        return f"{location['relative']} of the package {location['package']} {location.get('version') or ''}".rstrip()
    if anchor == "data_root":
        return f"{location['relative']} below the data root"
    if anchor == "repo":
        return f"{location['relative']} of the checkout"
    return str(record.get("path"))


def resolve(record: Mapping, anchors: Anchors, name: str = "input") -> Path:
    """The path on this machine of an input recorded by :func:`input_record`; :class:`RunInputMissing`
    names the input and its location when nothing is there."""
    path = _located(record, anchors)
    if path is None or not path.exists():
        where = "" if path is None else f" (looked for {path})"
        raise RunInputMissing(f"the run's input {name!r}, {describe_location(record)}, is not on this machine{where}; "
                              "install or fetch it (or point CXRLIB_DATA at the data root), or re-run the run")
    return path


def folder_anchors(folder: str | os.PathLike, *, data_root: str | os.PathLike | None) -> Anchors:
    """The anchors a reader of the run folder ``folder`` resolves with: ``data_root`` (this machine's data
    root) and the checkout holding ``folder`` (:func:`find_book_root`)."""
    return Anchors(data_root=None if data_root is None else Path(data_root), repo=find_book_root(folder))


def input_path(folder: str | os.PathLike, name: str, *, data_root: str | os.PathLike | None) -> Path:
    """The input ``name`` that the run in ``folder`` recorded, resolved on this machine
    (:func:`folder_anchors`)."""
    records = read_provenance(folder).get("data", {})
    if name not in records:
        raise KeyError(f"{folder} recorded no input {name!r}; it recorded: {', '.join(records) or 'none'}")
    return resolve(records[name], folder_anchors(folder, data_root=data_root), name)


def _version_note(record: Mapping) -> str:
    """`` (torchxrayvision 1.5.7 -> 1.6.0)`` for a package input whose package version changed, else ``""``."""
    location = record.get("location") or {}
    if location.get("anchor") != "package":
        return ""
    now = _package_version(location["package"])
    return "" if now == location.get("version") else f" ({location['package']} {location.get('version')} -> {now})"


@dataclass(frozen=True)
class InputChange:
    """One recorded input of a run that is not what it was: ``missing`` (nothing at its location) or changed."""

    name: str
    missing: bool
    detail: str


def input_changes(folder: str | os.PathLike, anchors: Anchors) -> list[InputChange]:
    """The inputs recorded in ``folder``'s provenance whose location is empty on this machine or whose
    content fingerprint differs from the recorded one. A record without a location (written
    before locations were recorded) whose path is gone counts as changed, not missing."""
    try:
        records = read_provenance(folder).get("data", {})
    except (FileNotFoundError, ValueError):
        return []
    changes = []
    for name, record in records.items():
        path = _located(record, anchors)
        if path is None or not path.exists():
            legacy = "location" not in record
            why = "recorded by absolute path, which is gone" if legacy else "not on this machine"
            changes.append(InputChange(name, not legacy, f"{describe_location(record)}: {why}"))
            continue
        now = data_fingerprint(path)
        if now != record.get("fingerprint"):
            changes.append(InputChange(name, False, f"{describe_location(record)}: its content changed"
                                       + _version_note(record)))
    return changes


def shown_path(path: str | os.PathLike, anchors: Anchors) -> str:
    """How a caption or a printed line names ``path``: by its location (package and version, below the
    data root, in the checkout), never by the build machine's folders (outside every location: its name)."""
    location = locate(path, anchors)
    anchor = location["anchor"]
    if anchor == "package":
        return f"{location['package']} {location.get('version') or ''}".rstrip() + f": {location['relative']}"
    if anchor == "data_root":
        return DATA_ROOT_SHOWN + ("" if location["relative"] == "." else f"/{location['relative']}")
    if anchor == "repo":
        return location["relative"]
    return Path(path).name


def read_learning_records(folder: str | os.PathLike) -> dict[str, dict]:
    """Every :data:`LEARNING` record below ``folder`` (a run folder, or a folder of run folders), keyed by the
    path of its folder relative to ``folder`` (``"."`` for ``folder`` itself), sorted by that key."""
    folder = Path(folder)
    return {path.parent.relative_to(folder).as_posix(): read_json(path) for path in sorted(folder.rglob(LEARNING))}
