"""Contrastive methods as data: SimCLR and MoCo v2 on lightly's building blocks.

**SimCLR** (Chen et al. 2020; document 002, section III, eq. 4): a batch of B images gives 2B views;
each view's positive is the other view of its image, its negatives are the other 2B - 2 views. With
cosine similarity ``s`` and temperature ``tau`` the loss of view i with positive j is

    l(i, j) = -log( exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau) ),

averaged over all 2B views (lightly's ``NTXentLoss``).

**MoCo v2** (He et al. 2020, Chen et al. 2020; document 004, section 3.3.1, eq. 3.1): a query
``q = head(backbone(view 1))`` and its key ``k+ = head_m(backbone_m(view 2))`` from a *momentum*
copy of the encoder (``theta_m <- m * theta_m + (1 - m) * theta``, lightly's ``update_momentum``);
the negatives are the keys of earlier batches kept in a queue of K entries (lightly's memory bank,
``NTXentLoss(memory_bank_size=(K, dim))``). InfoNCE:

    l(q) = -log( exp(q.k+ / tau) / (exp(q.k+ / tau) + sum_{k- in queue} exp(q.k- / tau)) ),

with q and k L2-normalised. Keys carry no gradient; after each step the batch's keys enter the
queue and the oldest leave. Shuffling BatchNorm across GPUs (MoCo's trick against BN leaking batch
statistics) is not done: runs here are single-device.

**Projection heads** (:data:`PROJECTION_HEADS`) are rows too:

* ``d002``: document 002, Table I: Dense 2048 (bias) -> BatchNorm + ReLU -> Dense 128 (no bias), on
  the globally average-pooled backbone features.
* ``d004_simclr``: document 004, section 3.5 / Fig. 3.3: Dense 512 -> BatchNorm -> ReLU -> Dense 128
  (512 is ResNet18's width; the hidden size follows the backbone's feature width).
* ``d004_moco``: document 004, Fig. 3.3: the ResNet18 classifier replaced by a 128-way linear layer
  (PyTorch Lightning Bolts' MoCoV2 with ``use_mlp=False``, which the thesis used, section 4.2).
* ``moco_v2``: MoCo v2's MLP head (Dense 2048 -> ReLU -> Dense 128; lightly's ``MoCoProjectionHead``).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from lightly.loss import NTXentLoss
from lightly.models.modules.heads import MoCoProjectionHead, ProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from torch import nn

from cxrlib.core.config import lookup
from cxrlib.models.heads import pooled_width

PROJECTION_HEADS: dict[str, Callable[[int], nn.Module]] = {
    "d002": lambda width: ProjectionHead([(width, 2048, nn.BatchNorm1d(2048), nn.ReLU(), True),
                                          (2048, 128, None, None, False)]),
    "d004_simclr": lambda width: ProjectionHead([(width, width, nn.BatchNorm1d(width), nn.ReLU(), True),
                                                 (width, 128, None, None, False)]),
    "d004_moco": lambda width: ProjectionHead([(width, 128, None, None, True)]),
    "moco_v2": lambda width: MoCoProjectionHead(width, 2048, 128),
}
"""Head name -> builder taking the backbone's feature width (see the module docstring)."""


@dataclass(frozen=True)
class MethodSpec:
    """One contrastive method and its defaults (each default cites where it comes from)."""

    name: str
    title: str
    momentum_encoder: bool
    head: str
    temperature: float
    policy: str
    queue_size: int = 0
    momentum: float = 0.0
    reference: str = ""


