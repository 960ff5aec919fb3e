"""The answers to the exercises of notebook 03, fine-tuning (``book/solutions/03_finetune.md``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxrlib.chapters.solutions.format import probe_rows, source
from cxrlib.core.runs import markdown_table, read_json, read_table, run_params
from cxrlib.core.staging import is_complete


def _finetune_summary(folder: Path) -> dict:
    metrics = read_table(folder, "metrics")
    auc = read_table(folder, "ft_test_auroc").query("kind == 'label'").iloc[0]
    return {"run": folder.name, "unfrozen blocks": run_params(folder).get("unfrozen_blocks"),
            "backbone": run_params(folder).get("backbone"), "epochs run": len(metrics),
            "training s": float(metrics["epoch_seconds"].sum()), "epoch 1 val AUROC": float(metrics["val_auroc"].iloc[0]),
            "best val loss": float(metrics["val_loss"].min()), "test AUROC": float(auc["auc"]),
            "CI low": float(auc["boot_ci_low"]), "CI high": float(auc["boot_ci_high"])}


def _paired(a: Path, b: Path) -> str:
    """AUROC(a) - AUROC(b) on the same test images: clustered (patient) paired DeLong test."""
    from cxrlib.stats import clustered_delong_test

    pa, pb = read_table(a, "predictions_test"), read_table(b, "predictions_test")
    merged = pa.merge(pb, on="image_id", suffixes=("_a", "_b"))
    column = [c for c in pa.columns if c.startswith("prob_")][-1]
    test = clustered_delong_test(merged["label_a"].to_numpy(), merged[f"{column}_a"].to_numpy(),
                                           merged[f"{column}_b"].to_numpy(), merged["patient_id_a"].to_numpy())
    return (f"AUROC({a.name}) − AUROC({b.name}) = {test.difference:+.3f} (95 % CI {test.ci[0]:+.3f} to "
            f"{test.ci[1]:+.3f}, {'p < 0.001' if test.p_value < 0.001 else f'p = {test.p_value:.3f}'}; paired DeLong "
            "test with patients as clusters, "
            f"{len(merged)} test images)")


def finetune_ex1(runs: dict[str, Path]) -> str:
    names = ("03_finetune--ex1-head", "03_finetune", "03_finetune--ex1-all")
    frame = pd.DataFrame([_finetune_summary(runs[n]) for n in names])
    tests = [_paired(runs["03_finetune"], runs["03_finetune--ex1-head"]),
             _paired(runs["03_finetune--ex1-all"], runs["03_finetune"])]
    probe_line = ""
    if "06_linear_probe" in runs and is_complete(runs["06_linear_probe"]):
        random_row = probe_rows(runs["06_linear_probe"], "kermany_pneumonia").query("init == 'random'")
        if len(random_row):
            r = random_row.iloc[0]
            probe_line = (f" Notebook 06's linear probe on a frozen, untrained ResNet-18 reaches a test AUROC of "
                          f"{r['auc']:.3f} (95 % CI {r['auc_ci_low']:.3f} to {r['auc_ci_high']:.3f}) on the same task.")
    return (markdown_table(frame) + "\n\n" + "; ".join(tests) + "." + probe_line + f"\n\n{source(*(runs[n] for n in names))}\n")


def finetune_ex2(runs: dict[str, Path]) -> str:
    names = ("03_finetune--ex1-head", "03_finetune", "03_finetune--ex1-all")
    info = read_json(runs["03_finetune"] / "weights.json")
    frame = pd.DataFrame([{k: v for k, v in _finetune_summary(runs[n]).items()
                           if k in ("run", "unfrozen blocks", "epoch 1 val AUROC", "best val loss")} for n in names])
    return (f"The classroom run's weights: *{info.get('description')}* (source: {info.get('source')}; "
            f"to get them: `{info.get('hint')}`).\n\n" + markdown_table(frame) + f"\n\n{source(*(runs[n] for n in names))}\n")


def finetune_ex3(runs: dict[str, Path]) -> str:
    main = runs["03_finetune"]
    metrics = read_table(main, "metrics")
    return (f"The classroom run finished {len(metrics)} epochs (of `epochs: {run_params(main).get('epochs')}`, with "
            f"early stopping after `patience: {run_params(main).get('patience')}` epochs without a better validation "
            "loss); an interruption during epoch $e$ resumes at epoch $e$, from the state saved after epoch $e-1$.\n\n"
            + markdown_table(metrics) + f"\n\n{source(main)}\n")


def finetune_ex4(runs: dict[str, Path]) -> str:
    names = ("03_finetune", "03_finetune--ex4")
    frame = pd.DataFrame([_finetune_summary(runs[n]) for n in names])
    return (markdown_table(frame) + "\n\n" + _paired(runs["03_finetune--ex4"], runs["03_finetune"]) + "."
            + f"\n\n{source(*(runs[n] for n in names))}\n")
