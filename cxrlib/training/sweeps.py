"""Experiment grids as sweeps on Optuna: one machine or a cluster, every trial a normal run folder.

A **sweep file** (``params/sweeps/*.yaml``) is data: what to run (a notebook through papermill, or a
Python entry point), the fixed parameters, the grid (or a search space with a sampler), the metric that
selects the best trial and how the document's table is laid out from the trials. ``cxrlib sweep run``
enqueues every grid point once into an Optuna study and runs the trials in one or more worker processes,
on this machine or on several machines that share the study's storage; ``cxrlib sweep status`` lists
the trials; ``cxrlib sweep table`` builds the document's table from the finished trials (bootstrap CIs
from the run folders' predictions) beside the published one (:func:`cxrlib.published.align.beside`).

Sweep file (all keys but ``grid``/``search`` and ``notebook``/``entry`` are optional)::

    name: d000_table5_dinov2          # the study name (default: the file's stem)
    document: "000"
    notebook: 03_finetune             # notebooks/03_finetune.ipynb with papermill, or
    # entry: cxrlib.training.finetune # fit(TrainConfig) in the worker; or "pkg.mod:function" / "file.py:function"
    base: params/paper/03_finetune--d000_dinov2_vits14.yaml   # a params file (repository-relative)
    params: {epochs: 50}              # fixed parameters over the base
    profile: paper                    # passed as the notebook's `profile` (default: the base's folder)
    out: runs/sweeps/d000_table5      # the sweep's output folder: one run folder per trial in it
    grid:                             # a block (every combination) or a list of blocks (their union)
      unfrozen_blocks: [0, 1, 2]      # every value is a list (a list-valued parameter: [[a, b]])
      lr: [1.0e-1, 1.0e-2]
      _model: [B1]                    # keys starting with "_" are tags: in the table, never passed on
    # search: {space: {lr: {low: 1.0e-5, high: 1.0e-1, log: true}, dropout: [0.0, 0.2]},
    #          sampler: tpe, n_trials: 40, seed: 0}
    select: {metric: best_val_loss, direction: minimize}   # dotted path in metrics.json, or history:<col>
    table:
      item: d000_table5               # a registry item: its beside block's `sweep_table:` is this table and
                                      # its mapping puts the published table beside it (the keys below,
                                      # given here, override the item's)
      title: "Document 000, Table 5"  # printed above the table
    # a table of its own (no published table beside it) gives the layout here:
    # table:
    #   best_by: [unfrozen_blocks]    # keep the best trial (select.metric) per value of these
    #   records: metrics              # "metrics" (one record per trial) or a CSV of the run folder
    #   explode: {field: test.auroc, name: label}          # a dict field -> one record per key
    #   rows: [unfrozen_blocks]
    #   columns: null                 # a record field whose values become columns (then `values` is one field)
    #   values: {Val loss: best_val_loss, Test AUC: test.macro_auroc, Train loss: "history:train_loss"}
    #   ci: {column: Test AUC, predictions: predictions_test.csv, n_boot: 1000}
    smoke: {epochs: 1, image_size: 32}   # overrides of --smoke (03_finetune has defaults)
    heartbeat: 10                     # seconds between a running trial's heartbeats
    grace: 120                        # a RUNNING trial without a heartbeat for this long was killed
    max_retries: 2                    # a failed or killed grid point is run again at most this often

Validation on load, before any trial starts, one clear :class:`SweepError` each: a parameter that the
notebook's parameter cell (or the entry's signature / ``TrainConfig``) does not have, a grid value of the
wrong type (the notebook's literal rule, else the type of its default; the entry's annotation), an empty
grid (or an empty axis), a storage that cannot be reached, a table ``item`` the registry does not have, a
journal line that is not a record (file and line named). A journal line cut short (a killed writer, a full
disk) is dropped under the journal's lock before the next record is appended (:func:`repair_journal`). A
table ``values`` field (or ``explode`` field) that no finished trial has is refused when the table is built.

**Storage.** Default: a journal file next to the output folder (``<out>.optuna.journal``,
``optuna.storages.JournalStorage(JournalFileBackend(path))``), for the workers of one machine. For a
cluster: a PostgreSQL URL (``postgresql://user@host:5432/db``, ``psycopg2-binary``), shared by every
worker of every machine; the run folders must then live on a shared file system (or ``out`` per machine,
with the tables built where all of them are). SQLite is refused for parallel workers' sake (it has no
``SELECT ... FOR UPDATE``: a trial gets claimed twice).

**Exactly once.** Grid points are enqueued with :meth:`optuna.Study.enqueue_trial`, one trial per point,
under a lock (``fcntl`` on a file beside the journal; ``pg_advisory_lock`` on PostgreSQL) after
checking the study's trials for the point's key, so a second worker, a second machine or a re-run never
enqueues a point twice (Optuna's ``GridSampler`` runs duplicates with several workers). A worker claims a
waiting trial atomically (Optuna's own queue pop). A running trial writes a heartbeat (a user attribute)
every ``heartbeat`` seconds; a trial whose heartbeat is older than ``grace`` seconds belonged to a worker
that died (SIGKILL, a lost node): the next worker that looks marks it failed and enqueues its point again
(up to ``max_retries`` times). A finished point is never run again; a run folder that already holds a
finished run (``metrics.json``, and ``COMPLETE.json`` for notebook runs) is read, not re-trained, when it
was run with the trial's full parameters (recorded in ``<out>/_params/<key>.json``; otherwise the trial
fails and says so). Trial keys are unique per point (a value that the readable key cannot tell apart, such
as a path shown by its stem, adds a hash of the point).
Heartbeats compare wall clocks: the machines of a cluster need synchronised clocks (NTP).

**Smoke.** ``--smoke`` overrides sizes to tiny (``smoke:``, or for ``03_finetune`` :data:`FINETUNE_SMOKE`)
and keeps only the first value of every grid axis that is not a row, column or ``best_by`` field of the
table; it uses its own study (``<name>-smoke``) and output folder (``<out>-smoke``), and a trial's
``profile`` becomes ``<profile>-smoke`` (its captions say SMOKE). The paper smoke
(:mod:`cxrlib.book.paper_smoke`) runs every sweep file this way, in a staged tree (``load_sweep(...,
workdir=...)``: notebooks and relative paths are read there) and with one shared kernel.

No torch at import; Optuna, papermill and the entry module are imported when needed.
"""
from __future__ import annotations

