"""Fine-tuning a registry backbone on a task, with PyTorch Lightning, into one run folder.

``fit(config) -> RunResult`` trains a :class:`cxrlib.models.BackboneClassifier` (a backbone of
:mod:`cxrlib.models`, partially unfrozen with ``unfreeze_last``) on a task of :mod:`cxrlib.images.tasks`
and writes everything a later notebook needs into ``config.out_dir``:

======================================  ===============================================================
``params.yaml``                         the :class:`TrainConfig` of the run
``weights.json``                        what the backbone started from (:class:`~cxrlib.models.WeightsInfo`,
                                        recorded when the run starts and kept on resume)
``metrics.csv``                         one row per epoch: train loss, val loss, val AUROC, lr, seconds
``checkpoints/best.ckpt``               weights of the epoch with the lowest validation loss
``checkpoints/last.ckpt``               the end of the last finished epoch (weights, optimiser,
                                        scheduler, early-stopping state): what a re-run resumes from
                                        (not written when ``resumable`` is False)
``predictions_val.csv``,                one row per image of the best model: ``image_id``,
``predictions_test.csv``                ``patient_id``, ``<class>`` (0/1 per class or label),
                                        ``prob_<class>``; single-label and binary tasks also
                                        ``label`` (class index) and ``label_name``
``metrics.json``                        task, columns, best epoch, val/test metrics, image counts,
                                        weights, what trained, timings
======================================  ===============================================================

Protocol, as data (:class:`TrainConfig`): loss weighted by class (document 000, equation 1) or by
label (document 001, :mod:`cxrlib.training.losses`); the optional resampling of document 000
(:mod:`cxrlib.images.sampling`); an augmentation policy (:mod:`cxrlib.images.augment`); AdamW, Adam (L2 through
``weight_decay``, document 000's "L2 regularizer") or SGD; early stopping on the validation loss with
``patience`` (document 000: 10); ``ReduceLROnPlateau`` on the validation loss (document 004: factor
0.1, patience 3); the best checkpoint by validation loss; seeds through ``lightning.seed_everything``;
``device`` and ``precision`` as every trainer names them (:class:`cxrlib.training.common.Hardware`: ``"auto"``,
``"cpu"``, ``"cuda"``; ``"32"``, ``"bf16"``), ``devices`` (how many) and ``strategy`` (``"ddp"``) for GPU
machines (multi-process DDP needs a script: ``python -m cxrlib.training.finetune params.yaml --out-dir DIR``,
not a notebook).

**Resume.** Re-running with the same ``out_dir`` continues from ``checkpoints/last.ckpt`` (saved at the
end of every epoch, so a kill loses at most the epoch in progress). The parameters must match the
saved ``params.yaml`` except :data:`RESUMABLE_CHANGES` (e.g. a larger ``epochs``); a finished run
(all epochs done, or stopped early) is not trained again, only its predictions are recomputed.
``resumable=False`` writes no ``last.ckpt`` (for a ResNet18, 134 MB of weights and Adam state after every
epoch): for runs that are cheaper to repeat than to keep, e.g. notebook 12's eighteen short ones; such a
run, re-run, trains again from the start.
The per-epoch history travels inside the checkpoint, so ``metrics.csv`` always matches it.

**Exact resume.** A run killed at any point and resumed gives the same ``metrics.csv`` (but the
seconds), predictions and best checkpoint as a run that never stopped, with the same seed on the same
machine: the shuffle depends only on ``(seed, epoch)``, and every checkpoint carries the state of every
random generator the epochs draw from (Python ``random``, numpy's global generator, torch's CPU
generator and, when CUDA is in use, the CUDA generators: the augmentations, dropout and the data
loader's worker seeds), taken at the end of the epoch and put back when training resumes, before the
next epoch draws anything. Workers are not kept between epochs (``persistent_workers=False``), so their
seeds come from the restored state too. An uninterrupted run draws exactly what it drew before.
GPU kernels that are not deterministic add their own noise (``deterministic=False``).

**Run folders.** Inside a notebook run (:class:`cxrlib.book.artifacts.RunArtifacts` open on the same
``out_dir`` or a folder above it) the run writes into that run's staging folder
(:func:`cxrlib.core.staging.staged_path`), so a failed or refused run never touches the finished folder;
``RunResult.out_dir`` is where the files were written. A checkpoint that cannot be read (a copy cut
short, a full disk) is an error that names the file and what to do. Checkpoints are read with
``torch.load(weights_only=True)`` only (ours and Lightning's resume): a file holding other pickled objects,
which could run code while loading, is refused; a checkpoint of another backbone is named as such.

**Progress.** ``progress="epoch"`` (default) prints one line per epoch (readable in papermill
outputs); ``"bar"`` uses Lightning's TQDM bar with a low refresh rate; ``"none"`` prints nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import pickle
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader

from cxrlib.core.config import ParamsMixin, lookup
from cxrlib.core.params import check_config
from cxrlib.core.runs import (
    METRICS, WEIGHTS, predictions_file, read_config, read_json, write_config, write_csv, write_json,
)
from cxrlib.core.staging import staged_path
from cxrlib.images.augment import build_augmentation
from cxrlib.images.preprocess import PreprocessCache
from cxrlib.images.sampling import RESAMPLERS
from cxrlib.images.tasks import TaskSpec, get_task
from cxrlib.images.task_tables import class_counts, label_fraction, split_tables, subsample
from cxrlib.images.preprocess import preprocess_config
from cxrlib.images.dataset import CxrDataset, single_thread_torch
from cxrlib.stats import metrics as M
from cxrlib.training.common import (
    EpochSeededSampler,
    Hardware,
    check_resumable,
    get_optimizer,
    size_kwargs,
)
from cxrlib.training.run_folder import (
    BEST,
    CHECKPOINT_DIR,
    HISTORY_COLUMNS,
    LAST,
    METRICS_BY_KIND,
    RunResult,
    learning_check,
    prediction_columns,
    predictions_frame,
    write_history,
    write_learning,
)

log = logging.getLogger(__name__)

HISTORY_KEY = "cxrlib_history"
SCHEDULER_KEY = "cxrlib_plateau_scheduler"
RNG_KEY = "cxrlib_rng_states"
BACKBONE_KEY = "cxrlib_backbone"  # the registry key of the model a checkpoint holds (a plain string)

RESUMABLE_CHANGES = frozenset(
    {"epochs", "progress", "num_workers", "eval_batch_size", "out_dir", "data_root", "cache_dir", "devices",
     "device", "strategy", "weights_dir", "profile", "resumable"}
)
"""Parameters that may differ between a run and its resumption (everything else must match)."""


# ------------------------------------------------------------------------------------------- config


@dataclass
class TrainConfig(ParamsMixin):
    """Everything that defines a fine-tuning run (the notebook's parameters carry the same names).

    The defaults are the book's classroom run (``params/classroom/03_finetune.yaml``, the parameter cell
    of ``notebooks/03_finetune``; a test keeps the three equal). The documents' protocols are in
    ``params/paper/03_finetune--*.yaml``.
    """

    out_dir: str
    backbone: str = "resnet18"
    weights: str = "auto"
    weights_dir: str | None = None
    ssl_dir: str | None = "book/_generated/02_pretrain"  # "auto"'s start when no published weights: our SSL
    task: str = "kermany_pneumonia"
    task_options: dict = field(default_factory=dict)
    data_root: str | None = None
    val_fraction: float | None = None  # None: the task's default
    subset: dict | None = None  # at most this many images per split, e.g. {"train": 64} (quick runs, tests)
    label_fraction: float | None = None  # keep this share of the training labels (nested, seeded; notebook 12)
    preprocess: str = "classroom"  # a pipeline of cxrlib.images.preprocess.PIPELINES
    image_size: int = 64
    augment: str = "d000"  # a policy of cxrlib.images.augment.POLICIES
    resample: str | None = None  # "d000": document 000's resampling of the training set
    head: str = "d000"  # "d000" (Dropout, Dense 128, ReLU, Dropout, Dense) or "linear"
    unfrozen_blocks: int | str = "auto"  # a count, "all", "half" (of the backbone's blocks), or "auto" (UNFROZEN_ALIASES)
    dropout: float = 0.0
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD only
    loss_weighting: str = "inverse_frequency"  # or "none"
    loss_normalize: str = "weights"  # single-label CE: "weights" (PyTorch) or "count" (Keras)
    epochs: int = 8
    batch_size: int = 32
    eval_batch_size: int | None = None
    train_images_per_epoch: int | None = 2048  # cap: a fresh random subset each epoch; None: all
    epoch_repeats: int | None = None  # passes over the training part per epoch (None: one; small label sets: notebook 12)
    patience: int | None = 3  # early stopping on val loss (document 000: 10); None: off
    resumable: bool = True  # False: no checkpoints/last.ckpt (weights + optimiser state each epoch); a re-run trains again
    lr_scheduler: str = "plateau"  # "plateau" or "none"
    plateau_factor: float = 0.1
    plateau_patience: int = 1  # document 004: 3
    seed: int = 0
    precision: str = "32"  # or "bf16": cxrlib.training.common.PRECISIONS
    device: str = "auto"  # "auto" (the GPU when there is one), "cpu", "cuda", "cuda:1"
    devices: int | str = 1  # how many (DDP)
    strategy: str = "auto"
    num_workers: int = 0
    progress: str = "epoch"
    cache_dir: str | None = None
    profile: str = "classroom"

    def __post_init__(self) -> None:
        self.out_dir = str(self.out_dir)
        if isinstance(self.unfrozen_blocks, str) and self.unfrozen_blocks.strip().isdigit():
            self.unfrozen_blocks = int(self.unfrozen_blocks)
        # the rules of every parameter name (cxrlib.core.params.COMMON_RULES: registry names, ranges) and
        # COMMON_CHECKS (a ViT's image_size is a multiple of its patch), as notebook 03 checks them; the
        # device and precision as every trainer checks them (Hardware)
        check_config(self)
        Hardware.of(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


NOTEBOOK_ONLY = frozenset({"n_boot"})
"""Parameters of notebooks/03_finetune that are not training parameters (the CLI skips them)."""


# -------------------------------------------------------------------------------------- the module


def _lightning():
    import lightning.pytorch as pl

    return pl


def _probabilities(logits: torch.Tensor, kind: str) -> torch.Tensor:
    logits = logits.float()
    return torch.sigmoid(logits) if kind == "multilabel" else torch.softmax(logits, dim=1)


def _monitor_auroc(targets: np.ndarray, probs: np.ndarray, kind: str) -> float:
    """Macro AUROC for the progress line (one-vs-rest for single-label; NaN where undefined)."""
    if kind == "binary":
        y, s = targets == 1, probs[:, 1]
        return float(M.auroc(y, s)) if 0 < y.sum() < len(y) else float("nan")
    y = targets if kind == "multilabel" else (targets[:, None] == np.arange(probs.shape[1])[None, :])
    y = np.asarray(y, dtype=bool)
    defined = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
    return float(np.mean([M.auroc(y[:, j], probs[:, j]) for j in defined])) if defined else float("nan")


def build_module(model: nn.Module, loss: nn.Module, kind: str, config: TrainConfig):
    """The LightningModule (created lazily so that importing this module does not import Lightning)."""
    pl = _lightning()

    class FineTuneModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.loss_fn = loss
            self.kind = kind
            self.config = config
            self.history: list[dict[str, float]] = []
            self._train_sum = 0.0
            self._train_count = 0
            self._val_logits: list[torch.Tensor] = []
            self._val_targets: list[torch.Tensor] = []
            self._epoch_start = time.time()
            self._plateau = None
            self._plateau_state = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)

        def on_train_epoch_start(self) -> None:
            self._train_sum, self._train_count, self._epoch_start = 0.0, 0, time.time()

        def training_step(self, batch, batch_idx):
            x, y, _ = batch
            loss = self.loss_fn(self(x), y)
            self._train_sum += float(loss.detach()) * len(x)
            self._train_count += len(x)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y, _ = batch
            self._val_logits.append(self(x).detach().float())
            self._val_targets.append(y.detach())

        def on_validation_epoch_end(self) -> None:
            logits, targets = torch.cat(self._val_logits), torch.cat(self._val_targets)
            self._val_logits, self._val_targets = [], []
            if self.trainer.world_size > 1:
                logits = self.all_gather(logits).flatten(0, 1)
                targets = self.all_gather(targets).flatten(0, 1)
            if self.trainer.sanity_checking:
                return
            val_loss = float(self.loss_fn(logits, targets))
            probs = _probabilities(logits, self.kind).cpu().numpy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", M.UndefinedMetricWarning)
                val_auroc = _monitor_auroc(targets.cpu().numpy(), probs, self.kind)
            counts = torch.tensor([self._train_sum, float(self._train_count)], device=self.device)
            if self.trainer.world_size > 1:
                counts = self.trainer.strategy.reduce(counts, reduce_op="sum")
            train_loss = float(counts[0] / counts[1]) if counts[1] > 0 else float("nan")
            row = {
                "epoch": self.current_epoch + 1,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_auroc": val_auroc,
                "lr": float(self.trainer.optimizers[0].param_groups[0]["lr"]),
                "epoch_seconds": round(time.time() - self._epoch_start, 2),
            }
            self.history = [h for h in self.history if h["epoch"] < row["epoch"]] + [row]
            if self._plateau is not None:
                # Stepped here, not by Lightning at the end of the epoch, so that the end-of-epoch
                # checkpoint (saved right after validation) already holds this epoch's step.
                self._plateau.step(val_loss)
            self.log("val_loss", val_loss, sync_dist=False, rank_zero_only=False)
            self.log("val_auroc", val_auroc if math.isfinite(val_auroc) else 0.0, sync_dist=False)

        def configure_optimizers(self):
            params = [p for p in self.model.parameters() if p.requires_grad]
            if not params:
                raise ValueError("nothing to train: every parameter is frozen")
            optimizer = get_optimizer(self.config.optimizer)(params, self.config)
            if self.config.lr_scheduler == "plateau":
                self._plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    optimizer, mode="min", factor=self.config.plateau_factor, patience=self.config.plateau_patience
                )
                if self._plateau_state is not None:
                    self._plateau.load_state_dict(self._plateau_state)
            return optimizer

        def on_save_checkpoint(self, checkpoint: dict) -> None:
            checkpoint[HISTORY_KEY] = list(self.history)
            checkpoint[BACKBONE_KEY] = self.model.spec.key
            if self._plateau is not None:
                checkpoint[SCHEDULER_KEY] = self._plateau.state_dict()
            # Saved at the end of an epoch, after its validation: nothing draws a random number between
            # here and the next epoch's data loader, so restoring this state continues the same stream.
            checkpoint[RNG_KEY] = rng_states()

        def on_load_checkpoint(self, checkpoint: dict) -> None:
            self.history = list(checkpoint.get(HISTORY_KEY, []))
            self._plateau_state = checkpoint.get(SCHEDULER_KEY)
            if self._plateau is not None and self._plateau_state is not None:
                self._plateau.load_state_dict(self._plateau_state)
            if checkpoint.get(RNG_KEY) is not None:
                # Lightning restores the module before it builds the first data loader iterator of the
                # resumed epoch (which draws the worker seed): the same point in the stream as above.
                set_rng_states(checkpoint[RNG_KEY])

    return FineTuneModule()


def rng_states() -> dict[str, Any]:
    """The state of every random generator a training epoch draws from (see "Exact resume")."""
    import random

    name, keys, position, has_gauss, cached = np.random.get_state()
    # plain containers and tensors only: Lightning reads checkpoints with torch.load(weights_only=True)
    states: dict[str, Any] = {"python": random.getstate(),
                              "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss),
                                        float(cached)],
                              "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Put back what :func:`rng_states` took."""
    import random

    random.setstate(states["python"])
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        cuda = list(states["cuda"])
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            warnings.warn(f"the checkpoint holds {len(cuda)} CUDA generator states for "
                          f"{torch.cuda.device_count()} GPUs: not restored (the resumed run is not exact)")


