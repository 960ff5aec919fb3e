"""Sweeps on Optuna (cxrlib.training.sweeps): exactly-once grids with several workers on PostgreSQL and on
the default journal file, a killed worker's trial completed by another, bad sweep files and storages
refused before any trial starts, status and table. Trials are ``tests/sweep_fixtures.cheap_trial``."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sweep_fixtures import executions, start_postgres, stop_postgres

from cxrlib.training import sweeps

REPO = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).resolve().parent / "sweep_fixtures.py"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
FAST = {"heartbeat": 0.3, "grace": 2.5, "poll": 0.3, "max_retries": 2}


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL server on 127.0.0.1 for the session (scripts/postgres.sh installs it when missing)."""
    status, url, folder = start_postgres()
    try:
        if status == 3:
            assert os.environ.get("CI") != "true", f"CI must have PostgreSQL (scripts/test.sh installs it): {url}"
            pytest.skip(f"PostgreSQL is not installed and apt-get could not install it: {url}")
        assert status == 0, f"scripts/postgres.sh start failed: {url}"
        yield url
    finally:
        stop_postgres(folder)


def write_sweep(tmp_path: Path, grid, name: str = "cheap", **extra) -> Path:
    spec = {"name": name, "entry": f"{HELPER}:cheap_trial", "params": {"sleep": 0.3}, "grid": grid,
            "out": str(tmp_path / "sweep"), "select": {"metric": "best_val_loss", "direction": "minimize"},
            **FAST, **extra}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cxrlib.cli", "sweep", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def study_trials(path: Path, storage: str | None):
    sweep = sweeps.load_sweep(path)
    store = sweeps.open_storage(storage, sweep)
    return sweeps.open_study(store, sweep, create=False).get_trials(deepcopy=False)


def assert_each_point_once(path: Path, storage: str | None, n_points: int) -> list:
    trials = study_trials(path, storage)
    done = Counter(t.user_attrs["sweep_key"] for t in trials if t.state.name == "COMPLETE")
    assert len(done) == n_points and set(done.values()) == {1}, done
    ends = Counter(key for key, event in executions(path.parent / "sweep") if event == "end")
    assert len(ends) == n_points and set(ends.values()) == {1}, f"a grid point ran twice or never: {ends}"
    return trials


# ------------------------------------------------------------------------------ engine, PostgreSQL


@pytest.mark.slow
def test_three_workers_on_postgres_run_every_point_exactly_once(tmp_path, postgres_url):
    path = write_sweep(tmp_path, {"x": [0, 1, 2], "lr": [0.1, 0.01, 0.001]}, name="three")
    result = cli("run", str(path), "--workers", "3", "--storage", postgres_url)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = assert_each_point_once(path, postgres_url, 9)
    assert len(trials) == 9, f"no duplicate or stray trials: {len(trials)}"
    workers = {t.user_attrs["sweep_worker"] for t in trials}
    assert len(workers) >= 2, f"the trials were shared between workers: {workers}"
    # a re-run finds everything done: it enqueues and runs nothing
    again = cli("run", str(path), "--storage", postgres_url)
    assert again.returncode == 0, again.stderr
    assert len(study_trials(path, postgres_url)) == 9
    assert Counter(e for _, e in executions(tmp_path / "sweep"))["end"] == 9


