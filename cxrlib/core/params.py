"""Parameters checked before anything is written: names, types, ranges, registry names, relations.

This module is the one way parameters are validated: a notebook's first code cell, the run
configurations (:class:`cxrlib.training.finetune.TrainConfig`, :class:`cxrlib.training.ssl.PretrainConfig`,
:class:`cxrlib.images.preprocess.PreprocessConfig`, through :func:`check_config`) and anything else that takes parameters
use the same rules.

A notebook's parameter cell is its schema: every name it assigns is a parameter, and the literal
default gives the type (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``; ``None``: any). The
first code cell calls :func:`validate_params` with ``globals()``, the notebook's rules and checks, and
keeps what it returns for provenance::

    from cxrlib.core.params import validate_params
    params = validate_params(globals(), "03_finetune", rules={"image_size": ">=16", "head": "in:head"},
                             checks=["image_size % backbone.patch_size == 0"])

**Rules** (one per parameter; data, so that a test and a sweep can read them without running the
notebook). A rule is

* a string of tokens: a type union (``"int|None"``, ``"str"``, ``"float"``, ``"list"``, ``"dict"``,
  ``"bool"``, ``"any"``; replaces the default's type), bounds (``">=1"``, ``">0"``, ``"<=1"``, ``"<1"``;
  applied to a number, or to each number of a list), ``"nonempty"`` (a list, dict or string) and
  ``"in:<registry>"``: the value (each item of a list) is a key of a registry, named by a word of
  :data:`REGISTRIES` (``"in:backbone"``, ``"in:task"``, ``"in:optimizer"``, ...) or by its place
  (``"in:cxrlib.images.sampling:RESAMPLERS"``). The registry is imported when a value is checked, not
  before (``core`` imports nothing above it), and an unknown name is refused with the known names and
  the closest one (:func:`cxrlib.core.config.lookup`);
* a list, tuple or set of allowed values (for choices that have no registry);
* a callable that raises (``ValueError``, ``KeyError``) for a bad value.

:data:`COMMON_RULES` gives the rule of every parameter name that means the same wherever it appears
(``seed``, ``backbone``, ``task``, ``lr``, ...); a notebook's or configuration's own rules replace them
for its parameters. Parameters whose default is ``None`` and whose name ends in ``_dir``, ``_file``,
``_root`` or is ``out_dir`` are paths (``"str|None"``).

**Checks** relate several parameters: each is one Python expression over the parameter names, e.g.
``"len(client_sizes) == n_clients"``, ``"ablation_fraction in fractions"`` or
``"image_size % backbone.patch_size == 0"``, where ``backbone.patch_size`` is the field of the registry
row that the parameter ``backbone`` names (the parameter's rule says which registry). Only names,
literals, ``len``/``set``/``min``/``max``, arithmetic, comparisons, ``and``/``or``/``not`` and row fields
are allowed. A check that reads ``None`` (an optional parameter left out, or a row field that does not
apply, such as the patch size of a convolutional backbone) holds; a check over a parameter that already
broke its own rule is not evaluated.

Names given from outside (papermill writes them into a cell tagged ``injected-parameters``, which
starts with ``# Parameters``) must be parameters: a misspelled one is an error that names the closest
parameter (``-p epoch 2``: "unknown parameter 'epoch' (did you mean 'epochs'?)"). In a kernel the
injected names are read from the kernel's input history (``In``); for a plain mapping every public
name that is not a module, function or class is a given name.

All problems are reported at once, in one :class:`ParameterError`. :func:`notebook_rules` reads a
notebook's rules and checks from its source (a sweep checks each grid point with them:
``check_values(point, notebook_schema(nb), *notebook_rules(nb))``).

Imports nothing of ``cxrlib`` beyond ``core`` at import time; no torch.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import json
import math
import numbers
import operator
import os
import re
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cxrlib.core.config import UnknownKeyError, lookup

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
INJECTED_HEADER = "# Parameters"
PATH_SUFFIXES = ("_dir", "_file", "_root")

REGISTRIES: dict[str, tuple[str, str]] = {
    "backbone": ("cxrlib.models.registry:REGISTRY", "backbone"),
    "task": ("cxrlib.images.tasks:TASKS", "task"),
    "preprocess": ("cxrlib.images.preprocess:PIPELINES", "preprocessing pipeline"),
    "policy": ("cxrlib.images.augment:POLICIES", "augmentation policy"),
    "resample": ("cxrlib.images.sampling:RESAMPLERS", "resampling"),
    "head": ("cxrlib.models.heads:HEADS", "head"),
    "projection_head": ("cxrlib.training.ssl.methods:PROJECTION_HEADS", "projection head"),
    "ssl_method": ("cxrlib.training.ssl.methods:SSL_METHODS", "SSL method"),
    "optimizer": ("cxrlib.training.common:OPTIMIZERS", "optimizer"),
    "progress": ("cxrlib.training.common:PROGRESS_MODES", "progress mode"),
    "semssxl_variant": ("cxrlib.training.semssxl:SEMSSXL_VARIANTS", "SemSSXL variant"),
    "pool_source": ("cxrlib.data.pool:SOURCE_TABLES", "pool source"),
    "chexpert_selection": ("cxrlib.data.d001:CHEXPERT_SELECTIONS", "CheXpert selection"),
    "label_source": ("cxrlib.stats.evaluate:LABEL_SOURCES", "label source"),
}
"""The registries a rule names with ``in:<word>``: word -> (``module:NAME``, what a row is called in
messages); the module is imported when a value is checked. A registry without a word is named by its
place, ``in:<module>:<NAME>``."""

COMMON_RULES: dict[str, Any] = {
    # every notebook
    "out_dir": "str nonempty", "profile": "str nonempty", "seed": "int >=0", "n_boot": ">=1",
    # names from the registries
    "backbone": "in:backbone", "task": "in:task", "preprocess": "in:preprocess", "augment": "in:policy",
    "policy": "in:policy", "ssl_policy": "in:policy", "method": "in:ssl_method", "ssl_method": "in:ssl_method",
    "optimizer": "in:optimizer", "progress": "in:progress", "resample": "str|None in:resample",
    "head": "in:head",  # a classifier head; notebooks 02 and 09 name a projection head and say so
    # training
    "weights": "str nonempty", "subset": "dict|None", "task_options": "dict", "image_size": ">=8",
    "epochs": ">=1", "batch_size": ">=1", "lr": ">0", "weight_decay": ">=0", "momentum": ">=0 <1",
    "dropout": ">=0 <1", "val_fraction": "float|None >0 <1", "label_fraction": "float|None >0 <=1",
    "unfrozen_blocks": "int|str >=0", "loss_weighting": ["inverse_frequency", "none"],
    "loss_normalize": "in:cxrlib.training.losses:LOSS_NORMALIZATIONS", "eval_batch_size": "int|None >=1",
    "train_images_per_epoch": "int|None >=1", "epoch_repeats": "int|None >=1", "patience": "int|None >=0", "lr_scheduler": ["plateau", "none"],
    "plateau_factor": ">0 <1", "plateau_patience": ">=0", "device": "str nonempty", "accelerator": "str nonempty",
    "devices": "int|str >=1", "strategy": "str nonempty", "num_workers": ">=0",
}
"""The rule of every parameter name that means the same wherever it appears (module docstring); a
notebook's or configuration's own rules replace these for its parameters."""

COMMON_CHECKS: tuple[str, ...] = ("image_size % backbone.patch_size == 0",)
"""Checks that hold wherever every name they read is a parameter (a ViT's input is a whole number of
its patches: :attr:`cxrlib.models.registry.BackboneSpec.patch_size`)."""

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (numbers.Integral,), "float": (numbers.Real,), "str": (str, os.PathLike), "bool": (bool,),
    "list": (list, tuple), "dict": (dict,), "None": (type(None),),
}
_TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string", "bool": "True or False",
               "list": "a list", "dict": "a dict", "None": "None"}
_BOUND = re.compile(r"^(>=|<=|>|<)(-?[0-9.eE+-]+)$")
_IN = "in:"


class ParameterError(ValueError):
    """One or more parameters are wrong (the message lists every problem)."""


# ----------------------------------------------------------------------------------------- rules


def resolve_registry(name: str) -> tuple[Any, str]:
    """``(table, what its rows are called)`` of a registry named in a rule (a word of :data:`REGISTRIES`
    or ``module:NAME``); imports its module."""
    if ":" in name:  # a place: what a row is called comes from the table's name (STEPS: "step")
        path, what = name, name.rpartition(":")[2].lower().replace("_", " ").removesuffix("s")
    else:
        path, what = lookup(REGISTRIES, name, what="registry word")
    module, _, attribute = path.partition(":")
    try:
        table = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"rule names registry {name!r}, which cannot be read ({error})") from None
    return table, what


@dataclass
class Rule:
    """What a parameter accepts: types (None: any), bounds, non-empty, allowed values, a registry, a check."""

    types: tuple[str, ...] | None = None
    bounds: list[tuple[str, float]] = field(default_factory=list)
    nonempty: bool = False
    choices: tuple | None = None
    check: Callable[[Any], Any] | None = None
    element: str | None = None  # the type of a list's items (from the default)
    registry: str | None = None  # values (a list's items) are keys of this registry (see resolve_registry())

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
        if self.registry is not None and value is not None:
            table, what = resolve_registry(self.registry)
            for item in items:
                try:
                    lookup(table, item, what=what)
                except UnknownKeyError as error:
                    out.append(str(error))
        for item in items:
            if isinstance(item, bool) or not isinstance(item, numbers.Real):
                continue
            if not math.isfinite(item):
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
        elif token.startswith(_IN):
            rule.registry = token[len(_IN):]
            if ":" not in rule.registry:
                lookup(REGISTRIES, rule.registry, what=f"registry word (rule of {name!r})")
        else:
            kinds = tuple(token.split("|"))
            unknown = [k for k in kinds if k not in _TYPES and k != "any"]
            if unknown:
                raise ValueError(f"rule of {name!r}: unknown token {token!r}")
            rule.types = None if "any" in kinds else kinds
            if rule.element and "list" not in kinds:
                rule.element = None
    return rule


def parameter_rules(defaults: Mapping[str, Any], rules: Mapping[str, Any] | None = None) -> dict[str, Rule]:
    """The :class:`Rule` of every parameter of ``defaults`` (name -> default): its own rule in ``rules``,
    else :data:`COMMON_RULES`, on top of the default's type. Rules for names that are not parameters are
    an error."""
    rules = dict(rules or {})
    stray = sorted(set(rules) - set(defaults))
    if stray:
        raise ValueError(f"rules for names that are not parameters: {stray}")
    return {name: parse_rule(rules[name] if name in rules else COMMON_RULES.get(name), default, name)
            for name, default in defaults.items()}


# ---------------------------------------------------------------------------------------- checks

_CALLS: dict[str, Callable] = {"len": len, "set": set, "min": min, "max": max}
_OPERATORS: dict[type, Callable] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Eq: operator.eq, ast.NotEq: operator.ne,
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b, ast.Not: operator.not_, ast.USub: operator.neg,
}


class _DoesNotApply(Exception):
    """A check read None."""


@dataclass
class Check:
    """One check across parameters (module docstring), parsed once."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Check:
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as error:
            raise ValueError(f"check {text!r} is not an expression: {error.msg}") from None
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in _CALLS or len(node.args) != 1 or node.keywords:
                    raise ValueError(f"check {text!r}: only {', '.join(_CALLS)} of one value may be called")
            elif isinstance(node, ast.Attribute) and (not isinstance(node.value, ast.Name) or node.attr.startswith("_")):
                raise ValueError(f"check {text!r}: a row field is <parameter>.<field>")
            elif not isinstance(node, (ast.Expression, ast.Constant, ast.Name, ast.Attribute, ast.Call, ast.List,
                                       ast.Tuple, ast.Set, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Load,
                                       ast.And, ast.Or)) and type(node) not in _OPERATORS:
                raise ValueError(f"check {text!r}: {type(node).__name__} is not allowed in a check")
        return cls(text, tree, frozenset(names - set(_CALLS)))

    def problem(self, values: Mapping[str, Any], rules: Mapping[str, Rule]) -> str | None:
        """None when the check holds (or does not apply), else what is wrong with the values it read."""
        read: dict[str, Any] = {}
        try:
            holds = self._value(self.tree.body, values, rules, read)
        except _DoesNotApply:
            return None
        if holds:
            return None
        return f"{self.text} does not hold: " + ", ".join(f"{k} = {v!r}" for k, v in read.items())

    def _value(self, node: ast.AST, values: Mapping[str, Any], rules: Mapping[str, Rule], read: dict) -> Any:
        recurse = lambda n: self._value(n, values, rules, read)  # noqa: E731
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            read[node.id] = values[node.id]
            if values[node.id] is None:
                raise _DoesNotApply
            return values[node.id]
        if isinstance(node, ast.Attribute):
            name = node.value.id
            row_key = recurse(node.value)
            if rules[name].registry is None:
                raise ValueError(f"check {self.text!r}: {name} names no registry row (its rule has no 'in:')")
            table, what = resolve_registry(rules[name].registry)
            row_value = getattr(lookup(table, row_key, what=what), node.attr)
            read[f"{name}.{node.attr}"] = row_value
            if row_value is None:
                raise _DoesNotApply
            return row_value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [recurse(e) for e in node.elts]
        if isinstance(node, ast.Set):
            return {recurse(e) for e in node.elts}
        if isinstance(node, ast.Call):
            return _CALLS[node.func.id](recurse(node.args[0]))
        if isinstance(node, ast.BinOp):
            return _OPERATORS[type(node.op)](recurse(node.left), recurse(node.right))
        if isinstance(node, ast.UnaryOp):
            return _OPERATORS[type(node.op)](recurse(node.operand))
        if isinstance(node, ast.BoolOp):
            want = isinstance(node.op, ast.Or)
            return next((want for v in node.values if bool(recurse(v)) == want), not want)
        left = recurse(node.left)  # ast.Compare (Check.parse allows nothing else)
        for op, comparator in zip(node.ops, node.comparators):
            right = recurse(comparator)
            if not _OPERATORS[type(op)](left, right):
                return False
            left = right
        return True


