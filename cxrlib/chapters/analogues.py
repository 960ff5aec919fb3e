"""Classroom analogues of the documents' downstream comparisons (notebooks 11 and 12): the training side.

The comparisons themselves (paired tests, Tables III-V, Figs 3/4, label-efficiency tables) are in
:mod:`cxrlib.chapters.documents` and read run folders; this module makes those run folders with notebook
03's engine (:func:`cxrlib.training.finetune.fit`); the SSL checkpoint they start from is
:func:`cxrlib.training.ssl.runs.final_checkpoint`'s:

* :func:`finetune_runs`: one run per starting point, every other setting equal (the documents' design:
  two initialisations fine-tuned on one split and tested on the same images);
* :func:`label_schedule`: batch size, passes per epoch and an epoch cap that let runs on 1 %, 10 % and
  100 % of the labels each train to early stopping on the validation loss (our choice for the
  label-efficiency curve: a fixed number of images seen would leave the large label sets unconverged,
  and the curve would then measure training length, not labels).
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cxrlib.training import finetune as training
from cxrlib.training.run_folder import RunResult


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "run"


def finetune_runs(base: Mapping[str, Any], starts: Mapping[str, Mapping[str, Any]], out_root: str | os.PathLike,
                  *, echo=print) -> dict[str, RunResult]:
    """Fine-tune one run per entry of ``starts`` (name -> the parameters that differ, e.g.
    ``{"weights": "none"}``) from the same ``base`` parameters of :class:`~cxrlib.training.finetune.TrainConfig`,
    each into ``<out_root>/<name>``. Re-running resumes or reuses finished runs (the engine's rule)."""
    results = {}
    for name, overrides in starts.items():
        values = {**base, **overrides, "out_dir": str(Path(out_root) / _slug(name))}
        echo(f"--- {name}: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
        results[name] = training.fit(training.TrainConfig.from_dict(values))
    return results


def held_predictions(result: RunResult, name: str):
    """The run's test predictions (in memory: its folder may be inside the notebook's unfinished staging
    folder, which :func:`cxrlib.stats.evaluate.read_predictions` refuses), named ``name`` in errors."""
    frame = result.predictions["test"].copy()
    frame.attrs["source"] = f"{name} ({result.out_dir.name})"
    return frame


def label_schedule(n_train: int, *, batch_size: int, epoch_images: int, min_epoch_steps: int, max_epochs: int,
                   max_images: int) -> dict[str, int]:
    """How a run on ``n_train`` labelled training images trains (notebook 12), as
    :class:`~cxrlib.training.finetune.TrainConfig` values and what they imply:

    * ``epoch_repeats``: passes over the set per epoch, so that an epoch holds at least ``epoch_images``
      images (a 47-image set is validated every few passes, not after every step);
    * ``batch_size``: ``batch_size``, or the largest power of two (at least 2, at most ``n_train``) that still
      gives an epoch ``min_epoch_steps`` optimiser steps: a mid-sized set (470 images) in batches of 128
      would take 3 steps per epoch, too few to converge before the epoch cap;
    * ``epochs``: at most ``max_epochs`` and at most ``max_images`` images seen in all (at least one
      epoch): the step budget grows with the label set and is capped. Early stopping on the validation
      loss ends a run sooner; a run that reaches ``epochs`` may not have converged (its history says so);
    * ``train_images_per_epoch``: whole batches, at most ``max_images`` (a tiny smoke budget caps one pass), and
      ``max_steps`` (optimiser steps at most)."""
    if n_train < 2:
        raise ValueError(f"{n_train} training image(s): a run needs at least two")
    repeats = max(1, math.ceil(epoch_images / n_train))
    epoch_pool = min(n_train * repeats, int(max_images))
    largest = min(n_train, max(2, epoch_pool // int(min_epoch_steps)))
    batch = min(int(batch_size), 2 ** int(math.floor(math.log2(largest))))
    per_epoch = min((n_train * repeats // batch) * batch, max(batch, int(max_images) // batch * batch))
    epochs = max(1, min(int(max_epochs), int(max_images) // per_epoch))
    return {"batch_size": batch, "epoch_repeats": repeats, "epochs": epochs, "train_images_per_epoch": per_epoch,
            "max_steps": epochs * per_epoch // batch}


def run_learning(run, what: str):
    """The run's "did it learn?" check (:class:`cxrlib.stats.learning.LearningCheck`): from a
    :class:`RunResult` just trained (its summary) or a finished run folder (its ``learning.json``); a run
    without one gives a check that says "not checked"."""
    from cxrlib.stats.learning import LearningCheck, check_learning, read_learning_checks

    if isinstance(run, RunResult):
        record = run.metrics.get("learning")
        check = LearningCheck.from_dict(record) if record else None
    else:
        check = read_learning_checks(run).get(".")
    check = check or check_learning()
    return LearningCheck.from_dict({**check.to_dict(), "what": what})


LEAKAGE_ARMS = {"patient-clean": True, "control": False}
"""The leakage comparison's two arms and their ``patient_clean`` option: the official train folder less the
shared children's images, and the official train folder less as many images drawn at random (per class in
proportion: :func:`cxrlib.images.task_tables.label_fraction`), so the two differ in *which* images are gone, not
in how many."""


def leakage_runs(base: Mapping[str, Any], seeds, out_root: str | os.PathLike, *, data_root=None, label: str,
                 reuse: Mapping[tuple[bool, int], str | os.PathLike] | None = None, echo=print) -> dict:
    """Notebook 11's leakage design: for each seed, one run per arm of :data:`LEAKAGE_ARMS` from ``base``
    (a fine-tuning run's parameters; the seed also draws the validation patients and the removed images).
    ``reuse``: ``(patient_clean, seed) -> finished run folder`` to read instead of training (notebook 06's
    baseline is the patient-clean arm at its own seed). Returns ``{"runs": arm -> seed -> run (a run folder
    or the test predictions in memory), "table": one row per arm and seed (training images, learning check,
    test AUROC of ``label``)}``."""
    import numpy as np
    import pandas as pd

    from cxrlib.images.tasks import TARGET, get_task
    from cxrlib.images.task_tables import label_fraction
    from cxrlib.stats import evaluate
    from cxrlib.stats.metrics import auroc

    task = get_task(base["task"])
    options = dict(base.get("task_options") or {})
    runs: dict[str, dict[int, Any]] = {arm: {} for arm in LEAKAGE_ARMS}
    rows = []
    for s in (int(v) for v in seeds):
        train = {clean: task.load_table(data_root, seed=s, val_fraction=base.get("val_fraction"),
                                        **{**options, "patient_clean": clean}).query("split == 'train'")
                 for clean in (True, False)}
        fraction = len(train[True]) / len(train[False])
        for arm, clean in LEAKAGE_ARMS.items():
            kept_train = train[True] if clean else label_fraction(train[False], task, fraction, s)
            kept = (reuse or {}).get((clean, s))
            if kept is not None:
                run, check = Path(kept), run_learning(Path(kept), f"{arm} run (seed {s})")
                frame = evaluate.read_predictions(Path(kept) / "predictions_test.csv")
            else:
                overrides = {"seed": s, "task_options": {**options, "patient_clean": clean},
                             "label_fraction": None if clean else fraction}
                result = finetune_runs(base, {f"{arm}-seed{s}": overrides}, out_root, echo=echo)[f"{arm}-seed{s}"]
                run = frame = held_predictions(result, f"{arm} seed {s}")
                check = run_learning(result, f"{arm} run (seed {s})")
            runs[arm][s] = run
            y, score = evaluate.arrays(frame, [label])
            rows.append({"arm": arm, "seed": s, "train images": len(kept_train),
                         "train positive share": float(kept_train[TARGET].mean()), "learned": check.label,
                         "validation AUROC": check.estimate, "ci_low": check.ci_low, "ci_high": check.ci_high,
                         "final training loss": check.final_loss, "no-information loss": check.no_information_loss,
                         "test AUROC": float(auroc(y[:, 0], score[:, 0])) if 0 < y.sum() < len(y) else np.nan})
    return {"runs": runs, "table": pd.DataFrame(rows)}
