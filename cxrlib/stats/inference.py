"""Uncertainty and tests for the companion's metrics: bootstrap, DeLong, FDR, kappa intervals.

The documents' protocols this module implements
- Document 001 (Tayebi Arasteh et al.): "bootstrapping with replacement, on each test set with 1,000
  redraws for each AUC value to determine the statistical spread in terms of mean ± standard
  deviation and to calculate P-values"; multiplicity-adjusted p-values by the false discovery rate
  (Benjamini–Hochberg), family-wise alpha 0.05. -> :func:`bootstrap_auroc` (``boot_mean``,
  ``boot_sd``), :func:`paired_bootstrap_auroc` (``p_value``, ``p_value_fdr``), :func:`fdr_bh`.
- Document 004 (Kivotova): "500 bootstrap replicates drawn from the test set", 95% CI from the
  0.025 and 0.975 quantiles (percentile interval); the "Total" row is the weighted average of the
  per-class AUROCs. -> ``n_boot=500``, the ``weighted average`` row.
- DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44:837) variance and paired test of correlated
  AUCs, computed with the midrank algorithm of Sun & Xu (2014, IEEE Signal Processing Letters
  21:1389) and with pROC's (Robin et al. 2011) handling of degenerate inputs. -> :func:`delong`,
  :func:`delong_test`, :func:`delong_covariance`.
- Obuchowski (1997, Biometrics 53:567): DeLong's structural components summed per patient (cluster),
  the nonparametric AUC variance when a patient contributes several, correlated images; and the
  paired comparison of two AUCs built from it. -> :func:`obuchowski_auc`,
  :func:`obuchowski_covariance`, :func:`clustered_delong_test`.

Bootstrap design
- A redraw is a vector of multiplicities (how often each image, or each patient, is drawn). Images
  are drawn with ``numpy.random.default_rng(seed).integers``; for the **patient (cluster)
  bootstrap** (``groups=patient_ids``) patients are drawn with replacement and every image of a
  drawn patient comes along, as often as its patient was drawn. The same seed gives the same
  redraws whatever the chunk size, in the vectorised and in the generic path, for model A and
  model B (that is what makes the paired bootstrap paired).
- AUROC of a weighted sample is the weighted Mann–Whitney statistic. Per label the images are
  sorted once; per redraw only cumulative sums of integer multiplicities are needed, so ties are
  exact and a whole chunk of redraws is one array operation. Redraws are processed in chunks so
  that 1,000 redraws x 22,433 images never sit in memory at once.
- A redraw in which a label has a single class gives NaN for that label (never an exception).
  Percentiles, mean and sd use the valid redraws; ``n_valid`` says how many there were.
- Averages over labels per redraw: ``macro average`` (mean over the labels that are defined on the
  full sample; NaN in a redraw where one of them is undefined, so every replicate averages the same
  labels), ``weighted average`` (weights = that redraw's positives per label), ``micro average``
  (pooled (image, label) pairs; optional because it costs as much as all labels together).
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from cxrlib.stats.metrics import (
    CONFUSION_METRICS,
    UndefinedMetricWarning,
    as_binary,
    label_names,
    as_scores,
    auroc,
    doubled_midranks,
)

__all__ = [
    "auroc",
    "DegenerateAUCWarning",
    "DelongResult",
    "DelongTestResult",
    "delong",
    "delong_test",
    "delong_covariance",
    "delong_placements",
    "obuchowski_auc",
    "obuchowski_covariance",
    "clustered_delong_test",
    "redraw_counts",
    "percentile_ci",
    "BootstrapResult",
    "bootstrap_ci",
    "BootstrapAurocResult",
    "bootstrap_auroc",
    "PairedBootstrapResult",
    "paired_bootstrap_auroc",
    "bootstrap_p_value",
    "fdr_bh",
    "bootstrap_agreement",
    "KappaResult",
    "kappa_ci",
]

DOCUMENT_001_REDRAWS = 1000  # document 001, Methods: "1,000 redraws"
DOCUMENT_004_REDRAWS = 500  # document 004, Section 4: "500 bootstrap replicates"
_CHUNK_ELEMENTS = 1 << 19  # redraws x images per chunk: ~1 MB of int16 multiplicities, cache-sized


def _check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (0.05 for a 95% interval), got {alpha}")
    return alpha


def _check_n_boot(n_boot) -> int:
    """``n_boot`` must be a whole number of redraws, at least 1 (checked before any work is done)."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a whole number of bootstrap redraws, at least 1 (document 001 "
                         f"uses 1000, document 004 500), got {n_boot!r}")
    return int(n_boot)


def _check_boot_args(n_boot, alpha: float) -> int:
    _check_alpha(alpha)
    return _check_n_boot(n_boot)


class DegenerateAUCWarning(UserWarning):
    """DeLong inference on a degenerate input: variance 0 and a zero-width CI (AUC of 0 or 1, or
    every score tied so that the ROC curve is the diagonal)."""


# ==============================================================================================
# DeLong
# ==============================================================================================
def _binary_task(y_true, scores: Sequence) -> tuple[np.ndarray, list[np.ndarray]]:
    y = as_binary(y_true)
    if y.ndim != 1:
        raise ValueError("DeLong takes one binary label vector")
    out = []
    for k, s in enumerate(scores):
        arr = as_scores(s, f"score {k}")
        if arr.shape != y.shape:
            raise ValueError(f"score {k} has shape {arr.shape}, labels have {y.shape}")
        out.append(arr)
    return y, out


def _exact_dot(u: np.ndarray, v: np.ndarray) -> int:
    """Integer dot product without overflow (int64 when it provably fits, Python ints if not)."""
    if u.size == 0:
        return 0
    bound = int(np.abs(u).max()) * int(np.abs(v).max()) * u.size
    if bound < 2**62:
        return int(np.dot(u, v))
    return sum(a * b for a, b in zip(u.tolist(), v.tolist()))


