"""Run folders that are never half written: a lock, a staging folder, a completion marker, one swap.

A run that writes into ``out_dir`` (a notebook run, see :class:`cxrlib.book.artifacts.RunArtifacts`)
works like this:

1. :func:`open_staging` takes an exclusive lock (``fcntl.flock`` on ``.<name>.lock`` beside
   ``out_dir``; a second run on the same ``out_dir`` is refused at once with :class:`RunFolderBusy`,
   never interleaved) and prepares the staging folder ``<name>.partial`` beside ``out_dir``. An
   ``out_dir`` that is not a run folder is refused (:class:`NotARunFolder`): an existing file, a
   non-empty folder without a ``COMPLETE.json`` (a user's data), the working folder or a folder above
   it; a run never renames or deletes what it did not write. A staging
   folder left by a failed or killed run is kept as it is (a training inside it resumes); otherwise it
   starts as a copy of the previous ``out_dir`` (so a finished training is reused, and a re-run with
   other parameters is refused by the training's own check), without that run's marker, provenance and
   artifacts (``carry_over``, the files the caller names).
2. Everything of the run is written into the staging folder. Library code that is handed the final
   path (``TrainConfig.out_dir``) asks :func:`staged_path` where to write: while a run is open, a path at
   or under its ``out_dir`` maps to the same place under the staging folder.
3. :func:`commit` checks that the staging folder is still the one this run opened and holds every
   file the run lists (``required``: its artifacts), writes the completion marker ``COMPLETE.json``
   (every file with size and SHA-256) into the staging folder and swaps it in: ``out_dir`` -> ``.<name>.old-<pid>``, staging -> ``out_dir``,
   then the old folder is deleted. A crash between the two renames is repaired by the next
   :func:`open_staging` (the staging folder then carries its marker).

Until :func:`commit`, ``out_dir`` is the previous complete run, byte for byte; a failed, refused or
killed run leaves it alone. :func:`is_complete` tells a reader whether a folder is a finished run (every
listed file there with its SHA-256; hashes are cached per file identity, size and times).

A driver that prepares a run's staging folder before the run itself opens it (``cxrlib book``) holds a
second lock, ``.<name>.build.lock`` (:func:`held`), from preparation to commit, and prepares the folder
under the run's own lock (:func:`reset_staging`), so that a second build never touches the staging folder
of the first.

Imports nothing of ``cxrlib`` except :mod:`cxrlib.core.io`; no torch.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cxrlib.core.io import file_sha256, write_text_atomic

MARKER = "COMPLETE.json"
STAGING_SUFFIX = ".partial"
MARKER_VERSION = 1


class RunFolderBusy(RuntimeError):
    """Another process holds the lock of the run folder."""


class NotARunFolder(ValueError):
    """``out_dir`` names something that a run must not replace (a file, a user's folder)."""


def _abs(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def staging_dir(out_dir: str | os.PathLike) -> Path:
    """``<parent>/<name>.partial``: where a run of ``out_dir`` writes until it has finished."""
    out_dir = _abs(out_dir)
    return out_dir.with_name(out_dir.name + STAGING_SUFFIX)


def lock_file(out_dir: str | os.PathLike, kind: str = "") -> Path:
    """``.<name>.lock`` beside ``out_dir`` (the run's lock), or ``.<name>.<kind>.lock`` (e.g. ``build``)."""
    out_dir = _abs(out_dir)
    return out_dir.with_name(f".{out_dir.name}.{kind + '.' if kind else ''}lock")


# ------------------------------------------------------------------------------------ the registry

_ACTIVE: dict[Path, Path] = {}  # final out_dir (absolute) -> its staging folder, for runs open in this process


def staged_path(path: str | os.PathLike) -> Path:
    """Where to write ``path`` now: under the staging folder if ``path`` is (inside) the ``out_dir`` of a
    run open in this process, else ``path`` itself."""
    absolute = _abs(path)
    for final, staging in _ACTIVE.items():
        if absolute == final or final in absolute.parents:
            return staging / absolute.relative_to(final)
    return Path(path)


def active_runs() -> dict[Path, Path]:
    return dict(_ACTIVE)


# ----------------------------------------------------------------------------------------- marker


def _listing(folder: Path, skip: Iterable[str] = ()) -> dict[str, dict]:
    skip = set(skip)
    files = {}
    for item in sorted(folder.rglob("*")):
        rel = item.relative_to(folder).as_posix()
        if item.is_file() and not item.is_symlink() and rel not in skip:
            files[rel] = {"size": item.stat().st_size, "sha256": file_sha256(item)}
    return files


def write_marker(folder: str | os.PathLike, record: dict | None = None) -> Path:
    """Write ``COMPLETE.json`` (``record`` plus every file's size and SHA-256) into ``folder``."""
    folder = Path(folder)
    payload = {"version": MARKER_VERSION, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(record or {}),
               "files": _listing(folder, skip=[MARKER])}
    return write_text_atomic(folder / MARKER, json.dumps(payload, indent=1, sort_keys=True))


def read_marker(folder: str | os.PathLike) -> dict | None:
    try:
        marker = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


_HASHES: dict[tuple[int, ...], str] = {}
"""SHA-256 of files already hashed in this process, by (device, inode, size, mtime, ctime)."""
_SETTLED_S = 2.0
"""A file changed less than this long ago is hashed again next time (a write within the same clock tick
can keep its times)."""


def _sha256(path: Path, facts: os.stat_result) -> str:
    key = (facts.st_dev, facts.st_ino, facts.st_size, facts.st_mtime_ns, facts.st_ctime_ns)
    digest = _HASHES.get(key)
    if digest is None:
        digest = file_sha256(path)
        if time.time() - max(facts.st_mtime, facts.st_ctime) > _SETTLED_S:
            _HASHES[key] = digest
    return digest


def is_complete(folder: str | os.PathLike, verify: str = "sha256") -> bool:
    """Whether ``folder`` is a finished run: its ``COMPLETE.json`` is readable and every file it lists is
    there with the listed size and SHA-256 (``verify="sha256"``, the default; a file's hash is computed
    once per process while its size and times stay the same), only the listed size (``"size"``) or only the
    marker is checked (``"marker"``)."""
    marker = read_marker(folder)
    if not marker or not isinstance(marker.get("files"), dict):
        return False
    if verify == "marker":
        return True
    folder = Path(folder)
    for rel, facts in marker["files"].items():
        path = folder / rel
        try:
            stat = path.stat()
            if stat.st_size != facts["size"]:
                return False
            if verify == "sha256" and _sha256(path, stat) != facts["sha256"]:
                return False
        except (OSError, KeyError, TypeError):
            return False
    return True


# ------------------------------------------------------------------------------------------ lock


@dataclass
class Staging:
    """An open run: ``final`` (the ``out_dir``), ``path`` (the staging folder) and the held lock."""

    final: Path
    path: Path
    _lock_fd: int | None
    reused: bool  # the staging folder of an earlier, unfinished attempt was taken over
    _folder_fd: int | None = None  # the staging folder as opened (kept open: its inode cannot be reused)

    @property
    def is_open(self) -> bool:
        return self._lock_fd is not None


def _lock(out_dir: Path, timeout: float, kind: str = "") -> int:
    path = lock_file(out_dir, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                os.close(fd)
                raise
            if time.monotonic() >= deadline:
                try:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                except OSError:
                    holder = "unknown"
                os.close(fd)
                raise RunFolderBusy(
                    f"{out_dir} is being {'built' if kind else 'written'} by another {kind or 'run'} (process "
                    f"{holder}, lock {path}); wait for it to finish, or choose another out_dir"
                ) from None
            time.sleep(0.2)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _unlock(fd: int | None) -> None:
    if fd is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def held(out_dir: str | os.PathLike, kind: str = "build", timeout: float = 0.0) -> Iterator[Path]:
    """Hold the ``kind`` lock of ``out_dir`` (``.<name>.<kind>.lock``) for the ``with`` block: a driver
    that prepares, runs and finishes a run (``cxrlib book``) holds it throughout, so that a second driver of
    the same ``out_dir`` is refused (:class:`RunFolderBusy`) before it touches anything."""
    fd = _lock(_abs(out_dir), timeout, kind)
    try:
        yield _abs(out_dir)
    finally:
        _unlock(fd)


def _old_folders(final: Path) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}.old-*"))


def _recover(final: Path, staging: Path) -> None:
    """Finish a swap that a crash interrupted; refuse an ``out_dir`` that is not a run folder; delete old
    folders a swap left behind."""
    if not final.exists() and staging.is_dir() and read_marker(staging) is not None:
        os.rename(staging, final)
    refuse_foreign(final)
    if final.exists():
        for old in _old_folders(final):
            shutil.rmtree(old, ignore_errors=True)


def refuse_foreign(out_dir: str | os.PathLike) -> None:
    """Raise :class:`NotARunFolder` unless ``out_dir`` may become a run folder: it does not exist, is an
    empty folder or a finished run (a readable ``COMPLETE.json``), and is neither the working folder nor a
    folder above it. A file, or a folder of someone's data, is never renamed or deleted by a run."""
    final = _abs(out_dir)
    try:
        cwd = _abs(os.getcwd())
    except OSError:  # the working folder was deleted
        cwd = None
    if cwd is not None and (final == cwd or final in cwd.parents):
        raise NotARunFolder(f"out_dir {out_dir} is the working folder {cwd} or a folder above it; a run replaces "
                            "its out_dir as a whole: give a folder of its own (e.g. book/_generated/<run>)")
    if final.is_symlink():
        raise NotARunFolder(f"out_dir {out_dir} is a symbolic link; a run replaces its out_dir as a whole and would "
                            f"replace the link: give the folder it points to ({os.path.realpath(final)}) or a new one")
    if final.exists() and not final.is_dir():
        raise NotARunFolder(f"out_dir {out_dir} is an existing file, not a run folder; a run would replace it: "
                            "give a folder name that is free (or a finished run folder)")
    if final.is_dir() and read_marker(final) is None and any(final.iterdir()):
        raise NotARunFolder(f"out_dir {out_dir} is a folder with files but without {MARKER}, so not a run folder "
                            "(a run replaces its out_dir as a whole and would take these files away): give a new "
                            "or empty folder, or move the files away")


def open_staging(out_dir: str | os.PathLike, carry_over: bool | Callable[[Path], Iterable[str]] = True,
                 lock_timeout: float = 0.0) -> Staging:
    """Lock ``out_dir`` and prepare its staging folder (see the module docstring).

    ``carry_over``: False starts an empty staging folder; True copies the previous ``out_dir`` into it
    (without its marker); a callable ``f(previous_out_dir) -> names`` also leaves out those files
    (relative paths, e.g. the previous run's artifacts). ``lock_timeout``: seconds to wait for a run
    that holds the lock (0: refuse at once). An ``out_dir`` that is not a run folder raises
    :class:`NotARunFolder` (:func:`refuse_foreign`).
    """
    final = _abs(out_dir)
    if final in _ACTIVE:
        raise RunFolderBusy(f"{final} is already open in this process; commit or abort that run first")
    refuse_foreign(final)
    fd = _lock(final, lock_timeout)
    folder_fd = None
    try:
        staging = staging_dir(final)
        _recover(final, staging)
        reused = staging.is_dir()
        if not reused:
            building = staging.with_name(staging.name + f".copy-{os.getpid()}")
            shutil.rmtree(building, ignore_errors=True)
            if carry_over and final.is_dir():
                leave_out = {MARKER}
                if callable(carry_over):
                    leave_out |= set(carry_over(final))

                def ignore(folder: str, names: list[str]) -> list[str]:
                    rel = Path(folder).relative_to(final)
                    return [n for n in names if (rel / n).as_posix() in leave_out]

                shutil.copytree(final, building, ignore=ignore, symlinks=True)
            else:
                building.mkdir(parents=True)
            os.rename(building, staging)  # a copy cut short never passes for a staging folder
        else:
            (staging / MARKER).unlink(missing_ok=True)
        folder_fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        _ACTIVE[final] = staging
        return Staging(final, staging, fd, reused, folder_fd)
    except BaseException:
        if folder_fd is not None:
            os.close(folder_fd)
        _unlock(fd)
        raise


def reset_staging(out_dir: str | os.PathLike, key: str, key_file: str, resume: bool = True) -> bool:
    """Under the run's lock, prepare the staging folder of a run that is about to start: keep it when it
    belongs to an interrupted attempt with the same ``key`` (the text of its ``key_file``) and ``resume``
    is true (returns True), else start an empty one that holds ``key`` (returns False). A run holding the
    lock raises :class:`RunFolderBusy` and nothing is touched."""
    final = _abs(out_dir)
    fd = _lock(final, 0.0)
    try:
        staging = staging_dir(final)
        _recover(final, staging)
        try:
            same = resume and (staging / key_file).read_text().strip() == key
        except OSError:
            same = False
        if same:
            return True
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        (staging / key_file).write_text(key)
        return False
    finally:
        _unlock(fd)


def _check_staging(staging: Staging, required: Iterable[str]) -> None:
    """Refuse to commit a staging folder that another process replaced, or that lacks a file the run lists."""
    try:
        replaced = staging._folder_fd is not None and (
            os.fstat(staging._folder_fd).st_nlink == 0
            or os.fstat(staging._folder_fd).st_ino != os.stat(staging.path).st_ino)
    except OSError:
        replaced = True
    missing = sorted(name for name in required if not (staging.path / name).is_file())
    if replaced or missing:
        what = "was replaced by another process" if replaced else f"lacks {', '.join(missing)}, which the run lists"
        raise RuntimeError(f"{staging.final}: the staging folder {staging.path} {what}; nothing was committed "
                           f"({staging.final} is as it was): run it again")


def commit(staging: Staging, record: dict | None = None, required: Iterable[str] = ()) -> Path:
    """Write the marker into the staging folder and swap it in for ``out_dir``; returns ``out_dir``.

    ``required``: files (relative paths) that must be in the staging folder, e.g. the artifacts the
    provenance lists; a missing one, or a staging folder that is no longer the one :func:`open_staging`
    prepared, raises ``RuntimeError`` and nothing is committed."""
    if not staging.is_open:
        raise RuntimeError(f"the run of {staging.final} is not open (already committed or aborted)")
    _check_staging(staging, required)
    write_marker(staging.path, record)
    final = staging.final
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.rename(final, old)
    os.rename(staging.path, final)
    shutil.rmtree(old, ignore_errors=True)
    _release(staging)
    return final


def abort(staging: Staging, discard: bool = False) -> None:
    """Release the lock without touching ``out_dir``; ``discard`` also deletes the staging folder."""
    if not staging.is_open:
        return
    if discard:
        shutil.rmtree(staging.path, ignore_errors=True)
    _release(staging)


def _release(staging: Staging) -> None:
    _ACTIVE.pop(staging.final, None)
    fd, staging._lock_fd = staging._lock_fd, None
    folder_fd, staging._folder_fd = staging._folder_fd, None
    if folder_fd is not None:
        os.close(folder_fd)
    _unlock(fd)


def require_finished_run(path: str | os.PathLike) -> Path | None:
    """Refuse a file written by a run that has not finished: ``path`` inside a staging folder
    (``<name>.partial``), or inside a run folder whose ``COMPLETE.json`` no longer matches its files.
    Returns the enclosing finished run folder, or None for a file that no cxrlib run wrote."""
    absolute = _abs(path)
    for folder in absolute.parents:
        if folder.name.endswith(STAGING_SUFFIX):
            raise ValueError(f"{path} is inside {folder}, the staging folder of a run that has not finished; "
                             f"use the finished run {folder.with_name(folder.name[:-len(STAGING_SUFFIX)])} or "
                             "finish the run (re-run it: it resumes)")
        if (folder / MARKER).exists():
            if not is_complete(folder):
                raise ValueError(f"{path}: its run folder {folder} does not match its completion marker {MARKER} "
                                 "(files changed or missing since the run finished); re-run it")
            return folder
    return None
