"""Classification heads and the backbone + head model used for fine-tuning.

Heads (a table, chosen by name):

* ``"d000"``: document 000, section 3.4: "a Dropout layer, a Dense layer with 128 neurons and ReLU
  activation function, another Dropout layer, and a Dense output layer", i.e.
  Dropout(p) -> Linear(features, 128) -> ReLU -> Dropout(p) -> Linear(128, n_classes); the paper's
  grid for p is {0, 0.2, 0.4}.
* ``"linear"``: one Linear(features, n_classes), the head of document 001 ("a fully-connected layer")
  and document 004 (ResNet18 with its output layer resized to the classes).

The model returns logits; the loss (softmax cross-entropy for document 000's single-label task,
sigmoid BCE for the multi-label documents) belongs to the training loop.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from cxrlib.core.config import lookup

from .paths import get_module
from .registry import BackboneSpec, get_spec
from .weights import WeightsInfo, create_backbone

D000_HIDDEN = 128


def d000_head(in_features: int, n_classes: int, dropout: float = 0.0, hidden: int = D000_HIDDEN) -> nn.Sequential:
    """Document 000's head: Dropout -> Linear(hidden) -> ReLU -> Dropout -> Linear(n_classes)."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_classes),
    )


def linear_head(in_features: int, n_classes: int, dropout: float = 0.0, hidden: int | None = None) -> nn.Linear:
    """A single Linear layer (documents 001 and 004)."""
    if dropout:
        raise ValueError("the linear head has no dropout (documents 001 and 004); use head='d000' for one")
    return nn.Linear(in_features, n_classes)


#: Classification heads by name: document 000's (:func:`d000_head`) and a plain linear one.
HEADS: dict[str, Callable[..., nn.Module]] = {"d000": d000_head, "linear": linear_head}


class BackboneClassifier(nn.Module):
    """A timm backbone (pooled features) followed by a head; knows its registry row and weights.

    With ``freeze_bn_stats`` (default), BatchNorm layers whose parameters are all frozen stay in eval
    mode when the model is put in training mode, so a frozen block is frozen completely: its running
    statistics do not drift either. Transformers and ConvNeXt use LayerNorm and are unaffected.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        spec: BackboneSpec,
        weights_info: WeightsInfo | None = None,
        freeze_bn_stats: bool = True,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.spec = spec
        self.weights_info = weights_info
        self.freeze_bn_stats = freeze_bn_stats

    @property
    def key(self) -> str:
        return self.spec.key

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features, shape (batch, spec.feature_dim)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))

    def train(self, mode: bool = True) -> BackboneClassifier:
        super().train(mode)
        if mode and self.freeze_bn_stats:
            for module in self.backbone.modules():
                params = list(module.parameters(recurse=False))
                if isinstance(module, _BatchNorm) and params and not any(p.requires_grad for p in params):
                    module.eval()
        return self

    def gradcam_target_layer(self) -> nn.Module:
        return gradcam_target_layer(self)


def pooled_width(backbone: nn.Module) -> int:
    """Width of ``backbone(x)`` for a timm backbone built with ``num_classes=0``.

    timm's ``num_features`` is the last feature map's channel count; for most families that is also the
    pooled output, but VGG passes the 512 channels through its fully connected ``pre_logits`` (fc6, fc7)
    and returns 4,096 values (``head_hidden_size``). Heads are sized by this, never by ``num_features``.
    """
    return int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)


def gradcam_target_layer(model: BackboneClassifier | nn.Module, key: str | BackboneSpec | None = None) -> nn.Module:
    """The layer Grad-CAM hooks for this backbone (the row's ``gradcam_layer``).

    ViT rows name ``blocks.-1.norm1``: its output is a token sequence that the Grad-CAM reshape turns
    into the patch grid after dropping ``num_prefix_tokens`` (``patch_embed.grid_size``, 16x16 at
    224 px with 14-px patches).
    """
    if isinstance(model, BackboneClassifier):
        return get_module(model.backbone, model.spec.gradcam_layer)
    if key is None:
        raise ValueError("pass key=... for a bare backbone")
    return get_module(model, get_spec(key).gradcam_layer)


def build_classifier(
    key: str | BackboneSpec,
    n_classes: int,
    *,
    head: str = "d000",
    dropout: float = 0.0,
    hidden: int = D000_HIDDEN,
    weights: str | os.PathLike = "none",
    weights_dir: str | os.PathLike | None = None,
    seed: int = 0,
    allow_download: bool = True,
    freeze_bn_stats: bool = True,
    ssl_dir: str | os.PathLike | None = None,
    **timm_kwargs: Any,
) -> BackboneClassifier:
    """Backbone of row ``key`` with ``weights`` (see :mod:`cxrlib.models.weights`) and a fresh head.

    The head's random initialisation is drawn from ``seed`` (as is the backbone's where no weights
    are loaded), without touching the global torch generator. All parameters start trainable; call
    :func:`cxrlib.models.unfreeze_last` to choose what trains.
    """
    spec = get_spec(key)
    build_head = lookup(HEADS, head, what="head")
    backbone, info = create_backbone(
        spec, weights, weights_dir=weights_dir, seed=seed, allow_download=allow_download, ssl_dir=ssl_dir,
        **timm_kwargs,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head_module = build_head(pooled_width(backbone), n_classes, dropout=dropout, hidden=hidden)
    return BackboneClassifier(backbone, head_module, spec, info, freeze_bn_stats=freeze_bn_stats)
