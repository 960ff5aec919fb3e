"""What the run configurations (:class:`cxrlib.training.finetune.TrainConfig`, :class:`cxrlib.training.ssl.PretrainConfig`) share:
building from a params YAML or a notebook's namespace, and checking a value against its choices."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any


def check_choice(name: str, value: Any, choices: Iterable) -> None:
    """Raise ``ValueError`` naming the parameter and its choices when ``value`` is not one of them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


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
