"""Aggregation rules of the global model: FedAvg and two coordinate-wise robust rules.

* ``fedavg``: the average of the client models weighted by their number of training examples
  (McMahan et al. 2017).
* ``trimmed_mean``: per coordinate, drop the ``trim`` share of the largest and of the smallest values and
  average the rest, unweighted (Yin et al. 2018); with 4 clients and ``trim=0.25`` one value each side.
* ``median``: per coordinate, the median (Yin et al. 2018).

Each takes the client models (lists of arrays, same shapes) and returns the new global model.
"""
from __future__ import annotations

import math

from collections.abc import Callable

import numpy as np

from cxrlib.core.config import lookup


def fedavg(models: list[list[np.ndarray]], weights: list[float]) -> list[np.ndarray]:
    """FedAvg (McMahan et al. 2017): the client models averaged parameter by parameter with ``weights`` (their
    numbers of training examples, normalised to sum 1)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(models) == 0 or w.sum() <= 0:
        raise ValueError("fedavg needs at least one model with a positive weight")
    w = w / w.sum()
    return [np.tensordot(w, np.stack([m[i] for m in models]).astype(np.float64), axes=1).astype(models[0][i].dtype)
            for i in range(len(models[0]))]


def trimmed_mean(models: list[list[np.ndarray]], trim: float = 0.25) -> list[np.ndarray]:
    """Coordinate-wise trimmed mean (Yin et al. 2018): per coordinate, drop the ``trim`` share of the largest and
    of the smallest values (at least one value stays) and average the rest, unweighted."""
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), got {trim}")
    n = len(models)
    k = min(int(math.floor(trim * n)), (n - 1) // 2)
    out = []
    for i in range(len(models[0])):
        stacked = np.sort(np.stack([m[i] for m in models]).astype(np.float64), axis=0)
        out.append(stacked[k:n - k].mean(axis=0).astype(models[0][i].dtype))
    return out


def median(models: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Coordinate-wise median of the client models (Yin et al. 2018)."""
    return [np.median(np.stack([m[i] for m in models]).astype(np.float64), axis=0).astype(models[0][i].dtype)
            for i in range(len(models[0]))]


AGGREGATION_RULES: dict[str, Callable[[list[list[np.ndarray]], list[float], float], list[np.ndarray]]] = {
    "fedavg": lambda models, weights, trim: fedavg(models, weights),
    "trimmed_mean": lambda models, weights, trim: trimmed_mean(models, trim),
    "median": lambda models, weights, trim: median(models),
}
"""Rule name -> ``rule(models, weights, trim)`` (each rule reads what it needs)."""


def aggregate(rule: str, models: list[list[np.ndarray]], weights: list[float], trim: float = 0.25) -> list[np.ndarray]:
    """The new global model by ``rule`` (a key of :data:`AGGREGATION_RULES`)."""
    return lookup(AGGREGATION_RULES, rule, what="aggregation rule")(models, weights, trim)