import argparse
import contextlib
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
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


from cxrlib.core.io import YamlFileError, read_yaml_mapping, write_text_atomic

from cxrlib.core.repo import REPO

KEY_ATTR = "sweep_key"
POINT_ATTR = "sweep_point"
ATTEMPT_ATTR = "sweep_attempt"
HEARTBEAT_ATTR = "sweep_heartbeat"
WORKER_ATTR = "sweep_worker"
ERROR_ATTR = "sweep_error"
NOTE_ATTR = "sweep_note"

FINETUNE_SMOKE: dict[str, Any] = {
    "subset": {"train": 16, "val": 8, "test": 8}, "epochs": 1, "image_size": 32, "weights": "none",
    "train_images_per_epoch": None, "batch_size": 8, "eval_batch_size": 8, "num_workers": 0, "patience": None,
    "precision": "32", "device": "cpu", "devices": 1, "n_boot": 20, "progress": "none",
}
"""``--smoke`` overrides for ``03_finetune`` / ``cxrlib.training.finetune`` sweeps (sizes only)."""

TOP_KEYS = {"name", "document", "description", "notebook", "entry", "base", "params", "profile", "out", "grid",
            "search", "select", "table", "smoke", "heartbeat", "grace", "max_retries", "poll"}
TABLE_KEYS = {"best_by", "records", "explode", "rows", "columns", "values", "ci", "item", "title"}


class SweepError(ValueError):
    """A sweep file or a storage that cannot be used (raised before any trial starts)."""


# ------------------------------------------------------------------------------------ sweep file


@dataclasses.dataclass
class Sweep:
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
                encoded = [_optuna_params({name: v})[name] for v in values]
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


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return "+".join(f"{k}-{_fmt(v)}" for k, v in value.items())
    text = str(value)
    if "/" in text:
        text = Path(text).stem or text
    return text


_PLAIN_TEXT = re.compile(r"[A-Za-z0-9._-]+")


def _shown_alone(value: Any) -> bool:
    """Whether :func:`_fmt` of ``value`` names that value alone in a trial key (a path shows only its stem,
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
    parts = [f"{name.lstrip('_')}={_fmt(value)}" for name, value in point.items()]
    key = re.sub(r"[^A-Za-z0-9.+=_-]", "-", "__".join(parts)) or "default"
    if len(key) > 100 or not all(_shown_alone(value) for value in point.values()):
        digest = hashlib.sha1(json.dumps(point, sort_keys=True, default=str).encode()).hexdigest()[:10]
        key = key[:89] + "__" + digest
    return key


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


def _entry_callable(entry: str, sweep_dir: Path):
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


def _notebook_path(name: str, workdir: Path = REPO) -> Path:
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
    """Read and validate a sweep file (see the module docstring); raises :class:`SweepError`.

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

        nb_path = _notebook_path(str(notebook), workdir)
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
        _, schema, entry_rules = _entry_callable(str(entry), path.parent)
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
        keep = set(_as_list(table.get("rows"))) | set(_as_list(table.get("columns"))) | set(_as_list(table.get("best_by")))
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