# ------------------------------------------------------------------------------- the schema


def _cells(notebook: str | os.PathLike) -> tuple[Path, list[tuple[str, bool, str]]]:
    """The path of a notebook (``.ipynb``, or a py:percent ``.py``; a name in ``notebooks/`` such as
    ``"03_finetune"``) and its cells as ``(kind, tagged parameters, source)``."""
    path = Path(notebook)
    if not path.suffix:
        path = NOTEBOOKS / f"{notebook}.ipynb"
        if not path.exists():
            path = path.with_suffix(".py")
    if not path.exists():
        raise FileNotFoundError(f"notebook {notebook!r} not found (looked for {path})")
    if path.suffix == ".ipynb":
        return path, [(cell["cell_type"], "parameters" in cell.get("metadata", {}).get("tags", []),
                       "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"])
                      for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    cells: list[tuple[str, bool, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", '"parameters"' in line, []))
        elif cells:
            cells[-1][2].append(line)
    return path, [(kind, tagged, "\n".join(lines)) for kind, tagged, lines in cells]


def _parameter_cell_index(path: Path, cells: list[tuple[str, bool, str]]) -> int:
    index = next((i for i, (_, tagged, _) in enumerate(cells) if tagged), None)
    if index is None:
        raise ValueError(f"{path} has no cell tagged 'parameters'")
    return index


def parameter_cell_source(notebook: str | os.PathLike) -> str:
    """The source of the cell tagged ``parameters`` of a notebook (``.ipynb``, or a py:percent ``.py``);
    ``notebook`` may be a path or a name in ``notebooks/`` (``"03_finetune"``)."""
    path, cells = _cells(notebook)
    return cells[_parameter_cell_index(path, cells)][2]


def notebook_rules(notebook: str | os.PathLike) -> tuple[dict[str, Any], list[str]]:
    """``(rules, checks)`` that a notebook's first code cell after its parameters gives
    :func:`validate_params` (literals, read from the source without running it)."""
    path, cells = _cells(notebook)
    first = next((source for kind, _, source in cells[_parameter_cell_index(path, cells) + 1:] if kind == "code"), "")
    for node in ast.walk(ast.parse(first)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "validate_params":
            given = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("rules", "checks")}
            return dict(given.get("rules") or {}), list(given.get("checks") or [])
    raise ValueError(f"{path}: the first code cell after the parameters does not call validate_params")


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


# ----------------------------------------------------------------------------------- validating


def _checks(defaults: Mapping[str, Any], checks: Iterable[str]) -> list[Check]:
    """The given checks (each must read parameters only) and the :data:`COMMON_CHECKS` whose names are
    all parameters."""
    own = [Check.parse(text) for text in checks]
    for check in own:
        unknown = sorted(check.names - set(defaults))
        if unknown:
            raise ValueError(f"check {check.text!r} reads {unknown}, which are not parameters")
    common = [Check.parse(text) for text in COMMON_CHECKS if text not in {c.text for c in own}]
    return own + [check for check in common if check.names <= set(defaults)]


def _problems(values: Mapping[str, Any], defaults: Mapping[str, Any], rules: Mapping[str, Any] | None,
              checks: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    parsed = parameter_rules(defaults, rules)
    out, problems, broken = {}, [], set()
    for name, default in defaults.items():
        out[name] = values.get(name, default)
        for problem in parsed[name].problems(out[name]):
            problems.append(f"{name} = {out[name]!r}: {problem}")
            broken.add(name)
    for check in _checks(defaults, checks):
        problem = None if check.names & broken else check.problem(out, parsed)
        if problem:
            problems.append(problem)
    return out, problems


def _raise(label: str, problems: list[str], suffix: str = "") -> None:
    if problems:
        raise ParameterError(f"{label}: {len(problems)} parameter problem(s){suffix}:\n  - " + "\n  - ".join(problems))


def check_values(values: Mapping[str, Any], defaults: Mapping[str, Any], rules: Mapping[str, Any] | None = None,
                 checks: Iterable[str] = (), *, label: str = "parameters") -> dict[str, Any]:
    """Check ``values`` of the parameters ``defaults`` (name -> default; a missing value is its default)
    against ``rules`` (on top of :data:`COMMON_RULES`) and ``checks`` (with :data:`COMMON_CHECKS`);
    return every parameter's value or raise one :class:`ParameterError`."""
    out, problems = _problems(values, defaults, rules, checks)
    _raise(label, problems)
    return out


def validate_params(namespace: Mapping[str, Any], schema: str | os.PathLike | Mapping[str, Any],
                    rules: Mapping[str, Any] | None = None, *, checks: Iterable[str] = (),
                    given: Iterable[str] | None = None) -> dict[str, Any]:
    """Check a notebook's parameters; return them (name -> value, for provenance) or raise one
    :class:`ParameterError`.

    ``namespace``: the notebook's ``globals()`` (or a mapping of values). ``schema``: the notebook's
    name or path (its parameter cell gives names and default types) or a mapping name -> default.
    ``rules``: name -> rule, ``checks``: expressions across parameters (module docstring). ``given``: the
    names given from outside (default: papermill's injected cell, see :func:`injected_names`).
    """
    label = Path(schema).stem if isinstance(schema, (str, os.PathLike)) else "notebook"
    defaults = notebook_schema(schema) if isinstance(schema, (str, os.PathLike)) else dict(schema)
    problems = []
    given_names = set(given) if given is not None else _given_names(namespace)
    for name in sorted(given_names - set(defaults)):
        close = difflib.get_close_matches(name, list(defaults), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"unknown parameter {name!r}{hint}; the parameters are: {', '.join(defaults)}")
    try:
        values, more = _problems(namespace, defaults, rules, checks)
    except ValueError as error:  # rules or checks that do not fit the notebook: the notebook's bug
        raise ValueError(f"{label}: {error}") from None
    _raise(label, problems + more, ", nothing was written")
    return values


def check_config(config: Any, rules: Mapping[str, Any] | None = None, checks: Iterable[str] = ()) -> dict[str, Any]:
    """Check the fields of a dataclass configuration as a notebook checks its parameters: the field
    defaults give the types, then :data:`COMMON_RULES` by name, ``rules``, ``checks`` and
    :data:`COMMON_CHECKS`; raises :class:`ParameterError` naming the configuration."""
    fields = dataclasses.fields(config)
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None for f in fields}
    return check_values({f.name: getattr(config, f.name) for f in fields}, defaults, rules, checks,
                        label=type(config).__name__)
