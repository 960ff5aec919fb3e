"""Pieces every training engine shares (fine-tuning, SSL pre-training, semi-supervised and dual-stream
training, frozen features): the device rule and the precisions (:class:`Hardware`), the training step of the
hand-written loops (:func:`train_step`), the optimiser table, the epoch-seeded shuffle, timm's input-size
arguments (from the registry row) and the check that a run folder may be resumed with the given parameters.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import yaml
from torch.utils.data import Sampler

from cxrlib.core.config import lookup
from cxrlib.core.io import jsonable

_Out = TypeVar("_Out")


def resolve_device(name: str | torch.device) -> torch.device:
    """``"auto"``: the GPU when there is one, else the CPU; anything else as ``torch.device`` reads it."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass(frozen=True)
class Precision:
    """One numeric precision of the trainers: the autocast dtype of the hand-written loops (``None``: no autocast)
    and the name Lightning's ``Trainer(precision=...)`` gives it."""

    autocast: torch.dtype | None
    lightning: str


#: The ``precision`` of every trainer: ``"32"`` computes in float32; ``"bf16"`` runs the forward pass under
#: bfloat16 autocast (weights, gradients and optimiser stay float32). float16 is not offered: it needs loss
#: scaling, which the hand-written loops do not do.
PRECISIONS: dict[str, Precision] = {
    "32": Precision(None, "32-true"),
    "bf16": Precision(torch.bfloat16, "bf16-mixed"),
}


@dataclass(frozen=True)
class Hardware:
    """Where and in which precision a trainer computes: the ``device`` and ``precision`` fields that every trainer
    configuration carries under these names (:class:`~cxrlib.training.finetune.TrainConfig`,
    :class:`~cxrlib.training.ssl.PretrainConfig`, :class:`~cxrlib.training.semssxl.SemiConfig`,
    :class:`~cxrlib.training.dual_stream.StepConfig`), checked and resolved one way.

    ``device``: ``"auto"`` (the GPU when there is one, else the CPU: :func:`resolve_device`) or a torch device
    (``"cpu"``, ``"cuda"``, ``"cuda:1"``); ``precision``: a key of :data:`PRECISIONS`. A bad value raises
    ``ValueError`` naming the parameter.
    """

    device: str = "auto"
    precision: str = "32"

    def __post_init__(self) -> None:
        lookup(PRECISIONS, self.precision, what="precision")
        if str(self.device) != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError, ValueError) as error:
                raise ValueError(f"device must be 'auto' or a torch device such as 'cpu', 'cuda' or 'cuda:1'; "
                                 f"got {self.device!r}") from error

    @classmethod
    def of(cls, config: Any) -> Hardware:
        """The hardware fields of a trainer configuration (checked)."""
        return cls(config.device, config.precision)

    @property
    def torch_device(self) -> torch.device:
        """The device the run computes on (``"auto"`` resolved)."""
        return resolve_device(self.device)

    def autocast(self) -> AbstractContextManager:
        """The context of a forward pass: bfloat16 autocast for ``"bf16"``, nothing for ``"32"``."""
        dtype = lookup(PRECISIONS, self.precision, what="precision").autocast
        return nullcontext() if dtype is None else torch.autocast(self.torch_device.type, dtype=dtype)

    def lightning(self, devices: int | str = 1) -> dict[str, Any]:
        """``accelerator``, ``devices`` and ``precision`` of a Lightning ``Trainer`` on this hardware (``devices``:
        how many, for DDP; a device with an index, e.g. ``"cuda:1"``, is that one device)."""
        device = self.torch_device
        return {"accelerator": device.type, "devices": [device.index] if device.index is not None else devices,
                "precision": lookup(PRECISIONS, self.precision, what="precision").lightning}


