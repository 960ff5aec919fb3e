"""Files: one atomic write, one JSON conversion, one file hash and one reader of YAML parameter files.

A run folder, a cache entry or a checkpoint is either the old complete file or the new complete file,
never half of one: :func:`atomic_write` writes to a temporary file in the target's folder and renames
it over the target (``os.replace`` is atomic on POSIX and Windows within one file system).
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np

#: A file-system path argument: a string or anything :func:`os.fspath` takes (one alias for the package).
PathLike = str | os.PathLike


def atomic_write(target: str | os.PathLike, write: Callable[[IO], Any], *, mode: str = "wb") -> Path:
    """Call ``write(handle)`` on a temporary file beside ``target``, then rename it over ``target``.

    ``mode`` is ``"wb"`` (bytes) or ``"w"`` (UTF-8 text). On any error the temporary file is removed
    and ``target`` is left as it was. Returns ``target`` as a :class:`~pathlib.Path`.
    """
    target = Path(target)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as handle:
            write(handle)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; our files are not secrets
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    return target


def write_text_atomic(target: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text."""
    return atomic_write(target, lambda handle: handle.write(text), mode="w")


def jsonable(value):
    """``value`` with numpy scalars as Python numbers, non-finite floats as None and unknown objects as text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, str) or value is None or isinstance(value, int):
        return value
    return str(value)


def write_json_atomic(target: str | os.PathLike, value: Any, *, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """:func:`jsonable` ``value`` written atomically as JSON."""
    return write_text_atomic(target, json.dumps(jsonable(value), indent=indent, sort_keys=sort_keys))


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class YamlFileError(ValueError):
    """A YAML file of parameters that cannot be read as plain data (the message names the file and line)."""


def read_yaml_mapping(path: str | os.PathLike, what: str = "parameter file") -> dict:
    """The mapping in a YAML file of plain data (``yaml.safe_load``: numbers, text, lists, mappings; an
    empty file is ``{}``). Anything else raises :class:`YamlFileError` naming the file and the line: a
    syntax error, a tag that would build a Python object (``!!python/...``), a file that is not a mapping.
    A parameter file is data and never runs code."""
    import yaml

    try:
        value = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise YamlFileError(f"{path}: not a text file (UTF-8): {error.reason} at byte {error.start}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).strip().splitlines()[0]
        raise YamlFileError(f"{path}{where}: not a plain YAML {what} ({problem}); a {what} holds data only "
                            "(numbers, text, lists, mappings), no tags that build objects") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise YamlFileError(f"{path}: a {what} is a mapping (name: value); got {type(value).__name__}")
    return value


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
"""``errno`` values of a write refused for lack of space (disk full, quota exceeded)."""


def disk_full_cause(error: BaseException) -> OSError | None:
    """The disk-full ``OSError`` (:data:`DISK_FULL`) in ``error`` or anywhere in its chain, else None (a
    library may raise a follow-up error of its own while cleaning up, e.g. Pillow's ``'_idat' object has no
    attribute 'fileno'``, and leave the real cause chained below it)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.errno in DISK_FULL:
            return item
        pending += [item.__cause__, item.__context__]
    return None


@contextmanager
def disk_full_first(target: str | os.PathLike) -> Iterator[None]:
    """Turn a write into ``target`` that failed for lack of space (wherever the ``OSError`` sits in the
    chain) into one ``OSError`` that says so first and names the file."""
    try:
        yield
    except Exception as error:
        full = disk_full_cause(error)
        if full is None:
            raise
        raise OSError(full.errno, f"{os.strerror(full.errno)} while writing {target}: free space on that file "
                                  "system (or choose another out_dir) and run again") from None