def _callbacks(config: TrainConfig, out_dir: Path, n_batches: int) -> tuple[list, dict]:
    pl = _lightning()
    from lightning.pytorch.callbacks import (
        Callback,
        EarlyStopping,
        ModelCheckpoint,
        TQDMProgressBar,
    )

    ckpt_dir = out_dir / CHECKPOINT_DIR

    class HistoryWriter(Callback):
        """Writes metrics.csv (rank 0) after every validation, before the checkpoints are saved."""

        def _write(self, trainer, module) -> None:
            if trainer.is_global_zero and not trainer.sanity_checking:
                write_history(out_dir, module.history)

        def on_train_start(self, trainer, module) -> None:  # after a resume: drop rows the checkpoint lacks
            self._write(trainer, module)

        def on_validation_end(self, trainer, module) -> None:
            self._write(trainer, module)

    class EpochPrinter(Callback):
        def on_validation_end(self, trainer, module) -> None:
            if trainer.is_global_zero and not trainer.sanity_checking and module.history:
                h = module.history[-1]
                print(
                    f"epoch {h['epoch']}/{trainer.max_epochs}: train loss {h['train_loss']:.4f}, "
                    f"val loss {h['val_loss']:.4f}, val AUROC {h['val_auroc']:.3f}, lr {h['lr']:.2g} "
                    f"({h['epoch_seconds']:.0f} s)",
                    flush=True,
                )

    class BestCheckpoint(Callback):
        """Weights of the epoch with the lowest validation loss so far (strictly lower wins: ties keep the
        earlier epoch). Decided from the history inside the checkpoint, so a moved run folder resumes right."""

        def on_validation_end(self, trainer, module) -> None:
            if trainer.sanity_checking or not module.history:
                return
            current = module.history[-1]["val_loss"]
            earlier = [h["val_loss"] for h in module.history[:-1] if math.isfinite(h["val_loss"])]
            if math.isfinite(current) and (not earlier or current < min(earlier)):
                trainer.save_checkpoint(ckpt_dir / f"{BEST}.ckpt", weights_only=True)

    callbacks: list = [HistoryWriter(), BestCheckpoint()]
    named: dict = {}
    if config.resumable:  # the resume state: weights, optimiser, early stopping, generators (134 MB for a ResNet18)
        last = ModelCheckpoint(dirpath=ckpt_dir, filename=LAST, save_top_k=1, enable_version_counter=False)
        callbacks.append(last)
        named["last"] = last
    if config.patience is not None:
        stopper = EarlyStopping(monitor="val_loss", mode="min", patience=config.patience, check_on_train_epoch_end=False)
        callbacks.append(stopper)
        named["early_stopping"] = stopper
    if config.progress == "epoch":
        callbacks.append(EpochPrinter())
    elif config.progress == "bar":
        callbacks.append(TQDMProgressBar(refresh_rate=max(1, n_batches // 10)))
    del pl
    return callbacks, named


# ----------------------------------------------------------------------------------------- results


# --------------------------------------------------------------------------------------- building


def build_model(config: TrainConfig, task: TaskSpec):
    """The classifier with its weights and the unfreezing of ``config``: (model, WeightsInfo, FreezeReport)."""
    from cxrlib.models import build_classifier, get_spec, unfreeze_last

    spec = get_spec(config.backbone)
    sizing = size_kwargs(spec.key, config.image_size)
    model = build_classifier(
        spec.key, task.n_outputs, head=config.head, dropout=config.dropout, weights=config.weights,
        weights_dir=config.weights_dir, ssl_dir=config.ssl_dir, seed=config.seed, **sizing,
    )
    report = unfreeze_last(model, resolve_unfrozen_blocks(config.unfrozen_blocks, model))
    if model.weights_info.random and report.unfrozen_blocks != "all":
        warnings.warn(f"{spec.key} starts from random values and {report.n_blocks - report.unfrozen_blocks} of its "
                      f"{report.n_blocks} blocks stay frozen: they keep their random values (unfrozen_blocks="
                      f"{config.unfrozen_blocks!r}; 'all' or 'auto' trains every block of a random start)",
                      FrozenRandomBlocksWarning, stacklevel=2)
    return model, model.weights_info, report


class FrozenRandomBlocksWarning(UserWarning):
    """Blocks of a randomly initialised backbone are frozen: they stay random (not transfer learning)."""


UNFROZEN_ALIASES: dict[str, Callable[[int, Any], int | str]] = {
    "half": lambda n_blocks, start: n_blocks // 2,  # document 000: "only up to half of the [...] blocks"
    "all": lambda n_blocks, start: "all",
    # the classroom default: half of a pretrained backbone (published or our SSL), every block of a random one
    "auto": lambda n_blocks, start: "all" if start.random else n_blocks // 2,
}
"""Names for ``unfrozen_blocks`` that depend on how many blocks the backbone has and on what it starts from
(its :class:`~cxrlib.models.WeightsInfo`)."""

UNFROZEN_RULES = {"auto": "'auto': half the blocks of a pretrained start, all of a random one"}
"""What a caption says of an alias whose count depends on the start."""


def resolve_unfrozen_blocks(unfrozen_blocks: int | str, model: nn.Module) -> int | str:
    """``unfrozen_blocks`` as :func:`cxrlib.models.unfreeze_last` takes it (an alias becomes a count)."""
    alias = UNFROZEN_ALIASES.get(unfrozen_blocks) if isinstance(unfrozen_blocks, str) else None
    if alias is not None:
        from cxrlib.models import backbone_blocks

        return alias(len(backbone_blocks(model.backbone, model.spec)), model.weights_info)
    return unfrozen_blocks


def unfrozen_label(config: TrainConfig, freeze) -> str:
    """What trained, for captions: ``"2 of 4 blocks (unfrozen_blocks='auto': half ...)"``."""
    rule = UNFROZEN_RULES.get(config.unfrozen_blocks) if isinstance(config.unfrozen_blocks, str) else None
    return f"{freeze.unfrozen_blocks} of {freeze.n_blocks} blocks" + (f" ({rule})" if rule else "")


@dataclass
class Prepared:
    """A run's task, model (weights loaded, blocks frozen), weights record and freeze report, before training."""

    task: TaskSpec
    model: nn.Module
    weights: Any  # cxrlib.models.WeightsInfo: the run's (read back from weights.json when resuming)
    freeze: Any  # cxrlib.models.FreezeReport


def prepare(config: TrainConfig) -> Prepared:
    """Build the model of ``config`` and say what it starts from (before :func:`fit`, e.g. to show it first)."""
    from cxrlib.models import WeightsInfo

    task = get_task(config.task)
    model, info, freeze = build_model(config, task)
    folder = staged_path(config.out_dir)
    recorded = folder / WEIGHTS
    if config.resumable and recorded.exists() and (folder / CHECKPOINT_DIR / f"{LAST}.ckpt").exists():  # resuming
        info = WeightsInfo(**read_json(recorded))
    return Prepared(task, model, info, freeze)


def weights_label(info) -> str:
    """A short statement of a WeightsInfo for every caption (says RANDOM when it is)."""
    if info.source == "random":
        return f"RANDOM INITIALISATION ({info.description}; get them: {info.hint})"
    if info.random:
        return "random initialisation (weights='none')"
    digest = f", sha256 {info.sha256[:12]}" if info.sha256 else ""
    return f"{info.description}{digest}"


def load_run_model(out_dir: str | os.PathLike, checkpoint: str = BEST) -> nn.Module:
    """The trained classifier of a run folder (``best`` or ``last`` checkpoint), in eval mode."""
    from cxrlib.models import build_classifier, get_spec

    out_dir = staged_path(out_dir)
    config = TrainConfig.from_dict(read_config(out_dir))
    task = get_task(config.task)
    spec = get_spec(config.backbone)
    sizing = size_kwargs(spec.key, config.image_size)
    model = build_classifier(spec.key, task.n_outputs, head=config.head, dropout=config.dropout, weights="none",
                             seed=config.seed, **sizing)
    path = out_dir / CHECKPOINT_DIR / f"{checkpoint}.ckpt"
    saved = _read_lightning_checkpoint(path)
    state = {k.removeprefix("model."): v for k, v in saved["state_dict"].items() if k.startswith("model.")}
    recorded = saved.get(BACKBONE_KEY)
    if recorded is not None and recorded != spec.key:
        raise CheckpointError(_foreign(path, out_dir, spec.key, f"it holds a {recorded} model"))
    try:
        model.load_state_dict(state)
    except RuntimeError:  # missing, unexpected or reshaped parameters
        raise CheckpointError(_foreign(path, out_dir, spec.key, _misfit(model.state_dict(), state))) from None
    return model.eval()


class CheckpointError(RuntimeError):
    """A checkpoint of a run folder cannot be read (truncated, corrupt, not a checkpoint), is refused
    (it holds more than tensors and plain values), or does not fit the run's model."""


def _read_lightning_checkpoint(path: Path) -> dict:
    """A run folder's checkpoint, read with ``torch.load(weights_only=True)``: tensors, plain containers and
    numbers only, which is all our checkpoints hold. A file that needs more (a pickled object, whose loading
    can run code) is refused: see "What is trusted" in book/developers.md."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as error:
        raise CheckpointError(_refused(path, error) if _WEIGHTS_ONLY_REFUSAL in str(error)
                              else _unreadable(path, error)) from None
    except Exception as error:  # torch raises RuntimeError, EOFError, zipfile errors...
        raise CheckpointError(_unreadable(path, error)) from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(_unreadable(path, ValueError("no 'state_dict' in it")))
    return checkpoint


def _backbones_matching(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Registry rows whose backbone has exactly these parameter names and shapes (position embeddings, which
    follow the image size, excepted): built on the meta device, so nothing is allocated."""
    from cxrlib.models import REGISTRY, new_backbone

    found = []
    for key in REGISTRY:
        with torch.device("meta"):
            want = new_backbone(key).state_dict()
        if want.keys() == state.keys() and all(tuple(want[k].shape) == tuple(state[k].shape)
                                               for k in want if "pos_embed" not in k):
            found.append(key)
    return found


_WEIGHTS_ONLY_REFUSAL = "Weights only load failed"  # how torch.load(weights_only=True) begins its refusal


def _refused(path: Path, error: BaseException) -> str:
    detail = next((line.strip().rstrip(".") for line in str(error).splitlines() if "GLOBAL" in line), "")
    return (f"refused to load the checkpoint {path}: it holds Python objects other than tensors and plain values"
            f"{f' ({detail})' if detail else ''}, and loading those can run code. The checkpoints cxrlib writes "
            "never do: this file was not written by cxrlib's training, or it was altered. Use a run folder you "
            f"trained yourself, or delete {path.parent.parent} and train again.")


def _misfit(want: Mapping[str, torch.Tensor], have: Mapping[str, torch.Tensor]) -> str:
    """How a state dict ``have`` fails to fit a model's ``want``, and which registry backbone it fits."""
    missing = [k for k in want if k not in have]
    unexpected = [k for k in have if k not in want]
    reshaped = [k for k in want if k in have and tuple(want[k].shape) != tuple(have[k].shape)]
    found = "; ".join(f"{label} {len(keys)} (e.g. {', '.join(keys[:3])})"
                      for label, keys in (("missing", missing), ("unexpected", unexpected),
                                          ("of another shape", reshaped)) if keys)
    guess = _backbones_matching({k.removeprefix("backbone."): v for k, v in have.items() if k.startswith("backbone.")})
    return f"it holds a {' or '.join(guess)} model ({found})" if guess else f"its parameters do not fit ({found})"


def _foreign(path: Path, out_dir: Path, expected: str, why: str) -> str:
    return (f"the checkpoint {path} does not belong to this run folder: {why}, but {out_dir / 'params.yaml'} "
            f"says backbone {expected}. It was copied from a run of another backbone, head or image size. Use "
            "the run folder the checkpoint came from (its params.yaml describes its model).")


def _unreadable(path: Path, error: BaseException) -> str:
    folder = path.parent.parent
    if path.stem == LAST:
        fix = (f"delete it to train this run again from the start (rm {path}), or delete the whole folder "
               f"{folder} to start a new run")
    else:
        fix = (f"re-run to recompute it: delete {path} and {path.with_name(LAST + '.ckpt')} (training starts again), "
               f"or delete the whole folder {folder}")
    return (f"cannot read the checkpoint {path} ({type(error).__name__}: {error}); the file is truncated or "
            f"damaged (a copy cut short, a full disk, a run killed while writing). Fix: {fix}.")


@torch.inference_mode()
def predict_probabilities(model: nn.Module, dataset: CxrDataset, batch_size: int, device: torch.device,
                          num_workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(logits, probabilities) of ``model`` on ``dataset`` in order."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    model = model.to(device).eval()
    chunks = [model(x.to(device)).float().cpu() for x, _, _ in loader]
    logits = torch.cat(chunks) if chunks else torch.empty(0, dataset.task.n_outputs)
    return logits.numpy(), _probabilities(logits, dataset.task.kind).numpy()


def load_tables(config: TrainConfig, task: TaskSpec) -> dict[str, pd.DataFrame]:
    """Train (resampled if asked), val and test tables of the run, after ``subset``; ``label_fraction``
    keeps that share of the training part (:func:`cxrlib.images.task_tables.label_fraction`: per class, nested
    across fractions for one seed); val and test stay whole."""
    table = task.load_table(config.data_root, seed=config.seed, val_fraction=config.val_fraction,
                            **config.task_options)
    if config.subset:
        table = subsample(table, task, config.subset, config.seed)
    parts = split_tables(table)
    if config.label_fraction is not None:
        parts["train"] = label_fraction(parts["train"], task, config.label_fraction, config.seed).reset_index(drop=True)
    parts["train_original"] = parts["train"]
    if config.resample:
        if task.kind == "multilabel":
            raise ValueError("document 000's resampling is defined for single-label tasks only")
        parts["train"] = lookup(RESAMPLERS, config.resample, what="resample")(
            parts["train"], "target", range(len(task.classes)), seed=config.seed
        )
    return parts


# -------------------------------------------------------------------------------------------- fit


def _finished_state(last: Path) -> tuple[int, bool]:
    """(epochs completed, stopped early) of a last checkpoint."""
    checkpoint = _read_lightning_checkpoint(last)
    stopped = any(isinstance(s, dict) and s.get("stopped_epoch", 0) > 0 for s in checkpoint.get("callbacks", {}).values())
    return len(checkpoint.get(HISTORY_KEY, [])), stopped


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Hide Lightning's start-up banners and hints (the run prints its own lines)."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        from lightning.fabric.utilities.warnings import PossibleUserWarning

        warnings.filterwarnings("ignore", category=PossibleUserWarning)
        warnings.filterwarnings("ignore", message=r".*Checkpoint directory .* exists and is not empty.*")
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
        warnings.filterwarnings("ignore", message=r".*torch.distributed.nn.functional.all_gather is deprecated.*")
        # a moved run folder: the last-checkpoint callback forgets its old folder (best is tracked by us)
        warnings.filterwarnings("ignore", message=r".*The dirpath has changed from.*")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _loss_weights(loss: nn.Module) -> list[float]:
    for name in ("weight", "pos_weight"):
        value = getattr(loss, name, None)
        if value is not None:
            return [float(v) for v in value]
    return []


def _weights_record(out_dir: Path, info) -> Any:
    """The WeightsInfo of the run: written when it starts, read back when it resumes."""
    from cxrlib.models import WeightsInfo

    path = out_dir / WEIGHTS
    if path.exists():
        return WeightsInfo(**read_json(path))
    write_json(path, info.provenance())
    return info


def fit(config: TrainConfig | Mapping[str, Any], callbacks: list | tuple = (), prepared: Prepared | None = None) -> RunResult:
    """Train (or resume) the run of ``config`` and write its folder; see the module docstring.

    ``callbacks``: extra Lightning callbacks (e.g. a learning-rate monitor). ``prepared``: the result of
    :func:`prepare` for this config (built here if not given). Returns ``None`` in the non-zero ranks of
    a multi-process (DDP) run, whose results rank 0 writes.
    """
    config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    started = time.time()
    pl = _lightning()
    task = get_task(config.task)
    out_dir = staged_path(config.out_dir)  # inside a notebook run: its staging folder
    out_dir.mkdir(parents=True, exist_ok=True)
    last = out_dir / CHECKPOINT_DIR / f"{LAST}.ckpt"
    resumed = config.resumable and last.exists()  # not resumable: a re-run trains again from the start
    if resumed:
        check_resumable(out_dir, config.to_dict(), RESUMABLE_CHANGES)
    # read now: a damaged last checkpoint is a clear error before anything is written
    epochs_done, stopped_early = _finished_state(last) if resumed else (0, False)

    with _quiet_lightning():
        pl.seed_everything(config.seed, workers=True, verbose=False)
    parts = load_tables(config, task)
    cache = PreprocessCache(config.cache_dir, preprocess_config(config.preprocess, config.image_size))
    paths = pd.concat([parts[s]["path"] for s in ("train_original", "val", "test")]).drop_duplicates()
    # only what is not cached yet: reading every present entry here cost 0.5-1 s per PneumoniaMNIST run (a
    # present entry is read when used, and rebuilt there if it is damaged)
    missing = [path for path in paths if path not in cache]
    if missing:
        with single_thread_torch():
            cache.warm(missing, progress=False, num_threads=max(2, os.cpu_count() or 1))

    if prepared is None:
        prepared = prepare(config)
    model, weights_info, freeze = prepared.model, prepared.weights, prepared.freeze
    train_targets = task.targets(parts["train"])
    from cxrlib.training.losses import build_loss

    loss = build_loss(task.kind, train_targets, task.n_outputs, weighting=config.loss_weighting,
                      normalize=config.loss_normalize, labels=task.classes)
    module = build_module(model, loss, task.kind, config)
    train_set = CxrDataset(parts["train"], task, cache, build_augmentation(config.augment))
    val_set = CxrDataset(parts["val"], task, cache, None)
    if len(train_set) < config.batch_size:
        raise ValueError(f"{len(train_set)} training images for a batch of {config.batch_size}")
    eval_batch = config.eval_batch_size or config.batch_size
    train_loader = DataLoader(train_set, batch_size=config.batch_size, sampler=EpochSeededSampler(len(train_set), config.seed, config.epoch_repeats or 1),
                              drop_last=True, num_workers=config.num_workers, persistent_workers=False)
    # no persistent workers: each epoch's workers are seeded from the main generator, which a resumed
    # run restores (persistent ones would keep the generators of the epoch they started in)
    val_loader = DataLoader(val_set, batch_size=eval_batch, shuffle=False, num_workers=config.num_workers,
                            persistent_workers=False)
    n_batches = len(train_loader)
    limit = None
    if config.train_images_per_epoch:
        limit = max(1, min(n_batches, config.train_images_per_epoch // config.batch_size))

    if pl.utilities.rank_zero_only.rank == 0 and not resumed:  # a fresh run: nothing of an earlier attempt stays
        (out_dir / CHECKPOINT_DIR / f"{BEST}.ckpt").unlink(missing_ok=True)
        (out_dir / CHECKPOINT_DIR / f"{LAST}.ckpt").unlink(missing_ok=True)
        (out_dir / "weights.json").unlink(missing_ok=True)
        write_config(out_dir, config.to_dict())
    if pl.utilities.rank_zero_only.rank == 0:
        weights_info = _weights_record(out_dir, weights_info)

    start_epoch = epochs_done + 1
    extra_callbacks = list(callbacks)
    callbacks, named = _callbacks(config, out_dir, limit or n_batches)
    callbacks = extra_callbacks + callbacks
    train_started = time.time()
    trainer = None
    if not stopped_early and epochs_done < config.epochs:
        with _quiet_lightning():
            trainer = pl.Trainer(
                max_epochs=config.epochs, **Hardware.of(config).lightning(config.devices),
                strategy=config.strategy, callbacks=callbacks, logger=False,
                enable_progress_bar=config.progress == "bar", enable_model_summary=False, num_sanity_val_steps=0,
                limit_train_batches=limit, default_root_dir=str(out_dir), log_every_n_steps=max(1, min(50, limit or n_batches)),
                deterministic=False,
                enable_checkpointing=config.resumable,  # else Lightning adds a checkpoint of its own every epoch
            )
            if resumed:
                print(f"resuming {out_dir} after epoch {epochs_done} (from {last.name})", flush=True)
            try:  # Lightning reads last.ckpt again itself: tensors and plain values only there too
                trainer.fit(module, train_loader, val_loader, ckpt_path=str(last) if resumed else None,
                            weights_only=True)
            except pickle.UnpicklingError as error:
                raise CheckpointError(_refused(last, error)) from None
        if not trainer.is_global_zero:
            return None  # type: ignore[return-value]  # DDP workers: rank 0 writes the results
        stopped_early = bool(named.get("early_stopping") and named["early_stopping"].stopped_epoch > 0)
        if stopped_early and config.progress != "none":
            print(f"stopped early after epoch {len(module.history)}: no lower validation loss for "
                  f"{config.patience} epochs", flush=True)
    elif resumed:
        module.history = list(_read_lightning_checkpoint(last).get(HISTORY_KEY, []))
        print(f"{out_dir}: training already finished ({epochs_done} epochs"
              f"{', stopped early' if stopped_early else ''}); recomputing predictions", flush=True)
    train_seconds = time.time() - train_started
    history = pd.DataFrame(module.history, columns=list(HISTORY_COLUMNS))
    write_history(out_dir, module.history)

    best_path = out_dir / CHECKPOINT_DIR / f"{BEST}.ckpt"
    if best_path.exists():
        state = _read_lightning_checkpoint(best_path)["state_dict"]
        module.load_state_dict(state)
    device = Hardware.of(config).torch_device
    predictions = {}
    for name in ("val", "test"):
        dataset = CxrDataset(parts[name], task, cache, None)
        _, probs = predict_probabilities(module.model, dataset, eval_batch, device, config.num_workers)
        predictions[name] = predictions_frame(parts[name], task, probs)
        write_csv(predictions_file(out_dir, name), predictions[name])
    module.model.cpu()

    label_cols, prob_cols = prediction_columns(task)
    best_row = history.loc[history["val_loss"].idxmin()] if len(history) else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", M.UndefinedMetricWarning)
        scores = lookup(METRICS_BY_KIND, task.kind, what="task kind")(task, predictions["val"], predictions["test"])
    summary = {
        "task": task.name, "kind": task.kind, "classes": list(task.classes), "positive_class": task.positive_class,
        "label_columns": label_cols, "prob_columns": prob_cols,
        "backbone": config.backbone, "profile": config.profile, "seed": config.seed,
        "best_epoch": None if best_row is None else int(best_row["epoch"]),
        "best_val_loss": None if best_row is None else float(best_row["val_loss"]),
        "epochs_completed": len(history), "stopped_early": stopped_early,
        **scores,
        "n_images": {"train": len(parts["train"]), "train_before_resampling": len(parts["train_original"]),
                     "val": len(parts["val"]), "test": len(parts["test"]),
                     "train_per_epoch": (limit or n_batches) * config.batch_size},
        "train_class_counts": class_counts(parts["train"], task).to_dict(),
        "loss": {"type": type(loss).__name__, "weighting": config.loss_weighting, "weights": _loss_weights(loss)},
        "weights": weights_info.provenance(), "weights_caption": weights_info.caption(),
        "freeze": {"summary": freeze.summary(), "unfrozen_blocks": freeze.unfrozen_blocks, "n_blocks": freeze.n_blocks,
                   "trainable_blocks": list(freeze.trainable_blocks), "n_trainable": freeze.n_trainable,
                   "n_total": freeze.n_total},
        "data_note": parts["train_original"].attrs.get("note"),
        "train_seconds_this_call": round(train_seconds, 1), "wall_seconds_this_call": round(time.time() - started, 1),
        "resumed": resumed, "start_epoch": start_epoch,
    }
    check = learning_check(task, predictions["val"], history, seed=config.seed,
                           no_information=loss.no_information_loss(train_targets, task.n_outputs))
    summary["learning"] = check.to_dict()
    write_learning(out_dir, check)
    if not check.learned and config.progress != "none":
        print(f"{out_dir.name}: {check.sentence()}", flush=True)
    write_json(out_dir / METRICS, summary)
    return RunResult(
        out_dir=out_dir, config=config, task=task, history=history, metrics=summary, predictions=predictions,
        weights=weights_info, freeze=freeze, start_epoch=start_epoch, epochs_completed=len(history),
        resumed=resumed, stopped_early=stopped_early, train_seconds=train_seconds,
    )


# -------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m cxrlib.training.finetune PARAMS.yaml --out-dir DIR [--set key=value ...]`` (e.g. for multi-GPU DDP)."""
    parser = argparse.ArgumentParser(prog="python -m cxrlib.training.finetune", description=main.__doc__)
    parser.add_argument("params", help="a YAML of training parameters (e.g. params/paper/03_finetune--*.yaml)")
    parser.add_argument("--out-dir", required=False, help="run folder (default: out_dir of the YAML)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override parameters (YAML values)")
    args = parser.parse_args(argv)
    values = yaml.safe_load(Path(args.params).read_text()) or {}
    for item in args.set:
        key, _, raw = item.partition("=")
        values[key] = yaml.safe_load(raw)
    if args.out_dir:
        values["out_dir"] = args.out_dir
    if "out_dir" not in values:
        parser.error("give --out-dir (or out_dir in the YAML)")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    notebook_only = sorted(k for k in values if k not in fields and k in NOTEBOOK_ONLY)
    if notebook_only:
        print(f"ignoring notebook-only parameters: {', '.join(notebook_only)}", flush=True)
        values = {k: v for k, v in values.items() if k not in NOTEBOOK_ONLY}
    result = fit(TrainConfig.from_dict(values))
    if result is not None:
        print(json.dumps({k: result.metrics.get(k) for k in ("best_epoch", "best_val_loss", "epochs_completed")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
