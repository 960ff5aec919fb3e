"""Notebook 12's glue: document 003's SemSSXL built and measured (data, the grid of runs, tables, figures).

Data: a multi-label task with CheXpert's five competition findings (:func:`cxrlib.images.tasks.get_task`:
``nih_competition5`` in the classroom, ``chexpert_competition5`` with paper parameters) read through the
shared preprocessing cache at ``image_size`` px. The runs (:func:`run_grid`) train variants of
:data:`cxrlib.training.semssxl.SEMSSXL_VARIANTS` on nested labelled fractions of the training patients
(:func:`cxrlib.training.semssxl.labelled_fractions`) and score the test images.

Statistics (:mod:`cxrlib.stats`): per-label AUROC with a percentile bootstrap CI that redraws *patients*
(:func:`cxrlib.stats.bootstrap_auroc`), and the paired comparison with the supervised baseline
on the same test images by DeLong's test (:func:`cxrlib.stats.evaluate.paired_delong`), or, when a test
patient has more than one image, by its clustered form (Obuchowski;
:func:`cxrlib.stats.evaluate.paired_delong_clustered`), with Benjamini-Hochberg FDR across the five
labels at each fraction.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cxrlib.images.preprocess import PreprocessCache, preprocess_config
from cxrlib.images.tasks import get_task, split_tables, subsample
from cxrlib.stats.evaluate import paired_delong, paired_delong_clustered
from cxrlib.stats import bootstrap_auroc
from cxrlib.training.semssxl import SemiConfig, fit_semi, get_semssxl_variant, labelled_fractions, predict_semi

BASELINE = "supervised"
PROPOSED = "full"


def load_task(task: str, data_root, *, task_options: dict | None, subset: dict | None, preprocess: str,
              image_size: int, seed: int, num_threads: int = 2):
    """``(parts, cache)``: the task's train/val/test tables (patient-disjoint) and a warmed cache."""
    spec = get_task(task)
    table = spec.load_table(data_root, seed=seed, **(task_options or {}))
    if subset:
        table = subsample(table, spec, subset, seed)
    cache = PreprocessCache(None, preprocess_config(preprocess, image_size))
    cache.warm(table["path"], progress=False, num_threads=num_threads)
    return split_tables(table), cache


def images_per_patient(table: pd.DataFrame) -> int:
    return int(table.groupby("patient_id").size().max())


