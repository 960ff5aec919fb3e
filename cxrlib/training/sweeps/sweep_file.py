"""The sweep file: its keys, its checks on load and the :class:`Sweep` it becomes.

:func:`load_sweep` reads a sweep file (the format: :mod:`cxrlib.training.sweeps`) and checks it before any
trial starts, each problem one :class:`SweepError`: unknown keys, parameters that the notebook's parameter
cell (or the entry's signature / ``TrainConfig``) does not have, grid values of the wrong kind, an empty
grid, a table ``item`` the registry does not have. Here too: what a trial runs (a notebook's path, an
entry's function and its parameter rules, :func:`entry_callable`), a grid point's trial key
(:func:`trial_key`) and the parameters a trial receives (:meth:`Sweep.trial_params`).

No torch at import.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import itertools
import json
import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxrlib.core.io import YamlFileError, read_yaml_mapping
from cxrlib.core.repo import REPO


FINETUNE_SMOKE: dict[str, Any] = {
    "subset": {"train": 16, "val": 8, "test": 8}, "epochs": 1, "image_size": 32, "weights": "none",
    "train_images_per_epoch": None, "batch_size": 8, "eval_batch_size": 8, "num_workers": 0, "patience": None,
    "precision": "32", "device": "cpu", "devices": 1, "n_boot": 20, "progress": "none",
}
"""``--smoke`` overrides for ``03_finetune`` / ``cxrlib.training.finetune`` sweeps (sizes only)."""

#: The keys a sweep file may have at its top level (anything else is refused, with did-you-mean).
TOP_KEYS = {"name", "document", "description", "notebook", "entry", "base", "params", "profile", "out", "grid",
            "search", "select", "table", "smoke", "heartbeat", "grace", "max_retries", "poll"}
#: The keys of a sweep file's ``table:`` block.
TABLE_KEYS = {"best_by", "records", "explode", "rows", "columns", "values", "ci", "item", "title"}


class SweepError(ValueError):
    """A sweep file or a storage that cannot be used (raised before any trial starts)."""


@dataclasses.dataclass
class Sweep:
    """A loaded sweep file (:func:`load_sweep`): what each trial runs (``notebook`` or ``entry``), its fixed
    parameters, the grid blocks or ``search`` space, the metric that picks the best trial, the results table
    layout, the output folder, and the queue's timing (heartbeat, grace, retries, poll)."""

    path: Path
    name: str
    document: str | None
    notebook: str | None
    entry: str | None
    fixed: dict[str, Any]  # base file + params (+ profile)
    blocks: list[dict[str, list]]  # grid blocks (axis -> values), after --smoke thinning
    search: dict | None
    metric: str | None
    direction: str
    table: dict
    out: Path
    smoke: bool
    smoke_overrides: dict[str, Any]
    heartbeat: float = 10.0
    grace: float = 120.0
    max_retries: int = 2
    poll: float = 2.0
    schema: set[str] | None = None  # accepted parameter names (None: anything)
    workdir: Path = REPO  # notebooks run here; relative paths in parameters are read from here
    kernel: Any = None  # a cxrlib.core.notebooks.SharedKernel for the notebooks (None: one kernel each)

    @property
    def study_name(self) -> str:
        return self.name + ("-smoke" if self.smoke else "")

    def points(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, point) of every grid point, in file order, without duplicates; two different points with
        one key (one run folder) raise :class:`SweepError`."""
        seen: dict[str, dict] = {}
        for block in self.blocks:
            names = list(block)
            for values in itertools.product(*(block[n] for n in names)):
                point = dict(zip(names, values))
                key = trial_key(point)
                if seen.setdefault(key, point) != point:
                    raise SweepError(f"{self.path}: grid points {seen[key]} and {point} would share the run folder "
                                     f"{key}: make their values differ in kind (e.g. a list and a single value)")
        return list(seen.items())

    def axis_choices(self) -> dict[str, list]:
        """Every value of every axis (as Optuna parameters), in file order."""
        choices: dict[str, list] = {}
        for block in self.blocks:
            for name, values in block.items():
                encoded = [optuna_params({name: v})[name] for v in values]
                choices.setdefault(name, [])
                choices[name] += [v for v in encoded if v not in choices[name]]
        return choices

    def trial_params(self, point: Mapping[str, Any], run_dir: Path, resolve: bool = True) -> dict[str, Any]:
        """What the notebook / entry receives for one point: fixed, point (without tags), smoke, out_dir."""
        params = {**self.fixed, **{k: v for k, v in point.items() if not k.startswith("_")}}
        if self.smoke:
            params.update({k: v for k, v in self.smoke_overrides.items()
                           if self.schema is None or k in self.schema})
            if isinstance(params.get("profile"), str) and not params["profile"].endswith("-smoke"):
                params["profile"] += "-smoke"  # every caption of a smoke trial says so
        if resolve:
            params = {k: _resolve_value(v, self.workdir) for k, v in params.items()}
        params["out_dir"] = str(run_dir)
        return params

    def run_dir(self, key: str) -> Path:
        return self.out / key


def _resolve_value(value: Any, workdir: Path = REPO) -> Any:
    """``{ssl_checkpoint: <02_pretrain folder>}``: the last checkpoint of its largest pool (resolved at run
    time; a relative folder is read below ``workdir``)."""
    if isinstance(value, dict) and set(value) == {"ssl_checkpoint"}:
        from cxrlib.training.ssl import runs

        index = runs.read_checkpoint_index(Path(workdir) / value["ssl_checkpoint"])
        last = index[index["fraction"] == index["fraction"].max()].sort_values("epoch").iloc[-1]
        column = next(c for c in ("path", "checkpoint", "file") if c in index.columns)
        return str(last[column])
    return value


def format_value(value: Any) -> str:
    """A value as a trial key and a table show it (``0.0001``, ``true``, ``a+b``, a path by its stem)."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return "+".join(f"{k}-{format_value(v)}" for k, v in value.items())
    text = str(value)
    if "/" in text:
        text = Path(text).stem or text
    return text