def _item_comparison(item: str):
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
        layout = _item_comparison(str(table["item"])).sweep_table
    except KeyError as error:
        raise SweepError(f"{where}: table.item: {error.args[0]}") from None
    except SweepError as error:
        raise SweepError(f"{where}: table.item: {error}") from None
    return {**layout, **table}


def _as_list(value: Any) -> list:
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


# --------------------------------------------------------------------------------------- storage


def default_storage(sweep: Sweep) -> str:
    """The journal file next to the sweep's output folder."""
    return str(sweep.out.with_name(sweep.out.name + ".optuna.journal"))


def _redact(url: str) -> str:
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _is_url(spec: str) -> bool:
    return "://" in spec and not spec.startswith("journal:")


@dataclasses.dataclass
class Store:
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
            raise SweepError(f"cannot reach the study storage {_redact(spec)}: {first}") from None
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
    import optuna

    if not create:
        try:
            return optuna.load_study(study_name=sweep.study_name, storage=store.storage)
        except KeyError:
            raise SweepError(f"no study {sweep.study_name!r} in {_redact(store.spec)} (run `cxrlib sweep run` first)") from None
    sampler = None
    if sweep.search is not None:
        seed = sweep.search.get("seed", 0)
        sampler = (optuna.samplers.RandomSampler(seed=seed) if sweep.search.get("sampler") == "random"
                   else optuna.samplers.TPESampler(seed=seed))
    return optuna.create_study(study_name=sweep.study_name, storage=store.storage, direction=sweep.direction,
                               sampler=sampler, load_if_exists=True)


# ----------------------------------------------------------------------------- queue and workers


def _timestamp(trial) -> float | None:
    beat = trial.user_attrs.get(HEARTBEAT_ATTR)
    if beat is not None:
        return float(beat)
    start = trial.datetime_start
    if start is None:
        return None
    return start.timestamp() if start.tzinfo else time.mktime(start.timetuple()) + start.microsecond / 1e6


def fail_stale(study, sweep: Sweep, now: float | None = None) -> list[int]:
    """Mark RUNNING trials whose heartbeat is older than ``grace`` as failed (their worker died)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = _timestamp(trial)
        if last is None or now - last <= sweep.grace:
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, ERROR_ATTR,
                                               f"no heartbeat for {now - last:.0f} s (worker killed?)")
            if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
        except (UpdateFinishedTrialError, RuntimeError):
            continue
    return failed


def _by_key(trials) -> dict[str, list]:
    out: dict[str, list] = {}
    for trial in trials:
        key = trial.user_attrs.get(KEY_ATTR)
        if key is not None:
            out.setdefault(key, []).append(trial)
    return out


def _optuna_params(point: Mapping[str, Any]) -> dict[str, Any]:
    """The point as Optuna parameters (scalars; other values as JSON text), for Optuna's own views."""
    return {k: (v if v is None or isinstance(v, (bool, int, float, str)) else json.dumps(v, sort_keys=True))
            for k, v in point.items()}


def reconcile(study, sweep: Sweep, store: Store) -> dict[str, int]:
    """Under the sweep lock: fail stale trials, then enqueue every grid point that has no waiting,
    running or finished trial (a point whose trials all failed: again, up to ``max_retries``)."""
    from optuna.trial import TrialState

    with store.lock(sweep.study_name):
        stale = fail_stale(study, sweep)
        if sweep.search is not None:
            return {"stale": len(stale), "enqueued": 0}
        by_key = _by_key(study.get_trials(deepcopy=False))
        enqueued = 0
        for key, point in sweep.points():
            trials = by_key.get(key, [])
            if any(t.state in (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE) for t in trials):
                continue
            failures = sum(t.state == TrialState.FAIL for t in trials)
            if trials and failures > sweep.max_retries:
                continue
            study.enqueue_trial(_optuna_params(point), user_attrs={
                KEY_ATTR: key, POINT_ATTR: json.dumps(point, sort_keys=False, default=str), ATTEMPT_ATTR: failures + 1})
            enqueued += 1
        return {"stale": len(stale), "enqueued": enqueued}


class _Heartbeat:
    def __init__(self, storage, trial_id: int, every: float):
        self.storage, self.trial_id, self.every = storage, trial_id, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self.storage.set_trial_user_attr(self.trial_id, HEARTBEAT_ATTR, time.time())
            except Exception:  # noqa: BLE001 (a finished trial, a storage hiccup: the next beat retries)
                pass

    def __enter__(self):
        self.storage.set_trial_user_attr(self.trial_id, HEARTBEAT_ATTR, time.time())
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


def _lookup(mapping: Any, dotted: str) -> Any:
    value = mapping
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(dotted)
    return value


