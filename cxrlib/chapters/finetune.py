"""Notebook 03 (fine-tuning): the tables and figures of one fine-tuning run folder.

Class counts per split, the unfrozen-block table and figure, learning curves, per-label AUROC with
patient-bootstrap and DeLong intervals, operating points chosen on validation, the confusion matrix and
ROC curves. Reads a :class:`cxrlib.training.run_folder.RunResult`; matplotlib is imported lazily.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cxrlib.images.tasks import TaskSpec
from cxrlib.stats import metrics as M
from cxrlib.stats.learning import LearningCheck
from cxrlib.training.finetune import Prepared
from cxrlib.training.run_folder import RunResult


def split_class_counts(parts: Mapping[str, pd.DataFrame], task: TaskSpec) -> pd.DataFrame:
    """Images (and patients) per split and class; for multi-label tasks, positive images per label."""
    rows = []
    for split in ("train_original", "train", "val", "test"):
        if split == "train" and parts["train"] is parts["train_original"]:
            continue
        table = parts[split]
        name = "train (resampled)" if split == "train" else split.replace("_original", "")
        for j, cls in enumerate(task.classes):
            members = table[table[cls] == 1] if task.kind == "multilabel" else table[table["target"] == j]
            rows.append({"split": name, "class": cls, "images": len(members),
                         "patients": members["patient_id"].nunique()})
    return pd.DataFrame(rows)


def learning_note(result: RunResult) -> str:
    """Did the run's model learn? (``learning.json``, :func:`cxrlib.training.run_folder.learning_check``):
    a sentence, or a warning that the chapter does not interpret its numbers."""
    return LearningCheck.from_dict(result.metrics["learning"]).markdown()


def block_table(prepared: Prepared) -> pd.DataFrame:
    """The backbone's stem, its blocks in order (as the registry counts them) and the head: parameters and
    whether they train."""
    from cxrlib.models import backbone_blocks, stem_parameters

    model = prepared.model
    backbone = dict(model.backbone.named_parameters())
    rows = []
    stem = stem_parameters(model.backbone, model.spec)
    rows.append({"part": "stem", "label": "+".join(model.spec.stem), "parameters": sum(backbone[n].numel() for n in stem),
                 "trainable": any(backbone[n].requires_grad for n in stem)})
    for i, block in enumerate(backbone_blocks(model.backbone, model.spec), start=1):
        rows.append({"part": f"block {i}", "label": block.label,
                     "parameters": sum(backbone[n].numel() for n in block.parameters),
                     "trainable": any(backbone[n].requires_grad for n in block.parameters)})
    rows.append({"part": "head", "label": type(model.head).__name__,
                 "parameters": sum(p.numel() for p in model.head.parameters()), "trainable": True})
    return pd.DataFrame(rows)


def plot_blocks(blocks: pd.DataFrame, title: str = ""):
    """Horizontal bars: parameters per stem/block/head, trainable in colour, frozen in grey."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.28 * len(blocks) + 1.2))
    colours = np.where(blocks["trainable"], "#1f77b4", "#c7c7c7")
    y = np.arange(len(blocks))
    ax.barh(y, blocks["parameters"] / 1e6, color=colours)
    ax.set_yticks(y, blocks["part"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("parameters (millions)")
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color="#1f77b4"), plt.Rectangle((0, 0), 1, 1, color="#c7c7c7")],
              labels=["trains", "frozen"], fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_learning_curves(history: pd.DataFrame, title: str = ""):
    """Loss (train and validation, best epoch marked) and validation AUROC per epoch."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(history["epoch"], history["train_loss"], "o-", label="train (augmented)")
    left.plot(history["epoch"], history["val_loss"], "s-", label="validation")
    if len(history):
        best = history.loc[history["val_loss"].idxmin()]
        left.axvline(best["epoch"], color="grey", ls=":", lw=1)
        left.annotate("best", (best["epoch"], best["val_loss"]), textcoords="offset points", xytext=(4, 6), fontsize=8)
    left.set_xlabel("epoch")
    left.set_ylabel("weighted loss")
    left.legend(fontsize=8)
    right.plot(history["epoch"], history["val_auroc"], "s-", color="#2ca02c")
    right.set_xlabel("epoch")
    right.set_ylabel("validation AUROC (macro)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def evaluation_labels(task: TaskSpec) -> list[str]:
    """The labels whose AUROC the run reports: the positive class of a binary task, else every class."""
    return [task.positive_class] if task.kind == "binary" else list(task.classes)


def run_auroc_table(result: RunResult, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Test AUROC per label (one-vs-rest for single-label tasks) and macro average, with a patient-bootstrap
    percentile CI and DeLong's CI (:func:`cxrlib.stats.evaluate.auroc_ci_table`)."""
    from cxrlib.stats import evaluate

    labels = evaluation_labels(result.task)
    table = evaluate.auroc_ci_table(result.predictions["test"], labels, n_boot=n_boot, seed=seed)
    return table if len(labels) > 1 else table[table["kind"] == "label"].reset_index(drop=True)


