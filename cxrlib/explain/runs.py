"""A fine-tuning run folder (``03_finetune``) read for explanation: model, task, predictions, images.

:func:`read_run` checks the folder before anything heavy happens and says what is missing, once:
not a run folder (no ``params.yaml``), no checkpoint (``checkpoints/best.ckpt``, or ``last``), no test
predictions. It also reads the run's "did it learn?" check (``learning.json``,
:func:`cxrlib.stats.learning.read_learning_checks`): explanations of a model that did not learn are a
pipeline demo, and the chapter says so. :func:`resolve_class` turns a class name into the task's index or says which classes the
task has. :func:`decisions` applies the rule of notebook 03's confusion matrix (binary: the Youden
threshold chosen on the *validation* predictions; single-label: the most probable class), and
:func:`choose_cases` picks the images to draw by rule, not by eye.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.core.runs import CONFIG, WEIGHTS, predictions_file, read_config, read_json
from cxrlib.images.tasks import TaskSpec, get_task
from cxrlib.stats import metrics as M
from cxrlib.stats.learning import LearningCheck, read_learning_checks
from cxrlib.training.run_folder import BEST, CHECKPOINT_DIR

CASE_KINDS = ("true positive", "false positive", "false negative")


class RunFolderError(FileNotFoundError):
    """A fine-tuning run folder lacks a file that explaining it needs."""


@dataclass
class FinetuneRun:
    """What notebook 05 needs of one fine-tuning run folder."""

    folder: Path
    params: dict
    task: TaskSpec
    predictions: dict[str, pd.DataFrame]  # "val", "test"
    checkpoint: Path
    weights_label: str
    name: str
    learning: LearningCheck | None = None  # None: the folder has no learning.json (an older run)

    @property
    def backbone(self) -> str:
        return str(self.params["backbone"])

    @property
    def image_size(self) -> int:
        return int(self.params["image_size"])

    def load_model(self):
        """The trained classifier (eval mode) from the run's checkpoint."""
        from cxrlib.training.finetune import load_run_model

        return load_run_model(self.folder, checkpoint=self.checkpoint.stem)


def _weights_label(folder: Path) -> str:
    path = folder / WEIGHTS
    if not path.exists():
        return "not recorded (no weights.json in the run folder)"
    from cxrlib.models.weights import WeightsInfo
    from cxrlib.training.finetune import weights_label

    return weights_label(WeightsInfo(**read_json(path)))


def read_run(folder: str | os.PathLike, checkpoint: str = BEST, name: str | None = None) -> FinetuneRun:
    """Read a fine-tuning run folder; one clear :class:`RunFolderError` for each missing piece."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"the fine-tuning run folder {folder} does not exist: run notebooks/03_finetune "
                             f"first (papermill notebooks/03_finetune.ipynb out.ipynb -p out_dir {folder}) or "
                             "build the book (cxrlib book), which writes book/_generated/03_finetune")
    if not (folder / CONFIG).exists():
        raise RunFolderError(f"{folder} is not a fine-tuning run folder: it has no params.yaml (03_finetune "
                             "writes one into its out_dir)")
    ckpt = folder / CHECKPOINT_DIR / f"{checkpoint}.ckpt"
    if not ckpt.exists():
        raise RunFolderError(f"{folder} has no checkpoint {CHECKPOINT_DIR}/{checkpoint}.ckpt: the run did not "
                             "finish an epoch, or the checkpoints were deleted. Re-run 03_finetune with "
                             f"out_dir {folder}.")
    predictions = {}
    for split in ("val", "test"):
        path = predictions_file(folder, split)
        if not path.exists():
            raise RunFolderError(f"{folder} has no {path.name}: the run stopped before predicting; re-run "
                                 "03_finetune with the same out_dir (it resumes and writes the predictions)")
        predictions[split] = pd.read_csv(path)
    params = read_config(folder)
    task = get_task(params["task"])
    label = name or f"{params['backbone']} ({folder.name})"
    learning = read_learning_checks(folder).get(".")
    return FinetuneRun(folder, params, task, predictions, ckpt, _weights_label(folder), label, learning)


def resolve_class(task: TaskSpec, name: str | None) -> int:
    """Index of class ``name`` in ``task``; ``None``: the positive class of a binary task."""
    if name is None:
        if task.kind == "binary":
            return 1
        raise ValueError(f"task {task.name} is {task.kind}: name the class to explain (gradcam_class), one of "
                         f"{', '.join(task.classes)}")
    if name not in task.classes:
        raise ValueError(f"task {task.name} has no class {name!r}; its classes are: {', '.join(task.classes)}")
    return task.classes.index(name)


def decisions(run: FinetuneRun, split: str = "test") -> tuple[np.ndarray, str]:
    """Predicted class per image of ``split`` and the rule used (binary: Youden threshold from the
    validation predictions; single-label: the most probable class). Multi-label tasks: an error."""
    task, frame = run.task, run.predictions[split]
    if task.kind == "binary":
        pos, val = task.positive_class, run.predictions["val"]
        threshold = M.youden_threshold(val[pos].to_numpy(), val[f"prob_{pos}"].to_numpy())
        return (frame[f"prob_{pos}"].to_numpy() >= threshold).astype(int), \
            f"Youden threshold {threshold:.3f} chosen on validation"
    if task.kind == "single_label":
        return np.argmax(frame[[f"prob_{c}" for c in task.classes]].to_numpy(), axis=1), "most probable class"
    raise ValueError(f"task {task.name} is multi-label: a confusion matrix needs one class per image")


def confusion(run: FinetuneRun, split: str = "test") -> tuple[pd.DataFrame, str]:
    """Counts (true classes as rows) and the decision rule."""
    predicted, rule = decisions(run, split)
    return M.confusion_matrix(run.predictions[split]["label"].to_numpy(), predicted, run.task.classes), rule


def choose_cases(run: FinetuneRun, class_index: int, per_kind: int = 2, split: str = "test") -> pd.DataFrame:
    """For class ``class_index``: the ``per_kind`` highest-confidence true positives (highest probability),
    false positives (highest probability) and false negatives (lowest probability), by the rule of
    :func:`decisions`. Columns: ``kind``, ``image_id``, ``patient_id``, ``label_name``, ``predicted``,
    ``prob`` (of the class)."""
    task, frame = run.task, run.predictions[split]
    predicted, _ = decisions(run, split)
    cls = task.classes[class_index]
    prob = frame[f"prob_{cls}"].to_numpy()
    is_true, is_pred = frame["label"].to_numpy() == class_index, predicted == class_index
    picks = []
    for kind, mask, ascending in (("true positive", is_true & is_pred, False),
                                  ("false positive", ~is_true & is_pred, False),
                                  ("false negative", is_true & ~is_pred, True)):
        part = frame[mask].assign(prob=prob[mask], predicted=[task.classes[p] for p in predicted[mask]])
        part = part.sort_values(["prob", "image_id"], ascending=[ascending, True]).head(per_kind)
        picks.append(part.assign(kind=kind))
    cases = pd.concat(picks, ignore_index=True)
    return cases[["kind", "image_id", "patient_id", "label_name", "predicted", "prob"]]
