"""The pre-training loop: epochs over the pool, checkpoints every N epochs, a loss curve, resume.

A run writes into ``out_dir``:

=============================  =====================================================================
``params.yaml``                the :class:`PretrainConfig` (a resumed run must match it, except
                               :data:`RESUMABLE_CHANGES` such as a larger ``epochs``)
``pool.csv``                   the images pre-trained on (``image_id``, ``patient_id``, ``dataset``)
``loss.csv``                   one row per epoch: mean and sd of the batch losses, steps, images,
                               learning rate, seconds
``checkpoints/epoch_NNNN.pt``  the backbone after epoch N (N = 0 is the initialisation) in the
                               format of :func:`cxrlib.models.save_ssl_checkpoint`: a weight source
                               for ``create_backbone(key, weights=<file or this folder>)``, the
                               probe and ``03_finetune`` (``-p weights <file>``)
``state.pt``                   everything needed to continue: model with head and momentum encoder,
                               queue, optimizer, finished epoch (rewritten atomically after each
                               checkpoint epoch, the last, and at most every STATE_EVERY_SECONDS between;
                               deleted at the end when ``keep_state`` is False)
=============================  =====================================================================

Determinism: the shuffle depends on ``(seed, epoch)`` and the augmentation generator is re-seeded
from ``(seed, epoch)`` at the start of each epoch, so a run killed after epoch k and resumed gives the
same epochs k + 1, k + 2, ... as a run that never stopped (on CPU; GPU kernels add their own noise).

Inside a notebook run (:class:`cxrlib.book.artifacts.RunArtifacts` open on ``out_dir`` or a folder
above it) the run writes into that run's staging folder (:func:`cxrlib.core.staging.staged_path`);
``PretrainResult`` holds the paths written.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from cxrlib.core.config import ParamsMixin
from cxrlib.core.io import atomic_write, jsonable, write_json_atomic
from cxrlib.core.params import check_config
from cxrlib.core.runs import write_config, write_csv
from cxrlib.core.staging import staged_path
from cxrlib.images.augment import build_augmentation
from cxrlib.images.preprocess import PreprocessCache
from cxrlib.images.preprocess import preprocess_config
from cxrlib.models import create_backbone, get_spec, save_ssl_checkpoint
from cxrlib.training.common import (
    EpochSeededSampler,
    Hardware,
    check_resumable,
    get_optimizer,
    size_kwargs,
    train_step,
)
from cxrlib.training.ssl.methods import ContrastiveModel, build_contrastive_model, get_method
from cxrlib.training.ssl.views import TwoViewDataset, pretext_pool

STATE_FILE = "state.pt"
LOSS_FILE = "loss.csv"
LOSS_COLUMNS = ("epoch", "loss", "loss_sd", "steps", "images", "lr", "seconds")
STATE_EVERY_SECONDS = 30.0
"""The resume state is written after every checkpoint epoch, the last epoch, and otherwise at most this often: a
small pool trained for many short epochs (equal steps per pool fraction) would spend more time writing the state
than training. A run killed in between resumes after the last state written (its later loss rows are dropped)."""
RESUMABLE_CHANGES = frozenset({"epochs", "progress", "num_workers", "out_dir", "data_root", "cache_dir", "device",
                               "weights_dir", "profile", "keep_state", "checkpoint_every", "save_checkpoints"})


@dataclass
class PretrainConfig(ParamsMixin):
    """Everything that defines a pre-training run (``None``: the method's default, see :data:`SSL_METHODS`)."""

    out_dir: str
    method: str = "simclr"
    backbone: str = "resnet18"
    weights: str = "none"  # the backbone's starting point (document 004 starts from ImageNet)
    weights_dir: str | None = None
    pool_sources: list = field(default_factory=lambda: ["kermany", "nih_sample", "covid"])
    pool_fraction: float = 1.0
    pool_max_images: int | None = None  # classroom cap on the 100 % pool (whole patients)
    data_root: str | None = None
    preprocess: str = "classroom"
    image_size: int = 64
    policy: str | None = None
    head: str | None = None
    temperature: float | None = None
    queue_size: int | None = None
    encoder_momentum: float | None = None
    optimizer: str = "adam"
    lr: float = 5e-4
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD only
    epochs: int = 10
    batch_size: int = 64
    checkpoint_every: int = 1
    save_checkpoints: bool = True  # False: loss curve only (e.g. a policy comparison)
    keep_state: bool = True  # False: delete state.pt once the run has finished (saves disk; no extension)
    precision: str = "32"  # or "bf16": cxrlib.training.common.PRECISIONS
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    progress: str = "epoch"
    cache_dir: str | None = None
    profile: str = "classroom"

    def __post_init__(self) -> None:
        self.out_dir = str(self.out_dir)
        self.pool_sources = list(self.pool_sources)
        spec = get_method(self.method)
        self.policy = self.policy or spec.policy
        self.head = self.head or spec.head
        self.temperature = spec.temperature if self.temperature is None else float(self.temperature)
        self.queue_size = spec.queue_size if self.queue_size is None else int(self.queue_size)
        self.encoder_momentum = spec.momentum if self.encoder_momentum is None else float(self.encoder_momentum)
        check_config(self, PRETRAIN_RULES)
        Hardware.of(self)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))



