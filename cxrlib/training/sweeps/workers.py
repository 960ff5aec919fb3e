"""The queue and its workers: every grid point enqueued once, claimed by one worker, run into its folder.

:func:`reconcile` (under the sweep's lock) fails the trials of dead workers (:func:`fail_stale`: no
heartbeat for ``grace`` seconds) and enqueues every grid point that has no waiting, running or finished
trial; :func:`work` is one worker: it claims waiting trials (or asks the sampler, for a search space),
beats its heartbeat while a trial runs, and runs the point (:func:`execute_point`: papermill or the entry
function) or reads a run folder that already holds this trial's finished run (:func:`check_reused_run`).
The trial's user attributes (``*_ATTR``) carry its key, point, attempt, heartbeat, worker and error.

No torch at import; Optuna, papermill and the entry module are imported when needed.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxrlib.core.io import write_text_atomic
from cxrlib.training.sweeps.storage import Store, open_study
from cxrlib.training.sweeps.sweep_file import (
    Sweep, SweepError, entry_callable, notebook_path, optuna_params, trial_key,
)


# The Optuna user attributes a sweep trial carries:
#: the trial's grid key (:func:`trial_key`)
KEY_ATTR = "sweep_key"
#: the grid point it runs (JSON)
POINT_ATTR = "sweep_point"
#: which attempt of the point it is (a failed or stale trial is retried up to ``max_retries``)
ATTEMPT_ATTR = "sweep_attempt"
#: the last heartbeat (epoch seconds) of the worker running it
HEARTBEAT_ATTR = "sweep_heartbeat"
#: the worker running it
WORKER_ATTR = "sweep_worker"
#: the error of a failed attempt
ERROR_ATTR = "sweep_error"
#: a note (a duplicate of another trial, or a finished run folder read instead of run again)
NOTE_ATTR = "sweep_note"


def trial_timestamp(trial) -> float | None:
    """The time of a trial's last heartbeat, else of its start (None: not started)."""
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
        last = trial_timestamp(trial)
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


def trials_by_key(trials) -> dict[str, list]:
    """Trials by their grid point's key (trials without a key left out)."""
    out: dict[str, list] = {}
    for trial in trials:
        key = trial.user_attrs.get(KEY_ATTR)
        if key is not None:
            out.setdefault(key, []).append(trial)
    return out


def reconcile(study, sweep: Sweep, store: Store) -> dict[str, int]:
    """Under the sweep lock: fail stale trials, then enqueue every grid point that has no waiting,
    running or finished trial (a point whose trials all failed: again, up to ``max_retries``)."""
    from optuna.trial import TrialState

    with store.lock(sweep.study_name):
        stale = fail_stale(study, sweep)
        if sweep.search is not None:
            return {"stale": len(stale), "enqueued": 0}
        by_key = trials_by_key(study.get_trials(deepcopy=False))
        enqueued = 0
        for key, point in sweep.points():
            trials = by_key.get(key, [])
            if any(t.state in (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE) for t in trials):
                continue
            failures = sum(t.state == TrialState.FAIL for t in trials)
            if trials and failures > sweep.max_retries:
                continue
            study.enqueue_trial(optuna_params(point), user_attrs={
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
        execute_notebook(notebook_path(sweep.notebook, sweep.workdir), logs / f"{run_dir.name}.ipynb", params,
                         sweep.workdir, kernel=sweep.kernel)
    else:
        call = entry_callable(sweep.entry, sweep.path.parent)[0]
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
            for name, value in optuna_params(point).items():
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
