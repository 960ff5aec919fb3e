"""Notebook 10's glue: document 003's dual-stream network (problem statement 2) built and measured.

Data: a binary task row (:mod:`cxrlib.images.tasks`, classroom: Kermany pediatric pneumonia), its
patient-disjoint train / val / test parts (optionally subsampled per part), read through the shared
preprocessing cache at ``image_size`` px (:class:`cxrlib.images.dataset.CxrDataset`, no augmentation).

Measured (our choice of measures; document 003 asks to compare "dual-stream" with "single-stream
approaches" and to "evaluate the contribution of each architectural component" without saying how):

* every variant's test AUROC with a 95% **patient** bootstrap CI (:func:`cxrlib.stats.bootstrap_auroc`);
* each dual variant against the **best single stream**, chosen on the *validation* AUROC (never on the
  test set): paired patient-bootstrap CI of the difference and DeLong's paired test, plain and with
  patients as clusters (:func:`cxrlib.stats.clustered_delong_test`);
* the ablation table (:data:`CONTRASTS`): the contribution of each component as a paired difference;
* the gate values of the gated fusion; reconstructions of test images with their errors.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cxrlib.images.dataset import CxrDataset
from cxrlib.images.preprocess import PreprocessCache, preprocess_config
from cxrlib.images.tasks import get_task
from cxrlib.images.task_tables import split_tables, subsample
from cxrlib.models.dual_stream import DUAL_STREAM_VARIANTS
from cxrlib.stats import (
    bootstrap_auroc,
    clustered_delong_test,
    delong_test,
    paired_bootstrap_auroc,
)
from cxrlib.stats.learning import LearningCheck, check_learning
from cxrlib.stats.replication import Replicated, replicated_auroc_difference

SINGLE = tuple(k for k, v in DUAL_STREAM_VARIANTS.items() if len(v.streams) == 1)
DUAL = tuple(k for k, v in DUAL_STREAM_VARIANTS.items() if len(v.streams) == 2)

#: The ablation table: (component, the model with it, the model without it). Each row is one paired
#: difference of test AUROCs (with minus without).
CONTRASTS = (
    ("autoencoder stream, added by concatenation", "dual_concat", "transfer_only"),
    ("transfer stream, added by concatenation", "dual_concat", "autoencoder_only"),
    ("autoencoder stream, added by the gate", "dual_gated", "transfer_only"),
    ("transfer stream, added by the gate", "dual_gated", "autoencoder_only"),
    ("gated fusion instead of concatenation", "dual_gated", "dual_concat"),
)


def load_datasets(task: str, data_root, *, preprocess: str, image_size: int, seed: int,
                  subset: dict | None = None, num_threads: int = 2):
    """``(tables, datasets, config)``: per split the task table and its :class:`CxrDataset` (no
    augmentation), and the preprocessing config (for cache keys and captions)."""
    spec = get_task(task)
    table = spec.load_table(data_root, seed=seed)
    if subset:
        table = subsample(table, spec, subset, seed)
    config = preprocess_config(preprocess, image_size)
    cache = PreprocessCache(None, config)
    cache.warm(table["path"], progress=False, num_threads=num_threads)
    tables = split_tables(table)
    return tables, {name: CxrDataset(part, spec, cache) for name, part in tables.items()}, config


def split_table(tables: dict[str, pd.DataFrame], task: str) -> pd.DataFrame:
    spec = get_task(task)
    rows = []
    for name, part in tables.items():
        y = spec.targets(part)
        rows.append({"split": name, "images": len(part), "patients": part["patient_id"].nunique(),
                     **{spec.classes[c]: int((y == c).sum()) for c in range(len(spec.classes))}})
    return pd.DataFrame(rows)


def variants_table(models: dict, heads: dict, scores: dict, y: np.ndarray, groups, *, n_boot: int,
                   seed: int) -> pd.DataFrame:
    """One row per variant: streams, fusion, widths, trained head parameters, kept epoch, validation
    AUROC, test AUROC with its patient-bootstrap CI."""
    rows = []
    for key, model in models.items():
        variant = model.variant
        boot = bootstrap_auroc(y, scores[key], n_boot=n_boot, seed=seed, groups=groups, averages=()).table.iloc[0]
        rows.append({
            "variant": key, "streams": " + ".join(variant.streams), "fusion": variant.fusion,
            "stream widths": " + ".join(str(w) for w in model.widths.values()),
            "fused width": int(model.fusion.out_dim),
            "head parameters": int(sum(p.numel() for p in model.head_parameters())),
            "epoch kept": heads[key].best_epoch, "val AUROC": heads[key].best_val_auroc,
            "test AUROC": boot["auc"], "CI low": boot["ci_low"], "CI high": boot["ci_high"],
        })
    return pd.DataFrame(rows)


def best_single(variants: pd.DataFrame) -> str:
    """The single-stream variant with the higher *validation* AUROC (the test set chooses nothing)."""
    single = variants[variants["variant"].isin(SINGLE)]
    return str(single.sort_values(["val AUROC", "variant"], ascending=[False, True]).iloc[0]["variant"])


def paired_row(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, groups, *, n_boot: int, seed: int) -> dict:
    """AUROC(a) - AUROC(b) on the same test images: patient-bootstrap CI and p, DeLong (plain and
    patient-clustered) CI and p."""
    boot = paired_bootstrap_auroc(y, score_a, score_b, n_boot=n_boot, seed=seed, groups=groups,
                                  averages=()).table.iloc[0]
    plain = delong_test(y, score_a, score_b)
    clustered = clustered_delong_test(y, score_a, score_b, groups)
    return {"AUROC with": boot["auc_a"], "AUROC without": boot["auc_b"], "difference": boot["difference"],
            "bootstrap CI low": boot["ci_low"], "bootstrap CI high": boot["ci_high"], "bootstrap p": boot["p_value"],
            "DeLong p": plain.p_value, "clustered DeLong CI low": clustered.ci[0],
            "clustered DeLong CI high": clustered.ci[1], "clustered DeLong p": clustered.p_value}


def versus_best_single(scores: dict, y: np.ndarray, groups, best: str, *, n_boot: int, seed: int) -> pd.DataFrame:
    """Each dual variant against the best single stream (paired, same test images)."""
    rows = [{"dual variant": key, "best single stream": best,
             **paired_row(y, scores[key], scores[best], groups, n_boot=n_boot, seed=seed)} for key in DUAL]
    return pd.DataFrame(rows).rename(columns={"AUROC with": "AUROC dual", "AUROC without": "AUROC single"})


def dual_stream_ablation_table(scores: dict, y: np.ndarray, groups, *, n_boot: int, seed: int) -> pd.DataFrame:
    """The contribution of each component (:data:`CONTRASTS`): with minus without, paired."""
    rows = [{"component": name, "with": a, "without": b,
             **paired_row(y, scores[a], scores[b], groups, n_boot=n_boot, seed=seed)} for name, a, b in CONTRASTS]
    return pd.DataFrame(rows)


def transfer_start(info, backbone: str) -> str:
    """One plain sentence for captions: what the transfer stream's weights are. A frozen random network is
    not transfer learning, and the caption says so; the book's own SSL checkpoint (``info.source == "ssl"``,
    notebook 02's pre-training on the unlabeled pool) is named as such, not as published weights, and says
    why when ``weights="auto"`` fell back to it (``info.reason``: the published weights were not found)."""
    if info.random:
        return (f"The transfer stream ({backbone}) starts from random values: no pre-trained weights were available, "
                "so it is a frozen random network, not transfer learning.")
    if info.source == "ssl":
        why = " (none were on this machine)" if info.reason else ""
        detail = info.description.removeprefix("ssl: ").removesuffix(", not published weights")
        return (f"The transfer stream ({backbone}) starts from the book's own self-supervised checkpoint, not from "
                f"published weights{why}: {detail}; that pre-training saw no labels and no test image.")
    return f"The transfer stream ({backbone}) starts from {info.description}."


def autoencoder_check(history: pd.DataFrame, mean_image_mse: float, *, what: str = "autoencoder") -> LearningCheck:
    """Did the autoencoder learn? Its last epoch's training reconstruction error (MSE) against the error of
    the training images' mean image (``mean_image_mse``, :func:`cxrlib.training.dual_stream.mean_image_errors`):
    a decoder that ignores its input reaches that level (:func:`cxrlib.stats.learning.check_learning`)."""
    return check_learning(final_loss=float(history["train_mse"].iloc[-1]), no_information=float(mean_image_mse),
                          what=what)


def head_check(head, y_val: np.ndarray, val_scores: np.ndarray, groups_val, *, n_boot: int, seed: int,
               what: str = "head") -> LearningCheck:
    """Did a fusion head learn? Validation AUROC of the kept epoch with a patient-bootstrap CI against 0.5,
    and the last epoch's training loss against the class-weighted loss of a constant prediction
    (:attr:`cxrlib.training.dual_stream.HeadResult.no_information_loss`)."""
    row = bootstrap_auroc(y_val, val_scores, n_boot=n_boot, seed=seed, groups=groups_val, averages=()).table.iloc[0]
    return check_learning(estimate=row["auc"], ci_low=row["ci_low"], ci_high=row["ci_high"],
                          final_loss=float(head.history["train_loss"].iloc[-1]),
                          no_information=float(head.no_information_loss), what=what)


def dual_stream_learning_table(checks: dict[str, LearningCheck]) -> pd.DataFrame:
    """One row per trained part (``{name: check}``): the numbers each check rests on and its verdict."""
    return pd.DataFrame([{"model": name, "val AUROC": c.estimate, "ci_low": c.ci_low, "ci_high": c.ci_high,
                          "final training loss": c.final_loss, "no-information loss": c.no_information_loss,
                          "learned": "yes" if c.learned else "NO"} for name, c in checks.items()])


def dual_stream_learning_summary(checks: dict[str, LearningCheck]) -> str:
    """Generated text: all parts learned, or a warning naming each that did not."""
    failed = [c for c in checks.values() if not c.learned]
    if not failed:
        return (f"Did the models learn? All {len(checks)} trained parts passed: each autoencoder's final training "
                "error is below the error of the mean training image, and each head's validation AUROC has its "
                "95 % patient-bootstrap CI above 0.5 with a final training loss below the loss of a constant "
                "prediction.")
    lines = "\n".join(f"- {c.sentence()}" for c in failed)
    return (f":::{{warning}}\n{len(failed)} of {len(checks)} trained parts did not learn; a comparison that "
            f"involves one is not interpreted (a pipeline demo):\n\n{lines}\n:::")


def reconstruction_sentence(test_mse: float, mean_image_mse: float) -> str:
    """What the reconstructions keep, from the measured test error against the mean training image's
    (both the mean squared error of the standardised input): the share of the per-image variation around
    the mean image that the reconstructions reproduce is ``1 - test_mse / mean_image_mse``."""
    kept = 1.0 - test_mse / mean_image_mse
    numbers = (f"test reconstruction error {test_mse:.3f} against {mean_image_mse:.3f} for the mean training image "
               f"(the error of a decoder that ignores its input)")
    if kept <= 0.05:
        return (f"The reconstructions are no better than the mean training image ({numbers}): they are near-identical "
                "templates and keep nothing specific to the image.")
    if kept < 0.5:
        return (f"The reconstructions keep only part of what distinguishes one image from the mean image ({numbers}: "
                f"{100 * kept:.0f} % of the squared deviation from the mean image is reproduced): they stay close to one "
                "shared template and lose most of what makes one image differ from another.")
    return (f"The reconstructions reproduce {100 * kept:.0f} % of the squared deviation of the test images from the "
            f"mean training image ({numbers}).")


def replicated_contrasts(scores: dict[int, dict[str, np.ndarray]], y: np.ndarray, groups, *, n_boot: int,
                         seed: int) -> list[Replicated]:
    """Each row of :data:`CONTRASTS` (with minus without) over training seeds (``scores``: seed -> variant ->
    test scores), with the paired patient-bootstrap CI of the seed mean
    (:func:`cxrlib.stats.replication.replicated_auroc_difference`)."""
    return [replicated_auroc_difference(y, {s: v[a] for s, v in scores.items()}, {s: v[b] for s, v in scores.items()},
                                        name=f"AUROC({a}) - AUROC({b})", groups=groups, n_boot=n_boot, seed=seed)
            for _, a, b in CONTRASTS]


def dual_stream_verdicts(results: list[Replicated], checks: dict[str, LearningCheck]) -> str:
    """One generated sentence per component (:data:`CONTRASTS`), concluding only what the verdict allows; a
    comparison that involves a part that did not learn (``checks`` keyed ``"<variant> seed <s>"`` and
    ``"autoencoder seed <s>"``) is not interpreted."""
    lines = []
    for (component, a, b), r in zip(CONTRASTS, results):
        parts = [f"{v} seed {s}" for s in r.seeds for v in (a, b, "autoencoder") if f"{v} seed {s}" in checks]
        failed = [p for p in parts if not checks[p].learned]
        if failed:
            lines.append(f"- {component}: not interpreted, because these did not learn: {', '.join(failed)} "
                         f"({r.name} = {r.spread_text()}).")
            continue
        lines.append("- " + r.sentence(above=f"the {component} raises the test AUROC here",
                                       below=f"the {component} lowers the test AUROC here"))
    return "\n".join(lines)


def gate_table(gates: np.ndarray, y: np.ndarray, classes) -> pd.DataFrame:
    """Summary of the gated fusion's gate values (weight of the transfer stream, per dimension and image):
    over all test images and per class; ``dims > 0.5``: share of dimensions whose mean gate favours
    the transfer stream."""
    rows = []
    for name, mask in (("all test images", np.ones(len(y), bool)),
                       *((f"class {c}", y == i) for i, c in enumerate(classes))):
        g = gates[mask]
        rows.append({"images": name, "n": int(mask.sum()), "mean": g.mean(), "sd": g.std(),
                     "5%": np.quantile(g, 0.05), "median": np.median(g), "95%": np.quantile(g, 0.95),
                     "dims > 0.5": float((g.mean(axis=0) > 0.5).mean())})
    return pd.DataFrame(rows)


def plot_reconstructions(originals: np.ndarray, reconstructions: np.ndarray, errors: np.ndarray, titles):
    """Originals (top) and the autoencoder's reconstructions (bottom) with each image's MSE; channel 0 of
    the standardised model input, both rows on the original's grey scale."""
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6), squeeze=False)
    for j in range(n):
        low, high = originals[j].min(), originals[j].max()
        for row, image in enumerate((originals[j], reconstructions[j])):
            ax = axes[row, j]
            ax.imshow(image, cmap="gray", vmin=low, vmax=high)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, j].set_title(str(titles[j]), fontsize=8)
        axes[1, j].set_title(f"MSE {errors[j]:.3f}", fontsize=8)
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("reconstruction")
    fig.tight_layout()
    return fig


def plot_ae_history(history: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot(history["epoch"], history["train_mse"], marker="o", label="train")
    ax.plot(history["epoch"], history["val_mse"], marker="o", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction MSE")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_variants(variants: pd.DataFrame):
    """Test AUROC of each variant with its 95% patient-bootstrap CI."""
    fig, ax = plt.subplots(figsize=(5, 2.6))
    pos = np.arange(len(variants))
    err = [variants["test AUROC"] - variants["CI low"], variants["CI high"] - variants["test AUROC"]]
    ax.errorbar(variants["test AUROC"], pos, xerr=err, fmt="o", capsize=3)
    ax.set_yticks(pos, variants["variant"])
    ax.invert_yaxis()
    ax.set_xlabel("test AUROC (95% patient-bootstrap CI)")
    fig.tight_layout()
    return fig
