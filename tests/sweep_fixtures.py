"""Fixtures of tests/test_sweeps.py: a throw-away PostgreSQL server and a cheap trial function.

:func:`start_postgres` starts a server on a free loopback port in a temporary folder with
``scripts/postgres.sh`` (which installs Debian's ``postgresql`` with apt-get when it is missing);
the session fixture ``postgres_url`` of tests/test_sweeps.py wraps it. No pytest import here: worker
processes load this file as a sweep entry.

``cheap_trial`` is a sweep ``entry:`` that writes a run folder like ``finetune.fit`` does
(``metrics.json`` with ``best_val_loss`` and test metrics, ``metrics.csv``, ``predictions_test.csv``)
in a fraction of a second, and logs every execution to ``<out>/../executions.log``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "postgres.sh"


def start_postgres() -> tuple[int, str, Path]:
    """(exit status, URL or the error, folder) of ``scripts/postgres.sh start`` in a new folder under /tmp
    (the server's user must be able to enter it). Exit status 3: PostgreSQL missing, not installable."""
    folder = Path(tempfile.mkdtemp(prefix="cxrlib-pg-"))
    os.chmod(folder, 0o755)
    result = subprocess.run(["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return result.returncode, (result.stdout + result.stderr).strip()[-600:], folder
    return 0, result.stdout.strip().splitlines()[-1], folder


def stop_postgres(folder: Path) -> None:
    subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, text=True, timeout=120)
    shutil.rmtree(folder, ignore_errors=True)


def _log(out_dir: Path, event: str) -> None:
    with open(out_dir.parent / "executions.log", "a") as handle:
        handle.write(f"{out_dir.name} {event} {os.getpid()} {time.time():.3f}\n")
        handle.flush()


def cheap_trial(out_dir: str, x: int = 0, lr: float = 0.1, sleep: float = 0.2, fail: bool = False,
                profile: str = "classroom", weights: str | None = None) -> None:
    """A 'training run' of a few tenths of a second: val loss (x - 2)^2 + lr, predictions of 40 images
    (``weights``, a file path, is only recorded in ``metrics.json``).

    A file ``hang-once`` in the sweep folder makes the first trial that sees it remove it and sleep 120 s
    (a trial to kill)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _log(out, "start")
    hang = out.parent / "hang-once"
    if hang.exists():
        hang.unlink()
        _log(out, "hang")
        time.sleep(120)
    time.sleep(sleep)
    if fail:
        raise RuntimeError("this trial fails on purpose")
    rng = np.random.default_rng(x)
    y = np.array([0, 1] * 20)
    score = np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, y.size), 0, 1)
    lines = ["image_id,patient_id,label,label_name,normal,pneumonia,prob_normal,prob_pneumonia"]
    lines += [f"i{i},p{i // 2},{t},{'pneumonia' if t else 'normal'},{1 - t},{t},{1 - s:.6f},{s:.6f}"
              for i, (t, s) in enumerate(zip(y, score))]
    (out / "predictions_test.csv").write_text("\n".join(lines) + "\n")
    pos, neg = score[y == 1], score[y == 0]
    auroc = float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (pos.size * neg.size))
    val_loss = (x - 2) ** 2 + lr
    (out / "metrics.csv").write_text("epoch,train_loss,val_loss,val_auroc,lr,epoch_seconds\n"
                                     f"1,{val_loss + 1:.4f},{val_loss + 0.5:.4f},0.6,{lr},0.1\n"
                                     f"2,{val_loss + 0.2:.4f},{val_loss:.4f},0.7,{lr},0.1\n")
    metrics = {"kind": "binary", "classes": ["normal", "pneumonia"], "positive_class": "pneumonia",
               "label_columns": ["normal", "pneumonia"], "best_epoch": 2, "best_val_loss": val_loss,
               "test": {"auroc": auroc, "accuracy_argmax": 0.6}, "profile": profile, "weights": weights}
    (out / "metrics.json").write_text(json.dumps(metrics))
    _log(out, "end")


def executions(sweep_out: Path) -> list[tuple[str, str]]:
    """(key, event) of every line of the executions log."""
    path = Path(sweep_out) / "executions.log"
    if not path.exists():
        return []
    return [tuple(line.split()[:2]) for line in path.read_text().splitlines()]
