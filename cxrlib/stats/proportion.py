"""Small-sample proportions and matched-pair similarity: exact intervals and tests that need no bootstrap.

* :func:`binomial_ci`: the exact (Clopper-Pearson, 1934) interval of a proportion ``successes / n``. A
  percentile bootstrap of a proportion from a handful of trials degenerates: 0 hits out of 3 gives the
  interval [0, 0], because every redraw also has 0 hits; the exact interval is [0, 0.708]. The exact
  interval inverts two one-sided binomial tests (each at ``alpha / 2``) and covers the true proportion at
  least ``1 - alpha`` of the time for every ``n`` (scipy's ``binomtest(...).proportion_ci``).
* :func:`matched_permutation_test`: is item ``i`` of one set more similar to item ``i`` of another than
  to the other items? The statistic is the mean of the diagonal of the ``n x n`` similarity matrix
  ``S[i, j] = sim(a_i, b_j)``; its null distribution comes from re-pairing the items at random (a
  permutation of the columns: the "shuffled pairs" a Mantel-type test uses). All ``n!`` re-pairings
  when that is at most ``permutations``, else a seeded Monte Carlo sample (p-value with the ``+1``
  correction of Phipson & Smyth, 2010). The model-randomisation check of :mod:`cxrlib.explain.sanity`
  uses it: maps that survive the randomisation of a model stay more similar to the same image's trained
  map than to other images' maps.

No torch.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from cxrlib.stats.checks import check_alpha

__all__ = ["BinomialInterval", "binomial_ci", "MatchedPermutationResult", "matched_permutation_test"]


@dataclass(frozen=True)
class BinomialInterval:
    """``successes`` of ``n`` with the estimate and the interval (NaN when ``n`` is 0)."""

    successes: int
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    alpha: float
    method: str

    def text(self, decimals: int = 2) -> str:
        """``"0/3 = 0.00 (95 % exact CI 0.00 to 0.71)"``; ``"0/0: no trial"`` when ``n`` is 0."""
        if self.n == 0:
            return "0/0: no trial"
        level = f"{100 * (1 - self.alpha):g} %"
        return (f"{self.successes}/{self.n} = {self.estimate:.{decimals}f} ({level} {self.method} CI "
                f"{self.ci_low:.{decimals}f} to {self.ci_high:.{decimals}f})")


def binomial_ci(successes: int, n: int, *, alpha: float = 0.05, method: str = "exact") -> BinomialInterval:
    """The ``1 - alpha`` interval of the proportion ``successes / n`` (``method``: ``"exact"`` =
    Clopper-Pearson, or scipy's ``"wilson"``). ``n = 0`` gives NaN, not an error (nothing was scored)."""
    from scipy.stats import binomtest

    check_alpha(alpha)
    k, total = int(successes), int(n)
    if k != successes or total != n or total < 0 or not 0 <= k <= max(total, 0):
        raise ValueError(f"need whole numbers 0 <= successes <= n, got successes={successes}, n={n}")
    label = {"exact": "exact binomial (Clopper-Pearson)", "wilson": "Wilson score"}.get(method)
    if label is None:
        raise ValueError(f"unknown method {method!r}; use 'exact' or 'wilson'")
    if total == 0:
        return BinomialInterval(0, 0, math.nan, math.nan, math.nan, alpha, label)
    ci = binomtest(k, total).proportion_ci(confidence_level=1 - alpha, method=method)
    return BinomialInterval(k, total, k / total, float(ci.low), float(ci.high), alpha, label)


@dataclass(frozen=True)
class MatchedPermutationResult:
    """The mean similarity of matched pairs (``matched``), of unmatched ones (``unmatched``, the mean of
    the off-diagonal: what unrelated items reach) and the one-sided p-value of ``matched`` under random
    re-pairing; ``smallest_p``: the smallest p-value ``n`` items can give (``1 / n!`` when exact)."""

    matched: float
    unmatched: float
    p_value: float
    n: int
    permutations: int
    exact: bool
    smallest_p: float

    def can_reject(self, alpha: float) -> bool:
        """Whether ``n`` items could give a p-value at or below ``alpha`` at all."""
        return self.smallest_p <= alpha


def matched_permutation_test(similarity, *, permutations: int = 10_000, seed: int = 0) -> MatchedPermutationResult:
    """One-sided permutation test that the diagonal of the square ``similarity`` matrix (``S[i, j]``:
    item ``i`` of the first set against item ``j`` of the second) is larger than under random re-pairing.
    NaN entries (e.g. a correlation with a constant map) count as 0, no similarity."""
    s = np.nan_to_num(np.asarray(similarity, dtype=float), nan=0.0)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] < 1:
        raise ValueError(f"need a square n x n similarity matrix, got shape {s.shape}")
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    n = s.shape[0]
    rows = np.arange(n)
    observed = float(s[rows, rows].mean())
    unmatched = float(s[~np.eye(n, dtype=bool)].mean()) if n > 1 else math.nan
    tolerance = 1e-12 * max(1.0, abs(observed))
    if math.factorial(n) <= permutations:
        orders = np.array(list(itertools.permutations(range(n))))
        stats = s[rows, orders].mean(axis=1)
        p = float(np.mean(stats >= observed - tolerance))
        return MatchedPermutationResult(observed, unmatched, p, n, len(orders), True, 1 / len(orders))
    rng = np.random.default_rng(seed)
    orders = np.argsort(rng.random((permutations, n)), axis=1)
    stats = s[rows, orders].mean(axis=1)
    p = float((1 + np.sum(stats >= observed - tolerance)) / (1 + permutations))
    return MatchedPermutationResult(observed, unmatched, p, n, permutations, False,
                                    max(1 / math.factorial(n), 1 / (1 + permutations)))