def read_field(run_dir: Path, field: str, metrics: dict | None = None) -> Any:
    """A value of a finished run folder: a dotted path in ``metrics.json`` (``test.macro_auroc``), or
    ``history:<column>`` (``metrics.csv`` at the best epoch)."""
    if metrics is None:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    if field.startswith("history:"):
        import pandas as pd

        history = pd.read_csv(run_dir / "metrics.csv")
        column = field.split(":", 1)[1]
        best = metrics.get("best_epoch")
        row = history[history["epoch"] == best] if best is not None else history.loc[[history["val_loss"].idxmin()]]
        return float(row[column].iloc[0]) if len(row) else float("nan")
    return _lookup(metrics, field)


def run_finished(sweep: Sweep, run_dir: Path) -> bool:
    """Whether a run folder already holds a finished run (never re-trained)."""
    if sweep.notebook:
        return (run_dir / "COMPLETE.json").exists() and (not sweep.metric or (run_dir / "metrics.json").exists())
    return (run_dir / "metrics.json").exists()


PARAMS_RECORDS = "_params"
"""Folder of the sweep's output folder holding ``<key>.json``: the parameters each run folder was run with."""


def _params_record(run_dir: Path) -> Path:
    return run_dir.parent / PARAMS_RECORDS / f"{run_dir.name}.json"


