"""Dotted module paths inside a backbone: ``"blocks.-1.norm1"``, ``"blocks.*"``, ``"a+b"``.

The registry names layers by path (see :mod:`cxrlib.models.registry`); these helpers turn a path into
modules and parameter names. A negative number indexes a ``Sequential``/``ModuleList`` from the end.
"""
from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def get_module(root: nn.Module, path: str) -> nn.Module:
    """The submodule at ``path`` (``""`` is ``root``); negative indices count from the end."""
    module = root
    if not path:
        return module
    walked = []
    for part in path.split("."):
        walked.append(part)
        if part.lstrip("-").isdigit() and isinstance(module, (nn.Sequential, nn.ModuleList)):
            index = int(part)
            if not -len(module) <= index < len(module):
                raise KeyError(f"{'.'.join(walked)}: index out of range ({len(module)} children)")
            module = module[index]
        elif part in module._modules and module._modules[part] is not None:
            module = module._modules[part]
        else:
            raise KeyError(f"{type(root).__name__} has no module {'.'.join(walked)!r}")
    return module


def expand(root: nn.Module, pattern: str) -> list[str]:
    """Concrete paths matching ``pattern``, where a ``*`` part stands for every child, in order."""
    paths = [""]
    for part in pattern.split("."):
        nxt = []
        for base in paths:
            if part == "*":
                nxt.extend(_join(base, name) for name, _ in get_module(root, base).named_children())
            else:
                nxt.append(_join(base, part))
        paths = nxt
    if not paths:
        raise KeyError(f"pattern {pattern!r} matches nothing in {type(root).__name__}")
    return paths


def expand_groups(root: nn.Module, patterns: Iterable[str]) -> list[tuple[str, ...]]:
    """Ordered groups of concrete paths: a ``*`` pattern yields one group per match, ``a+b`` one group."""
    groups: list[tuple[str, ...]] = []
    for pattern in patterns:
        if "+" in pattern:
            if "*" in pattern:
                raise ValueError(f"pattern {pattern!r}: use either '*' or '+', not both")
            groups.append(tuple(pattern.split("+")))
        else:
            groups.extend((path,) for path in expand(root, pattern))
    return groups


def parameters_under(root: nn.Module, path: str) -> list[str]:
    """Names of the parameters of the module or parameter at ``path`` (raises if the path is absent)."""
    names = [n for n, _ in root.named_parameters() if n == path or n.startswith(path + ".")]
    if not names:
        try:
            get_module(root, path)
        except KeyError:
            raise KeyError(f"{type(root).__name__} has no module or parameter {path!r}") from None
    return names


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name
