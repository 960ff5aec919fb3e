"""Class balance as data: the class weights ``W_c = n / (c * n_c)`` of document 000 (equation 1) and its
resampling rule of the training set (section 3.2) as rows ``(lower, upper, factor)``.

Used by document 000's Table 1 (:mod:`cxrlib.data.d000`), the weighted loss
(:mod:`cxrlib.training.losses`) and the resampler (:mod:`cxrlib.images.sampling`). Pandas only.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd


class ResampleBand(NamedTuple):
    """Classes whose weight W satisfies ``lower <= W < upper`` keep ``factor`` x their train images."""

    lower: float
    upper: float
    factor: float
    note: str = ""


RESAMPLE_RULE: tuple[ResampleBand, ...] = (
    ResampleBand(2.0, math.inf, 6.0,
                 "rule (1): oversample; original + horizontal flip + rotations -40, -20, 20, 40 degrees"),
    ResampleBand(1.5, 2.0, 1.0, "rule (2): keep as is"),
    ResampleBand(0.1, 1.5, 1.0, "not stated in the text; Table 1 keeps these classes"),
    ResampleBand(0.0, 0.1, 0.4, "rule (3): random undersampling by 60 %"),
)
"""Document 000, section 3.2: the resampling rule of the train set, as (lower, upper, factor) rows."""


def _bands(rule: Iterable[Sequence]) -> list[ResampleBand]:
    bands = sorted((ResampleBand(*row) for row in rule), key=lambda b: b.lower)
    if not bands:
        raise ValueError("a resampling rule needs at least one (lower, upper, factor) row")
    for band in bands:
        if not band.lower < band.upper or band.factor < 0:
            raise ValueError(f"bad resampling band {tuple(band[:3])}: need lower < upper and factor >= 0")
    for a, b in zip(bands, bands[1:]):
        if b.lower < a.upper:
            raise ValueError(f"resampling bands overlap: {tuple(a[:3])} and {tuple(b[:3])}")
    return bands


def class_weights(counts: pd.Series) -> pd.Series:
    """Equation 1 of document 000: ``W_c = n / (c * n_c)`` with ``n = sum(counts)``, ``c = len(counts)``."""
    counts = pd.Series(counts, dtype=float)
    empty = counts.index[counts <= 0]
    if len(empty):
        raise ValueError(f"class weights need at least one image per class; none for {list(empty)}")
    return (counts.sum() / (len(counts) * counts)).rename("class_weight")


def resample_factors(weights: pd.Series, rule: Iterable[Sequence] = RESAMPLE_RULE) -> pd.Series:
    """The per-class multiplier of the train images under ``rule`` (rows ``(lower, upper, factor)``,
    half-open ``[lower, upper)``); a weight outside every band raises ``ValueError``."""
    bands = _bands(rule)
    weights = pd.Series(weights, dtype=float)
    factors = pd.Series(np.nan, index=weights.index, name="factor")
    for band in bands:
        factors[(weights >= band.lower) & (weights < band.upper)] = band.factor
    uncovered = weights[factors.isna()]
    if len(uncovered):
        raise ValueError(f"class weights outside every resampling band: {uncovered.round(3).to_dict()}")
    return factors


def resampled_counts(counts: pd.Series, weights: pd.Series, rule: Iterable[Sequence] = RESAMPLE_RULE) -> pd.Series:
    """Train images per class after resampling: ``counts * factor`` rounded half up to whole images."""
    expected = pd.Series(counts, dtype=float) * resample_factors(weights, rule)
    return np.floor(expected + 0.5).astype(int).rename("resampled")