def _recorded_form(sweep: Sweep, point: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """The trial's full parameters as recorded (JSON values; paths in them unresolved; no ``out_dir``)."""
    params = sweep.trial_params(point, run_dir, resolve=False)
    params.pop("out_dir", None)
    return json.loads(json.dumps(params, sort_keys=True, default=str))


def check_reused_run(sweep: Sweep, point: Mapping[str, Any], run_dir: Path) -> None:
    """Raise :class:`SweepError` unless the finished run in ``run_dir`` was run with this trial's full
    parameters (recorded by :func:`execute_point`): a folder of another study with the same ``out:``, or one
    that no sweep recorded, is never reported as this trial."""
    want = _recorded_form(sweep, point, run_dir)
    try:
        have = json.loads(_params_record(run_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        have = None
    if have == want:
        return
    if not isinstance(have, dict):
        detail = f"no record of the parameters it was run with ({_params_record(run_dir)})"
    else:
        differing = sorted(k for k in set(have) | set(want) if (k in have, have.get(k)) != (k in want, want.get(k)))
        shown = [f"{k}: {repr(have[k]) if k in have else 'not set'} there, {repr(want[k]) if k in want else 'not set'} now"
                 for k in differing[:4]]
        detail = "other parameters (" + "; ".join(shown) + ("; ..." if len(differing) > 4 else "") + ")"
    raise SweepError(f"run folder {run_dir} holds a finished run with {detail}: it is not this trial's run; "
                     "delete the folder or give the sweep another `out:`")


def execute_point(sweep: Sweep, point: Mapping[str, Any], run_dir: Path) -> None:
    """Run one grid point into ``run_dir`` (papermill or the entry function); its full parameters are
    recorded first (:func:`check_reused_run` reads them)."""
    params = sweep.trial_params(point, run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    record = _params_record(run_dir)
    record.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(record, json.dumps(_recorded_form(sweep, point, run_dir), indent=1, sort_keys=True))
    if sweep.notebook:
        from cxrlib.core.notebooks import execute_notebook

        logs = sweep.out / "_notebooks"
        logs.mkdir(parents=True, exist_ok=True)
        execute_notebook(_notebook_path(sweep.notebook, sweep.workdir), logs / f"{run_dir.name}.ipynb", params,
                         sweep.workdir, kernel=sweep.kernel)
    else:
        call = _entry_callable(sweep.entry, sweep.path.parent)[0]
        call(params)


def _objective_value(sweep: Sweep, run_dir: Path) -> float:
    if not sweep.metric:
        return 0.0
    value = read_field(run_dir, sweep.metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(float(value)):
        raise ValueError(f"metric {sweep.metric!r} of {run_dir} is {value!r}, not a finite number")
    return float(value)


def _run_trial(study, sweep: Sweep, trial_id: int, worker: str, log) -> str:
    """Run a claimed (RUNNING) trial to its end; returns its final state's name."""
    import optuna
    from optuna.trial import TrialState

    trial = optuna.Trial(study, trial_id)
    frozen = study._storage.get_trial(trial_id)
    key = frozen.user_attrs.get(KEY_ATTR)
    with _Heartbeat(study._storage, trial_id, sweep.heartbeat):
        study._storage.set_trial_user_attr(trial_id, WORKER_ATTR, worker)
        if key is None:  # a search-space trial: the sampler proposes the point
            point = _suggest(trial, sweep.search["space"])
            key = trial_key(point)
            study._storage.set_trial_user_attr(trial_id, KEY_ATTR, key)
            study._storage.set_trial_user_attr(trial_id, POINT_ATTR, json.dumps(point, default=str))
        else:
            point = json.loads(frozen.user_attrs[POINT_ATTR])
            choices = sweep.axis_choices()
            for name, value in _optuna_params(point).items():
                try:  # for Optuna's own views only (the point itself is in the user attributes)
                    trial.suggest_categorical(name, choices.get(name, [value]))
                except ValueError:  # the grid changed since earlier trials of this study
                    pass
            done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                    if t.user_attrs.get(KEY_ATTR) == key]
            if done:
                study._storage.set_trial_user_attr(trial_id, NOTE_ATTR, f"duplicate of trial {done[0].number}")
                study.tell(trial, state=TrialState.PRUNED)
                log(f"trial {frozen.number} {key}: already done (trial {done[0].number}), skipped")
                return "PRUNED"
        run_dir = sweep.run_dir(key)
        study._storage.set_trial_user_attr(trial_id, "run_dir", str(run_dir))
        started = time.time()
        try:
            if run_finished(sweep, run_dir):
                check_reused_run(sweep, point, run_dir)
                study._storage.set_trial_user_attr(trial_id, NOTE_ATTR, "run folder already finished: read, not re-run")
                log(f"trial {frozen.number} {key}: run folder already finished, reading it")
            else:
                log(f"trial {frozen.number} {key}: running -> {run_dir}")
                execute_point(sweep, point, run_dir)
            value = _objective_value(sweep, run_dir)
        except Exception as error:  # noqa: BLE001 (any failure of a trial: record it, the sweep goes on)
            message = f"{type(error).__name__}: {str(error).strip()[:800]}"
            study._storage.set_trial_user_attr(trial_id, ERROR_ATTR, message)
            study.tell(trial, state=TrialState.FAIL)
            log(f"trial {frozen.number} {key}: FAILED ({message.splitlines()[0] if message else ''})")
            return "FAIL"
        study.tell(trial, value)
        log(f"trial {frozen.number} {key}: done in {time.time() - started:.1f} s, {sweep.metric or 'value'} = {value:g}")
        return "COMPLETE"


def _suggest(trial, space: Mapping[str, Any]) -> dict[str, Any]:
    point = {}
    for name, dist in space.items():
        if isinstance(dist, list):
            point[name] = trial.suggest_categorical(name, dist)
        elif isinstance(dist, dict) and isinstance(dist.get("low"), int) and isinstance(dist.get("high"), int) \
                and not dist.get("float"):
            point[name] = trial.suggest_int(name, dist["low"], dist["high"], log=bool(dist.get("log")))
        elif isinstance(dist, dict):
            point[name] = trial.suggest_float(name, float(dist["low"]), float(dist["high"]), log=bool(dist.get("log")))
        else:
            raise SweepError(f"search space {name!r}: a list of choices or {{low, high, log}}; got {dist!r}")
    return point


def work(sweep: Sweep, store: Store, *, limit: int | None = None, worker: str | None = None, log=None) -> dict[str, int]:
    """One worker: claim waiting trials until none is left (waiting while other workers' trials run, so
    a killed one is picked up), or ``limit`` trials were run. Returns counts by final state."""
    from optuna.trial import TrialState

    worker = worker or f"{os.uname().nodename}:{os.getpid()}"
    log = log or (lambda message: print(f"[sweep {worker}] {message}", flush=True))
    study = open_study(store, sweep)
    counts = {"COMPLETE": 0, "FAIL": 0, "PRUNED": 0}
    reconcile(study, sweep, store)
    while limit is None or sum(counts.values()) < limit:
        if sweep.search is not None:
            with store.lock(sweep.study_name):
                fail_stale(study, sweep)
                trials = study.get_trials(deepcopy=False)
                started = sum(t.state in (TrialState.RUNNING, TrialState.COMPLETE) for t in trials)
                if started >= sweep.search["n_trials"]:
                    if not any(t.state == TrialState.RUNNING for t in trials):
                        break
                    trial_id = None
                else:
                    trial_id = study.ask()._trial_id
        else:
            trial_id = study._pop_waiting_trial_id()
            if trial_id is None:
                status = reconcile(study, sweep, store)
                if status["enqueued"]:
                    continue
                if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
                    break
        if trial_id is None:
            time.sleep(sweep.poll)
            continue
        counts[_run_trial(study, sweep, trial_id, worker, log)] += 1
    return counts


# ------------------------------------------------------------------------------------ status, table


STATE_WORDS = {"COMPLETE": "done", "RUNNING": "running", "FAIL": "failed", "WAITING": "waiting", "PRUNED": "duplicate"}


def status_frame(study, sweep: Sweep):
    """One row per grid point (or search trial): state (done / running / failed / waiting / not enqueued),
    attempts, value, trial number, seconds, worker, run folder, the last error."""
    import pandas as pd

    by_key = _by_key(study.get_trials(deepcopy=False))
    keys = [k for k, _ in sweep.points()] if sweep.search is None else list(by_key)
    now, rows = time.time(), []
    order = {"COMPLETE": 4, "RUNNING": 3, "WAITING": 2, "FAIL": 1, "PRUNED": 0}
    for key in keys:
        trials = by_key.get(key, [])
        if not trials:
            rows.append({"key": key, "state": "not enqueued", "attempts": 0})
            continue
        last = max(trials, key=lambda t: (order[t.state.name], t.number))
        state = STATE_WORDS[last.state.name]
        if state == "running" and (beat := _timestamp(last)) is not None and now - beat > sweep.grace:
            state = "running (stale)"
        seconds = (last.datetime_complete - last.datetime_start).total_seconds() \
            if last.datetime_complete and last.datetime_start else None
        rows.append({"key": key, "state": state, "attempts": sum(t.state.name != "PRUNED" for t in trials),
                     "value": last.value, "trial": last.number, "seconds": seconds,
                     "worker": last.user_attrs.get(WORKER_ATTR), "run_dir": last.user_attrs.get("run_dir"),
                     "error": None if last.state.name == "COMPLETE" else last.user_attrs.get(ERROR_ATTR)})
    return pd.DataFrame(rows, columns=["key", "state", "attempts", "value", "trial", "seconds", "worker", "run_dir", "error"])


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    out = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        if prefix:
            out[prefix[:-1]] = value
    else:
        out[prefix[:-1]] = value
    return out


def finished_trials(study, sweep: Sweep) -> list[tuple[str, dict, Path, float]]:
    """(key, point, run folder, value) of every finished grid point (one trial per key)."""
    from optuna.trial import TrialState

    out, seen = [], set()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = trial.user_attrs.get(KEY_ATTR)
        if key is None or key in seen:
            continue
        seen.add(key)
        out.append((key, json.loads(trial.user_attrs[POINT_ATTR]), sweep.run_dir(key), trial.value))
    return out


def _bootstrap(run_dir: Path, metrics: dict, spec: Mapping[str, Any], seed: int = 0):
    import pandas as pd

    from cxrlib.stats import bootstrap_auroc

    predictions = pd.read_csv(run_dir / spec.get("predictions", "predictions_test.csv"))
    labels = list(metrics.get("label_columns") or [])
    if metrics.get("kind") == "binary" and metrics.get("positive_class"):
        labels = [metrics["positive_class"]]
    probs = [f"prob_{c}" for c in labels]
    groups = predictions["patient_id"].to_numpy() if "patient_id" in predictions else None
    result = bootstrap_auroc(predictions[labels].to_numpy(), predictions[probs].to_numpy(), labels,
                             n_boot=int(spec.get("n_boot", 1000)), seed=seed, groups=groups, averages=("macro",))
    return result.table.set_index("label")


def _check_fields(fields: list[str], found: Mapping[str, int], frame, sweep: Sweep) -> None:
    """A table field that no finished trial has (a misspelt ``values:`` or ``explode:`` field) is an error
    naming it and the fields the trials have, not a column of NaN."""
    import pandas as pd

    missing = [field for field in dict.fromkeys(fields) if not found.get(field)]
    if not missing:
        return
    have = sorted({key for metrics in frame["_metrics"] for key in _flatten(metrics)})
    history = next((run / "metrics.csv" for run in frame["_run_dir"] if (run / "metrics.csv").exists()), None)
    if history is not None:
        have += [f"history:{column}" for column in pd.read_csv(history, nrows=0).columns]
    raise SweepError(f"sweep {sweep.study_name}: table field(s) {missing} are in none of the {len(frame)} finished "
                     f"trials (misspelt?); the trials have: {', '.join(have)}")


def sweep_table(study, sweep: Sweep, *, n_boot: int | None = None):
    """(ours, published or None, note): the document's table from the finished trials (see the module
    docstring's ``table:``), with bootstrap CIs where the run folders have predictions."""
    import pandas as pd

    spec = sweep.table
    trials = finished_trials(study, sweep)
    if not trials:
        raise SweepError(f"sweep {sweep.study_name}: no finished trial yet (see `cxrlib sweep status`)")
    records = []
    for key, point, run_dir, value in trials:
        tags = {k.lstrip("_"): (_fmt(v) if isinstance(v, (list, dict)) else v) for k, v in point.items()}
        metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
        records.append({"_key": key, "_run_dir": run_dir, "_metrics": metrics, "_value": value, **tags})
    frame = pd.DataFrame(records)
    best_by = _as_list(spec.get("best_by"))
    if best_by:
        ascending = sweep.direction == "minimize"
        frame = frame.sort_values("_value", ascending=ascending, kind="stable").groupby(best_by, sort=False).head(1)

    source = spec.get("records", "metrics")
    values = spec.get("values") or ({sweep.metric: sweep.metric} if sweep.metric else {})
    if isinstance(values, str):
        values = {values: values}
    explode = spec.get("explode")
    rows_out = []
    found: dict[str, int] = {}  # field -> records that have it (a field no trial has is misspelt)
    for record in frame.to_dict(orient="records"):
        base = {k: v for k, v in record.items() if not k.startswith("_")}
        base["trial_key"] = record["_key"]
        if source != "metrics":
            table = pd.read_csv(record["_run_dir"] / source)
            for row in table.to_dict(orient="records"):
                rows_out.append({**row, **base, "_record": record})
            continue
        flat = _flatten(record["_metrics"])
        fields = {}
        for name, field in values.items():
            try:
                fields[name] = read_field(record["_run_dir"], field, record["_metrics"]) if field.startswith("history:") \
                    else flat[field]
                found[field] = found.get(field, 0) + 1
            except (OSError, KeyError, ValueError):
                fields[name] = float("nan")
        if explode:
            found[explode["field"]] = found.get(explode["field"], 0) + (explode["field"] in flat)
            mapping = flat.get(explode["field"]) or {}
            for label, v in mapping.items():
                rows_out.append({**base, explode.get("name", "label"): label, explode.get("value", "value"): v,
                                 **{n: f for n, f in fields.items() if not isinstance(f, dict)}, "_record": record})
        else:
            rows_out.append({**base, **fields, "_record": record})
    if source == "metrics":
        _check_fields([*values.values(), *([explode["field"]] if explode else [])], found, frame, sweep)
    long = pd.DataFrame(rows_out)

    ci = spec.get("ci")
    if ci and source == "metrics":
        column = ci["column"]
        ci_spec = {**ci, **({"n_boot": n_boot} if n_boot else {})}
        cache: dict[str, Any] = {}
        lows, highs = [], []
        for row in long.to_dict(orient="records"):
            record = row["_record"]
            try:
                if record["_key"] not in cache:
                    cache[record["_key"]] = _bootstrap(record["_run_dir"], record["_metrics"], ci_spec)
                table = cache[record["_key"]]
                label = row.get(explode.get("name", "label")) if explode else None
                if label is None:
                    label = "macro" if "macro" in table.index and len(table) > 2 else table.index[0]
                lows.append(float(table.loc[label, "ci_low"]))
                highs.append(float(table.loc[label, "ci_high"]))
            except (OSError, KeyError, ValueError):
                lows.append(float("nan"))
                highs.append(float("nan"))
        at = list(long.columns).index(column) + 1 if column in long.columns else len(long.columns)
        long.insert(at, f"{column} CI low", lows)
        long.insert(at + 1, f"{column} CI high", highs)
    long = long.drop(columns=["_record"], errors="ignore")

    rows = _as_list(spec.get("rows"))
    columns = spec.get("columns")
    if columns:
        cell = next(iter(values)) if source == "metrics" and not explode else spec.get("cell") or next(iter(values))
        if explode and source == "metrics":
            cell = explode.get("value", "value")
        ours = long.pivot_table(index=rows, columns=columns, values=cell, aggfunc="first")
        ours.columns = [str(c) for c in ours.columns]
        ours = ours.reset_index()
    else:
        ours = long[list(dict.fromkeys(rows + [c for c in long.columns if c != "trial_key"] + ["trial_key"]))]
        if rows:
            ours = ours.sort_values(rows, kind="stable")
        ours = ours.reset_index(drop=True)
    published, note = _published(spec.get("item"))
    return ours, published, note


def _published(item: str | None):
    """The published table of the table's registry ``item`` in our layout (key and value columns named as
    ours), and a note (its citation); (None, "") without an item."""
    if not item:
        return None, ""
    from cxrlib import published

    comparison = _item_comparison(item)
    return comparison.theirs(), f"{comparison.published}: {published.load(comparison.published).citation.strip()}"


def combined(ours, published, rows: list[str]):
    """Ours beside the published values (:func:`cxrlib.published.align.beside`, no differences), joined on
    the row fields as text (a trailing "*", the document's mark of its best row, dropped), sorted by them."""
    if published is None or not rows or not set(rows) <= set(published.columns):
        return ours
    from cxrlib.published import align

    left, right = ours.copy(), published.copy()
    for frame in (left, right):
        for row in rows:
            frame[row] = frame[row].map(lambda v: _fmt(v).rstrip("*") if not isinstance(v, str) else v.rstrip("*"))
    both = align.beside(right, left, keys=rows, values=[c for c in right.columns if c not in rows], difference_name=None)
    return both.sort_values(rows, kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="sweep_command", required=True)
    run = commands.add_parser("run", help="enqueue the grid and run trials (N local workers, or join a study)")
    status = commands.add_parser("status", help="a table of the trials: done / running / failed / waiting")
    table = commands.add_parser("table", help="the document's table from the finished trials, beside the published one")
    worker = commands.add_parser("worker", help="one worker (what `run --workers N` starts in each process)")
    for sub in (run, status, table, worker):
        sub.add_argument("sweep_file", help="a sweep file (params/sweeps/*.yaml)")
        sub.add_argument("--storage", default=None, help="study storage: a journal file (default: "
                         "<out>.optuna.journal) or a database URL (postgresql://user@host:5432/db)")
        sub.add_argument("--smoke", action="store_true", help="tiny sizes, first value of the non-table axes; "
                         "its own study and output folder")
        sub.add_argument("--out", default=None, help="the sweep's output folder (default: `out:` of the file)")
    for sub in (run, worker):
        sub.add_argument("--limit", type=int, default=None, help="run at most K trials (in all, over the workers); 0: check and enqueue only")
    run.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    worker.add_argument("--name", default=None)
    table.add_argument("--n-boot", type=int, default=None, help="bootstrap redraws (default: the file's, or 1000)")
    table.add_argument("--csv", default=None, help="also write the table here (default: <out>/sweep_table.csv)")
    parser.set_defaults(handler=run_cli)


def _split(limit: int | None, workers: int) -> list[int | None]:
    if limit is None:
        return [None] * workers
    return [limit // workers + (i < limit % workers) for i in range(workers)]


def run_cli(args: argparse.Namespace) -> int:
    try:
        return _run_cli(args)
    except SweepError as error:
        print(f"cxrlib sweep: error: {error}", file=sys.stderr)
        return 2


def _run_cli(args: argparse.Namespace) -> int:
    command = args.sweep_command
    sweep = load_sweep(args.sweep_file, smoke=args.smoke, out=args.out, check_values=(command == "run"))
    store = open_storage(args.storage, sweep)
    if command in ("run", "worker"):
        if command == "run":
            workers = max(1, int(args.workers))
            if args.limit is not None and args.limit < 0:
                raise SweepError("--limit must be >= 0 (0: check the file and enqueue the grid, run nothing)")
            study = open_study(store, sweep)
            added = reconcile(study, sweep, store)
            total = len(sweep.points()) if sweep.search is None else sweep.search["n_trials"]
            print(f"sweep {sweep.study_name}: {total} trials, storage {_redact(store.spec)}, out {sweep.out}; "
                  f"enqueued {added['enqueued']} now, {added['stale']} stale trials failed; {workers} worker(s)",
                  flush=True)
            if args.limit == 0:
                return 0
            if workers > 1:
                return _spawn_workers(args, store, workers)
        counts = work(sweep, store, limit=args.limit, worker=getattr(args, "name", None))
        print(f"sweep {sweep.study_name}: this worker ran {counts['COMPLETE']} done, {counts['FAIL']} failed, "
              f"{counts['PRUNED']} skipped as duplicates", flush=True)
        return 0 if counts["FAIL"] == 0 else 1
    import pandas as pd

    study = open_study(store, sweep, create=False)
    if command == "status":
        frame = status_frame(study, sweep)
        counts = frame["state"].value_counts()
        print(f"sweep {sweep.study_name} ({_redact(store.spec)}): " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        shown = frame.drop(columns=["run_dir"]).fillna("")
        with pd.option_context("display.max_rows", 500, "display.width", 200, "display.max_colwidth", 60):
            print(shown.to_string(index=False))
        return 0
    ours, published, note = sweep_table(study, sweep, n_boot=args.n_boot)
    rows = _as_list(sweep.table.get("rows"))
    both = combined(ours, published, rows)
    target = Path(args.csv) if args.csv else sweep.out / "sweep_table.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    both.to_csv(target, index=False)
    with pd.option_context("display.max_rows", 500, "display.width", 250, "display.float_format", "{:.3f}".format):
        title = sweep.table.get("title") or sweep.study_name
        print(f"{title}: ours ({len(finished_trials(study, sweep))} finished trials)")
        print(both.to_string(index=False))
        if published is not None and both is ours:
            print("published:")
            print(published.to_string(index=False))
    if note:
        print(note)
    print(f"written: {target}")
    return 0


def _spawn_workers(args: argparse.Namespace, store: Store, workers: int) -> int:
    procs = []
    for i, limit in enumerate(_split(args.limit, workers)):
        if limit == 0:
            continue
        cmd = [sys.executable, "-m", "cxrlib.training.sweeps", "worker", str(args.sweep_file), "--storage", store.spec,
               "--name", f"{os.uname().nodename}:w{i}"]
        if args.smoke:
            cmd.append("--smoke")
        if args.out:
            cmd += ["--out", str(args.out)]
        if limit is not None:
            cmd += ["--limit", str(limit)]
        procs.append(subprocess.Popen(cmd))
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGINT)
        codes = [p.wait() for p in procs]
    return max(codes) if codes else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cxrlib sweep", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
