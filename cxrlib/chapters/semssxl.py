"""Notebook 09's glue: document 003's SemSSXL built and measured (data, the grid of runs, tables, figures).

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

import dataclasses
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cxrlib.images.preprocess import PreprocessCache, preprocess_config
from cxrlib.images.tasks import get_task
from cxrlib.images.task_tables import split_tables, subsample
from cxrlib.stats.evaluate import paired_delong, paired_delong_clustered
from cxrlib.stats import bootstrap_auroc
from cxrlib.stats.learning import (
    LearningCheck,
    binary_no_information_loss,
    check_learning,
    contrastive_no_information_loss,
)
from cxrlib.stats.replication import Replicated, replicated_auroc_difference
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


def run_plan(fractions: Sequence[float], ablation_fraction: float, ablations: Sequence[str],
             train_seeds: Sequence[int]) -> list[tuple[str, float, int]]:
    """The runs of notebook 09 as ``(variant, fraction, training seed)``: SemSSXL (``full``) and the
    supervised baseline at every fraction with the first training seed; at ``ablation_fraction`` every
    variant (full, the ablations, the baseline) with every training seed, for the replicated comparisons."""
    first = train_seeds[0]
    plan = [(v, f, first) for f in fractions for v in (PROPOSED, BASELINE)]
    plan += [(v, ablation_fraction, s) for s in train_seeds for v in (PROPOSED, *ablations, BASELINE)]
    return list(dict.fromkeys(plan))


def run_grid(plan: Sequence[tuple], config: SemiConfig, task: str, cache: PreprocessCache,
             parts: dict, labelled: dict, progress=None) -> dict:
    """Train every ``(variant, fraction, training seed)`` of ``plan`` (a ``(variant, fraction)`` pair uses
    ``config.seed``); returns ``{(variant, fraction, seed): run}`` with the
    :class:`~cxrlib.training.semssxl.SemiResult` (``result``), the test and validation probabilities
    (``probs``, ``val_probs``) and the test stage weights. The labelled images of a fraction are the same
    for every training seed: the seed changes the initial weights, batch order and augmentations only."""
    runs = {}
    for item in (plan if progress is None else progress(plan)):
        variant, fraction, seed = (*item, config.seed) if len(item) == 2 else item
        result = fit_semi(variant, dataclasses.replace(config, seed=seed), task, cache, labelled[fraction],
                          parts["train"])
        probs, weights = predict_semi(result.model, task, cache, parts["test"])
        val_probs, _ = predict_semi(result.model, task, cache, parts["val"])
        runs[(variant, fraction, seed)] = {"result": result, "probs": probs, "val_probs": val_probs,
                                           "weights": weights}
    return runs


def seed_runs(runs: dict, seed: int) -> dict:
    """The runs of one training seed keyed ``(variant, fraction)`` (what the single-seed tables read)."""
    return {(v, f): run for (v, f, s), run in runs.items() if s == seed}


def learning_checks(runs: dict, parts: dict, labelled: dict, labels: Sequence[str], *, unlabeled_batch_size: int,
                    n_boot: int, seed: int) -> dict:
    """Did each model learn? (:func:`cxrlib.stats.learning.check_learning`) ``{run key: {"classifier": check,
    "contrastive": check or None}}``.

    Classifier: the validation macro AUROC with a patient-bootstrap CI against 0.5, and the last epoch's
    labelled-batch BCE against the base-rate entropy of the labelled images
    (:func:`~cxrlib.stats.learning.binary_no_information_loss`). Contrastive term (variants that have it):
    the last epoch's NT-Xent against ``ln(2B - 1)`` for the unlabeled batch ``B`` the run had
    (:func:`~cxrlib.stats.learning.contrastive_no_information_loss`)."""
    y_val = parts["val"][list(labels)].to_numpy(dtype=float)
    batch = min(unlabeled_batch_size, len(parts["train"]))
    checks = {}
    for key, run in runs.items():
        variant, fraction, train_seed = key
        history, what = run["result"].history, f"{variant} at fraction {fraction:g}, training seed {train_seed}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = bootstrap_auroc(y_val, run["val_probs"], list(labels), n_boot=n_boot, seed=seed,
                                  groups=parts["val"]["patient_id"].to_numpy(), averages=("macro",)).table.iloc[-1]
        classifier = check_learning(
            metric="macro AUROC", estimate=row["auc"], ci_low=row["ci_low"], ci_high=row["ci_high"],
            final_loss=float(history["supervised"].iloc[-1]),
            no_information=binary_no_information_loss(labelled[fraction][list(labels)].to_numpy(dtype=float)),
            what=f"classifier ({what})")
        contrastive = None
        if history["contrastive"].notna().any():
            contrastive = check_learning(final_loss=float(history["contrastive"].dropna().iloc[-1]),
                                         no_information=contrastive_no_information_loss(2 * batch - 1),
                                         what=f"contrastive term ({what})")
        checks[key] = {"classifier": classifier, "contrastive": contrastive}
    return checks


def model_learned(check: dict) -> bool:
    """A model counts as learned when its classifier learned and its contrastive term (if any) did too."""
    return check["classifier"].learned and (check["contrastive"] is None or check["contrastive"].learned)


def write_learning_checks(out_dir: str | os.PathLike, checks: dict) -> list[Path]:
    """One ``learning.json`` per model (``runs/<variant>_f<fraction>_s<seed>/``; the contrastive term's
    in its ``contrastive/`` subfolder), so the build summary lists every model that did not learn."""
    from cxrlib.core.io import write_json_atomic
    from cxrlib.core.runs import LEARNING

    paths = []
    for (variant, fraction, train_seed), check in checks.items():
        folder = Path(out_dir) / "runs" / f"{variant}_f{fraction:g}_s{train_seed}"
        folder.mkdir(parents=True, exist_ok=True)
        paths.append(write_json_atomic(folder / LEARNING, check["classifier"].to_dict()))
        if check["contrastive"] is not None:
            (folder / "contrastive").mkdir(exist_ok=True)
            paths.append(write_json_atomic(folder / "contrastive" / LEARNING, check["contrastive"].to_dict()))
    return paths


def semssxl_learning_table(checks: dict) -> pd.DataFrame:
    """One row per model: the validation macro AUROC (CI), final BCE vs its no-information loss, final
    NT-Xent vs ``ln(2B - 1)``, and the verdict."""
    rows = []
    for (variant, fraction, train_seed), check in checks.items():
        c, k = check["classifier"], check["contrastive"]
        rows.append({"variant": variant, "fraction": fraction, "seed": train_seed, "val macro AUROC": c.estimate,
                     "ci_low": c.ci_low, "ci_high": c.ci_high, "final BCE": c.final_loss,
                     "no-information BCE": c.no_information_loss,
                     "final NT-Xent": np.nan if k is None else k.final_loss,
                     "NT-Xent chance ln(2B-1)": np.nan if k is None else k.no_information_loss,
                     "learned": "yes" if model_learned(check) else "NO"})
    return pd.DataFrame(rows)


def semssxl_learning_summary(checks: dict) -> str:
    """Generated text: how many models learned; a warning naming every model that did not (whose numbers
    this chapter then does not interpret)."""
    failed = [c for check in checks.values() if not model_learned(check)
              for c in (check["classifier"], check["contrastive"]) if c is not None and not c.learned]
    total = len(checks)
    if not failed:
        return (f"Did the models learn? All {total} passed the check: each classifier's validation macro AUROC "
                "has its 95 % patient-bootstrap CI above 0.5 and its final training BCE below the base-rate "
                "entropy of its labelled images; each contrastive term's final NT-Xent is below ln(2B - 1).")
    lines = "\n".join(f"- {c.sentence()}" for c in failed)
    return (f":::{{warning}}\n{len(failed)} check(s) of {total} models failed; a comparison that involves a model "
            f"that did not learn is not interpreted (a pipeline demo):\n\n{lines}\n:::")


def replicated_comparisons(runs: dict, checks: dict, test: pd.DataFrame, labels: Sequence[str], fraction: float,
                           others: Sequence[str], *, n_boot: int, seed: int) -> list[Replicated]:
    """Macro AUROC of SemSSXL (full) minus each of ``others`` at ``fraction``, per training seed on the
    same test images, with the paired patient-bootstrap CI of the seed mean
    (:func:`cxrlib.stats.replication.replicated_auroc_difference`). Seeds where both models ran."""
    y = test[list(labels)].to_numpy(dtype=float)
    groups = test["patient_id"].to_numpy()
    seeds = sorted(s for (v, f, s) in runs if v == PROPOSED and f == fraction)
    out = []
    for other in others:
        common = [s for s in seeds if (other, fraction, s) in runs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(replicated_auroc_difference(
                y, {s: runs[(PROPOSED, fraction, s)]["probs"] for s in common},
                {s: runs[(other, fraction, s)]["probs"] for s in common},
                name=f"AUROC(full) - AUROC({other})", groups=groups, n_boot=n_boot, seed=seed))
    return out


#: What a replicated ``AUROC(full) - AUROC(other)`` above / below 0 allows the chapter to say.
_CLAIMS = {
    "no_contrastive": ("the contrastive term raises the macro AUROC", "the contrastive term lowers the macro AUROC"),
    "no_attention": ("the attention raises the macro AUROC", "the attention lowers the macro AUROC"),
    "single_scale": ("the multiple scales raise the macro AUROC", "the multiple scales lower the macro AUROC"),
    BASELINE: ("SemSSXL beats the supervised baseline", "the supervised baseline beats SemSSXL"),
}


def semssxl_verdicts(results: Sequence[Replicated], runs: dict, checks: dict, fraction: float) -> str:
    """One generated sentence per comparison, concluding only what :attr:`Replicated.verdict` allows; a
    comparison with a model that did not learn is named and not interpreted."""
    lines = []
    for r in results:
        other = r.name.split("AUROC(")[-1].rstrip(")")
        failed = [f"{v} seed {s}" for s in r.seeds for v in (PROPOSED, other) if not model_learned(checks[(v, fraction, s)])]
        if failed:
            lines.append(f"- {r.name}: not interpreted, because these models did not learn: {', '.join(failed)} "
                         f"({r.name} = {r.spread_text()}).")
            continue
        above, below = _CLAIMS.get(other, (f"full beats {other}", f"{other} beats full"))
        lines.append(f"- {r.sentence(above=above + ' here', below=below + ' here')}")
    return "\n".join(lines)


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
