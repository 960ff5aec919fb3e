"""Label-flip simulation: what random label errors do to a measured AUROC.

Used by the label-noise chapter (notebook ``07_label_noise``) to show the mechanism behind document
000's remark that label noise in NIH ChestX-ray14 "will obviously affect the performance of any ML
models" (section 4.5): on a clean problem with a known AUROC we flip a known fraction of the labels
and measure the AUROC of the same scores against the flipped labels.

Protocol
--------
* Clean problem: the binormal model. Scores of negatives are N(0, 1), of positives N(d, 1) with
  d = sqrt(2) * Phi^-1(AUROC), so the population AUROC is exactly the requested one. ``n_images``
  images, ``round(prevalence * n_images)`` of them positive.
* Noise: a scenario is a pair of weights (a, b); at flip fraction f, exactly round(a*f*n_pos)
  positives are relabelled negative and round(b*f*n_neg) negatives relabelled positive, chosen at
  random. Scores are untouched: the model is the same, only the reference standard changes.
* Expected value: with flips independent of the scores, the observed positives are a mixture of
  true positives (share w_p) and true negatives, and likewise the observed negatives (share w_n of
  true negatives), so the expected measured AUROC is
  w_p w_n A + (1 - w_p)(1 - w_n)(1 - A) + 1/2 [w_p (1 - w_n) + (1 - w_p) w_n]
  (:func:`expected_auroc_under_flips`): a pair of two true positives, or two true negatives, is a
  coin toss; a pair with the roles swapped is ordered correctly with probability 1 - A.

Every random step takes ``seed`` (numpy ``default_rng``); the same seed gives the same table.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri

from cxrlib.stats.metrics import auroc

#: Noise scenarios: name -> (weight on the positives' flip rate, weight on the negatives' flip rate).
NOISE_SCENARIOS: dict[str, tuple[float, float]] = {
    "missed findings (positives labelled negative)": (1.0, 0.0),
    "spurious findings (negatives labelled positive)": (0.0, 1.0),
    "both, at the same rate": (1.0, 1.0),
}

DEFAULT_FRACTIONS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)


def binormal_separation(auc: float) -> float:
    """Mean shift d of N(d, 1) positives against N(0, 1) negatives that gives population AUROC ``auc``."""
    if not 0.5 <= auc < 1.0:
        raise ValueError(f"auc must be in [0.5, 1), got {auc}")
    return math.sqrt(2.0) * float(ndtri(auc))


def binormal_problem(n_images: int, prevalence: float, auc: float, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A clean binary problem: labels (0/1, positives first) and binormal scores with population AUROC ``auc``."""
    if not 0.0 < prevalence < 1.0:
        raise ValueError(f"prevalence must be in (0, 1), got {prevalence}")
    n_pos = int(round(prevalence * n_images))
    if n_pos < 1 or n_pos >= n_images:
        raise ValueError(f"{n_images} images at prevalence {prevalence} leave one class empty")
    y = np.zeros(n_images, dtype=np.int8)
    y[:n_pos] = 1
    scores = rng.standard_normal(n_images) + binormal_separation(auc) * y
    return y, scores


