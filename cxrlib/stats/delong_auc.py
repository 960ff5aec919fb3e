"""DeLong's variance of an AUC and the paired test of two correlated AUCs; Obuchowski's clustered version.

- DeLong, DeLong & Clarke-Pearson (1988, Biometrics 44:837) variance and paired test of correlated
  AUCs, computed with the midrank algorithm of Sun & Xu (2014, IEEE Signal Processing Letters
  21:1389) and with pROC's (Robin et al. 2011) handling of degenerate inputs. -> :func:`delong`,
  :func:`delong_test`, :func:`delong_covariance`.
- Obuchowski (1997, Biometrics 53:567): DeLong's structural components summed per patient (cluster),
  the nonparametric AUC variance when a patient contributes several, correlated images; and the
  paired comparison of two AUCs built from it. -> :func:`obuchowski_auc`,
  :func:`obuchowski_covariance`, :func:`clustered_delong_test`.

Bootstrap intervals are in :mod:`cxrlib.stats.bootstrap`.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.special import ndtr, ndtri

from cxrlib.stats.checks import check_alpha, group_codes
from cxrlib.stats.metrics import UndefinedMetricWarning, as_binary, as_scores, auroc, doubled_midranks

__all__ = [
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
    "CLUSTER_CORRECTIONS",
    "detectable_difference",
]


class DegenerateAUCWarning(UserWarning):
    """DeLong inference on a degenerate input: variance 0 and a zero-width CI (AUC of 0 or 1, or
    every score tied so that the ROC curve is the diagonal)."""



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
    check_alpha(alpha)
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
    check_alpha(alpha)
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
#: The small-sample factors of :func:`obuchowski_covariance` (``correction=``).
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
    codes = group_codes(groups, y.size)
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
    check_alpha(alpha)
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
    check_alpha(alpha)
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


def detectable_difference(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true difference that a two-sided z-test at ``alpha`` detects with probability ``power`` when
    the estimate's standard error is ``se``: ``(z_{1 - alpha/2} + z_power) * se`` (about 2.8 se at 0.05 and 80 %;
    the normal approximation of the DeLong test). A planning number: ``se`` is itself estimated."""
    check_alpha(alpha)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if not se >= 0:
        raise ValueError(f"se must be >= 0, got {se}")
    return float((ndtri(1 - alpha / 2) + ndtri(power)) * se)