@pytest.mark.slow
def test_a_killed_workers_trial_is_completed_by_another(tmp_path, postgres_url):
    path = write_sweep(tmp_path, {"x": [0, 1, 2]}, name="killed")
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "hang-once").write_text("")  # the first trial to start hangs for 120 s
    first = subprocess.Popen([sys.executable, "-m", "cxrlib.training.sweeps", "worker", str(path), "--storage",
                              postgres_url, "--name", "doomed"], cwd=REPO, env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while not any(e == "hang" for _, e in executions(tmp_path / "sweep")):
            assert time.time() < deadline and first.poll() is None, "the first worker never started a trial"
            time.sleep(0.2)
        time.sleep(0.5)  # a heartbeat or two
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    hung = next(key for key, e in executions(tmp_path / "sweep") if e == "hang")
    result = cli("run", str(path), "--storage", postgres_url)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = study_trials(path, postgres_url)
    states = Counter((t.user_attrs["sweep_key"], t.state.name) for t in trials)
    assert states[(hung, "FAIL")] == 1 and states[(hung, "COMPLETE")] == 1, states
    failed = next(t for t in trials if t.state.name == "FAIL")
    assert failed.user_attrs["sweep_worker"] == "doomed" and "heartbeat" in failed.user_attrs["sweep_error"]
    assert all(states[(k, "COMPLETE")] == 1 for k, _ in sweeps.load_sweep(path).points())
    status = cli("status", str(path), "--storage", postgres_url)
    assert status.returncode == 0 and "3 done" in status.stdout, status.stdout + status.stderr


# ------------------------------------------------------------------------- engine, journal default


def test_journal_file_default_with_two_workers_status_and_table(tmp_path):
    table = {"rows": ["x"], "best_by": ["x"], "values": {"Val loss": "best_val_loss", "Test AUC": "test.auroc",
                                                          "Train loss": "history:train_loss"},
             "ci": {"column": "Test AUC", "n_boot": 50}}
    path = write_sweep(tmp_path, {"x": [0, 1, 2], "lr": [0.1, 0.01]}, name="journal", table=table)
    result = cli("run", str(path), "--workers", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    journal = tmp_path / "sweep.optuna.journal"
    assert journal.exists(), "the default storage is a journal file next to the output folder"
    assert_each_point_once(path, None, 6)
    for key, _ in sweeps.load_sweep(path).points():
        assert (tmp_path / "sweep" / key / "metrics.json").exists(), "every trial writes its own run folder"

    status = cli("status", str(path))
    assert status.returncode == 0 and "6 done" in status.stdout, status.stdout + status.stderr
    shown = cli("table", str(path), "--n-boot", "50")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    written = (tmp_path / "sweep" / "sweep_table.csv").read_text().splitlines()
    header = written[0].split(",")
    assert header[:1] == ["x"] and "Test AUC CI low" in header and "Test AUC CI high" in header
    assert len(written) == 1 + 3, "best trial per x"
    assert all(",lr=0.001" not in line for line in written)  # best lr per x is the smallest: 0.01 here
    row = dict(zip(header, written[1].split(",")))
    assert row["lr"] == "0.01" and float(row["Test AUC CI low"]) <= float(row["Test AUC"]) <= float(row["Test AUC CI high"])


def test_enqueue_is_idempotent_and_a_finished_folder_is_not_rerun(tmp_path):
    path = write_sweep(tmp_path, {"x": [0, 1]}, name="idem")
    sweep = sweeps.load_sweep(path)
    store = sweeps.open_storage(None, sweep)
    study = sweeps.open_study(store, sweep)
    assert sweeps.reconcile(study, sweep, store)["enqueued"] == 2
    assert sweeps.reconcile(study, sweep, store)["enqueued"] == 0
    key0 = sweeps.trial_key({"x": 0})
    sweeps.execute_point(sweep, {"x": 0}, sweep.run_dir(key0))  # a folder left by an earlier study
    counts = sweeps.work(sweep, store, log=lambda m: None)
    assert counts == {"COMPLETE": 2, "FAIL": 0, "PRUNED": 0}
    assert Counter(k for k, e in executions(sweep.out) if e == "end") == {key0: 1, sweeps.trial_key({"x": 1}): 1}
    assert len(study.get_trials()) == 2


def test_a_failing_point_is_retried_then_left_failed(tmp_path):
    path = write_sweep(tmp_path, {"x": [0], "fail": [True]}, name="failing", max_retries=1)
    sweep = sweeps.load_sweep(path)
    store = sweeps.open_storage(None, sweep)
    counts = sweeps.work(sweep, store, log=lambda m: None)
    assert counts["FAIL"] == 2 and counts["COMPLETE"] == 0  # one try + one retry
    frame = sweeps.status_frame(sweeps.open_study(store, sweep, create=False), sweep)
    assert frame.loc[0, "state"] == "failed" and "on purpose" in frame.loc[0, "error"]


# ----------------------------------------------------------------------------------- bad input


def assert_refused(path: Path, storage: str | None, *words: str) -> None:
    result = cli("run", str(path), *(["--storage", storage] if storage else []), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("cxrlib sweep: error:"), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert not executions(path.parent / "sweep"), "no trial may start"


def test_unknown_parameter_is_refused_before_any_trial(tmp_path):
    path = write_sweep(tmp_path, {"x": [0, 1], "sleeep": [0.1]}, name="unknown")
    assert_refused(path, None, "unknown parameter", "'sleeep'", "did you mean 'sleep'")
    notebook = tmp_path / "nb.yaml"
    notebook.write_text(yaml.safe_dump({"notebook": "03_finetune", "grid": {"epoch": [1, 2]},
                                        "out": str(tmp_path / "sweep")}))
    with pytest.raises(sweeps.SweepError, match=r"unknown parameter.*'epoch'.*did you mean 'epochs'.*parameter cell"):
        sweeps.load_sweep(notebook)


@pytest.mark.parametrize("grid", [{"x": []}, {}, None, []], ids=["empty-axis", "no-axes", "missing", "no-blocks"])
def test_empty_grid_is_refused(tmp_path, grid):
    path = write_sweep(tmp_path, grid, name="empty")
    if grid == {"x": []}:
        assert_refused(path, None, "grid is empty", "'x'")
    else:
        with pytest.raises(sweeps.SweepError, match="grid is empty"):
            sweeps.load_sweep(path)


def test_unreachable_storage_is_refused(tmp_path):
    path = write_sweep(tmp_path, {"x": [0]}, name="unreachable")
    assert_refused(path, "postgresql://127.0.0.1:1/x", "cannot reach the study storage", "127.0.0.1:1")
    with pytest.raises(sweeps.SweepError, match="SQLite"):
        sweeps.open_storage(f"sqlite:///{tmp_path}/s.db", sweeps.load_sweep(path))


# ------------------------------------------------------------------------------- the sweep files


SWEEP_FILES = sorted((REPO / "params" / "sweeps").glob("*.yaml"))


def test_there_are_sweep_files_for_the_documents():
    names = {p.stem for p in SWEEP_FILES}
    assert {f"d000_table{i}" for i in range(2, 7)} <= {n.split("_", 2)[0] + "_" + n.split("_", 2)[1] for n in names}
    assert any(n.startswith("d002_table3") for n in names) and any(n.startswith("d004") for n in names)


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.stem)
def test_sweep_files_load(path):
    sweep = sweeps.load_sweep(path)
    points = sweep.points()
    assert points and len({k for k, _ in points}) == len(points)
    smoke = sweeps.load_sweep(path, smoke=True)
    assert smoke.study_name.endswith("-smoke") and smoke.out.name.endswith("-smoke")
    assert 0 < len(smoke.points()) <= len(points)
    rows = sweeps.as_list(sweep.table.get("rows"))
    assert rows, "every sweep file lays out a table"


@pytest.mark.parametrize("stem, backbone, blocks", [
    ("d000_table2_swav_resnet50", "swav_resnet50", 5), ("d000_table3_dino_vits16", "dino_vits16", 7),
    ("d000_table4_convnextv2_atto", "convnextv2_atto", 7), ("d000_table5_dinov2_vits14", "dinov2_vits14", 7),
    ("d000_table6_chexnet_densenet121", "chexnet_densenet121", 5)])
def test_document_000_grids(stem, backbone, blocks):
    sweep = sweeps.load_sweep(REPO / "params" / "sweeps" / f"{stem}.yaml")
    points = [p for _, p in sweep.points()]
    assert len(points) == blocks * 5 * 6 * 3  # unfrozen blocks x lr x L2 x dropout
    assert sorted({p["unfrozen_blocks"] for p in points}) == list(range(blocks))
    assert sorted({p["lr"] for p in points}) == [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    assert sorted({p["weight_decay"] for p in points}) == [0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    assert sorted({p["dropout"] for p in points}) == [0, 0.2, 0.4]
    assert sweep.metric == "best_val_loss" and sweep.direction == "minimize"
    params = sweep.trial_params(points[0], Path("/tmp/x"))
    assert params["backbone"] == backbone and params["profile"] == "paper"
    smoke = sweeps.load_sweep(REPO / "params" / "sweeps" / f"{stem}.yaml", smoke=True)
    assert len(smoke.points()) == blocks
    tiny = smoke.trial_params(smoke.points()[0][1], Path("/tmp/x"))
    assert tiny["epochs"] == 1 and tiny["image_size"] == 32 and tiny["weights"] == "none"


# ------------------------------------------------------------------------------ tables (no trial runs)


class _Trial:
    def __init__(self, key, point, value):
        self.user_attrs, self.value = {sweeps.KEY_ATTR: key, sweeps.POINT_ATTR: json.dumps(point)}, value


class _Study:
    """The part of an Optuna study that ``sweep_table`` reads: finished trials with their key and point."""

    def __init__(self, trials):
        self.trials = trials

    def get_trials(self, deepcopy=False, states=()):
        return self.trials


def _finished(sweep, metrics_of) -> _Study:
    trials = []
    for key, point in sweep.points():
        run_dir = sweep.run_dir(key)
        run_dir.mkdir(parents=True)
        metrics = metrics_of(point)
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
        trials.append(_Trial(key, point, metrics["best_val_loss"]))
    return _Study(trials)


def test_a_misspelt_table_field_is_refused_naming_the_fields_there_are(tmp_path):
    table = {"rows": ["x"], "best_by": ["x"], "values": {"Val loss": "best_val_loss", "Test AUC": "test.aurc"}}
    sweep = sweeps.load_sweep(write_sweep(tmp_path, {"x": [0, 1], "lr": [0.1, 0.01]}, table=table))
    study = _finished(sweep, lambda p: {"best_val_loss": p["x"] + p["lr"], "test": {"auroc": 0.5 + p["lr"]}})
    with pytest.raises(sweeps.SweepError, match=r"\['test.aurc'\] are in none of the 2 finished trials.*test.auroc"):
        sweeps.sweep_table(study, sweep)
    sweep.table["values"]["Test AUC"] = "test.auroc"  # spelt right: a number in every row
    ours, published, _ = sweeps.sweep_table(study, sweep)
    assert ours["Test AUC"].tolist() == [0.51, 0.51] and published is None


def test_a_table_naming_a_registry_item_takes_its_layout_and_published_table(tmp_path):
    sweep = sweeps.load_sweep(REPO / "params" / "sweeps" / "d000_table2_swav_resnet50.yaml")
    assert sweep.table["item"] == "d000_table2" and sweep.table["rows"] == ["unfrozen_blocks"]
    assert sweep.table["values"]["Test AUC"] == "test.macro_auroc" and sweep.table["title"].startswith("Document 000, Table 2")
    ours = pd.DataFrame({"unfrozen_blocks": [4, 1, 9], "Test AUC": [0.7, 0.6, 0.5], "trial_key": ["k4", "k1", "k9"]})
    published, note = sweeps.results._published("d000_table2")
    assert note.startswith("d000_table2: Elwirehardja")
    both = sweeps.combined(ours, published, ["unfrozen_blocks"])
    assert both["unfrozen_blocks"].tolist() == ["0", "1", "2", "3", "4", "9"]  # as text, sorted, ours and theirs
    assert both.loc[1, "Test AUC (published)"] == 0.681 and math.isnan(both.loc[5, "Test AUC (published)"])
    assert math.isnan(both.loc[0, "Test AUC"]) and "Test AUC (ours - published)" not in both


def test_an_unknown_registry_item_is_refused_on_load(tmp_path):
    path = write_sweep(tmp_path, {"x": [0]}, table={"item": "d000_tabel2"})
    with pytest.raises(sweeps.SweepError, match="did you mean 'd000_table2'"):
        sweeps.load_sweep(path)
    old_style = write_sweep(tmp_path, {"x": [0]}, name="old", table={"rows": ["x"], "published": {"id": "d000_table2"}})
    with pytest.raises(sweeps.SweepError, match=r"unknown table key\(s\) \['published'\]"):
        sweeps.load_sweep(old_style)


def test_trial_keys_are_stable_and_readable():
    assert sweeps.trial_key({"unfrozen_blocks": 3, "lr": 1e-4, "weight_decay": 0, "dropout": 0.2}) == \
        "unfrozen_blocks=3__lr=0.0001__weight_decay=0__dropout=0.2"
    assert sweeps.trial_key({"tasks": ["kermany_pneumonia"], "_model": "B1"}) == "tasks=kermany_pneumonia__model=B1"
    long = sweeps.trial_key({"weights": "x" * 200})
    assert len(long) <= 101 and long == sweeps.trial_key({"weights": "x" * 200})


# ----------------------------------------------------------------- one run folder per point, and its own


def test_two_files_of_one_name_are_two_points(tmp_path):
    files = [tmp_path / "runs" / run / "checkpoints" / "last.ckpt" for run in ("a", "b")]
    path = write_sweep(tmp_path, {"weights": [str(f) for f in files]}, name="samename")
    sweep = sweeps.load_sweep(path)
    keys = [key for key, _ in sweep.points()]
    assert len(keys) == 2 and len(set(keys)) == 2 and all(k.startswith("weights=last__") for k in keys)
    counts = sweeps.work(sweep, sweeps.open_storage(None, sweep), log=lambda m: None)
    assert counts == {"COMPLETE": 2, "FAIL": 0, "PRUNED": 0}
    for (key, point), weights in zip(sweep.points(), files):
        assert json.loads((sweep.run_dir(key) / "metrics.json").read_text())["weights"] == str(weights)
    assert sweeps.trial_key({"lr": 1e-4}) == "lr=0.0001" and sweeps.trial_key({"lr": 1.00001e-4}) != "lr=0.0001"
    assert sweeps.trial_key({"x": "1"}) != sweeps.trial_key({"x": 1})


def test_a_run_folder_of_other_parameters_is_not_reported_as_this_trial(tmp_path):
    first = write_sweep(tmp_path, {"x": [0]}, name="first")
    sweep = sweeps.load_sweep(first)
    assert sweeps.work(sweep, sweeps.open_storage(None, sweep), log=lambda m: None)["COMPLETE"] == 1
    # a new study with the same out: and the same grid, but another fixed parameter
    second = write_sweep(tmp_path, {"x": [0]}, name="second", params={"sleep": 0.3, "lr": 0.5}, max_retries=0)
    other = sweeps.load_sweep(second)
    store = sweeps.open_storage(str(tmp_path / "second.journal"), other)
    assert sweeps.work(other, store, log=lambda m: None) == {"COMPLETE": 0, "FAIL": 1, "PRUNED": 0}
    frame = sweeps.status_frame(sweeps.open_study(store, other, create=False), other)
    assert frame.loc[0, "state"] == "failed"
    assert "other parameters (lr: not set there, 0.5 now)" in frame.loc[0, "error"]
    assert [e for _, e in executions(tmp_path / "sweep")].count("end") == 1  # neither re-run nor misreported
    # the same parameters in a new study: the finished folder is read, not re-run
    third = write_sweep(tmp_path, {"x": [0]}, name="third")
    same = sweeps.load_sweep(third)
    assert sweeps.work(same, sweeps.open_storage(str(tmp_path / "third.journal"), same), log=lambda m: None)["COMPLETE"] == 1
    assert [e for _, e in executions(tmp_path / "sweep")].count("end") == 1


def test_a_grid_value_of_the_wrong_kind_is_refused_on_load(tmp_path):
    path = write_sweep(tmp_path, {"x": [0, 1], "lr": [0.1, "fast"]}, name="wrongkind")
    assert_refused(path, None, "'lr' value 'fast'", "must be a number")
    notebook = tmp_path / "nb.yaml"
    notebook.write_text(yaml.safe_dump({"notebook": "03_finetune", "grid": {"lr": ["fast"], "unfrozen_blocks": [0, "all"]},
                                        "out": str(tmp_path / "sweep")}))
    with pytest.raises(sweeps.SweepError, match=r"'lr' value 'fast' must be a number, got str"):
        sweeps.load_sweep(notebook)


# --------------------------------------------------------------------------------- a damaged journal


def test_a_journal_cut_short_is_repaired_and_the_study_goes_on(tmp_path):
    path = write_sweep(tmp_path, {"x": [0, 1]}, name="cut")
    sweep = sweeps.load_sweep(path)
    sweeps.work(sweep, sweeps.open_storage(None, sweep), log=lambda m: None)
    journal = tmp_path / "sweep.optuna.journal"
    data = journal.read_bytes()
    journal.write_bytes(data[:-7])  # the last record half written (a killed writer, a full disk)
    status = cli("status", str(path))
    assert status.returncode == 0, status.stderr
    path = write_sweep(tmp_path, {"x": [0, 1, 2]}, name="cut")  # one more point: the next run appends
    run = cli("run", str(path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "dropped an unfinished last record" in run.stderr
    status = cli("status", str(path))
    assert status.returncode == 0 and "3 done" in status.stdout, status.stdout + status.stderr
    table = cli("table", str(path), "--n-boot", "20")
    assert table.returncode == 0, table.stdout + table.stderr
    assert all(line.endswith(b"}") for line in journal.read_bytes().split(b"\n")[:-1])


def test_a_garbage_line_in_a_journal_is_named(tmp_path):
    path = write_sweep(tmp_path, {"x": [0]}, name="garbage")
    sweep = sweeps.load_sweep(path)
    sweeps.work(sweep, sweeps.open_storage(None, sweep), log=lambda m: None)
    journal = tmp_path / "sweep.optuna.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:2] + [b"garbage {\n"] + lines[2:]))
    result = cli("status", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"journal {journal}, line 3: not a journal record" in lines[0], result.stderr
