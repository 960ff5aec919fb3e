"""Run folders that are never half written: a lock, a staging folder, a completion marker, one swap.

A run that writes into ``out_dir`` (a notebook run, see :class:`cxrlib.book.artifacts.RunArtifacts`)
works like this:

1. :func:`open_staging` takes an exclusive lock (``fcntl.flock`` on ``.<name>.lock`` beside
   ``out_dir``; a second run on the same ``out_dir`` is refused at once with :class:`RunFolderBusy`,
   never interleaved) and prepares the staging folder ``<name>.partial`` beside ``out_dir``. A staging
   folder left by a failed or killed run is kept as it is (a training inside it resumes); otherwise it
   starts as a copy of the previous ``out_dir`` (so a finished training is reused, and a re-run with
   other parameters is refused by the training's own check), without that run's marker, provenance and
   artifacts (``carry_over``, the files the caller names).
2. Everything of the run is written into the staging folder. Library code that is handed the final
   path (``TrainConfig.out_dir``) asks :func:`staged_path` where to write: while a run is open, a path at
   or under its ``out_dir`` maps to the same place under the staging folder.
3. :func:`commit` writes the completion marker ``COMPLETE.json`` (every file with size and SHA-256)
   into the staging folder and swaps it in: ``out_dir`` -> ``.<name>.old-<pid>``, staging -> ``out_dir``,
   then the old folder is deleted. A crash between the two renames is repaired by the next
   :func:`open_staging` (the staging folder then carries its marker).

Until :func:`commit`, ``out_dir`` is the previous complete run, byte for byte; a failed, refused or
killed run leaves it alone. :func:`is_complete` tells a reader whether a folder is a finished run.

Imports nothing of ``cxrlib`` except :mod:`cxrlib.core.io`; no torch.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cxrlib.core.io import file_sha256, write_text_atomic

MARKER = "COMPLETE.json"
STAGING_SUFFIX = ".partial"
MARKER_VERSION = 1


class RunFolderBusy(RuntimeError):
    """Another process holds the lock of the run folder."""


def _abs(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.fspath(path)))


def staging_dir(out_dir: str | os.PathLike) -> Path:
    """``<parent>/<name>.partial``: where a run of ``out_dir`` writes until it has finished."""
    out_dir = _abs(out_dir)
    return out_dir.with_name(out_dir.name + STAGING_SUFFIX)


def lock_file(out_dir: str | os.PathLike) -> Path:
    out_dir = _abs(out_dir)
    return out_dir.with_name(f".{out_dir.name}.lock")


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
        return json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_complete(folder: str | os.PathLike, verify: str = "size") -> bool:
    """Whether ``folder`` is a finished run: its ``COMPLETE.json`` is readable and every file it lists is
    there with the listed size (``verify="size"``, cheap), also the listed SHA-256 (``"sha256"``), or
    only the marker is checked (``"marker"``)."""
    marker = read_marker(folder)
    if not marker or not isinstance(marker.get("files"), dict):
        return False
    if verify == "marker":
        return True
    folder = Path(folder)
    for rel, facts in marker["files"].items():
        path = folder / rel
        try:
            if path.stat().st_size != facts["size"]:
                return False
        except OSError:
            return False
        if verify == "sha256" and file_sha256(path) != facts["sha256"]:
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

    @property
    def is_open(self) -> bool:
        return self._lock_fd is not None


def _lock(out_dir: Path, timeout: float) -> int:
    path = lock_file(out_dir)
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
                    f"{out_dir} is being written by another run (process {holder}, lock {path}); wait for it "
                    "to finish, or choose another out_dir"
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


def _old_folders(final: Path) -> list[Path]:
    return sorted(final.parent.glob(f".{final.name}.old-*"))


def _recover(final: Path, staging: Path) -> None:
    """Finish a swap that a crash interrupted, and delete old folders a swap left behind."""
    if not final.exists() and staging.is_dir() and read_marker(staging) is not None:
        os.rename(staging, final)
    if final.exists():
        for old in _old_folders(final):
            shutil.rmtree(old, ignore_errors=True)


def open_staging(out_dir: str | os.PathLike, carry_over: bool | Callable[[Path], Iterable[str]] = True,
                 lock_timeout: float = 0.0) -> Staging:
    """Lock ``out_dir`` and prepare its staging folder (see the module docstring).

    ``carry_over``: False starts an empty staging folder; True copies the previous ``out_dir`` into it
    (without its marker); a callable ``f(previous_out_dir) -> names`` also leaves out those files
    (relative paths, e.g. the previous run's artifacts). ``lock_timeout``: seconds to wait for a run
    that holds the lock (0: refuse at once).
    """
    final = _abs(out_dir)
    if final in _ACTIVE:
        raise RunFolderBusy(f"{final} is already open in this process; commit or abort that run first")
    fd = _lock(final, lock_timeout)
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
        _ACTIVE[final] = staging
        return Staging(final, staging, fd, reused)
    except BaseException:
        _unlock(fd)
        raise


def commit(staging: Staging, record: dict | None = None) -> Path:
    """Write the marker into the staging folder and swap it in for ``out_dir``; returns ``out_dir``."""
    if not staging.is_open:
        raise RuntimeError(f"the run of {staging.final} is not open (already committed or aborted)")
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
