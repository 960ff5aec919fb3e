"""The model-randomisation sanity check of Adebayo et al. (NeurIPS 2018), cascading from the head down.

Adebayo, Gilmer, Muelly, Goodfellow, Hardt and Kim, "Sanity checks for saliency maps", NeurIPS 2018:
an explanation that is about the *model* must change when the model's learned weights are destroyed;
a method whose maps survive the randomisation explains the image (edges, contrast), not what the
network learned.

**Protocol.** Starting from the trained network, the weights are re-initialised one level at a time,
from the output down: the head, then the last block, the block before it, ... down to the stem. After
each level the maps of the same ``n`` images are computed again and compared with the trained
network's maps by **Spearman rank correlation** (on the maps upsampled to the input size), as in the
paper. The curve is the mean correlation of each image's map with its own trained map.

**Verdict, from the paper's own criterion ("the maps should change").** How similar must a map stay to
count as "unchanged"? Not a fixed number: maps of chest radiographs share structure (the body's
outline, the image border), so even the maps of *different* images correlate. The yardstick is that
similarity: with ``S[i, j]`` the correlation between the trained map of image ``i`` and the randomised
map of image ``j``, the diagonal (same image) is compared with random re-pairings of the images
(:func:`cxrlib.stats.proportion.matched_permutation_test`, one-sided). After every layer is random:

* **FLAGGED** when the maps still resemble the same image's trained map more than the other images'
  trained maps (permutation p <= ``alpha``): what the map shows survived the destruction of the model;
* **passes** when they do not (p > ``alpha``): the maps changed as much as maps of unrelated images;
* **cannot tell** when ``n`` images are too few for any p-value to reach ``alpha`` (``1 / n!`` > ``alpha``).

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
from cxrlib.stats.proportion import matched_permutation_test


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


def _centred_ranks(maps: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    ranks = rankdata(np.asarray(maps, dtype=float).reshape(len(maps), -1), axis=1)
    ranks -= ranks.mean(axis=1, keepdims=True)
    norm = np.sqrt((ranks * ranks).sum(axis=1, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, ranks / np.where(norm > 0, norm, 1), np.nan)


def spearman_matrix(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``S[i, j]``: Spearman correlation of ``reference[i]`` with ``other[j]`` (NaN where a map is constant)."""
    return _centred_ranks(reference) @ _centred_ranks(other).T


def spearman_rows(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Spearman correlation of each pair of maps (NaN where a map is constant)."""
    return np.einsum("ij,ij->i", _centred_ranks(reference), _centred_ranks(other))


def cascading_randomisation(model: nn.Module, fresh: nn.Module, images: torch.Tensor, targets,
                            levels: Sequence[Level], methods: Sequence[str] = ("Grad-CAM", "input gradient"),
                            explain: Callable | None = None,
                            layer: str | None = None) -> tuple[pd.DataFrame, dict[str, list[np.ndarray]]]:
    """Maps of ``images`` for class ``targets`` from the trained ``model`` and after each cumulative
    re-initialisation of ``levels`` (the model itself is not changed: a copy is randomised). ``layer``:
    Grad-CAM's layer path inside the model (:func:`cxrlib.explain.gradcam.choose_layer`).

    Returns a long table (``method``, ``depth`` (0 = trained), ``level``, ``image``, ``spearman``) and,
    per method, the list of map arrays (trained first, one per level)."""
    explain = explain or (lambda m, method: lookup(EXPLANATION_METHODS, method, what="explanation method")(
        m, images, targets, layer=layer))
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


def sanity_summary(table: pd.DataFrame, maps: dict[str, list[np.ndarray]], *, alpha: float = 0.05,
                   permutations: int = 50_000, seed: int = 0) -> pd.DataFrame:
    """Per method and level: mean, min and max Spearman of each image's map with its own trained map, how
    many maps were constant, ``unrelated`` (the mean correlation with *other* images' trained maps: the
    level a map that changed completely reaches) and ``p_value`` (one-sided permutation test of the same
    image against re-paired images); ``verdict`` on the last level (everything random), by the rule of
    the module docstring (empty on the other levels)."""
    summary = (table.groupby(["method", "depth", "level"], sort=False)["spearman"]
               .agg(mean="mean", min="min", max="max", constant_maps=lambda s: int(s.isna().sum()))
               .reset_index())
    # permutations: 50,000 covers every re-pairing of up to 8 images (8! = 40,320), so those p-values are exact
    tests = {(method, depth): matched_permutation_test(spearman_matrix(stack[0], stack[depth]),
                                                       permutations=permutations, seed=seed)
             for method, stack in maps.items() for depth in range(1, len(stack))}
    summary["unrelated"] = [tests[(m, d)].unmatched for m, d in zip(summary["method"], summary["depth"])]
    summary["p_value"] = [tests[(m, d)].p_value for m, d in zip(summary["method"], summary["depth"])]
    verdict = {}
    for method, part in summary.groupby("method", sort=False):
        last = tests[(method, int(part["depth"].max()))]
        numbers = (f"mean Spearman with the same image's trained map {last.matched:.2f}, with other images' "
                   f"{last.unmatched:.2f}; permutation p = {last.p_value:.3g}, {last.n} images")
        if not last.can_reject(alpha):
            verdict[method] = (f"cannot tell: {last.n} images cannot give a p-value below {alpha:g} "
                               f"(smallest possible {last.smallest_p:.3g}); {numbers}")
        elif last.p_value <= alpha:
            verdict[method] = ("FLAGGED: with every layer random the maps still resemble the same image's trained "
                               f"map more than other images' ({numbers}): they follow the image, not the weights")
        else:
            verdict[method] = ("passes: with every layer random the maps resemble the same image's trained map no "
                               f"more than other images' ({numbers}): they changed with the weights")
    final = summary["depth"] == summary.groupby("method", sort=False)["depth"].transform("max")
    summary["verdict"] = np.where(final, summary["method"].map(verdict), "")
    return summary