PRETRAIN_RULES = {
    "epochs": ">=0", "batch_size": ">=2", "checkpoint_every": ">=1",
    "precision": "in:cxrlib.training.common:PRECISIONS",
    "head": "str in:projection_head", "policy": "str in:policy", "temperature": "float >0", "queue_size": "int >=0",
    "encoder_momentum": "float >=0 <=1", "pool_sources": "nonempty in:pool_source", "pool_fraction": ">0 <=1",
    "pool_max_images": "int|None >=2",
}
"""The rules of :class:`PretrainConfig` beyond :data:`cxrlib.core.params.COMMON_RULES` (after the method's
defaults are filled in; ``epochs=0`` writes the initial checkpoint only)."""


@dataclass
class PretrainResult:
    """What :func:`pretrain` produced (all of it is also in ``out_dir``): the per-epoch loss, the checkpoints by
    epoch, the pool, the starting weights, the epoch it resumed after (``None``: a fresh run) and its seconds."""

    out_dir: Path
    config: PretrainConfig
    loss: pd.DataFrame
    checkpoints: dict[int, Path]
    pool: pd.DataFrame
    weights: Any  # cxrlib.models.WeightsInfo of the starting point
    resumed_from: int | None
    seconds: float

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints[max(self.checkpoints)]


def checkpoint_path(out_dir: str | os.PathLike, epoch: int) -> Path:
    """Where a run writes the backbone checkpoint of ``epoch``: ``<out_dir>/checkpoints/epoch_NNNN.pt``."""
    return Path(out_dir) / "checkpoints" / f"epoch_{epoch:04d}.pt"


def list_checkpoints(out_dir: str | os.PathLike) -> dict[int, Path]:
    """Epoch -> checkpoint file of a run folder, in epoch order."""
    folder = Path(out_dir) / "checkpoints"
    found = {int(p.stem.split("_")[1]): p for p in folder.glob("epoch_*.pt")} if folder.is_dir() else {}
    return dict(sorted(found.items()))


def checkpoint_epochs(epochs: int, every: int) -> list[int]:
    """0 (the initialisation), every ``every``-th epoch, and the last epoch."""
    return sorted({0, *range(every, epochs + 1, every), epochs})


def read_loss(out_dir: str | os.PathLike) -> pd.DataFrame:
    """``loss.csv`` of a run folder (columns :data:`LOSS_COLUMNS`); empty when the run has not finished an epoch."""
    path = Path(out_dir) / LOSS_FILE
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=list(LOSS_COLUMNS))


def _atomic_save(obj: Any, path: Path) -> None:
    atomic_write(path, lambda handle: torch.save(obj, handle))


def _state(model: ContrastiveModel, optimizer: torch.optim.Optimizer, epoch: int) -> dict:
    bank = getattr(model.criterion, "memory_bank", None)
    return {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        # lightly's queue buffers are not in the state dict (persistent=False)
        "queue": None if model.queue is None else (bank.bank.clone(), bank.bank_ptr.clone()),
    }


def _restore(model: ContrastiveModel, optimizer: torch.optim.Optimizer, state: dict) -> int:
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if state.get("queue") is not None:
        bank = model.criterion.memory_bank
        bank.bank.copy_(state["queue"][0])
        bank.bank_ptr.copy_(state["queue"][1])
    return int(state["epoch"])


def _load_state(path: Path, device: torch.device) -> dict:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # truncated or damaged: torch's zip or unpickling errors
        raise RuntimeError(
            f"cannot read the pre-training state {path} ({type(error).__name__}: {error}); the file is truncated "
            f"or damaged. Fix: delete it to pre-train this run again from the start (rm {path}), or delete the "
            f"folder {path.parent}."
        ) from error


def _meta(config: PretrainConfig, pool: pd.DataFrame, epoch: int, init, loss: float | None) -> dict:
    return jsonable({
        "method": get_method(config.method).title, "method_key": config.method, "epoch": epoch,
        "policy": config.policy, "head": config.head, "temperature": config.temperature,
        "queue_size": config.queue_size if get_method(config.method).momentum_encoder else None,
        "image_size": config.image_size, "preprocess": config.preprocess, "seed": config.seed,
        "pool": {**pool.attrs.get("protocol", {}), "images": len(pool), "patients": int(pool["patient_id"].nunique())},
        "init": init.description, "loss": loss, "profile": config.profile,
    })


