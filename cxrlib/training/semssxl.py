"""SemSSXL: a semi-self-supervised multi-label learner (document 003, problem statement 1), built.

Document 003 proposes a "contrastive learning based robust multi-label chest disease classification
system" for CheXpert's five competition findings and names it "SemSSXL: Semi Self-Supervised Xception
Learner". It shows the architecture, the training scheme and average-AUC plots as pictures only: **no
layer, loss weight, schedule or number is given, so every concrete choice here is ours.** What we take
from the document: an Xception encoder (Chollet 2017, its reference [3]); a contrastive objective that
pulls two views of one image together and pushes other images apart (its "Contrast Learning" slides,
SimCLR = its reference [15]); attention over multi-scale patterns and a hierarchical fusion (its
research objectives 1 and 2); multi-label evaluation by AUC on CheXpert.

**The objective** (ours): on every step a labelled batch ``(x, y)`` and an unlabeled batch of two views
``(v1, v2)`` of other training images give

    L = BCE(classifier(f(x)), y) + lambda * NT-Xent(g(f(v1)), g(f(v2)))

with ``f`` the encoder + multi-scale neck (:mod:`cxrlib.models.multiscale`), ``g`` a projection head of
:data:`cxrlib.training.ssl.PROJECTION_HEADS` and NT-Xent lightly's loss, both through
:class:`cxrlib.training.ssl.ContrastiveModel` (the SimCLR row of :data:`cxrlib.training.ssl.SSL_METHODS`).
``lambda`` is ``contrastive_weight``; with 0 (or a variant without the contrastive term) ``L`` is the
BCE alone. The unlabeled images are *all* training images, the labelled ones a patient fraction of them
(:func:`labelled_fractions`: nested, never a test patient). Every variant makes the same number of
labelled steps per epoch (``ceil(n_train / batch_size)``, the labelled batches cycling), so the
contrastive term adds unlabeled images, not labelled gradient steps. Every labelled batch is a full one
(a labelled set larger than a batch drops each reshuffled pass's remainder, a different one each pass): 66
labelled images in batches of 32 would otherwise make every third step a batch of 2, whose noisy BCE and
two-image BatchNorm statistics kept notebook 09's 10 % models at the base-rate loss.

**Variants** are rows of :data:`SEMSSXL_VARIANTS` (neck row + whether the contrastive term is on): ``full``,
``no_contrastive``, ``no_attention``, ``single_scale`` and the baseline ``supervised`` (the same encoder,
its last used stage, global average pooling, BCE only).
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from cxrlib.core.config import lookup
from cxrlib.data.pool import draw_patients
from cxrlib.data.splits import assert_patient_disjoint
from cxrlib.images.augment import build_augmentation
from cxrlib.images.dataset import CxrDataset
from cxrlib.images.preprocess import PreprocessCache
from cxrlib.images.tasks import TaskSpec, get_task
from cxrlib.models.multiscale import MultiScaleNet, build_multiscale_net
from cxrlib.training.common import Hardware, get_optimizer, train_step
from cxrlib.training.ssl.methods import build_contrastive_model
from cxrlib.training.ssl.views import TwoViewDataset

__all__ = [
    "SEMSSXL_VARIANTS", "SemSSXL", "SemiConfig", "SemiResult", "VariantSpec", "combined_loss", "fit_semi", "get_semssxl_variant",
    "labelled_fractions", "predict_semi",
]


@dataclass(frozen=True)
class VariantSpec:
    """One model of the comparison: which neck (:data:`cxrlib.models.multiscale.NECKS`) and whether the
    contrastive term on unlabeled images is on."""

    name: str
    title: str
    neck: str
    contrastive: bool
    description: str


SEMSSXL_VARIANTS: dict[str, VariantSpec] = {
    v.name: v
    for v in (
        VariantSpec("full", "SemSSXL (full)", "multiscale_attention", True,
                    "multi-scale attention + hierarchical fusion + contrastive term on unlabeled images"),
        VariantSpec("no_contrastive", "no contrastive term", "multiscale_attention", False,
                    "as full, BCE on the labelled images only"),
        VariantSpec("no_attention", "no attention", "multiscale_average", True,
                    "as full, average pooling and equal stage weights instead of attention"),
        VariantSpec("single_scale", "single scale", "single_scale_attention", True,
                    "as full, the last stage only (no multi-scale fusion)"),
        VariantSpec("supervised", "supervised baseline", "single_scale_average", False,
                    "the same encoder, last stage, global average pooling, BCE only: the baseline"),
    )
}


def get_semssxl_variant(name: str | VariantSpec) -> VariantSpec:
    """The row of :data:`SEMSSXL_VARIANTS` named ``name`` (a row passes through)."""
    return lookup(SEMSSXL_VARIANTS, name, what="SemSSXL variant", row_type=VariantSpec)


@dataclass
class SemiConfig:
    """Everything that defines one training run besides the data (all values are our choices)."""

    backbone: str = "legacy_xception"
    weights: str = "auto"
    weights_dir: str | None = None
    stages: Sequence[int] = (0, 1, 2)
    dim: int = 64
    head: str = "d004_simclr"
    temperature: float = 0.5
    contrastive_weight: float = 0.5
    epochs: int = 3
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    unlabeled_batch_size: int = 32
    augment: str = "d004"
    ssl_policy: str = "d002_simclr"
    seed: int = 0
    device: str = "auto"
    precision: str = "32"
    progress: bool = False

    def __post_init__(self) -> None:
        Hardware.of(self)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def combined_loss(supervised: torch.Tensor, contrastive: torch.Tensor | None, weight: float) -> torch.Tensor:
    """``supervised + weight * contrastive``; exactly ``supervised`` when there is no contrastive term."""
    if contrastive is None or weight == 0:
        return supervised
    return supervised + weight * contrastive


class SemSSXL(nn.Module):
    """Encoder + multi-scale neck, a multi-label classifier and (through
    :class:`~cxrlib.training.ssl.ContrastiveModel`) a projection head with NT-Xent."""

    def __init__(self, net: MultiScaleNet, n_labels: int, head: str, temperature: float) -> None:
        super().__init__()
        self.contrastive = build_contrastive_model(net, "simclr", head=head, temperature=temperature)
        self.classifier = nn.Linear(net.num_features, n_labels)
        self.bce = nn.BCEWithLogitsLoss()

    @property
    def net(self) -> MultiScaleNet:
        return self.contrastive.backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.net(x))

    def scale_weights(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.embed(x)[1]

    def losses(self, x: torch.Tensor, y: torch.Tensor, views: tuple[torch.Tensor, torch.Tensor] | None,
               weight: float) -> dict[str, torch.Tensor]:
        """``supervised``, ``contrastive`` (None without views) and their ``total``."""
        supervised = self.bce(self(x), y)
        contrastive = None if views is None or weight == 0 else self.contrastive(*views)
        return {"supervised": supervised, "contrastive": contrastive,
                "total": combined_loss(supervised, contrastive, weight)}


def labelled_fractions(train: pd.DataFrame, fractions: Sequence[float], seed: int,
                       held_out: Mapping[str, pd.DataFrame] | None = None) -> dict[float, pd.DataFrame]:
    """The labelled part of ``train`` for each fraction: that share of its *patients*, drawn with one
    seeded order, so a smaller fraction's patients are a subset of a larger one's (nested, checked).
    ``held_out`` (e.g. the test part) must share no patient with ``train`` (checked)."""
    fractions = sorted(float(f) for f in fractions)
    if not fractions or fractions[0] <= 0 or fractions[-1] > 1:
        raise ValueError(f"fractions must lie in (0, 1], got {fractions}")
    assert_patient_disjoint({"train": train["patient_id"], **{k: v["patient_id"] for k, v in (held_out or {}).items()}})
    out = {f: draw_patients(train, f, seed, salt="semssxl-labelled") for f in fractions}
    for small, large in zip(fractions, fractions[1:]):
        if not set(out[small]["image_id"]) <= set(out[large]["image_id"]):
            raise AssertionError(f"labelled fraction {small} is not inside {large}")
    return out


@dataclass
class SemiResult:
    """A trained model and its history (one row per epoch) and the labelled-set loss before and after."""

    model: SemSSXL
    variant: VariantSpec
    weights_caption: str
    history: pd.DataFrame
    loss_before: float
    loss_after: float
    n_labelled: int
    n_unlabeled: int
    seconds: float
    weights_info: dict | None = None
    """The backbone's :class:`~cxrlib.models.WeightsInfo` provenance (a run folder's ``weights.json``)."""


def _loader(dataset, batch_size: int, seed: int, shuffle: bool = True, drop_last: bool = False) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0,
                      drop_last=drop_last)


def _cycle(loader: DataLoader):
    while True:
        yield from loader


@torch.no_grad()
def _mean_loss(model: SemSSXL, dataset: CxrDataset, batch_size: int, device: torch.device) -> float:
    model.eval()
    total, n = 0.0, 0
    for x, y, _ in _loader(dataset, batch_size, 0, shuffle=False):
        total += float(model.bce(model(x.to(device)), y.to(device))) * len(x)
        n += len(x)
    return total / max(n, 1)


def fit_semi(variant: str | VariantSpec, config: SemiConfig, task: str | TaskSpec, cache: PreprocessCache,
             labelled: pd.DataFrame, unlabeled: pd.DataFrame) -> SemiResult:
    """Train one variant: BCE on ``labelled`` (+ the contrastive term on ``unlabeled`` when the variant
    has it and ``contrastive_weight > 0``), ``config.epochs`` epochs of ``ceil(len(unlabeled) /
    batch_size)`` steps, Adam. Seeds: model from ``config.seed``, batches and augmentations from it too."""
    variant, task = get_semssxl_variant(variant), get_task(task)
    hardware = Hardware.of(config)
    device = hardware.torch_device
    net, info = build_multiscale_net(config.backbone, config.weights, config.stages, variant.neck, config.dim,
                                     seed=config.seed, weights_dir=config.weights_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 2)
        model = SemSSXL(net, task.n_outputs, config.head, config.temperature).to(device)
    use_views = variant.contrastive and config.contrastive_weight > 0
    lab_set = CxrDataset(labelled, task, cache, build_augmentation(config.augment))
    plain_set = CxrDataset(labelled, task, cache, None)
    view_set = TwoViewDataset(unlabeled["path"], cache, build_augmentation(config.ssl_policy))
    optimiser = get_optimizer("adam")(model.parameters(), config)  # the fused kernel where it runs (common.OPTIMIZERS)
    steps = max(1, math.ceil(len(unlabeled) / config.batch_size))
    weight = config.contrastive_weight
    loss_before = _mean_loss(model, plain_set, config.batch_size, device)
    rows, started = [], time.perf_counter()
    epochs = range(1, config.epochs + 1)
    if config.progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc=variant.name, unit="epoch", leave=False)
    for epoch in epochs:
        torch.manual_seed(config.seed * 1000 + epoch)  # augmentation draws of this epoch
        # full labelled batches only: cycling 66 images in batches of 32 would make every third step a batch of 2
        lab_batches = _cycle(_loader(lab_set, min(config.batch_size, len(lab_set)), config.seed * 1000 + epoch,
                                     drop_last=len(lab_set) > config.batch_size))
        view_batches = _cycle(_loader(view_set, min(config.unlabeled_batch_size, len(view_set)),
                                      config.seed * 1000 + epoch + 500, drop_last=len(view_set) > 2))
        model.train()
        sums = {"total": 0.0, "supervised": 0.0, "contrastive": 0.0}
        tick = time.perf_counter()
        for _ in range(steps):
            x, y, _ = next(lab_batches)
            views = None
            if use_views:
                v1, v2, _ = next(view_batches)
                views = (v1.to(device), v2.to(device))
            parts = train_step(optimiser, lambda: model.losses(x.to(device), y.to(device), views, weight), hardware,
                               loss=lambda out: out["total"])
            for key in sums:
                sums[key] += 0.0 if parts[key] is None else float(parts[key].detach())
        rows.append({"epoch": epoch, **{k: v / steps for k, v in sums.items()}, "steps": steps,
                     "seconds": time.perf_counter() - tick})
    history = pd.DataFrame(rows)
    if not use_views:
        history["contrastive"] = np.nan
    return SemiResult(model=model, variant=variant, weights_caption=info.caption(), history=history,
                      loss_before=loss_before, loss_after=_mean_loss(model, plain_set, config.batch_size, device),
                      n_labelled=len(labelled), n_unlabeled=len(unlabeled) if use_views else 0,
                      seconds=time.perf_counter() - started, weights_info=info.provenance())


@torch.no_grad()
def predict_semi(model: SemSSXL, task: str | TaskSpec, cache: PreprocessCache, table: pd.DataFrame,
                 batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Sigmoid probabilities ``(N, L)`` and the weights over the stages ``(N, S)`` of ``table``'s images."""
    device = next(model.parameters()).device
    model.eval()
    probs, weights = [], []
    for x, _, _ in _loader(CxrDataset(table, task, cache, None), batch_size, 0, shuffle=False):
        embedding, w = model.net.embed(x.to(device))
        probs.append(torch.sigmoid(model.classifier(embedding)).cpu().numpy())
        weights.append(w.cpu().numpy())
    return np.concatenate(probs), np.concatenate(weights)
