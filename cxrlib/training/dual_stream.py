"""Training document 003's dual-stream network (:mod:`cxrlib.models.dual_stream`).

Document 003 (problem statement 2) names a transfer-learning stream, an autoencoder stream and a fusion
of their features; it gives no training protocol. **Our protocol** (stated, not the document's):

1. **Autoencoder**: trained for reconstruction (mean squared error on the standardised model input)
   on the **training images only** (:func:`train_autoencoder`), no labels; the validation images give
   the reconstruction error per epoch; test images are never seen.
2. **Frozen streams**: the transfer backbone (with its pre-trained weights) and the trained encoder are
   frozen; each image's features go through each stream once, in eval mode (:func:`stream_features`,
   cached on disk by :func:`cxrlib.training.features.extract_features`).
3. **Fusion head**: the fusion rule and the classifier of each variant are trained on those features
   (:func:`fit_head`) with the task's loss (:func:`cxrlib.training.losses.build_loss`, class-weighted);
   the epoch with the best validation AUROC is kept. Training on cached features of frozen streams is
   the same computation as training the whole :class:`~cxrlib.models.dual_stream.DualStreamClassifier`
   with frozen streams, only cheaper; every variant sees the same features, so the comparison isolates
   the streams and the fusion rule.

Freezing both streams is our choice for a CPU budget and a clean ablation; joint fine-tuning is an
exercise. Seeds, the device rule, the optimisers and the epoch-seeded shuffle come from
:mod:`cxrlib.training.common`. The head is scored on binary tasks (validation AUROC of the positive class).
"""
from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cxrlib.images.dataset import single_thread_torch
from cxrlib.images.preprocess import to_model_input
from cxrlib.models.dual_stream import DualStreamClassifier
from cxrlib.stats.metrics import auroc
from cxrlib.training.common import EpochSeededSampler, Hardware, get_optimizer, resolve_device, train_step
from cxrlib.training.features import extract_features, feature_cache_key
from cxrlib.training.losses import build_loss


@dataclass(frozen=True)
class StepConfig:
    """Optimiser settings of one training step (the fields :data:`cxrlib.training.common.OPTIMIZERS` reads)."""

    epochs: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    momentum: float = 0.9
    seed: int = 0
    device: str = "auto"
    precision: str = "32"

    def __post_init__(self) -> None:
        Hardware.of(self)


class InMemoryImages(Dataset):
    """A :class:`cxrlib.images.dataset.CxrDataset` (without augmentation) read once into memory as uint8
    grey images; items ``(model input, target, index)`` as the original's, without a disk read per item
    (the autoencoder sees every training image once per epoch). 224 px grey costs 50 kB per image."""

    def __init__(self, dataset) -> None:
        self.config, self.image_ids = dataset.config, list(dataset.image_ids)
        self.targets = np.asarray(dataset.targets)
        self.grey = np.stack([dataset.image(i)[0].numpy() for i in range(len(dataset))])

    def __len__(self) -> int:
        return len(self.grey)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        x = torch.from_numpy(np.ascontiguousarray(to_model_input(self.grey[index], self.config)))
        return x, torch.as_tensor(self.targets[index]), index


def module_digest(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, shapes, values): its weights' identity."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _batches(dataset, config: StepConfig, epoch: int, sampler: EpochSeededSampler) -> DataLoader:
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler)


def reconstruction_errors(autoencoder: nn.Module, dataset, *, batch_size: int = 128,
                          device: str | torch.device = "auto") -> np.ndarray:
    """Mean squared reconstruction error of every item of ``dataset`` (items ``(x, target, index)``)."""
    target = resolve_device(device)
    autoencoder = autoencoder.to(target).eval()
    errors = []
    with torch.inference_mode():
        for x, _, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            x = x.to(target)
            errors.append(((autoencoder(x) - x) ** 2).flatten(1).mean(dim=1).cpu().numpy())
    return np.concatenate(errors) if errors else np.empty(0, dtype=np.float32)