def _pool(config: PretrainConfig) -> pd.DataFrame:
    return pretext_pool(config.pool_sources, config.pool_fraction, config.seed, config.data_root,
                        config.pool_max_images)


def pretrain(config: PretrainConfig | dict) -> PretrainResult:
    """Pre-train ``config.backbone`` with ``config.method`` on the pool; resumes a killed run in ``out_dir``."""
    config = config if isinstance(config, PretrainConfig) else PretrainConfig.from_dict(config)
    started = time.time()
    out = staged_path(config.out_dir)  # inside a notebook run (RunArtifacts): its staging folder
    out.mkdir(parents=True, exist_ok=True)
    check_resumable(out, config.to_dict(), RESUMABLE_CHANGES)
    write_config(out, config.to_dict())

    pool = _pool(config)
    if len(pool) < 2:
        raise ValueError(f"the pool holds {len(pool)} image(s); contrastive learning needs at least 2")
    write_csv(out / "pool.csv", pool[["image_id", "patient_id", "dataset"]])

    spec = get_spec(config.backbone)
    backbone, init = create_backbone(spec.key, config.weights, weights_dir=config.weights_dir, seed=config.seed,
                                     **size_kwargs(spec.key, config.image_size))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # the head and lightly's random initial queue
        model = build_contrastive_model(backbone, config.method, config.head, config.temperature, config.queue_size,
                            config.encoder_momentum)
    hardware = Hardware.of(config)
    device = hardware.torch_device
    model.to(device)
    optimizer = get_optimizer(config.optimizer)(
        [p for p in model.parameters() if p.requires_grad], config  # type: ignore[arg-type]
    )

    state_file, start, resumed = out / STATE_FILE, 0, None
    history = read_loss(out)
    if state_file.exists():
        start = resumed = _restore(model, optimizer, _load_state(state_file, device))
        history = history[history["epoch"] <= start]
        _say(config, f"resuming {out} after epoch {start}")
    else:
        history = history.iloc[0:0]
    if not state_file.exists() and config.save_checkpoints:
        save_ssl_checkpoint(checkpoint_path(out, 0), model.backbone, spec.key, _meta(config, pool, 0, init, None))

    cache = PreprocessCache(config.cache_dir, preprocess_config(config.preprocess, config.image_size))
    cache.warm(pool["path"], progress=config.progress == "bar")
    dataset = TwoViewDataset(pool["path"], cache, build_augmentation(config.policy))
    batch_size = min(config.batch_size, len(dataset))
    sampler = EpochSeededSampler(len(dataset), config.seed)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                        num_workers=config.num_workers, persistent_workers=False)
    saves = set(checkpoint_epochs(config.epochs, config.checkpoint_every))

    saved_at = time.time()
    for epoch in range(start + 1, config.epochs + 1):
        sampler.set_epoch(epoch)
        torch.manual_seed(int(np.random.default_rng([config.seed, epoch]).integers(2**62)))
        model.train()
        tick, losses = time.time(), []
        batches = _bar(loader, config, epoch)
        for view_1, view_2, _ in batches:
            view_1, view_2 = view_1.to(device), view_2.to(device)
            loss = train_step(optimizer, lambda: model(view_1, view_2), hardware)
            losses.append(float(loss.detach()))
            if hasattr(batches, "set_postfix"):
                batches.set_postfix(loss=f"{losses[-1]:.3f}")
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "loss_sd": float(np.std(losses)),
               "steps": len(losses), "images": len(losses) * batch_size,
               "lr": optimizer.param_groups[0]["lr"], "seconds": time.time() - tick}
        history = pd.concat([history, pd.DataFrame([row])], ignore_index=True)
        history.to_csv(out / LOSS_FILE, index=False)
        if epoch in saves and config.save_checkpoints:
            save_ssl_checkpoint(checkpoint_path(out, epoch), model.backbone, spec.key,
                                _meta(config, pool, epoch, init, row["loss"]))
        if epoch in saves or epoch == config.epochs or time.time() - saved_at >= STATE_EVERY_SECONDS:
            _atomic_save(_state(model, optimizer, epoch), state_file)
            saved_at = time.time()
        _say(config, f"epoch {epoch}/{config.epochs}: loss {row['loss']:.4f} ({row['steps']} steps, "
                     f"{row['seconds']:.1f} s)")

    if not config.keep_state:
        state_file.unlink(missing_ok=True)
    write_json_atomic(out / "done.json", {"epochs": config.epochs, "seconds": time.time() - started}, indent=None)
    return PretrainResult(out, config, read_loss(out), list_checkpoints(out), pool, init, resumed,
                          time.time() - started)


def _say(config: PretrainConfig, line: str) -> None:
    if config.progress != "none":
        print(line, flush=True)


def _bar(loader, config: PretrainConfig, epoch: int):
    if config.progress != "bar":
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False)
