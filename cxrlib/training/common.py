"""Pieces every training engine shares (fine-tuning, SSL pre-training, frozen features): the device
rule, the optimiser table, the epoch-seeded shuffle, timm's input-size arguments (from the registry row)
and the check that a run folder may be resumed with the given parameters.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import Sampler

from cxrlib.core.config import lookup
from cxrlib.core.io import jsonable


def resolve_device(name: str | torch.device) -> torch.device:
    """``"auto"``: the GPU when there is one, else the CPU; anything else as ``torch.device`` reads it."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


OPTIMIZERS: dict[str, Callable[[list, Any], torch.optim.Optimizer]] = {
    "adamw": lambda params, c: torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay),
    # Adam's weight_decay adds wd * w to the gradient: the L2 penalty (wd / 2) * ||w||^2 of document 000.
    "adam": lambda params, c: torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay),
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
    """A shuffle that depends only on ``(seed, epoch)``: a resumed run sees the same order."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


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
