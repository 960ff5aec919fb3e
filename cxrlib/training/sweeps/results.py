"""What a sweep has done: the status of every grid point and the document's table from the finished trials.

:func:`status_frame` is ``cxrlib sweep status``'s table; :func:`sweep_table` lays out the finished trials as
the sweep file's ``table:`` says (bootstrap CIs from the run folders' predictions) with the published table
of its registry item in our layout; :func:`combined` sets the two beside each other
(:func:`cxrlib.published.align.beside`).

No torch at import; pandas, Optuna and the statistics are imported when needed.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxrlib.training.sweeps.sweep_file import Sweep, SweepError, as_list, format_value, item_comparison
from cxrlib.training.sweeps.workers import (
    ERROR_ATTR, KEY_ATTR, POINT_ATTR, WORKER_ATTR, read_field, trial_timestamp, trials_by_key,
)


#: How the status table words an Optuna trial state.
STATE_WORDS = {"COMPLETE": "done", "RUNNING": "running", "FAIL": "failed", "WAITING": "waiting", "PRUNED": "duplicate"}


def status_frame(study, sweep: Sweep):
    """One row per grid point (or search trial): state (done / running / failed / waiting / not enqueued),
    attempts, value, trial number, seconds, worker, run folder, the last error."""
    import pandas as pd

    by_key = trials_by_key(study.get_trials(deepcopy=False))
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
        if state == "running" and (beat := trial_timestamp(last)) is not None and now - beat > sweep.grace:
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
    """(ours, published or None, note): the document's table from the finished trials (see ``table:`` in
    :mod:`cxrlib.training.sweeps`), with bootstrap CIs where the run folders have predictions."""
    import pandas as pd

    spec = sweep.table
    trials = finished_trials(study, sweep)
    if not trials:
        raise SweepError(f"sweep {sweep.study_name}: no finished trial yet (see `cxrlib sweep status`)")
    records = []
    for key, point, run_dir, value in trials:
        tags = {k.lstrip("_"): (format_value(v) if isinstance(v, (list, dict)) else v) for k, v in point.items()}
        metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
        records.append({"_key": key, "_run_dir": run_dir, "_metrics": metrics, "_value": value, **tags})
    frame = pd.DataFrame(records)
    best_by = as_list(spec.get("best_by"))
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

    rows = as_list(spec.get("rows"))
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

    comparison = item_comparison(item)
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
            frame[row] = frame[row].map(lambda v: format_value(v).rstrip("*") if not isinstance(v, str) else v.rstrip("*"))
    both = align.beside(right, left, keys=rows, values=[c for c in right.columns if c not in rows], difference_name=None)
    return both.sort_values(rows, kind="stable").reset_index(drop=True)