def train_step(optimizer: torch.optim.Optimizer, forward: Callable[[], _Out], hardware: Hardware, *,
               loss: Callable[[_Out], torch.Tensor] | None = None) -> _Out:
    """One optimisation step of a hand-written training loop, in the same order in every loop: ``forward()``
    under the run's autocast, zero the gradients, back-propagate, step. ``forward`` returns the loss, or anything
    from which ``loss`` picks it (e.g. a dict of loss parts); its return value is returned (for the history)."""
    with hardware.autocast():
        out = forward()
    optimizer.zero_grad(set_to_none=True)
    (out if loss is None else loss(out)).backward()
    optimizer.step()
    return out


FUSED_DEVICES = ("cpu", "cuda")
"""Devices where Adam and AdamW run their fused kernel (one pass over each tensor instead of a dozen operations:
a ResNet18's step takes 0.02 s of CPU instead of 0.1 s on one core, measured with torch 2.14)."""


def _fused(params) -> dict[str, bool]:
    """``{"fused": True}`` when every parameter is a floating-point tensor on a :data:`FUSED_DEVICES` device (the same
    update as the per-tensor loop, up to the order of floating-point operations), else nothing."""
    params = list(params)
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    ok = bool(tensors) and all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in tensors)
    return {"fused": True} if ok else {}


def _adam(kind: type[torch.optim.Optimizer]) -> Callable[[list, Any], torch.optim.Optimizer]:
    def build(params, c):
        params = list(params)
        return kind(params, lr=c.lr, weight_decay=c.weight_decay, **_fused(params))
    return build


OPTIMIZERS: dict[str, Callable[[list, Any], torch.optim.Optimizer]] = {
    "adamw": _adam(torch.optim.AdamW),
    # Adam's weight_decay adds wd * w to the gradient: the L2 penalty (wd / 2) * ||w||^2 of document 000.
    "adam": _adam(torch.optim.Adam),
    "sgd": lambda params, c: torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay),
}


def get_optimizer(name: str) -> Callable[[list, Any], torch.optim.Optimizer]:
    """The builder of optimiser ``name`` (:data:`OPTIMIZERS`): ``builder(parameters, config)``."""
    return lookup(OPTIMIZERS, name, what="optimizer")


PROGRESS_MODES = ("epoch", "bar", "none")


def size_kwargs(backbone: str, image_size: int) -> dict[str, Any]:
    """The timm arguments that make registry backbone ``backbone`` take ``image_size`` inputs (the row's
    ``size_keyword``: ViTs build their position grid from it; convolutional rows accept any size)."""
    from cxrlib.models import get_spec

    keyword = get_spec(backbone).size_keyword
    return {} if keyword is None else {keyword: image_size}


class EpochSeededSampler(Sampler[int]):
    """A shuffle that depends only on ``(seed, epoch)``: a resumed run sees the same order.

    ``repeats`` > 1 makes one epoch that many passes over the data, each its own seeded shuffle (the first
    pass is the one-pass order): a small label set then trains several passes between two validations."""

    def __init__(self, n: int, seed: int, repeats: int = 1) -> None:
        if int(repeats) < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        self.n, self.seed, self.epoch, self.repeats = n, seed, 0, int(repeats)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist()
        for r in range(1, self.repeats):
            order += np.random.default_rng([self.seed, self.epoch, r]).permutation(self.n).tolist()
        return iter(order)

    def __len__(self) -> int:
        return self.n * self.repeats


def check_resumable(out_dir: Path, current: Mapping[str, Any], may_change: frozenset,
                    saved_name: str = "params.yaml") -> None:
    """Raise if ``out_dir`` holds a run whose saved parameters differ from ``current`` (other than ``may_change``)."""
    saved_file = out_dir / saved_name
    if not saved_file.exists():
        return
    saved = yaml.safe_load(saved_file.read_text()) or {}
    current = jsonable(dict(current))
    differ = {k: (saved.get(k), current.get(k)) for k in sorted(set(saved) | set(current))
              if k not in may_change and saved.get(k) != current.get(k)}
    if differ:
        lines = "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, a, b in ((k, *v) for k, v in differ.items()))
        raise ValueError(
            f"{out_dir} holds a run with other parameters ({lines}). Resume it with the same parameters, "
            "or choose another out_dir (or delete this one) to start a new run."
        )
