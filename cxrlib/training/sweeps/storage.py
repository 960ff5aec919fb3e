"""Where a sweep's study lives: a journal file beside the output folder (one machine) or PostgreSQL (a
cluster); SQLite is refused.

:func:`open_storage` opens it (:class:`Store`: the storage and its cross-process lock), :func:`open_study`
the sweep's Optuna study in it. The journal backend drops an unfinished last line under the journal's lock
before appending (:func:`repair_journal`) and names the file and line of a record it cannot read
(:func:`journal_problem`).

No torch at import; Optuna is imported when needed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cxrlib.training.sweeps.sweep_file import Sweep, SweepError


def default_storage(sweep: Sweep) -> str:
    """The journal file next to the sweep's output folder."""
    return str(sweep.out.with_name(sweep.out.name + ".optuna.journal"))


def redact(url: str) -> str:
    """A storage URL as it may be shown: its password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _is_url(spec: str) -> bool:
    return "://" in spec and not spec.startswith("journal:")


@dataclasses.dataclass
class Store:
    """Where a sweep's Optuna study lives (:func:`open_storage`): a journal file, PostgreSQL or another RDB
    URL (``spec``, what workers are given), the opened Optuna storage and its ``kind``."""

    spec: str  # what workers are given
    storage: Any
    kind: str  # "journal" | "postgresql" | "rdb"

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A cross-process (and, on PostgreSQL, cross-machine) lock for enqueueing and stale checks."""
        if self.kind == "journal":
            import fcntl

            with open(self.spec + ".sweep-lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        elif self.kind == "postgresql":
            from sqlalchemy import text

            key = int.from_bytes(hashlib.sha1(f"cxrlib-sweep:{name}".encode()).digest()[:8], "big") >> 1
            with self.storage.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
        else:
            yield


def open_storage(spec: str | None, sweep: Sweep) -> Store:
    """Open the study storage (a journal file path or ``journal:PATH``, or a database URL); raises
    :class:`SweepError` when it cannot be reached."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = spec or default_storage(sweep)
    if _is_url(spec):
        scheme = spec.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme == "sqlite":
            raise SweepError("SQLite cannot serve parallel workers (a trial gets claimed twice; no SELECT ... FOR "
                             "UPDATE): use the default journal file or PostgreSQL")
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        url = spec
        if scheme == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": 10}
            if spec.lower().startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
                url = "postgresql+psycopg2://" + spec.split("://", 1)[1]  # SQLAlchemy 2.1 defaults to psycopg 3
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception as error:  # noqa: BLE001 (sqlalchemy/psycopg2/import errors: one message)
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise SweepError(f"cannot reach the study storage {redact(spec)}: {first}") from None
        return Store(spec, storage, "postgresql" if scheme == "postgresql" else "rdb")
    path = Path(spec.removeprefix("journal:")).expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.JournalStorage(_journal_backend(path))
    except OSError as error:
        raise SweepError(f"cannot use the journal file {path}: {error}") from None
    except (KeyError, TypeError, ValueError) as error:  # a record that parses but is not one of Optuna's
        raise SweepError(journal_problem(path) or f"journal {path} cannot be replayed: {error!r}") from None
    return Store(str(path), storage, "journal")


def repair_journal(path: str | os.PathLike) -> int:
    """Drop an unfinished last line of a journal file (its writer was killed, or the disk was full), so that
    the next record starts on a line of its own; returns the bytes dropped. Call it under the journal's lock
    (every writer holds it while appending, so an unfinished line under the lock is debris)."""
    with open(path, "r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        keep, end = 0, size
        while end > 0:
            start = max(0, end - (1 << 16))
            handle.seek(start)
            at = handle.read(end - start).rfind(b"\n")
            if at >= 0:
                keep = start + at + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    print(f"cxrlib sweep: {path}: dropped an unfinished last record ({size - keep} bytes; a writer was killed or "
          "the disk was full); the study goes on", file=sys.stderr, flush=True)
    return size - keep


def journal_problem(path: str | os.PathLike) -> str | None:
    """One line naming the first complete line of a journal file that is not a record, or None."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                break  # an unfinished last line: dropped before the next append
            try:
                record = json.loads(line)
                problem = None if isinstance(record, dict) and "op_code" in record else "not an Optuna record"
            except ValueError as error:
                problem = getattr(error, "msg", str(error))
            if problem:
                return (f"journal {path}, line {number}: not a journal record ({problem}); the study cannot be read "
                        "past it. Keep a copy of the file, then delete that line (the lines after it are records "
                        "of the study) or move the file away to start the study afresh")
    return None


def _journal_backend(path: Path):
    """Optuna's journal file (``JournalFileBackend`` with an ``open(O_EXCL)`` lock) that repairs an
    unfinished last line under its lock before appending (:func:`repair_journal`) and names the file and
    line of a record it cannot read (:func:`journal_problem`)."""
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
    from optuna.storages.journal._file import get_lock_file

    class RepairingJournal(JournalFileBackend):
        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            with get_lock_file(self._lock):  # Optuna 5.0.0's append_logs, after the repair
                repair_journal(self._file_path)
                text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
                with open(self._file_path, "ab") as handle:
                    handle.write(text.encode("utf-8"))
                    handle.flush()
                    os.fsync(handle.fileno())

        def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
            try:
                yield from super().read_logs(log_number_from)
            except ValueError as error:
                raise SweepError(journal_problem(self._file_path) or f"journal {self._file_path}: {error}") from None

    return RepairingJournal(str(path), lock_obj=JournalFileOpenLock(str(path)))


def open_study(store: Store, sweep: Sweep, create: bool = True):
    """The sweep's Optuna study in ``store``: created when absent (``create``), else a :class:`SweepError`."""
    import optuna

    if not create:
        try:
            return optuna.load_study(study_name=sweep.study_name, storage=store.storage)
        except KeyError:
            raise SweepError(f"no study {sweep.study_name!r} in {redact(store.spec)} (run `cxrlib sweep run` first)") from None
    sampler = None
    if sweep.search is not None:
        seed = sweep.search.get("seed", 0)
        sampler = (optuna.samplers.RandomSampler(seed=seed) if sweep.search.get("sampler") == "random"
                   else optuna.samplers.TPESampler(seed=seed))
    return optuna.create_study(study_name=sweep.study_name, storage=store.storage, direction=sweep.direction,
                               sampler=sampler, load_if_exists=True)
