"""Classroom analogues of the documents' downstream comparisons (notebooks 10 and 11): the training side.

The comparisons themselves (paired tests, Tables III-V, Figs 3/4, label-efficiency tables) are in
:mod:`cxrlib.chapters.documents` and read run folders; this module makes those run folders with notebook
03's engine (:func:`cxrlib.training.finetune.fit`); the SSL checkpoint they start from is
:func:`cxrlib.training.ssl.runs.final_checkpoint`'s:

* :func:`finetune_runs`: one run per starting point, every other setting equal (the documents' design:
  two initialisations fine-tuned on one split and tested on the same images);
* :func:`budget_schedule`: epochs and images per epoch that give runs on 1 %, 10 % and 100 % of the labels
  about the same number of images seen (our choice for the label-efficiency curve: without it, the 1 % run
  would take a handful of optimiser steps and the curve would measure training length, not labels).
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


def budget_schedule(n_train: int, *, images_budget: int, batch_size: int, max_epochs: int) -> dict[str, int]:
    """``{"epochs", "train_images_per_epoch"}`` so that a run on ``n_train`` training images sees about
    ``images_budget`` images: one epoch of ``images_budget`` images when the part is that large, else whole
    epochs of the part (at least one full batch, so ``n_train >= batch_size``), at most ``max_epochs``."""
    if n_train < batch_size:
        raise ValueError(f"{n_train} training images for a batch of {batch_size}: lower batch_size or raise the "
                         "label fraction")
    per_epoch = min(images_budget, (n_train // batch_size) * batch_size)
    epochs = max(1, min(max_epochs, math.ceil(images_budget / per_epoch)))
    return {"epochs": int(epochs), "train_images_per_epoch": int(per_epoch)}
