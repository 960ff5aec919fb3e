"""Class-weighted losses of the documents, with the weights computed from the training targets.

* **Single-label (and binary) tasks, document 000** (section 3.2, equation 1; section 3.4 "class
  weighting"): softmax cross-entropy with class weights ``W_c = n / (c * n_c)`` (``n`` training
  examples, ``c`` classes, ``n_c`` examples of class ``c``), computed on the training set the loop
  actually sees (after resampling, as document 000 reports). :class:`WeightedCrossEntropy`
  averages like PyTorch's ``CrossEntropyLoss(weight=W)`` (``sum_i W_{y_i} l_i / sum_i W_{y_i}``,
  ``normalize="weights"``, the default: document 000 used PyTorch) or like Keras' ``class_weight``
  (``sum_i W_{y_i} l_i / N``, ``normalize="count"``, which "magnifies" the loss by the weights).
  Document 000 does not say which; the reported loss values are only comparable under the same
  choice.
* **Multi-label tasks, document 001** (Methods, "SL Training Configuration"): "binary weighted
  Cross-Entropy [...] Weights for individual labels were determined based on the inverse frequency
  of each label within the training data". :class:`WeightedBCE` is the sigmoid BCE with a positive
  weight per label, ``pos_weight_l = (n - n_l) / n_l`` (negatives over positives): the rule of the
  authors' public code (github.com/tayebiarasteh/vit-med, ``data/data_provider.py``, ``pos_weight``).
  A label without any positive training image gets weight 1 and a warning (its AUROC is undefined
  anyway).

:func:`build_loss` picks the loss for a task kind from the training targets.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from cxrlib.core.config import lookup
from cxrlib.data import balance
from cxrlib.stats import learning

LOSS_NORMALIZATIONS = ("weights", "count")
"""How a weighted cross-entropy is averaged (``normalize``; see the module docstring)."""


def class_weight_tensor(labels: Sequence[int] | np.ndarray, n_classes: int) -> torch.Tensor:
    """Document 000, equation 1: ``W_c = n / (c * n_c)`` from integer class labels (every class needed)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"class labels must be 1-D, got shape {labels.shape}")
    counts = pd.Series(np.bincount(labels.astype(int), minlength=n_classes)[:n_classes])
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"class labels outside 0..{n_classes - 1}")
    return torch.tensor(balance.class_weights(counts).to_numpy(), dtype=torch.float32)


def inverse_frequency_pos_weight(targets: np.ndarray, labels: Sequence[str] | None = None) -> torch.Tensor:
    """Per label ``(n - n_pos) / n_pos`` from an N x L 0/1 target matrix (document 001's weighting)."""
    y = np.asarray(targets, dtype=float)
    if y.ndim != 2:
        raise ValueError(f"multi-label targets must be N x L, got shape {y.shape}")
    positives = y.sum(axis=0)
    negatives = y.shape[0] - positives
    weight = np.ones(y.shape[1])
    present = positives > 0
    weight[present] = negatives[present] / positives[present]
    if not present.all():
        names = list(labels) if labels is not None else [str(i) for i in range(y.shape[1])]
        missing = [names[i] for i in np.flatnonzero(~present)]
        warnings.warn(
            f"no positive training example for label(s) {missing}: their BCE is unweighted (pos_weight 1) "
            "and their AUROC will be undefined",
            UserWarning,
            stacklevel=2,
        )
    return torch.tensor(weight, dtype=torch.float32)


class WeightedCrossEntropy(nn.Module):
    """Softmax cross-entropy with class weights; see the module docstring for ``normalize``."""

    def __init__(self, weight: torch.Tensor | None, normalize: str = "weights") -> None:
        super().__init__()
        self.normalize = lookup(LOSS_NORMALIZATIONS, normalize, what="loss normalization")
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.long()
        per_example = F.cross_entropy(logits.float(), target, reduction="none")
        if self.weight is None:
            return per_example.mean()
        w = self.weight[target]
        total = (w * per_example).sum()
        return total / (w.sum() if self.normalize == "weights" else per_example.new_tensor(len(target)))

    def extra_repr(self) -> str:
        return f"normalize={self.normalize!r}"

    def no_information_loss(self, train_targets: np.ndarray, n_outputs: int) -> float:
        """The lowest value of this loss that a constant prediction reaches on ``train_targets`` (class
        indices): the level a model that ignores the image ends at (:mod:`cxrlib.stats.learning`)."""
        counts = np.bincount(np.asarray(train_targets).astype(int), minlength=n_outputs)[:n_outputs]
        weights = None if self.weight is None else self.weight.cpu().numpy()
        return learning.no_information_loss(counts, weights=weights,
                                            normalize="count" if weights is None else self.normalize)


class WeightedBCE(nn.Module):
    """Sigmoid binary cross-entropy per label with ``pos_weight`` (mean over images and labels)."""

    def __init__(self, pos_weight: torch.Tensor | None) -> None:
        super().__init__()
        self.register_buffer(
            "pos_weight", None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        )

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits.float(), target.float(), pos_weight=self.pos_weight)

    def no_information_loss(self, train_targets: np.ndarray, n_outputs: int) -> float:
        """The lowest value of this loss that a constant prediction reaches on ``train_targets`` (N x L
        0/1): the level a model that ignores the image ends at (:mod:`cxrlib.stats.learning`)."""
        weights = None if self.pos_weight is None else self.pos_weight.cpu().numpy()
        return learning.binary_no_information_loss(np.asarray(train_targets)[:, :n_outputs], pos_weight=weights)


def build_loss(
    kind: str,
    train_targets: np.ndarray,
    n_outputs: int,
    *,
    weighting: str = "inverse_frequency",
    normalize: str = "weights",
    labels: Sequence[str] | None = None,
) -> nn.Module:
    """The loss of a task kind (``"single_label"``, ``"binary"``, ``"multilabel"``).

    ``train_targets``: class indices (single-label/binary) or an N x L 0/1 matrix (multi-label), of the
    training set as the loop sees it. ``weighting``: ``"inverse_frequency"`` (W_c or pos_weight as in
    the module docstring) or ``"none"``.
    """
    if weighting not in ("inverse_frequency", "none"):
        raise ValueError(f"weighting must be 'inverse_frequency' or 'none', got {weighting!r}")
    if kind in ("single_label", "binary"):
        weight = class_weight_tensor(train_targets, n_outputs) if weighting != "none" else None
        return WeightedCrossEntropy(weight, normalize=normalize)
    if kind == "multilabel":
        pos_weight = inverse_frequency_pos_weight(train_targets, labels) if weighting != "none" else None
        return WeightedBCE(pos_weight)
    raise ValueError(f"unknown task kind {kind!r}; known: single_label, binary, multilabel")