_PLAIN_TEXT = re.compile(r"[A-Za-z0-9._-]+")


def _shown_alone(value: Any) -> bool:
    """Whether :func:`format_value` of ``value`` names that value alone in a trial key (a path shows only its stem,
    other characters become '-', a float may show fewer digits, text may read like a number)."""
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and float(f"{value:g}") == value
    if isinstance(value, str):
        if not _PLAIN_TEXT.fullmatch(value) or "__" in value or value in ("true", "false", "none"):
            return False
        try:
            float(value)
        except ValueError:
            return True
        return False
    if isinstance(value, (list, tuple)):
        return all(not isinstance(v, (list, tuple, dict)) and _shown_alone(v) for v in value)
    return False


def trial_key(point: Mapping[str, Any]) -> str:
    """A readable, stable folder name of a grid point: ``unfrozen_blocks=3__lr=0.0001``, unique per point:
    where the readable form could also name another value (two ``last.ckpt`` in different folders, text with
    other characters, a long key) a hash of the whole point follows (``weights=last__3f2a9c01de``)."""
    parts = [f"{name.lstrip('_')}={format_value(value)}" for name, value in point.items()]
    key = re.sub(r"[^A-Za-z0-9.+=_-]", "-", "__".join(parts)) or "default"
    if len(key) > 100 or not all(_shown_alone(value) for value in point.values()):
        digest = hashlib.sha1(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:10]
        key = key[:89] + "__" + digest
    return key


def optuna_params(point: Mapping[str, Any]) -> dict[str, Any]:
    """The point as Optuna parameters (scalars; other values as JSON text), for Optuna's own views."""
    return {k: (v if v is None or isinstance(v, (bool, int, float, str)) else json.dumps(v, sort_keys=True))
            for k, v in point.items()}


def _repo_path(value: str | os.PathLike, sweep_dir: Path) -> Path:
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    for root in (REPO, sweep_dir, Path.cwd()):
        if (root / path).exists():
            return root / path
    return REPO / path


_ENTRIES: dict[tuple[str, Path], tuple] = {}
_UNCHECKED = object()
"""The rule of a parameter whose type is not known here (a rule that is not a literal, an annotation
outside the rule vocabulary): its grid values are not checked on load."""


def _annotation_rule(annotation: Any) -> Any:
    """An annotation as a type rule of :mod:`cxrlib.core.params` (``"int|str"``), None when absent,
    :data:`_UNCHECKED` when it is outside that vocabulary."""
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    names = {"tuple": "list", "NoneType": "None"}
    kinds = [names.get(t.strip().split("[")[0], t.strip().split("[")[0]) for t in text.split("|")]
    known = {"int", "float", "str", "bool", "list", "dict", "None", "Any"}
    if not all(k in known for k in kinds):
        return _UNCHECKED
    return "any" if "Any" in kinds else "|".join(dict.fromkeys(kinds))