def mean_image_errors(reference_set, dataset, *, batch_size: int = 128) -> np.ndarray:
    """Mean squared error of every item of ``dataset`` against the per-pixel mean image of ``reference_set``
    (the training images): the reconstruction error of a "decoder" that ignores its input, the
    no-information level an autoencoder's error is judged against (:mod:`cxrlib.stats.learning`)."""
    total, n = None, 0
    for x, _, _ in DataLoader(reference_set, batch_size=batch_size, shuffle=False):
        total = x.double().sum(dim=0) if total is None else total + x.double().sum(dim=0)
        n += len(x)
    if not n:
        raise ValueError("the reference set is empty: no mean image")
    mean = (total / n).float()
    errors = [((x - mean) ** 2).flatten(1).mean(dim=1).numpy()
              for x, _, _ in DataLoader(dataset, batch_size=batch_size, shuffle=False)]
    return np.concatenate(errors) if errors else np.empty(0, dtype=np.float32)


def train_autoencoder(autoencoder: nn.Module, train_set, config: StepConfig, *, val_set=None,
                      progress: bool = True) -> pd.DataFrame:
    """Train ``autoencoder`` for reconstruction on ``train_set`` (labels unused); the history has one row
    per epoch: ``epoch``, ``train_mse`` (mean over the epoch's batches) and ``val_mse`` (NaN without
    ``val_set``). Deterministic for a given ``config.seed``."""
    from tqdm.auto import tqdm

    hardware = Hardware.of(config)
    device = hardware.torch_device
    autoencoder = autoencoder.to(device)
    optimiser = get_optimizer(config.optimizer)(list(autoencoder.parameters()), config)
    sampler = EpochSeededSampler(len(train_set), config.seed)
    rows = []
    # One thread: small convolutions gain little from a second one, and on a busy 2-core machine a 32 px
    # batch of 64 took 1.6 s per step with two threads against 0.08 s with one (measured).
    with single_thread_torch(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for epoch in tqdm(range(config.epochs), desc="autoencoder", unit="epoch", disable=not progress):
            autoencoder.train()
            losses = []
            for x, _, _ in _batches(train_set, config, epoch, sampler):
                x = x.to(device)
                loss = train_step(optimiser, lambda: nn.functional.mse_loss(autoencoder(x), x), hardware)
                losses.append(float(loss.detach()))
            val = (float(reconstruction_errors(autoencoder, val_set, device=device).mean())
                   if val_set is not None else float("nan"))
            rows.append({"epoch": epoch + 1, "train_mse": float(np.mean(losses)), "val_mse": val})
    autoencoder.eval()
    return pd.DataFrame(rows)


def stream_features(stream: nn.Module, dataset, *, weights_id: str, cache_dir: str | os.PathLike,
                    preprocess, extra: Mapping | None = None, batch_size: int = 64,
                    device: str | torch.device = "auto", progress: bool = True) -> np.ndarray:
    """Features (N x width) of a frozen stream on every item of ``dataset``, through the feature cache.

    ``weights_id`` names the stream's weights (a file's SHA-256, ``module_digest`` of a trained
    autoencoder, or the seed of a random initialisation); with the image ids, the preprocessing and
    ``extra`` it makes the cache key.
    """
    key = feature_cache_key(weights_id, dataset.image_ids, preprocess, extra)
    for parameter in stream.parameters():
        parameter.requires_grad_(False)
    return extract_features(stream, dataset, cache_dir=cache_dir, key=key, batch_size=batch_size,
                            progress=progress, device=device)


@dataclass
class HeadResult:
    """A trained fusion head: its per-epoch history and the epoch kept (best validation AUROC)."""

    history: pd.DataFrame
    best_epoch: int
    best_val_auroc: float
    no_information_loss: float = float("nan")
    """The training loss a constant prediction reaches under the head's (class-weighted) loss."""


def _tensors(features: Mapping[str, np.ndarray], names, device) -> dict[str, torch.Tensor]:
    return {name: torch.as_tensor(np.asarray(features[name]), dtype=torch.float32, device=device) for name in names}


def predict_head(model: DualStreamClassifier, features: Mapping[str, np.ndarray], *,
                 device: str | torch.device = "auto") -> np.ndarray:
    """Softmax probabilities (N x n_outputs) of ``model``'s head on precomputed stream features."""
    target = resolve_device(device)
    model = model.to(target).eval()
    with torch.inference_mode():
        logits = model.head(_tensors(features, model.variant.streams, target))
    return torch.softmax(logits.float(), dim=1).cpu().numpy()


def head_gates(model: DualStreamClassifier, features: Mapping[str, np.ndarray], *,
               device: str | torch.device = "auto") -> np.ndarray | None:
    """The gate values (N x fused_dim) of a gated variant on precomputed features, else None."""
    target = resolve_device(device)
    model = model.to(target).eval()
    with torch.inference_mode():
        gates = model.gates(_tensors(features, model.variant.streams, target))
    return None if gates is None else gates.cpu().numpy()


def fit_head(model: DualStreamClassifier, train: Mapping[str, np.ndarray], y_train: np.ndarray,
             val: Mapping[str, np.ndarray], y_val: np.ndarray, config: StepConfig, *,
             kind: str = "binary", class_weighting: str = "inverse_frequency") -> HeadResult:
    """Train ``model``'s fusion rule and classifier on frozen-stream features (``{stream: N x width}``).

    Class-weighted loss of the task kind; after every epoch the validation AUROC of the positive class
    is computed and the best epoch's parameters are kept (restored at the end).
    """
    if kind != "binary":
        raise ValueError(f"the dual-stream head is scored on binary tasks; got a {kind} task")
    hardware = Hardware.of(config)
    device = hardware.torch_device
    model = model.to(device)
    n_outputs = model.classifier[-1].out_features
    loss_fn = build_loss(kind, np.asarray(y_train), n_outputs, weighting=class_weighting).to(device)
    optimiser = get_optimizer(config.optimizer)(model.head_parameters(), config)
    x_train = _tensors(train, model.variant.streams, device)
    y = torch.as_tensor(np.asarray(y_train), dtype=torch.long, device=device)
    sampler = EpochSeededSampler(len(y), config.seed)
    with single_thread_torch():  # small matrices: a second thread costs more than it brings
        result = _fit_head_epochs(model, x_train, y, loss_fn, optimiser, sampler, val, y_val, config, hardware)
    result.no_information_loss = float(loss_fn.no_information_loss(np.asarray(y_train), n_outputs))
    return result


def _fit_head_epochs(model, x_train, y, loss_fn, optimiser, sampler, val, y_val, config, hardware) -> HeadResult:
    device = hardware.torch_device
    rows, best = [], (-np.inf, 0, None, None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for epoch in range(config.epochs):
            model.train()
            sampler.set_epoch(epoch)
            order = torch.as_tensor(list(sampler), dtype=torch.long, device=device)
            losses = []
            for start in range(0, len(order), config.batch_size):
                idx = order[start:start + config.batch_size]
                batch = {k: v[idx] for k, v in x_train.items()}
                loss = train_step(optimiser, lambda: loss_fn(model.head(batch), y[idx]), hardware)
                losses.append(float(loss.detach()))
            val_auroc = auroc(np.asarray(y_val) == 1, predict_head(model, val, device=device)[:, 1])
            rows.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "val_auroc": val_auroc})
            if best[2] is None or val_auroc > best[0]:  # a NaN AUROC keeps the first epoch
                best = (val_auroc, epoch + 1, copy.deepcopy(model.fusion.state_dict()),
                        copy.deepcopy(model.classifier.state_dict()))
    model.fusion.load_state_dict(best[2])
    model.classifier.load_state_dict(best[3])
    model.eval()
    return HeadResult(pd.DataFrame(rows), best[1], float(best[0]))
