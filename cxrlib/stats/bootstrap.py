"""Bootstrap uncertainty for the companion's metrics: percentile intervals, mean ± sd, paired differences.

The documents' protocols this module implements
- Document 001 (Tayebi Arasteh et al.): "bootstrapping with replacement, on each test set with 1,000
  redraws for each AUC value to determine the statistical spread in terms of mean ± standard
  deviation and to calculate P-values"; multiplicity-adjusted p-values by the false discovery rate
  (Benjamini–Hochberg, :func:`cxrlib.stats.multiplicity.fdr_bh`), family-wise alpha 0.05. ->
  :func:`bootstrap_auroc` (``boot_mean``, ``boot_sd``), :func:`paired_bootstrap_auroc` (``p_value``,
  ``p_value_fdr``).
- Document 004 (Kivotova): "500 bootstrap replicates drawn from the test set", 95% CI from the
  0.025 and 0.975 quantiles (percentile interval); the "Total" row is the weighted average of the
  per-class AUROCs. -> ``n_boot=500``, the ``weighted average`` row.

Agreement of two label vectors (kappa, PPV, NPV) with the same redraws is in :mod:`cxrlib.stats.agreement`;
DeLong's variance and test in :mod:`cxrlib.stats.delong_auc`.

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

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrlib.stats.checks import check_alpha, check_boot_args, check_n_boot, group_codes
from cxrlib.stats.metrics import UndefinedMetricWarning, as_binary, as_scores, auroc, label_names
from cxrlib.stats.multiplicity import fdr_bh

__all__ = [
    "DOCUMENT_001_REDRAWS",
    "DOCUMENT_004_REDRAWS",
    "redraw_counts",
    "percentile_ci",
    "summary_table",
    "resampling_unit",
    "BootstrapResult",
    "bootstrap_ci",
    "BootstrapAurocResult",
    "bootstrap_auroc",
    "PairedBootstrapResult",
    "paired_bootstrap_auroc",
    "bootstrap_p_value",
    "auroc_replicates",
]

#: Redraws of document 001 (Methods: "1,000 redraws"), the default ``n_boot``.
DOCUMENT_001_REDRAWS = 1000
#: Redraws of document 004 (Section 4: "500 bootstrap replicates").
DOCUMENT_004_REDRAWS = 500
_CHUNK_ELEMENTS = 1 << 19  # redraws x images per chunk: ~1 MB of int16 multiplicities, cache-sized


def redraw_counts(n_items: int, n_boot: int, seed: int, groups=None,
                  chunk_size: int | None = None) -> Iterator[np.ndarray]:
    """Yield chunks (c x n_items, int32) of bootstrap multiplicities, ``n_boot`` rows in total.

    Row b says how many times each image enters redraw b. Without ``groups``, n_items images are
    drawn with replacement; with ``groups`` (one patient id per image), the P patients are drawn
    with replacement and each image gets the multiplicity of its patient (cluster bootstrap), so
    a redraw has a random number of images. The rows do not depend on ``chunk_size``.
    """
    check_n_boot(n_boot)
    codes = None if groups is None else group_codes(groups, n_items)
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
    check_alpha(alpha)
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


def summary_table(columns: list[str], n_labels: int, estimate: np.ndarray, replicates: np.ndarray,
                  alpha: float) -> pd.DataFrame:
    """One row per column of ``replicates`` (the first ``n_labels`` of kind "label", the rest "average"):
    label, kind, estimate (full sample), boot_mean, boot_sd, ci_low, ci_high (percentile, NaN-aware) and
    n_valid (redraws where the value was defined)."""
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


def resampling_unit(groups) -> str:
    """What a redraw resamples: ``"image"``, or ``"patient"`` when ``groups`` gives a patient per image."""
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
    n_boot = check_boot_args(n_boot, alpha)
    y, s, names = _prepare_multilabel(y_true, y_score, labels)
    arm = _AurocArm(y, s, names, _check_averages(averages))
    chunks = redraw_counts(y.shape[0], n_boot, seed, groups, chunk_size)
    aucs, positives = _replicates(arm.plans, chunks, n_boot, n_jobs)
    reps = arm.finish(aucs, positives)
    estimate = arm.finish(arm.point_replicate, arm.point_positives)[0]
    columns = arm.columns()
    table = summary_table(columns, y.shape[1], estimate, reps, alpha).rename(columns={"estimate": "auc"})
    n_pos = np.concatenate([y.sum(axis=0), np.full(len(arm.averages), y.sum())])
    table["n_positive"] = n_pos.astype(int)
    table["n_negative"] = (np.where(table["kind"] == "label", y.shape[0], y.size) - n_pos).astype(int)
    table = table[["label", "kind", "auc", "boot_mean", "boot_sd", "ci_low", "ci_high", "n_valid",
                   "n_positive", "n_negative"]]
    return BootstrapAurocResult(table, pd.DataFrame(reps, columns=columns), n_boot, seed, alpha,
                                resampling_unit(groups))


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
    n_boot = check_boot_args(n_boot, alpha)
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
    table = summary_table(columns, ya.shape[1], est_a - est_b, diff_reps, alpha).rename(
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
                                 resampling_unit(groups))


def auroc_replicates(y_true, scores: Sequence, *, n_boot: int = DOCUMENT_001_REDRAWS, seed: int = 0,
                     groups=None, chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """AUROC of several score vectors on the same images and the same redraws.

    ``scores`` holds k score arrays of the shape of ``y_true`` (e.g. one per training seed, or per
    seed and arm). Returns ``(estimates, replicates)``: the k full-sample AUROCs and an
    ``n_boot x k`` array, all columns computed on identical redraws (images, or patients with
    ``groups``), so that any function of the columns (a mean over seeds, a difference of arms) has
    a paired bootstrap distribution. For 2-D ``y_true`` (images x labels) each value is the macro
    average over the labels defined on the full sample (NaN in a redraw where one of them is
    undefined, as in :func:`bootstrap_auroc`).
    """
    n_boot = check_n_boot(n_boot)
    y = as_binary(y_true)
    single = y.ndim == 1
    y2 = y[:, None] if single else y
    if y2.ndim != 2:
        raise ValueError("y_true must be 1-D (one label) or 2-D (images x labels)")
    arms = []
    for s in scores:
        s = as_scores(s)
        if s.shape != y.shape:
            raise ValueError(f"every score array must have the shape of y_true {y.shape}, got {s.shape}")
        arms.append(_AurocArm(y2, s[:, None] if single else s, [str(j) for j in range(y2.shape[1])],
                              ("macro",)))
    if not arms:
        raise ValueError("give at least one score array")
    n_labels = y2.shape[1]
    plans = [plan for arm in arms for plan in arm.plans]
    aucs, positives = _replicates(plans, redraw_counts(y2.shape[0], n_boot, seed, groups, chunk_size),
                                  n_boot, None)
    estimates = np.empty(len(arms))
    reps = np.empty((n_boot, len(arms)))
    for k, arm in enumerate(arms):
        cols = slice(k * n_labels, (k + 1) * n_labels)
        column = 0 if single else -1
        estimates[k] = arm.finish(arm.point_replicate, arm.point_positives)[0, column]
        reps[:, k] = arm.finish(aucs[:, cols], positives[:, cols])[:, column]
    return estimates, reps


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
    n_boot = check_boot_args(n_boot, alpha)
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
                           out(n_valid), n_boot, seed, alpha, resampling_unit(groups), reps)