def flip_labels(y, flip_positive: float, flip_negative: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``y`` with exactly round(flip_positive * positives) positives set to 0 and
    round(flip_negative * negatives) negatives set to 1, chosen at random."""
    for name, value in (("flip_positive", flip_positive), ("flip_negative", flip_negative)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    y = np.asarray(y)
    noisy = y.astype(np.int8).copy()
    positives = np.flatnonzero(y == 1)
    negatives = np.flatnonzero(y == 0)
    noisy[rng.choice(positives, int(round(flip_positive * positives.size)), replace=False)] = 0
    noisy[rng.choice(negatives, int(round(flip_negative * negatives.size)), replace=False)] = 1
    return noisy


def expected_auroc_under_flips(auc: float, prevalence: float, flip_positive: float,
                               flip_negative: float) -> float:
    """Expected AUROC measured against labels with random flips (see the module docstring).

    ``auc``: AUROC against the true labels; ``prevalence``: share of true positives;
    ``flip_positive``: share of true positives labelled negative; ``flip_negative``: share of true
    negatives labelled positive. NaN when the noisy labels have one class only.
    """
    pi = prevalence
    observed_pos = (1 - flip_positive) * pi + flip_negative * (1 - pi)
    observed_neg = flip_positive * pi + (1 - flip_negative) * (1 - pi)
    if observed_pos <= 0 or observed_neg <= 0:
        return float("nan")
    w_p = (1 - flip_positive) * pi / observed_pos
    w_n = (1 - flip_negative) * (1 - pi) / observed_neg
    return float(w_p * w_n * auc + (1 - w_p) * (1 - w_n) * (1 - auc)
                 + 0.5 * (w_p * (1 - w_n) + (1 - w_p) * w_n))


def label_flip_curve(auc: float = 0.85, prevalence: float = 0.1, n_images: int = 2000,
                     fractions: Sequence[float] = DEFAULT_FRACTIONS,
                     scenarios: Mapping[str, tuple[float, float]] = NOISE_SCENARIOS,
                     n_repeats: int = 100, seed: int = 0) -> pd.DataFrame:
    """Measured AUROC against flipped labels, one row per (scenario, fraction, repeat).

    Each repeat draws a fresh clean problem; within a repeat every scenario and fraction flips the
    labels of that same problem (so the curves differ by the noise only). Columns: scenario,
    fraction, repeat, flip_positive, flip_negative, auroc_clean, auroc_noisy, expected (the formula
    of :func:`expected_auroc_under_flips` at the population AUROC).
    """
    if n_repeats < 1:
        raise ValueError("n_repeats must be at least 1")
    rng = np.random.default_rng(seed)
    rows = []
    for repeat in range(n_repeats):
        y, scores = binormal_problem(n_images, prevalence, auc, rng)
        clean = auroc(y, scores)
        for name, (weight_pos, weight_neg) in scenarios.items():
            for fraction in fractions:
                p, q = min(1.0, weight_pos * fraction), min(1.0, weight_neg * fraction)
                noisy = flip_labels(y, p, q, rng)
                rows.append({"scenario": name, "fraction": float(fraction), "repeat": repeat,
                             "flip_positive": p, "flip_negative": q, "auroc_clean": clean,
                             "auroc_noisy": auroc(noisy, scores),
                             "expected": expected_auroc_under_flips(auc, prevalence, p, q)})
    return pd.DataFrame(rows)


def summarise_curve(curve: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per scenario and fraction: mean measured AUROC, its (alpha/2, 1 - alpha/2) quantiles over
    repeats, the mean drop from the clean AUROC, and the expected value."""
    grouped = curve.groupby(["scenario", "fraction"], sort=False)
    summary = grouped.agg(
        flip_positive=("flip_positive", "first"),
        flip_negative=("flip_negative", "first"),
        auroc_mean=("auroc_noisy", "mean"),
        auroc_low=("auroc_noisy", lambda v: float(np.quantile(v, alpha / 2))),
        auroc_high=("auroc_noisy", lambda v: float(np.quantile(v, 1 - alpha / 2))),
        expected=("expected", "first"),
        repeats=("repeat", "nunique"),
    ).reset_index()
    drop = (curve["auroc_clean"] - curve["auroc_noisy"]).groupby([curve["scenario"], curve["fraction"]], sort=False).mean()
    summary["mean_drop"] = drop.to_numpy()
    return summary


def plot_flip_curve(summary: pd.DataFrame, auc: float, ax=None, title: str | None = None):
    """Measured AUROC (mean and quantile band over repeats) against the flip fraction, one line per
    scenario, with the expected value dashed; returns the figure."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
    else:
        fig = ax.figure
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for color, (name, part) in zip(colors, summary.groupby("scenario", sort=False)):
        ax.fill_between(part["fraction"], part["auroc_low"], part["auroc_high"], color=color, alpha=0.2, lw=0)
        ax.plot(part["fraction"], part["auroc_mean"], "o-", color=color, ms=3, label=name)
        ax.plot(part["fraction"], part["expected"], "--", color=color, lw=1)
    ax.axhline(auc, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("fraction of labels flipped (of the positives, the negatives, or both)")
    ax.set_ylabel("AUROC measured against the flipped labels")
    ax.set_title(title or f"Same scores, noisier labels (true AUROC {auc:.2f}; dashed: expected value)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