def positives_table(parts: dict, labels: Sequence[str], labelled: dict | None = None) -> pd.DataFrame:
    """Positives per label in each part (and in each labelled fraction), plus test negatives."""
    rows = []
    for label in labels:
        row = {"label": label}
        if labelled:
            for fraction, frame in labelled.items():
                row[f"labelled {fraction:g}"] = int(frame[label].sum())
        row.update({f"{name} positives": int(frame[label].sum()) for name, frame in parts.items()})
        row["test negatives"] = int(len(parts["test"]) - parts["test"][label].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def run_grid(plan: Sequence[tuple[str, float]], config: SemiConfig, task: str, cache: PreprocessCache,
             parts: dict, labelled: dict, progress=None) -> dict:
    """Train every ``(variant, fraction)`` of ``plan``; returns ``{(variant, fraction): run}`` with the
    :class:`~cxrlib.training.semssxl.SemiResult` (``result``), test probabilities and stage weights."""
    runs = {}
    for variant, fraction in (plan if progress is None else progress(plan)):
        result = fit_semi(variant, config, task, cache, labelled[fraction], parts["train"])
        probs, weights = predict_semi(result.model, task, cache, parts["test"])
        runs[(variant, fraction)] = {"result": result, "probs": probs, "weights": weights}
    return runs


def auroc_rows(runs: dict, test: pd.DataFrame, labels: Sequence[str], *, n_boot: int, seed: int) -> pd.DataFrame:
    """Per run: AUROC of every label and the macro mean, with 95% patient-bootstrap CIs."""
    y = test[list(labels)].to_numpy(dtype=float)
    frames = []
    for (variant, fraction), run in runs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bootstrap_auroc(y, run["probs"], list(labels), n_boot=n_boot, seed=seed,
                                  groups=test["patient_id"].to_numpy(), averages=("macro",))
        frame = res.table[["label", "auc", "ci_low", "ci_high", "n_positive", "n_negative"]].copy()
        frame["label"] = frame["label"].replace({"macro average": "macro"})
        frame.insert(0, "fraction", fraction)
        frame.insert(0, "variant", variant)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def comparison_table(runs: dict, test: pd.DataFrame, labels: Sequence[str], fractions: Sequence[float],
                     a: str = PROPOSED, b: str = BASELINE) -> pd.DataFrame:
    """Paired test of ``a`` vs ``b`` per label and fraction on the same test images: DeLong, clustered by
    patient when a patient has more than one test image; FDR (Benjamini-Hochberg) over the labels."""
    y = test[list(labels)].to_numpy(dtype=int)
    clustered = images_per_patient(test) > 1
    frames = []
    for fraction in fractions:
        sa, sb = runs[(a, fraction)]["probs"], runs[(b, fraction)]["probs"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if clustered:
                t = paired_delong_clustered(y, sa, sb, list(labels), test["patient_id"].to_numpy(), names=(a, b))
                t = t.rename(columns={"clustered_p": "p", "clustered_p_fdr": "p_fdr", "clustered_ci_low": "ci_low",
                                      "clustered_ci_high": "ci_high"})
            else:
                t = paired_delong(y, sa, sb, list(labels), names=(a, b)).rename(columns={"p_value": "p"})
        t = t[["label", f"auc_{a}", f"auc_{b}", "difference", "p", "p_fdr"]].copy()
        t.insert(1, "fraction", fraction)
        t["test"] = "clustered DeLong (Obuchowski)" if clustered else "DeLong (one image per patient)"
        frames.append(t)
    return pd.concat(frames, ignore_index=True)


def macro_frame(aurocs: pd.DataFrame) -> pd.DataFrame:
    return aurocs[aurocs["label"] == "macro"].drop(columns=["n_positive", "n_negative"]).reset_index(drop=True)


def semssxl_ablation_table(runs: dict, aurocs: pd.DataFrame, fraction: float, labels: Sequence[str],
                   variants: Sequence[str]) -> pd.DataFrame:
    """One row per variant at ``fraction``: what it has, macro AUROC (CI), per-label AUROC, the mean weight
    of each stage over the test images, the labelled-set loss before/after and the training time."""
    rows = []
    for name in variants:
        run = runs[(name, fraction)]
        spec, result = get_semssxl_variant(name), run["result"]
        sub = aurocs[(aurocs["variant"] == name) & (aurocs["fraction"] == fraction)].set_index("label")
        stages = result.model.net.stages
        row = {"variant": name, "contrastive": spec.contrastive, "neck": spec.neck,
               "stages": ",".join(map(str, stages)),
               "macro AUROC": sub.loc["macro", "auc"], "ci_low": sub.loc["macro", "ci_low"],
               "ci_high": sub.loc["macro", "ci_high"]}
        row.update({label: sub.loc[label, "auc"] for label in labels})
        row["stage weights"] = " / ".join(f"{w:.2f}" for w in run["weights"].mean(axis=0))
        row.update({"loss before": result.loss_before, "loss after": result.loss_after, "seconds": result.seconds})
        rows.append(row)
    return pd.DataFrame(rows)


def ci_width_table(positives: pd.DataFrame, aurocs: pd.DataFrame, fraction: float,
                   variants: Sequence[str] = (PROPOSED, BASELINE)) -> pd.DataFrame:
    """Test positives per label beside the width of the 95% CI of each variant's AUROC at ``fraction``."""
    out = positives[["label", "test positives", "test negatives"]].copy()
    for name in variants:
        sub = aurocs[(aurocs["variant"] == name) & (aurocs["fraction"] == fraction)].set_index("label")
        out[f"CI width {name}"] = out["label"].map(sub["ci_high"] - sub["ci_low"])
    return out


def plot_fractions(aurocs: pd.DataFrame, variants: Sequence[str] = (PROPOSED, BASELINE)):
    """Macro AUROC (95% patient-bootstrap CI) against the labelled fraction, one line per variant."""
    macro = macro_frame(aurocs)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for k, name in enumerate(variants):
        sub = macro[macro["variant"] == name].sort_values("fraction")
        x = sub["fraction"].to_numpy() * (1 + 0.03 * (k - 0.5))
        ax.errorbar(x, sub["auc"], yerr=[sub["auc"] - sub["ci_low"], sub["ci_high"] - sub["auc"]], marker="o",
                    capsize=3, label=get_semssxl_variant(name).title)
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(sorted(macro["fraction"].unique()))
    ax.get_xaxis().set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("labelled fraction of the training patients")
    ax.set_ylabel("macro AUROC (5 labels)")
    ax.legend(frameon=False, loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def plot_stage_weights(runs: dict, fraction: float, variants: Sequence[str]):
    """Mean attention weight of each encoder stage over the test images, per multi-scale variant."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    shown = [v for v in variants if runs[(v, fraction)]["weights"].shape[1] > 1]
    width = 0.8 / max(1, len(shown))
    for k, name in enumerate(shown):
        run = runs[(name, fraction)]
        mean, sd = run["weights"].mean(axis=0), run["weights"].std(axis=0)
        pos = np.arange(len(mean)) + k * width
        ax.bar(pos, mean, width, yerr=sd, capsize=2, label=get_semssxl_variant(name).title)
    stages = runs[(shown[0], fraction)]["result"].model.net.stages if shown else ()
    ax.set_xticks(np.arange(len(stages)) + width * (len(shown) - 1) / 2, [f"stage {s}" for s in stages])
    ax.set_ylabel("weight (mean ± sd over test images)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_history(runs: dict, fraction: float, variants: Sequence[str], *, chance: float | None = None):
    """Supervised and contrastive training loss per epoch, per variant, at ``fraction``; ``chance``: the
    NT-Xent of uninformative embeddings for the unlabeled batch the runs had
    (:func:`cxrlib.training.ssl.runs.run_chance_loss`), drawn dashed."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for name in variants:
        h = runs[(name, fraction)]["result"].history
        axes[0].plot(h["epoch"], h["supervised"], marker="o", label=get_semssxl_variant(name).title)
        if h["contrastive"].notna().any():
            axes[1].plot(h["epoch"], h["contrastive"], marker="o", label=get_semssxl_variant(name).title)
    if chance is not None:
        axes[1].axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance log(2B-1) = {chance:.2f}")
    axes[0].set_title("BCE on labelled batches")
    axes[1].set_title("NT-Xent on unlabeled views")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig
