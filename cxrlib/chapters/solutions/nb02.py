"""The answers to the exercises of notebook 02, self-supervised pre-training (``book/solutions/02_pretrain.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.chapters.solutions.format import probe_rows, source
from cxrlib.core.runs import markdown_table, read_table, run_params


def _ssl_runs(folder: Path) -> pd.DataFrame:
    return read_table(folder, "ssl_runs")


def pretrain_ex1(runs: dict[str, Path]) -> str:
    main, moco = runs["02_pretrain"], runs["02_pretrain--ex1"]
    table = _ssl_runs(main)
    k = int(run_params(moco)["queue_size"])
    frame = pd.DataFrame({"pool": table["pool"], "images": table["images"], "epochs": table["epochs"],
                          "keys produced": table["images"] * table["epochs"]})
    for queue in (k, 1024):
        frame[f"replaces all K={queue} random vectors?"] = np.where(frame["keys produced"] >= queue, "yes", "no")
        frame[f"K={queue} > pool?"] = np.where(frame["images"] < queue, "yes: own stale keys", "no")
    loss = read_table(moco, "loss")
    first = loss.sort_values("epoch").iloc[:3]
    rises = bool(len(first) > 1 and first["loss"].iloc[1] > first["loss"].iloc[0])
    chance = float(_ssl_runs(moco)["chance_loss"].iloc[0])
    curve = ", ".join(f"{r.loss:.3f}" for r in loss.sort_values("epoch").itertuples())
    first_loss = float(loss.sort_values("epoch")["loss"].iloc[0])
    return (f"MoCo v2 with $K = {k}$ on the full pool: loss per epoch {curve}; chance level $\\log(K+1) = {chance:.3f}$. "
            f"The first epoch's mean loss lies {'below' if first_loss < chance else 'above'} the chance level, and the "
            f"loss {'rises' if rises else 'does not rise'} from the first to the second epoch in this run (an epoch's mean "
            "hides its first steps, while real keys replace the random vectors). Keys per run (one per image and epoch) "
            "against the queue:\n\n"
            + markdown_table(frame, "{:.0f}") + f"\n\n{source(main, moco)}\n")


def pretrain_ex2(runs: dict[str, Path]) -> str:
    rows = []
    for name in ("02_pretrain", "02_pretrain--ex2-t05", "02_pretrain--ex2-t10"):
        folder = runs[name]
        params = run_params(folder)
        loss = read_table(folder, "loss")
        loss = loss[loss["fraction"] == loss["fraction"].max()].sort_values("epoch")
        batch = int(_ssl_runs(folder)["batch"].iloc[0])
        tau = params.get("temperature") or "method default"
        tau_value = float(tau) if not isinstance(tau, str) else None
        floor = float(np.log1p((2 * batch - 2) * np.exp(-2 / tau_value))) if tau_value else float("nan")
        rows.append({"run": name, "temperature": tau, "batch B": batch, "chance log(2B-1)": float(np.log(2 * batch - 1)),
                     "lowest reachable": floor, "epoch 1 loss": loss["loss"].iloc[0],
                     f"epoch {int(loss['epoch'].iloc[min(2, len(loss) - 1)])} loss": loss["loss"].iloc[min(2, len(loss) - 1)]})
    frame = pd.DataFrame(rows)
    last = frame.columns[-1]
    drops = frame.assign(drop=frame["epoch 1 loss"] - frame[last]).sort_values("drop", ascending=False)
    fell = ", ".join(f"{r['drop']:.3f} at $\\tau$ = {r['temperature']}" for _, r in drops.iterrows())
    return ("The chance level is the same for every temperature; the lowest reachable loss "
            "$\\log(1 + (2B-2)e^{-2/\\tau})$ and the losses the runs reach are not:\n\n" + markdown_table(frame)
            + f"\n\nFrom epoch 1 to {last.removesuffix(' loss')} the loss fell by {fell} (largest drop first).\n\n"
            + f"{source(*(runs[n] for n in ('02_pretrain--ex2-t05', '02_pretrain--ex2-t10')))}\n")


def pretrain_ex3(runs: dict[str, Path]) -> str:
    rows = []
    for pre, probe in (("02_pretrain", "06_linear_probe"), ("02_pretrain--ex3", "06_linear_probe--ex2")):
        runs_table = _ssl_runs(runs[pre])
        full = runs_table.iloc[0]
        table = probe_rows(runs[probe])
        full_pool = table[table["init"].str.startswith("SSL 100%")]
        best = full_pool.sort_values("epoch").groupby("task").tail(1)  # the last checkpoint of the full pool
        random_rows = table[table["init"] == "random"].set_index("task")
        for r in best.itertuples():
            rows.append({"policy": run_params(runs[pre])["policy"], "last loss": full["last_loss"], "chance": full["chance_loss"],
                         "task": r.task, "probe AUROC": r.auc, "CI low": r.auc_ci_low, "CI high": r.auc_ci_high,
                         "random-init AUROC": random_rows.loc[r.task, "auc"]})
    frame = pd.DataFrame(rows)
    return ("Final loss against the chance level, and the linear probe of the final full-pool checkpoint with its "
            "patient-bootstrap 95 % CI, beside the random-initialisation probe of the same run:\n\n" + markdown_table(frame)
            + f"\n\n{source(*(runs[n] for n in ('02_pretrain--ex3', '06_linear_probe--ex2')))}\n")


def pretrain_ex4(runs: dict[str, Path]) -> str:
    main, double = runs["02_pretrain"], runs["02_pretrain--ex4"]
    rows = []
    for folder in (main, double):
        runs_table = _ssl_runs(folder).iloc[0]
        loss = read_table(folder, "loss")
        loss = loss[loss["fraction"] == loss["fraction"].max()]
        batch = int(runs_table["batch"])
        rows.append({"run": folder.name, "batch B": batch, "negatives 2B-2": 2 * batch - 2,
                     "chance log(2B-1)": float(runs_table["chance_loss"]), "steps per epoch": int(loss["steps"].iloc[0]),
                     "seconds per epoch (median)": float(loss["seconds"].median())})
    frame = pd.DataFrame(rows)
    return (markdown_table(frame) + "\n\nSeconds are wall time on the build machine (shared machines add noise).\n\n"
            + f"{source(main, double)}\n")
