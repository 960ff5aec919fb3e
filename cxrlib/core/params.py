"""Notebook parameters checked before anything is written: names, types, ranges, allowed values.

A notebook's parameter cell is its schema: every name it assigns is a parameter, and the literal
default gives the type (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``; ``None``: any). The
first code cell calls :func:`validate_params` with ``globals()`` and the notebook's rules (data, per
parameter)::

    from cxrlib.core.params import validate_params
    validate_params(globals(), "03_finetune", rules={"epochs": ">=1", "lr": ">0", "task_options": "dict"})

A rule is

* a string of tokens: a type union (``"int|None"``, ``"str"``, ``"float"``, ``"list"``, ``"dict"``,
  ``"bool"``, ``"any"``; replaces the default's type), bounds (``">=1"``, ``">0"``, ``"<=1"``, ``"<1"``;
  applied to a number, or to each number of a list) and ``"nonempty"`` (a list, dict or string);
* a list, tuple or set of allowed values;
* a callable that raises (``ValueError``, ``KeyError``) for a bad value (e.g. a registry lookup).

Parameters whose default is ``None`` and whose name ends in ``_dir``, ``_file``, ``_root`` or is
``out_dir`` are paths (``"str|None"``); :data:`COMMON_RULES` holds the rules of the parameters every
notebook has (``out_dir``, ``profile``, ``seed``).

Names given from outside (papermill writes them into a cell tagged ``injected-parameters``, which
starts with ``# Parameters``) must be parameters: a misspelled one is an error that names the closest
parameter (``-p epoch 2``: "unknown parameter 'epoch' (did you mean 'epochs'?)"). In a kernel the
injected names are read from the kernel's input history (``In``); for a plain mapping every public
name that is not a module, function or class is a given name.

All problems are reported at once, in one :class:`ParameterError`.

Imports nothing of ``cxrlib``; no torch.
"""
from __future__ import annotations

import ast
import difflib
import json
import math
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
INJECTED_HEADER = "# Parameters"
PATH_SUFFIXES = ("_dir", "_file", "_root")
COMMON_RULES: dict[str, Any] = {"out_dir": "str nonempty", "profile": "str nonempty", "seed": "int >=0"}

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str, os.PathLike), "bool": (bool,), "list": (list, tuple),
    "dict": (dict,), "None": (type(None),),
}
_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "True or False",
               "list": "a list", "dict": "a dict", "None": "None"}
_BOUND = re.compile(r"^(>=|<=|>|<)(-?[0-9.eE+-]+)$")


class ParameterError(ValueError):
    """One or more notebook parameters are wrong (the message lists every problem)."""


# ----------------------------------------------------------------------------------------- rules


@dataclass
class Rule:
    """What a parameter accepts: types (None: any), bounds, non-empty, allowed values, a check."""

    types: tuple[str, ...] | None = None
    bounds: list[tuple[str, float]] = field(default_factory=list)
    nonempty: bool = False
    choices: tuple | None = None
    check: Callable[[Any], Any] | None = None
    element: str | None = None  # the type of a list's items (from the default)

    def problems(self, value: Any) -> list[str]:
        if self.types is not None and not any(_is(value, t) for t in self.types):
            want = " or ".join(_TYPE_WORDS.get(t, t) for t in self.types)
            return [f"must be {want}, got {type(value).__name__} {value!r}"]
        if self.choices is not None and value not in self.choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return [f"must be one of {', '.join(repr(c) for c in self.choices)}; got {value!r}{hint}"]
        out = []
        if self.nonempty and isinstance(value, (list, tuple, dict, str)) and len(value) == 0:
            out.append("must not be empty")
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, (list, tuple)) and self.element is not None:
            bad = [v for v in items if not _is(v, self.element)]
            if bad:
                out.append(f"must hold {_TYPE_WORDS[self.element]} items; got {bad[0]!r}")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if isinstance(item, float) and not math.isfinite(item):
                out.append(f"must be a finite number; got {item!r}")
                continue
            for op, bound in self.bounds:
                if not _compare(item, op, bound):
                    out.append(f"must be {op} {_number(bound)}; got {item!r}")
        if not out and self.check is not None and value is not None:
            try:
                self.check(value)
            except (ValueError, KeyError, TypeError, LookupError) as error:
                out.append(str(error).strip("'\""))
        return out


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _compare(value: float, op: str, bound: float) -> bool:
    return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[op]


def _is(value: Any, type_name: str) -> bool:
    if type_name == "any":
        return True
    if type_name in ("int", "float") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[type_name])


def _type_of(default: Any) -> str | None:
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str), ("list", (list, tuple)),
                       ("dict", dict)):
        if isinstance(default, kind):
            return name
    return None