def _structural_integers(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sun & Xu's midrank form of DeLong's structural components, scaled to integers.

    With T_z the midranks among all images, T_x among positives and T_y among negatives,
    V10_i = (T_z,i - T_x,i) / n for positive i and V01_j = 1 - (T_z,j - T_y,j) / m for negative j.
    Returned: a = 2 (T_z - T_x) over positives (= 2 n V10) and b = 2 (T_z - T_y) over negatives
    (= 2 m (1 - V01)); both are exact integers.
    """
    tz = doubled_midranks(s)
    a = tz[y] - doubled_midranks(s[y])
    b = tz[~y] - doubled_midranks(s[~y])
    return a, b


def delong_placements(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components (placement values) ``(V10, V01)``.

    V10_i = P(score of a negative < score of positive i) + 0.5 P(tie), one per positive;
    V01_j = P(score of a positive > score of negative j) + 0.5 P(tie), one per negative.
    Their means both equal the AUC (DeLong et al. 1988, Section 3). Computed from midranks
    (Sun & Xu 2014) in O(N log N).
    """
    y, (s,) = _binary_task(y_true, [y_score])
    m = int(y.sum())
    n = y.size - m
    a, b = _structural_integers(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / (2 * n) if n else a * np.nan, 1 - b / (2 * m) if m else b * np.nan


def _covariance_fractions(y: np.ndarray, scores: list[np.ndarray]):
    """Exact AUCs and DeLong covariance matrix (as Fractions) of k classifiers on one label."""
    m = int(y.sum())
    n = y.size - m
    parts = [_structural_integers(y, s) for s in scores]
    aucs = [Fraction(int(a.sum()), 2 * m * n) for a, _ in parts]
    if m < 2 or n < 2:
        return aucs, None
    sums_a = [int(a.sum()) for a, _ in parts]
    sums_b = [int(b.sum()) for _, b in parts]
    k = len(parts)
    cov = [[Fraction(0)] * k for _ in range(k)]
    for r in range(k):
        for c in range(r, k):
            # sample covariance with (m - 1) / (n - 1), as DeLong et al. and pROC
            s10 = Fraction(m * _exact_dot(parts[r][0], parts[c][0]) - sums_a[r] * sums_a[c],
                           m * (m - 1) * 4 * n * n)
            s01 = Fraction(n * _exact_dot(parts[r][1], parts[c][1]) - sums_b[r] * sums_b[c],
                           n * (n - 1) * 4 * m * m)
            cov[r][c] = cov[c][r] = s10 / m + s01 / n
    return aucs, cov


def _check_counts(y: np.ndarray, where: str) -> bool:
    """Warn and return False when DeLong's variance is undefined (fewer than 2 of a class)."""
    m = int(y.sum())
    n = y.size - m
    if m >= 2 and n >= 2:
        return True
    if m == 0 or n == 0:
        msg = f"{where}: only one class present ({m} positive, {n} negative): AUC undefined, NaN"
    else:
        msg = (f"{where}: a single {'positive' if m == 1 else 'negative'} case makes DeLong's "
               "variance undefined (pROC returns NA): variance and interval are NaN")
    warnings.warn(msg, UndefinedMetricWarning, stacklevel=3)
    return False


@dataclass(frozen=True)
class DelongResult:
    """AUC with DeLong's variance and normal confidence interval (pROC's ``ci.auc``)."""

    auc: float
    variance: float
    ci: tuple[float, float]
    alpha: float
    n_positive: int
    n_negative: int

    @property
    def se(self) -> float:
        return math.sqrt(self.variance) if self.variance >= 0 else float("nan")


def delong(y_true, y_score, alpha: float = 0.05) -> DelongResult:
    """DeLong variance and (1 - alpha) CI of one AUC (DeLong et al. 1988; Sun & Xu 2014).

    The CI is auc ± z_{1-alpha/2} sqrt(variance), truncated to [0, 1] exactly as pROC's
    ``ci.auc(method="delong")``. Degenerate inputs follow pROC:
    - AUC of 1 or 0: every placement value is equal, so the variance is exactly 0 and the CI has
      zero width; pROC warns that this "can be misleading", so do we (:class:`DegenerateAUCWarning`).
    - a single positive or negative: the sample variances divide by m - 1 = 0; pROC returns NA.
      Here: the AUC, NaN variance and CI, and an :class:`UndefinedMetricWarning`.
    - one class absent: everything NaN, with a warning.
    The variance is computed exactly in rational arithmetic and rounded once.
    """
    _check_alpha(alpha)
    y, (s,) = _binary_task(y_true, [y_score])
    m = int(y.sum())
    n = y.size - m
    nan = float("nan")
    if not _check_counts(y, "delong"):
        auc = float(Fraction(int(_structural_integers(y, s)[0].sum()), 2 * m * n)) if m and n else nan
        return DelongResult(auc, nan, (nan, nan), alpha, m, n)
    aucs, cov = _covariance_fractions(y, [s])
    auc, var = aucs[0], cov[0][0]
    if auc in (0, 1):
        warnings.warn(f"delong: AUC = {int(auc)}, so the DeLong variance is 0 and the interval has "
                      "zero width; this can be misleading (as pROC warns)", DegenerateAUCWarning,
                      stacklevel=2)
    elif var == 0:
        tied = np.unique(s).size == 1
        warnings.warn(f"delong: {'every score is tied' if tied else 'the placement values do not vary'}"
                      f" ({m} positive, {n} negative), so the DeLong variance is 0 and the interval "
                      f"({float(auc):.3f}, {float(auc):.3f}) has zero width: it does not measure "
                      "uncertainty; check that the score column is the model's output",
                      DegenerateAUCWarning, stacklevel=2)
    half_width = float(ndtri(1 - alpha / 2)) * math.sqrt(var)
    auc_f = float(auc)
    ci = (max(0.0, auc_f - half_width), min(1.0, auc_f + half_width))
    return DelongResult(auc_f, float(var), ci, alpha, m, n)


def delong_covariance(y_true, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and DeLong covariance matrix of k classifiers scored on the same images.

    ``scores``: a sequence of k score vectors (or a k x N array). Returns ``(aucs (k,), cov (k, k))``;
    the covariance is NaN when a class has fewer than two members.
    """
    y, ss = _binary_task(y_true, list(scores))
    k = len(ss)
    if not _check_counts(y, "delong_covariance"):
        m = int(y.sum())
        aucs = [auroc(y, s) if 0 < m < y.size else np.nan for s in ss]
        return np.asarray(aucs, dtype=float), np.full((k, k), np.nan)
    aucs, cov = _covariance_fractions(y, ss)
    return np.array([float(a) for a in aucs]), np.array([[float(c) for c in row] for row in cov])


@dataclass(frozen=True)
class DelongTestResult:
    """DeLong's test for two correlated AUCs (pROC's ``roc.test(paired=TRUE, method="delong")``).

    ``difference`` = auc_a - auc_b, ``variance`` its DeLong variance, ``ci`` its normal CI
    (pROC's paired CI, not truncated), ``z`` = difference / sqrt(variance), ``p_value`` two-sided.
    """

    auc_a: float
    auc_b: float
    difference: float
    variance: float
    covariance: float
    z: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    n_positive: int
    n_negative: int


def delong_test(y_true, score_a, score_b, alpha: float = 0.05) -> DelongTestResult:
    """Paired DeLong test of AUC(score_a) = AUC(score_b) on the same images (two-sided).

    Degenerate cases as in pROC's ``delong.paired.test``: when the difference and its variance are
    both exactly 0 (identical or rank-identical classifiers, or two perfect ones) Z = 0 and p = 1;
    a non-zero difference with variance 0 (e.g. AUC 1 against AUC 0) gives Z = ±inf and p = 0; a
    single positive or negative gives NaN with a warning. Everything up to Z is exact rational
    arithmetic, so "identical" means bit-identical zeros, not a tolerance.
    """
    _check_alpha(alpha)
    y, (sa, sb) = _binary_task(y_true, [score_a, score_b])
    m = int(y.sum())
    n = y.size - m
    nan = float("nan")
    if not _check_counts(y, "delong_test"):
        if m and n:
            auc_a, auc_b = auroc(y, sa), auroc(y, sb)
        else:
            auc_a = auc_b = nan
        return DelongTestResult(auc_a, auc_b, auc_a - auc_b, nan, nan, nan, nan, (nan, nan),
                                alpha, m, n)
    (fa, fb), cov = _covariance_fractions(y, [sa, sb])
    diff = fa - fb
    var = cov[0][0] + cov[1][1] - 2 * cov[0][1]
    if var == 0:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
    else:
        z = float(diff) / math.sqrt(var)
    p = 1.0 if z == 0 else float(min(1.0, 2 * ndtr(-abs(z))))
    half_width = float(ndtri(1 - alpha / 2)) * math.sqrt(var)
    d = float(diff)
    return DelongTestResult(float(fa), float(fb), d, float(var), float(cov[0][1]), z, p,
                            (d - half_width, d + half_width), alpha, m, n)


# ==============================================================================================
# clustered DeLong (Obuchowski 1997)
# ==============================================================================================
CLUSTER_CORRECTIONS = ("delong", "obuchowski")


def obuchowski_covariance(y_true, scores: Sequence, groups, correction: str = "delong"
                          ) -> tuple[np.ndarray, np.ndarray, int]:
    """AUCs, clustered covariance matrix and number of clusters of k classifiers on one label.

    Obuchowski (1997): with M positive and N negative images in I patients, V10 (V01) the DeLong
    placement of each positive (negative) image among all negatives (positives), and per patient i
    a_i = sum of its positives' (V10 - theta), b_i = sum of its negatives' (V01 - theta),

        cov(theta_r, theta_s) = sum_i [ c10 a_i^r a_i^s / M^2 + c01 b_i^r b_i^s / N^2
                                        + c11 (a_i^r b_i^s + b_i^r a_i^s) / (M N) ].

    The cross term is what images of both classes in one patient add; images of one patient are
    not treated as independent. Small-sample factors: ``correction="delong"`` (default) takes
    c10 = I10/(I10 - 1), c01 = I01/(I01 - 1) with I10 (I01) the patients with at least one positive
    (negative) image and c11 = sqrt(c10 c01) (which keeps the matrix positive semi-definite), so that
    with one image per patient the result **equals DeLong's covariance exactly**;
    ``correction="obuchowski"`` uses Obuchowski's I/(I - 1) for all three. NaN when fewer than two
    patients carry a positive or a negative image.
    """
    if correction not in CLUSTER_CORRECTIONS:
        raise ValueError(f"correction must be one of {CLUSTER_CORRECTIONS}, got {correction!r}")
    y, ss = _binary_task(y_true, list(scores))
    codes = _group_codes(groups, y.size)
    k = len(ss)
    m = int(y.sum())
    n = y.size - m
    n_clusters = int(codes.max()) + 1 if codes.size else 0
    if m == 0 or n == 0:
        _check_counts(y, "obuchowski_covariance")
        return np.full(k, np.nan), np.full((k, k), np.nan), n_clusters
    codes_pos, codes_neg = codes[y], codes[~y]
    a = np.empty((k, n_clusters))
    b = np.empty((k, n_clusters))
    aucs = np.empty(k)
    for r, s in enumerate(ss):
        v10, v01 = delong_placements(y, s)
        aucs[r] = v10.mean()
        a[r] = np.bincount(codes_pos, weights=v10 - aucs[r], minlength=n_clusters)
        b[r] = np.bincount(codes_neg, weights=v01 - aucs[r], minlength=n_clusters)
    i10 = np.unique(codes_pos).size
    i01 = np.unique(codes_neg).size
    if i10 < 2 or i01 < 2:
        warnings.warn(f"obuchowski_covariance: {i10} patient(s) with a positive and {i01} with a negative "
                      "image; the clustered variance needs at least two of each: NaN",
                      UndefinedMetricWarning, stacklevel=2)
        return aucs, np.full((k, k), np.nan), n_clusters
    if correction == "delong":
        c10, c01 = i10 / (i10 - 1), i01 / (i01 - 1)
        c11 = math.sqrt(c10 * c01)
    else:
        c10 = c01 = c11 = n_clusters / (n_clusters - 1)
    cross = a @ b.T / (m * n)
    cov = c10 * (a @ a.T) / m**2 + c01 * (b @ b.T) / n**2 + c11 * (cross + cross.T)
    return aucs, cov, n_clusters


def obuchowski_auc(y_true, y_score, groups, alpha: float = 0.05,
                   correction: str = "delong") -> DelongResult:
    """AUC with Obuchowski's clustered (patient-level) variance and normal (1 - alpha) CI.

    Same result type as :func:`delong`; the CI is auc ± z sqrt(variance), truncated to [0, 1]. With
    one image per patient it equals :func:`delong` (see :func:`obuchowski_covariance`); with several
    correlated images per patient it is wider, because a patient's images count as one unit.
    """
    _check_alpha(alpha)
    y, (s,) = _binary_task(y_true, [y_score])
    aucs, cov, _ = obuchowski_covariance(y, [s], groups, correction)
    auc, var = float(aucs[0]), float(cov[0, 0])
    m = int(y.sum())
    if np.isnan(var):
        return DelongResult(auc, var, (math.nan, math.nan), alpha, m, y.size - m)
    half_width = float(ndtri(1 - alpha / 2)) * math.sqrt(max(var, 0.0))
    return DelongResult(auc, var, (max(0.0, auc - half_width), min(1.0, auc + half_width)), alpha, m,
                        y.size - m)


def clustered_delong_test(y_true, score_a, score_b, groups, alpha: float = 0.05,
                          correction: str = "delong") -> DelongTestResult:
    """Paired test of AUC(score_a) = AUC(score_b) on the same images, with patients as clusters.

    DeLong's paired test with Obuchowski's clustered covariance (:func:`obuchowski_covariance`):
    the difference's variance is var_a + var_b - 2 cov_ab, each summed over patients. Same result type
    as :func:`delong_test` (two-sided p, normal CI of the difference, not truncated); equal to it
    when each patient has one image. Identical scores give Z = 0 and p = 1.
    """
    _check_alpha(alpha)
    y, (sa, sb) = _binary_task(y_true, [score_a, score_b])
    aucs, cov, _ = obuchowski_covariance(y, [sa, sb], groups, correction)
    m = int(y.sum())
    n = y.size - m
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    nan = math.nan
    if np.isnan(var):
        return DelongTestResult(float(aucs[0]), float(aucs[1]), diff, nan, nan, nan, nan, (nan, nan),
                                alpha, m, n)
    var = max(var, 0.0)
    scale = max(abs(cov[0, 0]), abs(cov[1, 1]), 1e-300)
    if var <= 1e-12 * scale or var == 0:
        var = 0.0
        z = 0.0 if abs(diff) <= 1e-15 else math.copysign(math.inf, diff)
    else:
        z = diff / math.sqrt(var)
    p = 1.0 if z == 0 else float(min(1.0, 2 * ndtr(-abs(z))))
    half_width = float(ndtri(1 - alpha / 2)) * math.sqrt(var)
    return DelongTestResult(float(aucs[0]), float(aucs[1]), diff, var, float(cov[0, 1]), z, p,
                            (diff - half_width, diff + half_width), alpha, m, n)


# ==============================================================================================
# redraws
# ==============================================================================================
def _group_codes(groups, n_items: int) -> np.ndarray:
    codes, _ = pd.factorize(pd.Series(np.asarray(groups)), use_na_sentinel=True)
    if codes.shape != (n_items,):
        raise ValueError(f"groups has {codes.shape[0]} entries for {n_items} images")
    if (codes < 0).any():
        raise ValueError("groups (patient ids) contain missing values")
    return codes


def redraw_counts(n_items: int, n_boot: int, seed: int, groups=None,
                  chunk_size: int | None = None) -> Iterator[np.ndarray]:
    """Yield chunks (c x n_items, int32) of bootstrap multiplicities, ``n_boot`` rows in total.

    Row b says how many times each image enters redraw b. Without ``groups``, n_items images are
    drawn with replacement; with ``groups`` (one patient id per image), the P patients are drawn
    with replacement and each image gets the multiplicity of its patient (cluster bootstrap), so
    a redraw has a random number of images. The rows do not depend on ``chunk_size``.
    """
    _check_n_boot(n_boot)
    codes = None if groups is None else _group_codes(groups, n_items)
    n_units = n_items if codes is None else int(codes.max()) + 1 if codes.size else 0
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // max(n_items, 1))
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        c = min(chunk_size, n_boot - done)
        draws = rng.integers(0, n_units, size=(c, n_units), dtype=np.int64)
        draws += (np.arange(c, dtype=np.int64) * n_units)[:, None]
        counts = np.bincount(draws.ravel(), minlength=c * n_units).astype(np.int32)
        counts = counts.reshape(c, n_units)
        yield counts if codes is None else np.ascontiguousarray(counts[:, codes])
        done += c


def percentile_ci(replicates, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the non-NaN replicates (axis 0), linear interpolation between
    order statistics (numpy's default, R's type 7 as in pROC). NaN where no replicate is valid."""
    _check_alpha(alpha)
    reps = np.asarray(replicates, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN, on purpose
        low, high = np.nanpercentile(reps, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return low, high


def _spread(replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_valid = np.sum(~np.isnan(replicates), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(replicates, axis=0)
        sd = np.nanstd(replicates, axis=0, ddof=1)
    return mean, sd, n_valid


# ==============================================================================================
# vectorised weighted AUROC
# ==============================================================================================
@dataclass(frozen=True)
class _AucPlan:
    """Per-label precomputation: the smaller class is "queried" against cumulative multiplicities
    of the larger class, which is sorted by score once (ties resolved by searchsorted left/right)."""

    query_items: np.ndarray  # image index of each member of the smaller class
    cum_items: np.ndarray  # image index of each member of the larger class, by ascending score
    lo: np.ndarray  # number of larger-class members with score < the query's score
    hi: np.ndarray  # ... with score <= the query's score
    query_is_positive: bool
    has_ties: bool


def _plan(y: np.ndarray, s: np.ndarray, item_of: np.ndarray | None = None) -> _AucPlan:
    pos = np.flatnonzero(y)
    neg = np.flatnonzero(~y)
    query_is_positive = pos.size <= neg.size
    query, cum = (pos, neg) if query_is_positive else (neg, pos)
    cum = cum[np.argsort(s[cum], kind="stable")]
    query = query[np.argsort(s[query], kind="stable")]  # monotone lo/hi: cache-friendly gathers
    cum_scores = s[cum]
    lo = np.searchsorted(cum_scores, s[query], side="left")
    hi = np.searchsorted(cum_scores, s[query], side="right")
    if item_of is not None:
        query, cum = item_of[query], item_of[cum]
    return _AucPlan(query.astype(np.intp), cum.astype(np.intp), lo.astype(np.intp),
                    hi.astype(np.intp), query_is_positive, bool(np.any(lo != hi)))


def _weighted_auroc(plan: _AucPlan, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and positive count of every redraw (rows of ``weights``) for one label.

    2U = sum_q w_q (C[lo_q] + C[hi_q]) where C is the cumulative multiplicity of the other class in
    score order; with positives as the queried class that is the weighted Mann–Whitney count (ties
    0.5), with negatives it is its complement 2 W_pos W_neg - 2U. Integer arithmetic throughout.
    """
    c = weights.shape[0]
    # indices are valid by construction: mode="clip" skips numpy's bounds checks (faster)
    w_cum = np.take(weights, plan.cum_items, axis=1, mode="clip")
    acc = np.int64 if weights.dtype == np.int64 else np.int32
    cumulative = np.empty((c, plan.cum_items.size + 1), dtype=acc)
    cumulative[:, 0] = 0
    np.cumsum(w_cum, axis=1, dtype=acc, out=cumulative[:, 1:])
    w_query = np.take(weights, plan.query_items, axis=1, mode="clip")
    gathered = np.take(cumulative, plan.lo, axis=1, mode="clip")
    if plan.has_ties:
        gathered += np.take(cumulative, plan.hi, axis=1, mode="clip")
    else:
        gathered <<= 1
    # products stay below 2**31 in int32 mode (see _compact_weights)
    t2 = (w_query * gathered).sum(axis=1, dtype=np.int64)
    total_query = w_query.sum(axis=1, dtype=np.int64)
    total_cum = cumulative[:, -1].astype(np.int64)
    if plan.query_is_positive:
        two_u, n_pos, n_neg = t2, total_query, total_cum
    else:
        two_u, n_pos, n_neg = 2 * total_query * total_cum - t2, total_cum, total_query
    denominator = 2 * n_pos * n_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.where(denominator > 0, two_u / np.where(denominator > 0, denominator, 1), np.nan)
    return auc, n_pos


def _compact_weights(weights: np.ndarray) -> np.ndarray:
    """Smallest integer type that keeps every sum and product of :func:`_weighted_auroc` exact:
    int16 multiplicities with int32 sums for realistic sizes (half the memory traffic), int64
    otherwise."""
    w_max = int(weights.max(initial=0))
    total = int(weights.sum(axis=1, dtype=np.int64).max(initial=0))
    if 2 * total * max(w_max, 1) < 2**31:
        return weights.astype(np.int16 if w_max < 2**15 else np.int32, copy=False)
    return weights.astype(np.int64, copy=False)


def _n_jobs(n_jobs: int | None) -> int:
    """Threads over labels. Default 1: on the 2-core development machines a second thread gave
    no gain (the work is memory-bound); more threads may help on larger machines."""
    if n_jobs is None:
        return 1
    if n_jobs < 0:
        return max(1, os.cpu_count() or 1)
    return max(1, int(n_jobs))


def _replicates(plans: list[_AucPlan], chunks: Iterator[np.ndarray], n_boot: int,
                n_jobs: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(n_boot x labels) AUROC replicates and positive counts for every plan."""
    aucs = np.empty((n_boot, len(plans)))
    positives = np.empty((n_boot, len(plans)), dtype=np.int64)
    workers = _n_jobs(n_jobs)
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        row = 0
        for weights in chunks:
            weights = _compact_weights(weights)
            c = weights.shape[0]

            def one(plan, weights=weights):
                return _weighted_auroc(plan, weights)

            results = pool.map(one, plans) if pool else map(one, plans)  # numpy releases the GIL
            for j, (auc, n_pos) in enumerate(results):
                aucs[row:row + c, j] = auc
                positives[row:row + c, j] = n_pos
            row += c
    finally:
        if pool:
            pool.shutdown()
    return aucs, positives


def _prepare_multilabel(y_true, y_score, labels):
    y = as_binary(y_true)
    s = as_scores(y_score)
    if y.shape != s.shape:
        raise ValueError(f"y_true {y.shape} and y_score {s.shape} must have the same shape")
    single = y.ndim == 1
    if single:
        y, s = y[:, None], s[:, None]
    if y.ndim != 2:
        raise ValueError("expected 1-D (one label) or 2-D (images x labels) arrays")
    names = label_names(labels, y.shape[1], y_true if not single else None)
    return y, s, names


def _macro(per_label, positives, defined, micro):
    return per_label[:, defined].mean(axis=1) if defined.any() else np.full(len(per_label), np.nan)


def _weighted(per_label, positives, defined, micro):
    w = positives[:, defined].astype(float)
    aucs = per_label[:, defined]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.sum(aucs * w, axis=1) / np.sum(w, axis=1)
    return np.where(np.isnan(aucs).any(axis=1), np.nan, avg)


def _micro(per_label, positives, defined, micro):
    return micro


#: Averages over labels, per redraw: name -> f(per-label AUROCs, per-label positives, mask of
#: labels defined on the full sample, micro-average replicate). See the module docstring.
_AVERAGES: dict[str, Callable] = {"macro": _macro, "weighted": _weighted, "micro": _micro}


def _check_averages(averages: Sequence[str]) -> tuple[str, ...]:
    averages = tuple(averages)
    unknown = set(averages) - set(_AVERAGES)
    if unknown:
        raise ValueError(f"unknown averages {sorted(unknown)}; choose from {list(_AVERAGES)}")
    return averages


class _AurocArm:
    """One (labels, scores) pair prepared for vectorised bootstrap: plans, point estimates."""

    def __init__(self, y: np.ndarray, s: np.ndarray, names: list[str], averages: tuple[str, ...]):
        self.y, self.s, self.names, self.averages = y, s, names, averages
        n_items, n_labels = y.shape
        self.plans = [_plan(y[:, j], s[:, j]) for j in range(n_labels)]
        if "micro" in averages:
            item_of = np.tile(np.arange(n_items), n_labels)
            self.plans.append(_plan(y.T.ravel(), s.T.ravel(), item_of))
        full = np.ones((1, n_items), dtype=np.int32)
        point, point_pos = _replicates(self.plans, iter([full]), 1, 1)
        self.point_replicate = point  # (1, plans)
        self.defined = ~np.isnan(point[0, :n_labels])
        undefined = [n for n, ok in zip(names, self.defined) if not ok]
        if undefined:
            warnings.warn(f"AUROC undefined on the full sample (one class only) for {undefined}: "
                          "NaN, and left out of the averages", UndefinedMetricWarning, stacklevel=4)
        self.point_positives = point_pos

    def columns(self) -> list[str]:
        return self.names + [f"{a} average" for a in self.averages]

    def finish(self, aucs: np.ndarray, positives: np.ndarray) -> np.ndarray:
        """Per-label replicates -> per-label plus average columns."""
        n_labels = len(self.names)
        per_label, pos = aucs[:, :n_labels], positives[:, :n_labels]
        micro = aucs[:, n_labels] if aucs.shape[1] > n_labels else None
        averages = [_AVERAGES[name](per_label, pos, self.defined, micro)[:, None]
                    for name in self.averages]
        return np.hstack([per_label, *averages])


def _table(columns: list[str], n_labels: int, estimate: np.ndarray, replicates: np.ndarray,
           alpha: float) -> pd.DataFrame:
    low, high = percentile_ci(replicates, alpha)
    mean, sd, n_valid = _spread(replicates)
    return pd.DataFrame({
        "label": columns,
        "kind": ["label"] * n_labels + ["average"] * (len(columns) - n_labels),
        "estimate": estimate,
        "boot_mean": mean,
        "boot_sd": sd,
        "ci_low": low,
        "ci_high": high,
        "n_valid": n_valid,
    })


# ==============================================================================================
# public bootstrap API
# ==============================================================================================
@dataclass(frozen=True)
class BootstrapAurocResult:
    """Bootstrap of per-label AUROC and its averages.

    ``table``: one row per label then per average; columns label, kind, auc (full-sample point
    estimate), boot_mean, boot_sd (document 001's mean ± sd over redraws), ci_low, ci_high
    (percentile, document 004), n_valid (redraws where the AUROC was defined), n_positive,
    n_negative. ``replicates``: n_boot x columns (e.g. for box plots as document 001, Fig. 3).
    """

    table: pd.DataFrame
    replicates: pd.DataFrame
    n_boot: int
    seed: int
    alpha: float
    unit: str


def _unit(groups) -> str:
    return "image" if groups is None else "patient"


def bootstrap_auroc(y_true, y_score, labels: Sequence[str] | None = None, *,
                    n_boot: int = DOCUMENT_001_REDRAWS, seed: int = 0, groups=None,
                    alpha: float = 0.05, averages: Sequence[str] = ("macro", "weighted"),
                    chunk_size: int | None = None, n_jobs: int | None = None
                    ) -> BootstrapAurocResult:
    """Percentile bootstrap CI (and mean ± sd) of the AUROC of every label, vectorised.

    ``y_true``/``y_score``: N images x L labels (or 1-D for one label). ``n_boot``: 1,000 in
    document 001, 500 in document 004. ``groups``: patient id per image for the patient (cluster)
    bootstrap. ``averages``: any of "macro", "weighted", "micro". ``chunk_size``: redraws per
    chunk (default: about 2**19 / N, which bounds memory and keeps a chunk in cache; results do
    not depend on it). ``n_jobs``: threads over labels (default 1, -1 = one per core; results do
    not depend on it). See the module docstring for the resampling and NaN rules.
    """
    n_boot = _check_boot_args(n_boot, alpha)
    y, s, names = _prepare_multilabel(y_true, y_score, labels)
    arm = _AurocArm(y, s, names, _check_averages(averages))
    chunks = redraw_counts(y.shape[0], n_boot, seed, groups, chunk_size)
    aucs, positives = _replicates(arm.plans, chunks, n_boot, n_jobs)
    reps = arm.finish(aucs, positives)
    estimate = arm.finish(arm.point_replicate, arm.point_positives)[0]
    columns = arm.columns()
    table = _table(columns, y.shape[1], estimate, reps, alpha).rename(columns={"estimate": "auc"})
    n_pos = np.concatenate([y.sum(axis=0), np.full(len(arm.averages), y.sum())])
    table["n_positive"] = n_pos.astype(int)
    table["n_negative"] = (np.where(table["kind"] == "label", y.shape[0], y.size) - n_pos).astype(int)
    table = table[["label", "kind", "auc", "boot_mean", "boot_sd", "ci_low", "ci_high", "n_valid",
                   "n_positive", "n_negative"]]
    return BootstrapAurocResult(table, pd.DataFrame(reps, columns=columns), n_boot, seed, alpha,
                                _unit(groups))


def bootstrap_p_value(differences) -> np.ndarray:
    """Two-sided bootstrap p-value of "difference = 0" from paired replicates (axis 0).

    p = min(1, 2 min(P*(d <= 0), P*(d >= 0))) over the valid replicates: the smallest alpha at
    which the equal-tailed percentile interval excludes 0, so p < alpha and "the percentile CI
    excludes 0" agree (up to interpolation between order statistics). Its resolution is
    1 / n_valid (p = 0 means "below 1/n_valid"); identical arms (every d = 0) give p = 1.
    Document 001 computes bootstrap p-values (citing Konietzschke & Pauly 2014) without giving
    the formula; this percentile-inversion p-value is our stated choice, not theirs.
    """
    d = np.asarray(differences, dtype=float)
    valid = ~np.isnan(d)
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        below = np.sum((d <= 0) & valid, axis=0) / n_valid
        above = np.sum((d >= 0) & valid, axis=0) / n_valid
        p = np.minimum(1.0, 2 * np.minimum(below, above))
    return np.where(n_valid > 0, p, np.nan)


def fdr_bh(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (statsmodels ``multipletests(method="fdr_bh")``),
    document 001's multiplicity adjustment. NaN entries stay NaN and do not count in the family."""
    from statsmodels.stats.multitest import (
        multipletests,  # heavy import, only when needed
    )

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out


@dataclass(frozen=True)
class PairedBootstrapResult:
    """Paired bootstrap of AUROC(arm A) - AUROC(arm B) on the same redraws.

    ``table`` columns: label, kind, auc_a, auc_b, difference (full sample), boot_mean, boot_sd
    (of the difference), ci_low, ci_high (percentile CI of the difference), p_value
    (:func:`bootstrap_p_value`), p_value_fdr (Benjamini–Hochberg over the label rows; NaN on
    average rows, which are not members of that family), n_valid.
    """

    table: pd.DataFrame
    replicates_a: pd.DataFrame
    replicates_b: pd.DataFrame
    n_boot: int
    seed: int
    alpha: float
    unit: str


def paired_bootstrap_auroc(y_true, score_a, score_b=None, *, y_true_b=None,
                           labels: Sequence[str] | None = None,
                           n_boot: int = DOCUMENT_001_REDRAWS, seed: int = 0, groups=None,
                           alpha: float = 0.05, averages: Sequence[str] = ("macro", "weighted"),
                           chunk_size: int | None = None, n_jobs: int | None = None
                           ) -> PairedBootstrapResult:
    """Paired bootstrap of the difference between two AUROCs measured on the same images.

    Arm A is (``y_true``, ``score_a``); arm B is (``y_true_b`` or ``y_true``, ``score_b`` or
    ``score_a``). Both arms see exactly the same redraws (same multiplicities per image/patient):
    - two models, one truth: ``paired_bootstrap_auroc(y, scores_model1, scores_model2)``
      (document 001: DINOv2 vs ImageNet initialisation);
    - one model, two truths: ``paired_bootstrap_auroc(y_nih, scores, y_true_b=y_expert)``
      (AUROC against text-mined labels vs against expert labels);
    - both differ: pass ``score_b`` and ``y_true_b``.
    """
    if score_b is None and y_true_b is None:
        raise ValueError("give score_b (two models) and/or y_true_b (two reference standards)")
    n_boot = _check_boot_args(n_boot, alpha)
    averages = _check_averages(averages)
    ya, sa, names = _prepare_multilabel(y_true, score_a, labels)
    yb, sb, _ = _prepare_multilabel(y_true if y_true_b is None else y_true_b,
                                    score_a if score_b is None else score_b, names)
    if ya.shape != yb.shape:
        raise ValueError(f"arm A is {ya.shape}, arm B is {yb.shape}: the arms must share images")
    arm_a = _AurocArm(ya, sa, names, averages)
    arm_b = _AurocArm(yb, sb, names, averages)
    n_a = len(arm_a.plans)
    aucs, positives = _replicates(arm_a.plans + arm_b.plans,
                                  redraw_counts(ya.shape[0], n_boot, seed, groups, chunk_size),
                                  n_boot, n_jobs)
    reps_a = arm_a.finish(aucs[:, :n_a], positives[:, :n_a])
    reps_b = arm_b.finish(aucs[:, n_a:], positives[:, n_a:])
    est_a = arm_a.finish(arm_a.point_replicate, arm_a.point_positives)[0]
    est_b = arm_b.finish(arm_b.point_replicate, arm_b.point_positives)[0]
    columns = arm_a.columns()
    diff_reps = reps_a - reps_b
    table = _table(columns, ya.shape[1], est_a - est_b, diff_reps, alpha).rename(
        columns={"estimate": "difference"})
    table["auc_a"], table["auc_b"] = est_a, est_b
    table["p_value"] = bootstrap_p_value(diff_reps)
    is_label = (table["kind"] == "label").to_numpy()
    fdr = np.full(len(table), np.nan)
    fdr[is_label] = fdr_bh(table.loc[is_label, "p_value"].to_numpy())
    table["p_value_fdr"] = fdr
    table = table[["label", "kind", "auc_a", "auc_b", "difference", "boot_mean", "boot_sd",
                   "ci_low", "ci_high", "p_value", "p_value_fdr", "n_valid"]]
    return PairedBootstrapResult(table, pd.DataFrame(reps_a, columns=columns),
                                 pd.DataFrame(reps_b, columns=columns), n_boot, seed, alpha,
                                 _unit(groups))


@dataclass(frozen=True)
class BootstrapResult:
    """Percentile bootstrap of an arbitrary metric. Scalars for a scalar metric, arrays for a
    vector-valued one; ``replicates`` has one row per redraw (NaN where the metric was undefined)."""

    estimate: float | np.ndarray
    ci_low: float | np.ndarray
    ci_high: float | np.ndarray
    mean: float | np.ndarray
    sd: float | np.ndarray
    n_valid: int | np.ndarray
    n_boot: int
    seed: int
    alpha: float
    unit: str
    replicates: np.ndarray

    @property
    def ci(self) -> tuple:
        return (self.ci_low, self.ci_high)


def _auroc_vectorised(y_true, y_score, chunks, n_boot, n_jobs):
    y = as_binary(y_true)
    s = as_scores(y_score)
    if y.ndim != 1 or y.shape != s.shape:
        return None
    aucs, _ = _replicates([_plan(y, s)], chunks, n_boot, n_jobs)
    return aucs[:, 0]


#: Metrics with a vectorised bootstrap path in :func:`bootstrap_ci` (same redraws as the loop).
_VECTORISED: dict[Callable, Callable] = {auroc: _auroc_vectorised}


def bootstrap_ci(metric: Callable, *arrays, n_boot: int = DOCUMENT_001_REDRAWS, seed: int = 0,
                 groups=None, alpha: float = 0.05, chunk_size: int | None = None,
                 n_jobs: int | None = None) -> BootstrapResult:
    """Percentile bootstrap CI, mean and sd of ``metric(*arrays)`` for any metric.

    ``arrays`` are indexed by image along axis 0 and resampled together (images, or patients
    with ``groups``). ``metric`` returns a float or a 1-D array; a redraw where it returns NaN (or
    raises ``ValueError``, e.g. a single class) counts as invalid. :func:`auroc` takes a
    vectorised path with identical redraws. Example (document 004): ``bootstrap_ci(auroc, y, s,
    n_boot=500)``.
    """
    n_boot = _check_boot_args(n_boot, alpha)
    arrays = tuple(np.asarray(a) for a in arrays)
    if not arrays:
        raise ValueError("give at least one array")
    n_items = arrays[0].shape[0]
    if any(a.shape[0] != n_items for a in arrays):
        raise ValueError("all arrays must have the same length along axis 0")
    estimate = np.asarray(metric(*arrays), dtype=float)
    chunks = redraw_counts(n_items, n_boot, seed, groups, chunk_size)
    reps = None
    fast = _VECTORISED.get(metric)
    if fast is not None and len(arrays) == 2:
        reps = fast(*arrays, chunks, n_boot, n_jobs)
        if reps is not None:
            reps = reps.reshape(n_boot, *estimate.shape)
        else:
            chunks = redraw_counts(n_items, n_boot, seed, groups, chunk_size)
    if reps is None:
        reps = np.full((n_boot, *estimate.shape), np.nan)
        items = np.arange(n_items)
        b = 0
        for counts in chunks:
            for row in counts:
                idx = np.repeat(items, row)
                try:
                    reps[b] = metric(*(a[idx] for a in arrays))
                except ValueError:
                    pass  # e.g. one class in this redraw: an invalid replicate
                b += 1
    low, high = percentile_ci(reps, alpha)
    mean, sd, n_valid = _spread(reps)

    def out(x):
        return x.item() if np.ndim(x) == 0 else x

    return BootstrapResult(out(estimate), out(low), out(high), out(mean), out(sd),
                           out(n_valid), n_boot, seed, alpha, _unit(groups), reps)


# ==============================================================================================
# agreement of two binary label vectors (kappa, PPV, NPV) with bootstrap CIs
# ==============================================================================================
def _cell_counts(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """(tp, fp, fn, tn) per redraw with ``a`` as the label and ``b`` as the reference."""
    cells = (a & b, a & ~b, ~a & b, ~a & ~b)
    return tuple(weights[:, np.flatnonzero(c)].sum(axis=1, dtype=np.int64) for c in cells)


def bootstrap_agreement(y_true, y_pred, *, metrics: Sequence[str] = (
        "ppv", "npv", "sensitivity", "specificity", "kappa"), n_boot: int = DOCUMENT_001_REDRAWS,
        seed: int = 0, groups=None, alpha: float = 0.05,
        chunk_size: int | None = None) -> pd.DataFrame:
    """Agreement of binary labels ``y_pred`` with the reference ``y_true`` (e.g. NIH text-mined labels
    against the experts'): point estimate, bootstrap mean ± sd and percentile CI for each metric of
    :data:`cxrlib.stats.metrics.CONFUSION_METRICS` (ppv = P(y_true=1 | y_pred=1), ...), vectorised
    over redraws; ``groups`` resamples patients. Columns: metric, estimate, boot_mean, boot_sd,
    ci_low, ci_high, n_valid.
    """
    n_boot = _check_boot_args(n_boot, alpha)
    a = as_binary(y_pred, "y_pred")
    b = as_binary(y_true, "y_true")
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-D vectors of the same length")
    unknown = [m for m in metrics if m not in CONFUSION_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {list(CONFUSION_METRICS)}")
    point_counts = _cell_counts(a, b, np.ones((1, a.size), dtype=np.int32))
    estimate = np.array([CONFUSION_METRICS[m](*point_counts)[0] for m in metrics], dtype=float)
    reps = np.empty((n_boot, len(metrics)))
    row = 0
    for weights in redraw_counts(a.size, n_boot, seed, groups, chunk_size):
        counts = _cell_counts(a, b, weights)
        for j, m in enumerate(metrics):
            reps[row:row + weights.shape[0], j] = CONFUSION_METRICS[m](*counts)
        row += weights.shape[0]
    table = _table(list(metrics), len(metrics), estimate, reps, alpha)
    table = table.rename(columns={"label": "metric"}).drop(columns="kind")
    return table[["metric", "estimate", "boot_mean", "boot_sd", "ci_low", "ci_high", "n_valid"]]


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa of two binary label vectors with a percentile bootstrap CI."""

    kappa: float
    ci_low: float
    ci_high: float
    boot_mean: float
    boot_sd: float
    n_valid: int
    n_boot: int
    seed: int
    alpha: float
    unit: str

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


def kappa_ci(rater_a, rater_b, *, n_boot: int = DOCUMENT_001_REDRAWS, seed: int = 0, groups=None,
             alpha: float = 0.05, chunk_size: int | None = None) -> KappaResult:
    """Cohen's kappa with a percentile bootstrap CI; ``groups`` (patient ids) makes it a cluster
    bootstrap, needed when a patient contributes several images. Redraws where kappa is undefined
    (chance agreement 1) are NaN and excluded (``n_valid``)."""
    row = bootstrap_agreement(rater_b, rater_a, metrics=("kappa",), n_boot=n_boot, seed=seed,
                              groups=groups, alpha=alpha, chunk_size=chunk_size).iloc[0]
    return KappaResult(float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"]),
                       float(row["boot_mean"]), float(row["boot_sd"]), int(row["n_valid"]),
                       n_boot, seed, alpha, _unit(groups))