def entry_callable(entry: str, sweep_dir: Path):
    """(callable taking the params dict, accepted names or None, name -> (default, rule)) of an ``entry``
    (loaded once per process)."""
    if (entry, sweep_dir) not in _ENTRIES:
        _ENTRIES[(entry, sweep_dir)] = _load_entry(entry, sweep_dir)
    return _ENTRIES[(entry, sweep_dir)]


def _load_entry(entry: str, sweep_dir: Path):
    module_name, _, function = entry.partition(":")
    if module_name.endswith(".py"):
        file = _repo_path(module_name, sweep_dir)
        if not file.exists():
            raise SweepError(f"entry {entry!r}: no file {file}")
        spec = importlib.util.spec_from_file_location(f"_sweep_entry_{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise SweepError(f"entry {entry!r}: cannot import {module_name} ({error})") from None
    if not function:
        if not (hasattr(module, "fit") and hasattr(module, "TrainConfig")):
            raise SweepError(f"entry {entry!r}: a module entry needs fit() and TrainConfig (or name module:function)")
        config_cls, fit = module.TrainConfig, module.fit
        notebook_only = set(getattr(module, "NOTEBOOK_ONLY", ()))
        names = {f.name for f in dataclasses.fields(config_cls)} | notebook_only
        rules = {f.name: (None if f.default is dataclasses.MISSING else f.default, _annotation_rule(f.type))
                 for f in dataclasses.fields(config_cls)}

        def call(params: dict) -> Any:
            return fit(config_cls.from_dict({k: v for k, v in params.items() if k not in notebook_only}))

        return call, names, rules
    fn = getattr(module, function, None)
    if not callable(fn):
        raise SweepError(f"entry {entry!r}: {module_name} has no function {function!r}")
    signature = inspect.signature(fn)
    if any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
        names = None
    else:
        names = {n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    rules = {n: (None if p.default is p.empty else p.default, _annotation_rule(p.annotation))
             for n, p in signature.parameters.items()}
    return (lambda params: fn(**params)), names, rules


def notebook_path(name: str, workdir: Path = REPO) -> Path:
    """The notebook a sweep names: ``notebooks/<name>.ipynb`` below ``workdir``, or a ``.ipynb`` path."""
    path = Path(name)
    if path.suffix != ".ipynb":
        path = Path(workdir) / "notebooks" / f"{name}.ipynb"
    elif not path.is_absolute():
        path = Path(workdir) / path
    return path


def _check_grid_values(where: str, blocks: list[dict[str, list]], search: dict | None,
                       rules: Mapping[str, Any]) -> None:
    """Every grid value (and every listed search choice) against its parameter's rule (name ->
    :class:`cxrlib.core.params.Rule`, the one rule vocabulary): a wrong type raises one :class:`SweepError`
    naming the axis, the value and what it must be."""
    axes = [(axis, values) for block in blocks for axis, values in block.items()]
    axes += [(name, choices) for name, choices in ((search or {}).get("space") or {}).items() if isinstance(choices, list)]
    problems = []
    for axis, values in axes:
        rule = rules.get(axis)
        if rule is None:
            continue
        for value in values:
            if isinstance(value, dict) and set(value) == {"ssl_checkpoint"}:
                continue  # resolved to a path when the trial runs
            problems += [f"{axis!r} value {value!r} {problem}" for problem in rule.problems(value)]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise SweepError(f"{where}: grid value(s) of the wrong kind: " + "; ".join(problems[:3]) + more)


def _entry_rules(rules: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """An entry's (default, annotation rule) per parameter as :class:`cxrlib.core.params.Rule` objects; a
    parameter whose annotation is outside the vocabulary is not checked."""
    from cxrlib.core.params import parse_rule

    parsed = {}
    for name, (default, spec) in rules.items():
        if spec is _UNCHECKED:
            continue
        try:
            parsed[name] = parse_rule(spec, default, name)
        except (TypeError, ValueError):
            continue
    return parsed


def _blocks(grid: Any, where: str) -> list[dict[str, list]]:
    if grid is None:
        raise SweepError(f"{where}: the grid is empty (give `grid:` with at least one value per axis, or `search:`)")
    blocks = grid if isinstance(grid, list) else [grid]
    if not blocks:
        raise SweepError(f"{where}: the grid is empty (an empty list of blocks)")
    out = []
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise SweepError(f"{where}: grid block {i} must be a mapping axis -> list of values; got {block!r}")
        if not block:
            raise SweepError(f"{where}: the grid is empty (block {i} has no axes)")
        for axis, values in block.items():
            if not isinstance(values, list):
                raise SweepError(f"{where}: grid axis {axis!r} must be a list of values (wrap a single value "
                                 f"in [ ]; a list-valued parameter as [[...]]); got {values!r}")
            if not values:
                raise SweepError(f"{where}: the grid is empty: axis {axis!r} has no values")
        out.append(dict(block))
    return out


def load_sweep(path: str | os.PathLike, *, smoke: bool = False, out: str | os.PathLike | None = None,
               check_values: bool = False, workdir: str | os.PathLike | None = None) -> Sweep:
    """Read and validate a sweep file (the format: :mod:`cxrlib.training.sweeps`); raises :class:`SweepError`.

    ``check_values``: also build the ``TrainConfig`` of every grid point of a ``03_finetune`` /
    ``cxrlib.training.finetune`` sweep (imports torch; ``cxrlib sweep run`` does it). ``workdir``: the tree
    whose ``notebooks/`` run and below which relative paths of the parameters are read (default: this
    repository; the paper smoke harness passes its staged copy)."""
    workdir = Path(workdir).resolve() if workdir is not None else REPO
    path = Path(path)
    if not path.exists():
        raise SweepError(f"no sweep file {path}")
    where = str(path)
    try:
        spec = read_yaml_mapping(path, "sweep file")
    except YamlFileError as error:
        raise SweepError(str(error)) from None
    unknown = sorted(set(spec) - TOP_KEYS)
    if unknown:
        raise SweepError(f"{where}: unknown key(s) {unknown}; known: {sorted(TOP_KEYS)}")
    if bool(spec.get("notebook")) == bool(spec.get("entry")):
        raise SweepError(f"{where}: name exactly one of `notebook:` (papermill) or `entry:` (a function)")

    # what runs, and which parameter names it accepts
    notebook, entry, schema = spec.get("notebook"), spec.get("entry"), None
    if notebook:
        from cxrlib.core.params import notebook_rules, notebook_schema, parameter_rules

        nb_path = notebook_path(str(notebook), workdir)
        if not nb_path.exists():
            raise SweepError(f"{where}: notebook {notebook!r} not found ({nb_path})")
        defaults = notebook_schema(nb_path)
        schema = set(defaults)
        try:  # the notebook's own rules on top of COMMON_RULES and the defaults' types: what the notebook checks
            own, _ = notebook_rules(nb_path)
        except ValueError:  # a notebook without validate_params: the defaults' types
            own = {}
        rules = parameter_rules(defaults, own)
    else:
        _, schema, entry_rules = entry_callable(str(entry), path.parent)
        rules = _entry_rules(entry_rules)

    base: dict[str, Any] = {}
    if spec.get("base"):
        base_path = _repo_path(spec["base"], path.parent)
        if not base_path.exists():
            raise SweepError(f"{where}: base params file {spec['base']!r} not found")
        try:
            base = read_yaml_mapping(base_path)
        except YamlFileError as error:
            raise SweepError(f"{where}: base {error}") from None
    fixed = {**base, **(spec.get("params") or {})}
    profile = spec.get("profile")
    if profile is None and spec.get("base"):
        parent = Path(spec["base"]).parent.name
        profile = parent if parent in ("paper", "classroom") else None
    if profile is not None and (schema is None or "profile" in schema):
        fixed["profile"] = profile

    search = spec.get("search")
    if search is not None and spec.get("grid") is not None:
        raise SweepError(f"{where}: give `grid:` or `search:`, not both")
    blocks: list[dict[str, list]] = []
    if search is None:
        blocks = _blocks(spec.get("grid"), where)
    else:
        if not isinstance(search, dict) or not search.get("space"):
            raise SweepError(f"{where}: the search space is empty (`search: {{space: {{...}}, n_trials: N}}`)")
        if not isinstance(search.get("n_trials"), int) or search["n_trials"] < 1:
            raise SweepError(f"{where}: `search:` needs n_trials (a whole number >= 1)")
        if search.get("sampler", "tpe") not in ("tpe", "random"):
            raise SweepError(f"{where}: search sampler must be tpe or random; got {search.get('sampler')!r}")

    # unknown parameters, all reported at once
    if schema is not None:
        named = {k: "base/params" for k in fixed}
        for block in blocks:
            named.update({k: "grid" for k in block if not k.startswith("_")})
        if search is not None:
            named.update({k: "search space" for k in search["space"]})
        smoke_keys = spec.get("smoke") or {}
        named.update({k: "smoke" for k in smoke_keys})
        bad = sorted(k for k in named if k not in schema and k != "out_dir")
        if bad:
            import difflib

            what = f"notebook {notebook}'s parameter cell" if notebook else f"entry {entry}"
            hints = [f"{k!r} ({named[k]}" + (f"; did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, schema, 1)) else ")")
                     for k in bad]
            raise SweepError(f"{where}: unknown parameter(s) {', '.join(hints)}: not in {what}")
    _check_grid_values(where, blocks, search, rules)

    select = spec.get("select") or {}
    direction = select.get("direction", "minimize")
    if direction not in ("minimize", "maximize"):
        raise SweepError(f"{where}: select.direction must be minimize or maximize; got {direction!r}")
    table = _item_table(dict(spec.get("table") or {}), where)
    bad_table = sorted(set(table) - TABLE_KEYS)
    if bad_table:
        raise SweepError(f"{where}: unknown table key(s) {bad_table}; known: {sorted(TABLE_KEYS)}")
    if table.get("best_by") and not select.get("metric"):
        raise SweepError(f"{where}: table.best_by needs select.metric")

    is_finetune = notebook == "03_finetune" or entry == "cxrlib.training.finetune"
    smoke_overrides = dict(spec.get("smoke") or (FINETUNE_SMOKE if is_finetune else {}))
    if smoke and blocks:  # keep the table's axes, the first value of every other axis
        keep = set(as_list(table.get("rows"))) | set(as_list(table.get("columns"))) | set(as_list(table.get("best_by")))
        keep |= {f"_{k}" for k in keep}
        blocks = [{axis: (values if axis in keep or axis.lstrip("_") in keep else values[:1])
                   for axis, values in block.items()} for block in blocks]

    name = str(spec.get("name") or path.stem)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise SweepError(f"{where}: name {name!r} may hold letters, digits, '.', '_' and '-' only")
    out_dir = Path(out) if out is not None else _repo_path(spec.get("out") or f"runs/sweeps/{name}", path.parent)
    if smoke:
        out_dir = out_dir.with_name(out_dir.name + "-smoke")
    sweep = Sweep(
        path=path, name=name, document=spec.get("document"), notebook=notebook, entry=entry, fixed=fixed,
        blocks=blocks, search=search, metric=select.get("metric"), direction=direction, table=table,
        out=out_dir.resolve(), smoke=smoke, smoke_overrides=smoke_overrides,
        heartbeat=float(spec.get("heartbeat", 10)), grace=float(spec.get("grace", 120)),
        max_retries=int(spec.get("max_retries", 2)), poll=float(spec.get("poll", 2)), schema=schema,
        workdir=workdir,
    )
    if sweep.grace <= 2 * sweep.heartbeat:
        raise SweepError(f"{where}: grace ({sweep.grace:g} s) must be more than twice heartbeat ({sweep.heartbeat:g} s)")
    if check_values and is_finetune and blocks:
        _check_train_configs(sweep)
    return sweep


def item_comparison(item: str):
    """The ``beside:`` block of registry item ``item`` that lays out a sweep table (``sweep_table:``)."""
    from cxrlib.published import align

    blocks = [block for block in align.comparisons(item) if block.sweep_table]
    if len(blocks) != 1:
        raise SweepError(f"registry item {item!r} has {len(blocks)} `beside:` blocks with a `sweep_table:`; need one")
    return blocks[0]


def _item_table(table: dict, where: str) -> dict:
    """A ``table:`` naming a registry ``item``: the item's ``sweep_table`` under the file's own keys."""
    if "item" not in table:
        return table
    try:
        layout = item_comparison(str(table["item"])).sweep_table
    except KeyError as error:
        raise SweepError(f"{where}: table.item: {error.args[0]}") from None
    except SweepError as error:
        raise SweepError(f"{where}: table.item: {error}") from None
    return {**layout, **table}


def as_list(value: Any) -> list:
    """A table field list (``rows:``, ``best_by:``) as a list: None -> [], one name -> [name]."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_train_configs(sweep: Sweep) -> None:
    from cxrlib.training.finetune import NOTEBOOK_ONLY, TrainConfig

    problems = []
    for key, point in sweep.points():
        params = {k: v for k, v in sweep.trial_params(point, sweep.run_dir(key), resolve=False).items()
                  if k not in NOTEBOOK_ONLY}
        params = {k: v for k, v in params.items() if not isinstance(v, dict) or set(v) != {"ssl_checkpoint"}}
        try:
            TrainConfig.from_dict(params)
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"{key}: {error}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise SweepError(f"{sweep.path}: invalid training parameters: " + "; ".join(problems[:3]) + more)