def parse_rule(spec: Any, default: Any = None, name: str = "") -> Rule:
    """The :class:`Rule` of a parameter from its ``spec`` (see the module docstring) and its default."""
    rule = Rule()
    base = _type_of(default)
    if default is None and (name == "out_dir" or name.endswith(PATH_SUFFIXES)):
        rule.types = ("str", "None")
    elif base is not None:
        rule.types = (base,)
    if isinstance(default, (list, tuple)) and default:
        kinds = {_type_of(v) for v in default}
        if len(kinds) == 1 and next(iter(kinds)) in ("int", "float", "str", "bool"):
            rule.element = kinds.pop()
    if spec is None:
        return rule
    if callable(spec) and not isinstance(spec, str):
        rule.check = spec
        return rule
    if isinstance(spec, (list, tuple, set, frozenset)):
        rule.choices = tuple(spec)
        rule.types = None
        return rule
    if not isinstance(spec, str):
        raise TypeError(f"rule of {name!r}: a string, a collection of values or a callable, not {spec!r}")
    for token in spec.split():
        bound = _BOUND.match(token)
        if bound:
            rule.bounds.append((bound.group(1), float(bound.group(2))))
        elif token == "nonempty":
            rule.nonempty = True
        else:
            kinds = tuple(token.split("|"))
            unknown = [k for k in kinds if k not in _TYPES and k != "any"]
            if unknown:
                raise ValueError(f"rule of {name!r}: unknown token {token!r}")
            rule.types = None if "any" in kinds else kinds
            if rule.element and "list" not in kinds:
                rule.element = None
    return rule


# ------------------------------------------------------------------------------- the schema


def parameter_cell_source(notebook: str | os.PathLike) -> str:
    """The source of the cell tagged ``parameters`` of a notebook (``.ipynb``, or a py:percent ``.py``);
    ``notebook`` may be a path or a name in ``notebooks/`` (``"03_finetune"``)."""
    path = Path(notebook)
    if not path.suffix:
        path = NOTEBOOKS / f"{notebook}.ipynb"
        if not path.exists():
            path = path.with_suffix(".py")
    if not path.exists():
        raise FileNotFoundError(f"notebook {notebook!r} not found (looked for {path})")
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                source = cell["source"]
                return "".join(source) if isinstance(source, list) else source
        raise ValueError(f"{path} has no cell tagged 'parameters'")
    lines, inside, found = [], False, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            if inside:
                break
            inside = '"parameters"' in line
            found = found or inside
            continue
        if inside:
            lines.append(line)
    if not found:
        raise ValueError(f"{path} has no cell tagged 'parameters'")
    return "\n".join(lines)


def assigned_values(source: str) -> dict[str, Any]:
    """Name -> literal value of the simple assignments ``name = <literal>`` of a cell."""
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                values[node.targets[0].id] = None
    return values


def notebook_schema(notebook: str | os.PathLike) -> dict[str, Any]:
    """The parameters of a notebook with their defaults (its parameter cell)."""
    return assigned_values(parameter_cell_source(notebook))


def injected_names(namespace: Mapping[str, Any]) -> set[str] | None:
    """Names that papermill injected into this kernel (its ``# Parameters`` cell, read from the input
    history ``In``); None outside a kernel."""
    history = namespace.get("In")
    if not isinstance(history, list):
        return None
    names: set[str] = set()
    for source in history:
        if isinstance(source, str) and source.lstrip().startswith(INJECTED_HEADER):
            try:
                names = set(assigned_values(source))  # the last injected cell counts
            except SyntaxError:
                continue
    return names


def _given_names(namespace: Mapping[str, Any]) -> set[str]:
    injected = injected_names(namespace)
    if injected is not None:
        return injected
    return {k for k, v in namespace.items() if not k.startswith("_")
            and not isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type))}


def validate_params(namespace: Mapping[str, Any], schema: str | os.PathLike | Mapping[str, Any],
                    rules: Mapping[str, Any] | None = None, *, given: Iterable[str] | None = None) -> dict[str, Any]:
    """Check a notebook's parameters; return them (name -> value) or raise one :class:`ParameterError`.

    ``namespace``: the notebook's ``globals()`` (or a mapping of values). ``schema``: the notebook's
    name or path (its parameter cell gives names and default types) or a mapping name -> default.
    ``rules``: name -> rule (module docstring), on top of :data:`COMMON_RULES`. ``given``: the names
    given from outside (default: papermill's injected cell, see :func:`injected_names`).
    """
    label = Path(schema).stem if isinstance(schema, (str, os.PathLike)) else "notebook"
    defaults = notebook_schema(schema) if isinstance(schema, (str, os.PathLike)) else dict(schema)
    rules = {**COMMON_RULES, **(rules or {})}
    stray = sorted(set(rules) - set(defaults) - set(COMMON_RULES))
    if stray:
        raise ValueError(f"rules for names that are not parameters of {label}: {stray}")
    problems = []
    given_names = set(given) if given is not None else _given_names(namespace)
    for name in sorted(given_names - set(defaults)):
        close = difflib.get_close_matches(name, list(defaults), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"unknown parameter {name!r}{hint}; the parameters are: {', '.join(defaults)}")
    values = {}
    for name, default in defaults.items():
        value = namespace.get(name, default)
        values[name] = value
        for problem in parse_rule(rules.get(name), default, name).problems(value):
            problems.append(f"{name} = {value!r}: {problem}")
    if problems:
        raise ParameterError(f"{label}: {len(problems)} parameter problem(s), nothing was written:\n  - "
                             + "\n  - ".join(problems))
    return values
