"""What the run configurations (:class:`cxrlib.training.finetune.TrainConfig`, :class:`cxrlib.training.ssl.PretrainConfig`) share:
building from a params YAML or a notebook's namespace (their values are checked with the rules of
:mod:`cxrlib.core.params`); and :func:`lookup`, the one way a registry row is found by name (an unknown
name is an :class:`UnknownKeyError`, the one exception type of every look-up)."""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

_Row = TypeVar("_Row")


class UnknownKeyError(KeyError, ValueError):
    """A name that is not a key of its registry; the message names the known keys and the closest one.

    A ``KeyError`` (a failed look-up) and a ``ValueError`` (a bad parameter value) at once, so that code
    catching either sees it; ``str()`` is the plain message (``KeyError`` would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def lookup(table: Mapping[str, _Row] | Collection[str], key: str | _Row, *, what: str,
           row_type: type | None = None) -> _Row:
    """The row of ``table`` named ``key``; a ``row_type`` instance passes through as already resolved.

    ``table`` is a registry (a mapping name -> row) or a collection of allowed names (then the name
    itself is returned). An unknown name raises :class:`UnknownKeyError` naming the known ones and, where
    one is close, suggesting it:

    >>> lookup({"resnet18": 1, "densenet121": 2}, "densenet12", what="backbone")
    Traceback (most recent call last):
    ...
    cxrlib.core.config.UnknownKeyError: unknown backbone 'densenet12'; known: resnet18, densenet121; did you mean 'densenet121'?
    """
    if row_type is not None and isinstance(key, row_type):
        return key
    try:
        if isinstance(table, Mapping):
            return table[key]
        if key in table:
            return key
    except (KeyError, TypeError):  # TypeError: an unhashable key (a list) is no name either
        pass
    close = difflib.get_close_matches(str(key), [str(k) for k in table], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownKeyError(f"unknown {what} {key!r}; known: {', '.join(map(str, table))}{hint}") from None


class ParamsMixin:
    """``from_dict`` (unknown keys are an error) and ``from_namespace`` (a notebook's ``globals()``) for a
    dataclass (its fields are checked with :func:`cxrlib.core.params.check_config`)."""

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """The fields of ``namespace`` that are parameters of this configuration."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in namespace.items() if k in names})

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], **overrides: Any):
        """From a mapping (a params YAML); unknown keys are an error."""
        merged = {**values, **overrides}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**merged)
