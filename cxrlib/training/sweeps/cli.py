"""Experiment grids as sweeps on Optuna: one machine or a cluster, every trial a normal run folder.

The command line ``cxrlib sweep run | status | table | worker`` (also ``python -m cxrlib.training.sweeps``):
:func:`add_arguments` adds it to a parser, :func:`run_cli` runs a parsed command (a :class:`SweepError` is
one line and exit status 2), ``run --workers N`` starts N worker processes on this machine.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from cxrlib.training.sweeps.results import combined, finished_trials, status_frame, sweep_table
from cxrlib.training.sweeps.storage import Store, open_storage, open_study, redact
from cxrlib.training.sweeps.sweep_file import SweepError, as_list, load_sweep
from cxrlib.training.sweeps.workers import reconcile, work


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-commands run, status, table and worker of ``cxrlib sweep`` on ``parser``."""
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
    """Run a parsed ``cxrlib sweep`` command; its exit status (a :class:`SweepError`: one line, 2)."""
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
            print(f"sweep {sweep.study_name}: {total} trials, storage {redact(store.spec)}, out {sweep.out}; "
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
        print(f"sweep {sweep.study_name} ({redact(store.spec)}): " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        shown = frame.drop(columns=["run_dir"]).fillna("")
        with pd.option_context("display.max_rows", 500, "display.width", 200, "display.max_colwidth", 60):
            print(shown.to_string(index=False))
        return 0
    ours, published, note = sweep_table(study, sweep, n_boot=args.n_boot)
    rows = as_list(sweep.table.get("rows"))
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
    """``cxrlib sweep`` on its own (``python -m cxrlib.training.sweeps``)."""
    parser = argparse.ArgumentParser(prog="cxrlib sweep", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return args.handler(args)