def operating_points_ci(result: RunResult, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per label: the Youden threshold chosen on the validation predictions, applied to the test set, with
    sensitivity, specificity, accuracy, PPV and NPV and their patient-bootstrap CIs. Single-label tasks
    predict the arg-max class instead (see :func:`confusion_table`) and give an empty table."""
    from cxrlib import stats

    if result.task.kind == "single_label":
        return pd.DataFrame()
    val, test = result.predictions["val"], result.predictions["test"]
    rows = []
    for label in evaluation_labels(result.task):
        threshold = M.youden_threshold(val[label].to_numpy(), val[f"prob_{label}"].to_numpy())
        predicted = test[f"prob_{label}"].to_numpy() >= threshold
        table = stats.bootstrap_agreement(test[label].to_numpy(dtype=bool), predicted,
                                          metrics=("sensitivity", "specificity", "accuracy", "ppv", "npv"),
                                          n_boot=n_boot, seed=seed, groups=test["patient_id"].to_numpy())
        rows.append(table.assign(label=label, threshold=threshold))
    out = pd.concat(rows, ignore_index=True)
    return out[["label", "metric", "estimate", "ci_low", "ci_high", "threshold", "n_valid"]]


def confusion_table(result: RunResult) -> pd.DataFrame | None:
    """Test confusion matrix (true classes as rows): arg-max class for single-label tasks, the Youden
    threshold chosen on validation for binary tasks, ``None`` for multi-label tasks."""
    task, val, test = result.task, result.predictions["val"], result.predictions["test"]
    if task.kind == "multilabel":
        return None
    if task.kind == "binary":
        pos = task.positive_class
        threshold = M.youden_threshold(val[pos].to_numpy(), val[f"prob_{pos}"].to_numpy())
        predicted = (test[f"prob_{pos}"].to_numpy() >= threshold).astype(int)
    else:
        predicted = np.argmax(test[[f"prob_{c}" for c in task.classes]].to_numpy(), axis=1)
    return M.confusion_matrix(test["label"].to_numpy(), predicted, task.classes)


def plot_confusion(matrix: pd.DataFrame, title: str = ""):
    """Counts with row-normalised shading (true classes as rows)."""
    import matplotlib.pyplot as plt

    counts = matrix.to_numpy()
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 2.2 + 0.45 * len(matrix)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_roc(result: RunResult, aurocs: pd.DataFrame, split: str = "test"):
    """ROC curve per reported label (:func:`cxrlib.chapters.plots.roc_grid`; one larger panel for a binary task)."""
    from cxrlib.chapters import plots

    curves = run_roc_curves(result, split)
    fig = plots.roc_grid(curves, aucs=dict(zip(aurocs["label"], aurocs["auc"])), ncols=min(5, len(curves)))
    if len(curves) == 1:
        fig.set_size_inches(3.6, 3.6)
        fig.tight_layout()
    return fig


def run_roc_curves(result: RunResult, split: str = "test") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label -> (false positive rate, true positive rate) on the ``split`` predictions."""
    from cxrlib.stats import evaluate

    labels = evaluation_labels(result.task)
    y, s = evaluate.arrays(result.predictions[split], labels)
    return evaluate.roc_curves(y, s, labels)