#: The contrastive methods, as rows: SimCLR and MoCo v2 (name -> :class:`MethodSpec`).
SSL_METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in (
        MethodSpec(
            "simclr", "SimCLR", momentum_encoder=False, head="d002", temperature=0.5, policy="d002_simclr",
            reference="document 002, section III and V: NT-Xent, tau = 0.5, head of Table I, batch 128, "
            "Adam 5e-4",
        ),
        MethodSpec(
            "moco_v2", "MoCo v2", momentum_encoder=True, head="d004_moco", temperature=0.07, policy="d004_moco",
            queue_size=65536, momentum=0.999,
            reference="document 004, sections 3.3.1, 4.2 and 4.3.2: InfoNCE with a momentum encoder and a "
            "queue; lr 1e-4, batch 32; temperature 0.07, queue 65,536, momentum 0.999 and the 128-d linear "
            "head are PL Bolts' MoCoV2 defaults, which the thesis used (not stated in its text)",
        ),
    )
}


def get_method(method: str | MethodSpec) -> MethodSpec:
    """The row of :data:`SSL_METHODS` named ``method`` (a row passes through)."""
    return lookup(SSL_METHODS, method, what="SSL method", row_type=MethodSpec)


class ContrastiveModel(nn.Module):
    """Backbone + projection head (+ their momentum copies) and the contrastive loss of one method.

    ``forward(view_1, view_2)`` returns the loss of the batch. For MoCo the momentum encoder is updated
    (``update_momentum``) *before* the keys are computed, as in MoCo's pseudo-code; the queue is
    updated by the loss itself (lightly's memory bank enqueues the keys when the queries require grad).
    """

    def __init__(self, backbone: nn.Module, spec: MethodSpec, head: str, temperature: float,
                 queue_size: int = 0, momentum: float = 0.0) -> None:
        super().__init__()
        build_head = lookup(PROJECTION_HEADS, head, what="projection head")
        self.spec, self.head_name, self.temperature = spec, head, float(temperature)
        self.momentum = float(momentum)
        self.backbone = backbone
        self.projection_head = build_head(pooled_width(backbone))
        self.out_dim = [m for m in self.projection_head.modules() if isinstance(m, nn.Linear)][-1].out_features
        if spec.momentum_encoder:
            if queue_size < 1:
                raise ValueError(f"{spec.title} needs a queue (queue_size >= 1)")
            self.backbone_momentum = copy.deepcopy(backbone)
            self.projection_head_momentum = copy.deepcopy(self.projection_head)
            deactivate_requires_grad(self.backbone_momentum)
            deactivate_requires_grad(self.projection_head_momentum)
            self.criterion = NTXentLoss(temperature=self.temperature, memory_bank_size=(queue_size, self.out_dim))
        else:
            self.criterion = NTXentLoss(temperature=self.temperature)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection_head(self.backbone(x))

    @torch.no_grad()
    def project_momentum(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection_head_momentum(self.backbone_momentum(x)).detach()

    @torch.no_grad()
    def update_momentum_encoder(self) -> None:
        update_momentum(self.backbone, self.backbone_momentum, self.momentum)
        update_momentum(self.projection_head, self.projection_head_momentum, self.momentum)

    def forward(self, view_1: torch.Tensor, view_2: torch.Tensor) -> torch.Tensor:
        if not self.spec.momentum_encoder:
            return self.criterion(self.project(view_1), self.project(view_2))
        if self.training:
            self.update_momentum_encoder()
        return self.criterion(self.project(view_1), self.project_momentum(view_2))

    @property
    def queue(self) -> torch.Tensor | None:
        """The queue of keys, ``(K, dim)`` (L2-normalised; random unit vectors until filled), or ``None``."""
        bank = getattr(self.criterion, "memory_bank", None)
        return getattr(bank, "bank", None) if self.spec.momentum_encoder else None


def build_contrastive_model(backbone: nn.Module, method: str | MethodSpec, head: str | None = None,
                temperature: float | None = None, queue_size: int | None = None,
                momentum: float | None = None) -> ContrastiveModel:
    """The method's model on ``backbone``; ``None`` arguments take the method's defaults."""
    spec = get_method(method)
    return ContrastiveModel(
        backbone, spec, head or spec.head, spec.temperature if temperature is None else temperature,
        spec.queue_size if queue_size is None else queue_size, spec.momentum if momentum is None else momentum,
    )
