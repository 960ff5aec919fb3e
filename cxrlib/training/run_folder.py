"""The run folder of a fine-tuning run: its file names, the per-epoch history, the prediction files
and the summary metrics computed from them.

Layout (written by :func:`cxrlib.training.finetune.fit`; read by notebooks 03, 04 and 05):
``params.yaml``, ``weights.json``, ``metrics.csv`` (:func:`write_history`), ``checkpoints/best.ckpt``
and ``checkpoints/last.ckpt``, ``predictions_val.csv`` and ``predictions_test.csv``
(:func:`predictions_frame`), ``metrics.json`` (:data:`METRICS_BY_KIND`), ``learning.json``
(:func:`learning_check`: did the model learn?). The files are named, written (atomically) and read through
:mod:`cxrlib.core.runs`, the one reader and writer of run folders.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrlib.core.runs import LEARNING, write_csv, write_json
from cxrlib.images.tasks import TaskSpec
from cxrlib.stats import learning
from cxrlib.stats import metrics as M

CHECKPOINT_DIR = "checkpoints"


BEST = "best"


LAST = "last"


HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_auroc", "lr", "epoch_seconds")


@dataclass
class RunResult:
    """What :func:`fit` produced (all of it is also on disk in ``out_dir``)."""

    out_dir: Path
    config: Any  # cxrlib.training.finetune.TrainConfig
    task: TaskSpec
    history: pd.DataFrame
    metrics: dict
    predictions: dict[str, pd.DataFrame]
    weights: Any  # cxrlib.models.WeightsInfo
    freeze: Any  # cxrlib.models.FreezeReport
    start_epoch: int  # first epoch (1-based) this call trained; epochs_completed + 1 if none
    epochs_completed: int
    resumed: bool
    stopped_early: bool
    train_seconds: float

    @property
    def best_checkpoint(self) -> Path:
        return self.out_dir / CHECKPOINT_DIR / f"{BEST}.ckpt"

    @property
    def last_checkpoint(self) -> Path:
        return self.out_dir / CHECKPOINT_DIR / f"{LAST}.ckpt"


def write_history(out_dir: Path, history: list[dict]) -> Path:
    return write_csv(Path(out_dir) / "metrics.csv", pd.DataFrame(history, columns=list(HISTORY_COLUMNS)))


def read_history(out_dir: str | os.PathLike) -> pd.DataFrame:
    """``metrics.csv`` of a run folder."""
    return pd.read_csv(Path(out_dir) / "metrics.csv")


def prediction_columns(task: TaskSpec) -> tuple[list[str], list[str]]:
    """(label columns, probability columns) of the prediction files: ``<class>`` (0/1) and ``prob_<class>``,
    the layout :func:`cxrlib.stats.evaluate.read_predictions` reads."""
    return list(task.classes), [f"prob_{c}" for c in task.classes]


def predictions_frame(table: pd.DataFrame, task: TaskSpec, probs: np.ndarray) -> pd.DataFrame:
    """One row per image: ids, labels and probabilities (see the module docstring)."""
    label_cols, prob_cols = prediction_columns(task)
    targets = task.targets(table)
    out = table[["image_id", "patient_id"]].reset_index(drop=True).copy()
    if task.kind == "multilabel":
        indicators = targets.astype(int)
    else:
        out["label"] = targets.astype(int)
        out["label_name"] = [task.classes[int(t)] for t in targets]
        indicators = (targets[:, None] == np.arange(len(task.classes))[None, :]).astype(int)
    for j, name in enumerate(label_cols):
        out[name] = indicators[:, j]
    for j, name in enumerate(prob_cols):
        out[name] = probs[:, j].astype(float)
    return out


def _binary_metrics(task: TaskSpec, val: pd.DataFrame, test: pd.DataFrame) -> dict:
    pos = task.positive_class
    out = {}
    for name, frame in (("val", val), ("test", test)):
        y, s = frame[pos].to_numpy(), frame[f"prob_{pos}"].to_numpy()
        out[name] = {"auroc": float(M.auroc(y, s)), "accuracy_argmax": float(np.mean((s >= 0.5) == (y == 1)))}
    op = M.youden_operating_points(val[pos], val[f"prob_{pos}"], test[pos], test[f"prob_{pos}"], labels=[pos]).iloc[0]
    out["test"]["youden_from_val"] = {k: v for k, v in op.items() if k not in ("label", "threshold_chosen_on", "optimistic")}
    return out


def _single_label_metrics(task: TaskSpec, val: pd.DataFrame, test: pd.DataFrame) -> dict:
    _, prob_cols = prediction_columns(task)
    out = {}
    for name, frame in (("val", val), ("test", test)):
        report = M.multiclass_report(frame["label"].to_numpy(), frame[prob_cols].to_numpy(), task.classes,
                                     chosen_class=task.report_class or task.classes[0])
        out[name] = {
            "macro_auroc": report.macro_auroc, "macro_recall": report.macro_recall, "macro_f1": report.macro_f1,
            "accuracy": report.accuracy, f"precision_{report.chosen_class}": report.chosen_class_precision,
            "auroc": dict(zip(task.classes, report.per_class["auc_ovr"].astype(float))),
        }
    return out


def _multilabel_metrics(task: TaskSpec, val: pd.DataFrame, test: pd.DataFrame) -> dict:
    label_cols, prob_cols = prediction_columns(task)
    out = {}
    for name, frame in (("val", val), ("test", test)):
        table = M.auroc_table(frame[label_cols].to_numpy(), frame[prob_cols].to_numpy(), list(task.classes))
        labels, averages = table[table["kind"] == "label"], table[table["kind"] != "label"]
        out[name] = {"auroc": dict(zip(labels["label"], labels["auc"].astype(float))),
                     **{f"{row.label.split()[0]}_auroc": float(row.auc) for row in averages.itertuples()}}
    ops = M.youden_operating_points(val[label_cols], val[prob_cols], test[label_cols], test[prob_cols],
                                    labels=list(task.classes))
    out["test"]["youden_from_val"] = ops.drop(columns=["threshold_chosen_on", "optimistic"]).to_dict(orient="records")
    return out


METRICS_BY_KIND: dict[str, Callable[[TaskSpec, pd.DataFrame, pd.DataFrame], dict]] = {
    "binary": _binary_metrics,
    "single_label": _single_label_metrics,
    "multilabel": _multilabel_metrics,
}


#: Redraws of the validation bootstrap behind :func:`learning_check`.
LEARNING_REDRAWS = 1000


def _validation_scores(task: TaskSpec, val: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """(labels, scores, metric name) of the validation AUROC that :func:`learning_check` judges: the positive
    class of a binary task, the macro average over classes (one-vs-rest) or labels otherwise."""
    label_cols, prob_cols = prediction_columns(task)
    if task.kind == "binary":
        pos = task.positive_class
        return val[pos].to_numpy()[:, None], val[f"prob_{pos}"].to_numpy()[:, None], "AUROC"
    return val[label_cols].to_numpy(), val[prob_cols].to_numpy(), "macro AUROC"


def learning_check(task: TaskSpec, val: pd.DataFrame, history: pd.DataFrame, *, no_information: float,
                   seed: int = 0, n_boot: int = LEARNING_REDRAWS) -> learning.LearningCheck:
    """Did the fine-tuned model learn? (:func:`cxrlib.stats.learning.check_learning`): its validation AUROC
    (binary: the positive class; otherwise the macro average) with a patient-level percentile bootstrap
    CI against 0.5, and the last epoch's training loss against ``no_information`` (the loss of the best
    constant prediction under the run's own loss, e.g. ``WeightedCrossEntropy.no_information_loss``)."""
    from cxrlib.stats.bootstrap import bootstrap_auroc

    y, s, metric = _validation_scores(task, val)
    values = {}
    if len(val):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", M.UndefinedMetricWarning)
            table = bootstrap_auroc(y, s, n_boot=n_boot, seed=seed, groups=val["patient_id"].to_numpy(),
                                    averages=() if y.shape[1] == 1 else ("macro",)).table
        row = table.iloc[-1]
        values = {"estimate": row["auc"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]}
    final = history["train_loss"].dropna()
    loss = {"final_loss": float(final.iloc[-1]), "no_information": no_information} if len(final) else {}
    return learning.check_learning(metric=metric, **values, **loss, what="fine-tuned model")


def write_learning(out_dir: str | os.PathLike, check: learning.LearningCheck) -> Path:
    """``learning.json`` of a run folder (:data:`cxrlib.core.runs.LEARNING`), written atomically."""
    return write_json(Path(out_dir) / LEARNING, check.to_dict())
