"""The model-randomisation sanity check of Adebayo et al. (NeurIPS 2018), cascading from the head down.

An explanation that is about the *model* must change when the model's learned weights are destroyed.
Starting from the trained network, the weights are re-initialised one level at a time, from the
output down: the head, then the last block, the block before it, ... down to the stem. After each
level the maps of the same images are computed again and compared with the trained network's maps
by **Spearman rank correlation** (per image, on the maps upsampled to the input size). A method
whose maps stay highly correlated even when every layer is random is explaining the image (edges,
contrast), not what the network learned: it is **flagged**.

Re-initialising means copying the parameters and buffers of that level from a *fresh* model of the
same architecture, built with ``weights="none"`` and another seed (so each layer gets its own
architecture's initialisation, BatchNorm running statistics included).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from cxrlib.core.config import lookup
from cxrlib.explain.gradcam import EXPLANATION_METHODS


@dataclass(frozen=True)
class Level:
    """One step of the cascade: a label and the module paths (inside the model) it re-initialises."""

    label: str
    paths: tuple[str, ...]


def classifier_levels(model: nn.Module) -> list[Level]:
    """The cascade of a registry :class:`~cxrlib.models.heads.BackboneClassifier`: head, blocks from the
    last to the first (as the registry counts them), stem."""
    from cxrlib.models import backbone_blocks, get_spec

    spec = get_spec(model.spec.key)
    blocks = backbone_blocks(model.backbone, spec)
    levels = [Level("head", ("head",))]
    for i in range(len(blocks), 0, -1):
        levels.append(Level(f"block {i}", tuple(f"backbone.{p}" for p in blocks[i - 1].paths)))
    levels.append(Level("stem", tuple(f"backbone.{p}" for p in spec.stem)))
    return levels


def _under(name: str, paths: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in paths)


def randomise(model: nn.Module, fresh: nn.Module, paths: Sequence[str]) -> int:
    """Copy every parameter and buffer under ``paths`` from ``fresh`` into ``model`` (in place); returns
    how many tensors changed. A path that matches nothing is an error."""
    source = fresh.state_dict()
    target = model.state_dict()
    names = [n for n in target if _under(n, paths)]
    if not names:
        raise KeyError(f"no parameter or buffer under {list(paths)}")
    with torch.no_grad():
        for name in names:
            target[name].copy_(source[name])
    return len(names)


def spearman_rows(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Spearman correlation of each pair of maps (NaN where a map is constant)."""
    from scipy.stats import rankdata

    a = rankdata(reference.reshape(len(reference), -1), axis=1)
    b = rankdata(other.reshape(len(other), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / np.where(den > 0, den, 1), np.nan)


def cascading_randomisation(model: nn.Module, fresh: nn.Module, images: torch.Tensor, targets,
                            levels: Sequence[Level], methods: Sequence[str] = ("Grad-CAM", "input gradient"),
                            explain: Callable | None = None) -> tuple[pd.DataFrame, dict[str, list[np.ndarray]]]:
    """Maps of ``images`` for class ``targets`` from the trained ``model`` and after each cumulative
    re-initialisation of ``levels`` (the model itself is not changed: a copy is randomised).

    Returns a long table (``method``, ``depth`` (0 = trained), ``level``, ``image``, ``spearman``) and,
    per method, the list of map arrays (trained first, one per level)."""
    explain = explain or (lambda m, method: lookup(EXPLANATION_METHODS, method, what="explanation method")(m, images, targets))
    work = copy.deepcopy(model).eval()
    maps = {method: [explain(work, method)] for method in methods}
    rows = []
    for depth, level in enumerate(levels, start=1):
        randomise(work, fresh, level.paths)
        for method in methods:
            current = explain(work, method)
            maps[method].append(current)
            for i, rho in enumerate(spearman_rows(maps[method][0], current)):
                rows.append({"method": method, "depth": depth, "level": level.label, "image": i, "spearman": rho})
    return pd.DataFrame(rows, columns=["method", "depth", "level", "image", "spearman"]), maps


def sanity_summary(table: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """Per method and level: mean, min and max Spearman over the images and how many maps were constant;
    ``verdict`` on the last level (everything random): a mean at or above ``threshold`` is flagged."""
    summary = (table.groupby(["method", "depth", "level"], sort=False)["spearman"]
               .agg(mean="mean", min="min", max="max", constant_maps=lambda s: int(s.isna().sum()))
               .reset_index())
    verdict = {}
    for method, part in summary.groupby("method", sort=False):
        last = part.loc[part["depth"].idxmax()]
        rho = last["mean"]
        verdict[method] = ("FLAGGED: the maps barely change when the weights are random (mean Spearman "
                           f"{rho:.2f} >= {threshold})" if np.isfinite(rho) and rho >= threshold else
                           "passes: the maps change with the weights")
    summary["verdict"] = summary["method"].map(verdict)
    return summary
