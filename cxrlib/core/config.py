"""What the run configurations (:class:`cxrlib.training.finetune.TrainConfig`, :class:`cxrlib.training.ssl.PretrainConfig`) share:
building from a params YAML or a notebook's namespace, and checking a value against its choices; and
:func:`lookup`, the one way a registry row is found by name."""
from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

_Row = TypeVar("_Row")


def check_choice(name: str, value: Any, choices: Iterable) -> None:
    """Raise ``ValueError`` naming the parameter and its choices when ``value`` is not one of them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def lookup(table: Mapping[str, _Row], key: str | _Row, *, what: str, row_type: type | None = None) -> _Row:
    """The row of ``table`` named ``key``; a ``row_type`` instance passes through as already resolved.

    An unknown name raises ``KeyError`` naming the known ones and, where one is close, suggesting it:

    >>> lookup({"resnet18": 1, "densenet121": 2}, "densenet12", what="backbone")
    Traceback (most recent call last):
    ...
    KeyError: "unknown backbone 'densenet12'; known: resnet18, densenet121; did you mean 'densenet121'?"
    """
    if row_type is not None and isinstance(key, row_type):
        return key
    try:
        return table[key]
    except KeyError:
        close = difflib.get_close_matches(str(key), [str(k) for k in table], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown {what} {key!r}; known: {', '.join(map(str, table))}{hint}") from None


class ParamsMixin:
    """``from_dict`` (unknown keys are an error) and ``from_namespace`` (a notebook's ``globals()``) for a dataclass."""

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
