"""Point metrics from labels, scores and thresholds (no uncertainty here: see :mod:`cxrlib.stats.bootstrap` and
:mod:`cxrlib.stats.delong_auc`).

What lives here
- AUROC of one binary label (:func:`auroc`), per label of a multi-label task (:func:`auroc_per_label`)
  and its three averages, each named as such: :func:`macro_auroc`, :func:`weighted_auroc`,
  :func:`micro_auroc` (:func:`auroc_table` puts them in one table).
- ROC curves (:func:`roc_curve`) and operating points: the Youden threshold chosen on a
  **validation** set and applied to the test set (:func:`youden_operating_points`), or, labelled
  optimistic, chosen on the test set itself (:func:`youden_operating_points_optimistic`); accuracy,
  sensitivity, specificity, F1 (document 001, Table 4: metrics "calculated with a threshold that was
  determined according to the Youden's criterion").
- Agreement of two binary label vectors: confusion counts, PPV/NPV of a label against a reference
  (:func:`agreement_rates`), Cohen's kappa (:func:`cohen_kappa`); every metric of a 2x2 table is a row
  of :data:`CONFUSION_METRICS`, so the bootstrap in :mod:`cxrlib.stats.agreement` evaluates them vectorised.
- Single-label multi-class metrics of document 000 (Section 3.5, Table 8): one-vs-rest AUC per class
  and its macro average, macro recall, macro F1, the precision of one chosen class ("No Finding"),
  the confusion matrix (Fig. 3): :func:`multiclass_report`.

Conventions
- AUROC is the Mann–Whitney probability P(score_pos > score_neg) + 0.5 P(tie), computed from
  midranks in exact integer arithmetic, so it equals the pairwise definition to the last bit (one
  correctly rounded division). There is no automatic flipping of an AUC below 0.5 (pROC's
  ``direction="<"``): a reversed score is a finding, not something to hide.
- A label with only one class present has no AUROC: NaN and an :class:`UndefinedMetricWarning`.
- Thresholds are observed scores and the rule is "positive if score >= t".
- Scores may be any real numbers, including +-inf and subnormals; NaN scores are rejected.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from cxrlib.core.config import lookup

__all__ = [
    "UndefinedMetricWarning",
    "auroc",
    "auroc_per_label",
    "macro_auroc",
    "weighted_auroc",
    "micro_auroc",
    "auroc_table",
    "RocCurve",
    "roc_curve",
    "youden_threshold",
    "OperatingPoint",
    "operating_point",
    "youden_operating_points",
    "youden_operating_points_optimistic",
    "ConfusionCounts",
    "confusion_counts",
    "CONFUSION_METRICS",
    "AgreementRates",
    "agreement_rates",
    "cohen_kappa",
    "MulticlassReport",
    "confusion_matrix",
    "multiclass_report",
]


class UndefinedMetricWarning(RuntimeWarning):
    """A metric is undefined for these inputs (e.g. AUROC when only one class is present)."""


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------
def _where_nan(arr: np.ndarray, name: str) -> str:
    """'<name> contains 3 NaN of 400 values, first at index 7, 12, 40' (row, column pairs for 2-D)."""
    bad = np.argwhere(np.isnan(arr))
    shown = ", ".join(str(tuple(int(i) for i in p)) if arr.ndim > 1 else str(int(p[0])) for p in bad[:5])
    more = ", ..." if len(bad) > 5 else ""
    where = "(row, column)" if arr.ndim > 1 else "index"
    return f"{name} contains {len(bad)} NaN of {arr.size} values, first at {where} {shown}{more}"


def as_binary(y, name: str = "y_true") -> np.ndarray:
    """Return ``y`` as a bool array; values must be 0/1 (or bool). NaN or other values raise."""
    arr = np.asarray(y)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be binary 0/1 numbers or booleans, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{_where_nan(arr, name)}: drop or impute missing labels before scoring")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise ValueError(f"{name} must contain only 0 and 1, found {np.unique(arr[bad])[:5]}")
    return arr.astype(bool)


def as_scores(s, name: str = "y_score") -> np.ndarray:
    """Return ``s`` as a numeric array without changing its dtype (ranking only needs order)."""
    arr = np.asarray(s)
    if arr.dtype == bool:
        arr = arr.astype(np.int8)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{_where_nan(arr, name)}: every image needs a score (drop the rows or fix the "
                         "model output; cxrlib.stats.evaluate.read_predictions names the file's rows)")
    return arr


def _pair(y_true, y_score, ndim: int | None = 1) -> tuple[np.ndarray, np.ndarray]:
    y = as_binary(y_true)
    s = as_scores(y_score)
    if y.shape != s.shape:
        raise ValueError(f"y_true {y.shape} and y_score {s.shape} must have the same shape")
    if ndim is not None and y.ndim != ndim:
        raise ValueError(f"expected {ndim}-D arrays, got {y.ndim}-D")
    return y, s


def label_names(labels, n: int, frame=None) -> list[str]:
    """The names of ``n`` label columns: ``labels`` if given, else the columns of ``frame`` (a DataFrame), else
    ``label_0`` ... ``label_<n-1>``; ``ValueError`` when their number is not ``n``."""
    if labels is not None:
        names = [str(x) for x in labels]
    elif isinstance(frame, pd.DataFrame):
        names = [str(c) for c in frame.columns]
    else:
        names = [f"label_{i}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} label names for {n} columns")
    return names


# ----------------------------------------------------------------------------------------------
# ranks and AUROC
# ----------------------------------------------------------------------------------------------
def doubled_midranks(x) -> np.ndarray:
    """Twice the 1-based midranks of ``x`` as int64 (ties share the mean of their positions).

    Doubling keeps everything in integers: a midrank is an integer or a half-integer. Equality is
    numeric equality, so -0.0 and 0.0 tie and +-inf are ordinary extreme values.
    """
    x = np.asarray(x)
    n = x.shape[0]
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new_group = np.empty(n, dtype=bool)
    new_group[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=new_group[1:])
    starts = np.flatnonzero(new_group)
    ends = np.append(starts[1:], n)
    # positions start+1 .. end (1-based): their mean is (start + 1 + end) / 2
    doubled = np.repeat(starts + ends + 1, ends - starts).astype(np.int64)
    out = np.empty(n, dtype=np.int64)
    out[order] = doubled
    return out


def _auroc_fraction(y: np.ndarray, s: np.ndarray) -> Fraction | None:
    m = int(y.sum())
    n = y.size - m
    if m == 0 or n == 0:
        return None
    u2 = int(doubled_midranks(s)[y].sum()) - m * (m + 1)  # 2 * Mann-Whitney U, exact
    return Fraction(u2, 2 * m * n)


def _undefined(name: str, m: int, n: int) -> float:
    warnings.warn(
        f"{name}: AUROC is undefined with {m} positive(s) and {n} negative(s); returning NaN",
        UndefinedMetricWarning,
        stacklevel=3,
    )
    return float("nan")


def auroc(y_true, y_score) -> float:
    """Area under the ROC curve of one binary label (Mann–Whitney, midranks for ties).

    Equals the fraction of (positive, negative) pairs ordered correctly, ties counting one half,
    exactly (the only rounding is the final division). No flipping of AUC < 0.5. With one class
    present the AUROC is undefined: NaN and an :class:`UndefinedMetricWarning`.
    """
    y, s = _pair(y_true, y_score)
    frac = _auroc_fraction(y, s)
    if frac is None:
        m = int(y.sum())
        return _undefined("auroc", m, y.size - m)
    return float(frac)


def auroc_per_label(y_true, y_score, labels: Sequence[str] | None = None) -> pd.Series:
    """AUROC of each column of a multi-label task (N images x L labels), indexed by label name.

    Labels with a single class get NaN (with a warning), never an exception.
    """
    y, s = _pair(y_true, y_score, ndim=2)
    names = label_names(labels, y.shape[1], y_true)
    values = []
    for j, name in enumerate(names):
        frac = _auroc_fraction(y[:, j], s[:, j])
        if frac is None:
            m = int(y[:, j].sum())
            values.append(_undefined(f"auroc of label {name!r}", m, y.shape[0] - m))
        else:
            values.append(float(frac))
    return pd.Series(values, index=pd.Index(names, name="label"), name="auc", dtype=float)


def macro_auroc(y_true, y_score) -> float:
    """Macro average: the unweighted mean of the per-label AUROCs (labels with NaN are left out,
    with a warning from :func:`auroc_per_label`). Document 000 and 001 report this average."""
    per_label = auroc_per_label(y_true, y_score)
    return float(per_label.mean()) if per_label.notna().any() else float("nan")


def weighted_auroc(y_true, y_score) -> float:
    """Weighted average: per-label AUROCs weighted by their number of positives (scikit-learn's
    ``average="weighted"``; document 004's "Total" row is a weighted average)."""
    y, _ = _pair(y_true, y_score, ndim=2)
    per_label = auroc_per_label(y_true, y_score).to_numpy()
    support = y.sum(axis=0).astype(float)
    ok = ~np.isnan(per_label)
    if not ok.any():
        return float("nan")
    return float(np.sum(per_label[ok] * support[ok]) / np.sum(support[ok]))


def micro_auroc(y_true, y_score) -> float:
    """Micro average: one AUROC over all (image, label) pairs pooled together."""
    y, s = _pair(y_true, y_score, ndim=2)
    return auroc(y.ravel(), s.ravel())


def auroc_table(y_true, y_score, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-label AUROC with counts, followed by rows ``macro average``, ``weighted average`` and
    ``micro average`` (column ``kind`` tells label rows from average rows)."""
    y, s = _pair(y_true, y_score, ndim=2)
    names = label_names(labels, y.shape[1], y_true)
    per_label = auroc_per_label(y, s, names)
    n_pos = y.sum(axis=0)
    rows = [
        {"label": name, "kind": "label", "auc": per_label[name], "n_positive": int(n_pos[j]),
         "n_negative": int(y.shape[0] - n_pos[j])}
        for j, name in enumerate(names)
    ]
    averages = {"macro average": macro_auroc, "weighted average": weighted_auroc,
                "micro average": micro_auroc}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # already warned per label above
        for name, fn in averages.items():
            rows.append({"label": name, "kind": "average", "auc": fn(y, s),
                         "n_positive": int(n_pos.sum()), "n_negative": int(y.size - n_pos.sum())})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# ROC curve and operating points
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RocCurve:
    """Empirical ROC curve. ``thresholds[k]`` is an observed score (descending) and the point
    ``(fpr[k], tpr[k])`` is the rule "positive if score >= thresholds[k]"; index 0 is the added
    point (0, 0) with threshold +inf. The trapezoidal area under it equals :func:`auroc`."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    true_positives: np.ndarray
    false_positives: np.ndarray
    n_positive: int
    n_negative: int

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"threshold": self.thresholds, "fpr": self.fpr, "tpr": self.tpr,
                             "tp": self.true_positives, "fp": self.false_positives})


def roc_curve(y_true, y_score) -> RocCurve:
    """ROC curve at every distinct observed score (rule "positive if score >= t")."""
    y, s = _pair(y_true, y_score)
    m = int(y.sum())
    n = y.size - m
    order = np.argsort(s, kind="stable")[::-1]  # descending; order within ties is irrelevant
    ss, ys = s[order], y[order]
    last_of_group = np.ones(ss.size, dtype=bool)
    np.not_equal(ss[1:], ss[:-1], out=last_of_group[:-1])
    tp = np.cumsum(ys)[last_of_group]
    fp = np.cumsum(~ys)[last_of_group]
    tp = np.concatenate([[0], tp]).astype(np.int64)
    fp = np.concatenate([[0], fp]).astype(np.int64)
    thresholds = np.concatenate([[np.inf], ss[last_of_group].astype(np.float64)])
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / m if m else np.full(tp.shape, np.nan)
        fpr = fp / n if n else np.full(fp.shape, np.nan)
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds, true_positives=tp,
                    false_positives=fp, n_positive=m, n_negative=n)


def youden_threshold(y_true, y_score) -> float:
    """The observed score t maximising Youden's J = sensitivity + specificity - 1 under the rule
    "positive if score >= t" (Youden 1950; document 001's operating point).

    J is compared exactly (as tp*n - fp*m in integers); among equal maxima the highest threshold
    (the most specific rule) wins. NaN with a warning when one class is absent.
    """
    curve = roc_curve(y_true, y_score)
    m, n = curve.n_positive, curve.n_negative
    if m == 0 or n == 0:
        return _undefined("youden_threshold", m, n)
    j_scaled = curve.true_positives[1:] * n - curve.false_positives[1:] * m
    return float(curve.thresholds[1 + int(np.argmax(j_scaled))])


@dataclass(frozen=True)
class ConfusionCounts:
    """2x2 table of a binary prediction (or label) against a reference."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def confusion_counts(y_true, y_pred) -> ConfusionCounts:
    """Counts of (y_pred, y_true) = (1,1) tp, (1,0) fp, (0,1) fn, (0,0) tn; ``y_true`` is the reference."""
    r = as_binary(y_true, "y_true")
    p = as_binary(y_pred, "y_pred")
    if p.shape != r.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {r.shape}")
    tp = int(np.sum(p & r))
    fp = int(np.sum(p & ~r))
    fn = int(np.sum(~p & r))
    return ConfusionCounts(tp=tp, fp=fp, fn=fn, tn=int(p.size - tp - fp - fn))


def _ratio(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den == 0, np.nan, np.divide(num, np.where(den == 0, 1, den)))


def _kappa_from_counts(tp, fp, fn, tn):
    # kappa = (po - pe) / (1 - pe) with both sides multiplied by n^2: only products of counts.
    n = tp + fp + fn + tn
    chance = (tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)
    return _ratio(n * (tp + tn) - chance, n * n - chance)


#: Metrics of a 2x2 table, as functions of broadcastable count arrays (tp, fp, fn, tn); NaN where
#: a denominator is zero. "positive" means predicted/label = 1; the reference is the truth.
CONFUSION_METRICS: Mapping[str, Callable] = {
    "accuracy": lambda tp, fp, fn, tn: _ratio(tp + tn, tp + fp + fn + tn),
    "sensitivity": lambda tp, fp, fn, tn: _ratio(tp, tp + fn),
    "specificity": lambda tp, fp, fn, tn: _ratio(tn, tn + fp),
    "ppv": lambda tp, fp, fn, tn: _ratio(tp, tp + fp),
    "npv": lambda tp, fp, fn, tn: _ratio(tn, tn + fn),
    "f1": lambda tp, fp, fn, tn: _ratio(2 * tp, 2 * tp + fp + fn),
    "kappa": _kappa_from_counts,
    "prevalence_label": lambda tp, fp, fn, tn: _ratio(tp + fp, tp + fp + fn + tn),
    "prevalence_reference": lambda tp, fp, fn, tn: _ratio(tp + fn, tp + fp + fn + tn),
}


def _metric(name: str, c: ConfusionCounts) -> float:
    return float(lookup(CONFUSION_METRICS, name, what="metric")(c.tp, c.fp, c.fn, c.tn))


@dataclass(frozen=True)
class OperatingPoint:
    """Metrics of one binary rule "positive if score >= threshold"."""

    threshold: float
    accuracy: float
    sensitivity: float
    specificity: float
    f1: float
    ppv: float
    npv: float
    counts: ConfusionCounts


def operating_point(y_true, y_score, threshold: float) -> OperatingPoint:
    """Accuracy, sensitivity, specificity, F1, PPV, NPV at ``threshold`` (positive if score >= t)."""
    y, s = _pair(y_true, y_score)
    if np.isnan(threshold):
        c = ConfusionCounts(0, 0, 0, 0)
        nan = float("nan")
        return OperatingPoint(threshold, nan, nan, nan, nan, nan, nan, c)
    c = confusion_counts(y, s >= threshold)
    return OperatingPoint(
        threshold=float(threshold),
        **{k: _metric(k, c) for k in ("accuracy", "sensitivity", "specificity", "f1", "ppv", "npv")},
        counts=c,
    )


def _operating_rows(y_test, s_test, thresholds, names, chosen_on: str) -> pd.DataFrame:
    rows = []
    for j, name in enumerate(names):
        op = operating_point(y_test[:, j], s_test[:, j], thresholds[j])
        rows.append({"label": name, "threshold": op.threshold, "threshold_chosen_on": chosen_on,
                     "optimistic": chosen_on != "validation", "accuracy": op.accuracy,
                     "sensitivity": op.sensitivity, "specificity": op.specificity, "f1": op.f1,
                     "ppv": op.ppv, "npv": op.npv, "tp": op.counts.tp, "fp": op.counts.fp,
                     "fn": op.counts.fn, "tn": op.counts.tn})
    return pd.DataFrame(rows)


def _as_2d(y_true, y_score):
    y, s = _pair(y_true, y_score, ndim=None)
    if y.ndim == 1:
        return y[:, None], s[:, None]
    if y.ndim != 2:
        raise ValueError("expected 1-D or 2-D label/score arrays")
    return y, s


def youden_operating_points(y_val, s_val, y_test, s_test,
                            labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Per label: the Youden threshold chosen on the **validation** set, applied to the test set.

    This is the honest protocol: the test set never influences the threshold. Columns: label,
    threshold, threshold_chosen_on ("validation"), optimistic (False), accuracy, sensitivity,
    specificity, f1, ppv, npv, tp, fp, fn, tn. Accepts 1-D (one label) or N x L arrays.
    """
    yv, sv = _as_2d(y_val, s_val)
    yt, st = _as_2d(y_test, s_test)
    if yv.shape[1] != yt.shape[1]:
        raise ValueError("validation and test sets have different numbers of labels")
    names = label_names(labels, yt.shape[1], y_test)
    thresholds = [youden_threshold(yv[:, j], sv[:, j]) for j in range(yv.shape[1])]
    return _operating_rows(yt, st, thresholds, names, "validation")


def youden_operating_points_optimistic(y_test, s_test,
                                       labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Per label: Youden threshold chosen **on the test set itself** and evaluated there.

    Optimistic by construction (the threshold has seen the test labels); the table says so in
    ``threshold_chosen_on = "test (optimistic)"`` and ``optimistic = True``. Provided because some
    papers report it; prefer :func:`youden_operating_points`.
    """
    yt, st = _as_2d(y_test, s_test)
    names = label_names(labels, yt.shape[1], y_test)
    thresholds = [youden_threshold(yt[:, j], st[:, j]) for j in range(yt.shape[1])]
    return _operating_rows(yt, st, thresholds, names, "test (optimistic)")


# ----------------------------------------------------------------------------------------------
# agreement of two binary label vectors
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgreementRates:
    """A binary label (e.g. NIH text-mined) scored against a reference (e.g. expert re-read).

    ppv = P(reference = 1 | label = 1), npv = P(reference = 0 | label = 0); sensitivity and
    specificity of the label for the reference; Cohen's kappa; NaN where undefined.
    """

    ppv: float
    npv: float
    sensitivity: float
    specificity: float
    accuracy: float
    kappa: float
    prevalence_label: float
    prevalence_reference: float
    counts: ConfusionCounts


def agreement_rates(y_true, y_pred) -> AgreementRates:
    """PPV, NPV, sensitivity, specificity, accuracy and kappa of the binary labels ``y_pred`` (e.g. NIH's
    text-mined labels) against the reference ``y_true`` (e.g. the experts')."""
    c = confusion_counts(y_true, y_pred)
    return AgreementRates(**{k: _metric(k, c) for k in (
        "ppv", "npv", "sensitivity", "specificity", "accuracy", "kappa", "prevalence_label",
        "prevalence_reference")}, counts=c)


def cohen_kappa(rater_a, rater_b) -> float:
    """Cohen's kappa of two binary label vectors, (p_o - p_e) / (1 - p_e) (Cohen 1960).

    Computed from integer counts (exact up to the final division). NaN when p_e = 1 (both raters
    constant and equal), where kappa is undefined.
    """
    return _metric("kappa", confusion_counts(rater_b, rater_a))


# ----------------------------------------------------------------------------------------------
# single-label multi-class (document 000)
# ----------------------------------------------------------------------------------------------
def _class_indices(y, n_classes: int, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-D array of integer class indices")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} has class indices outside 0..{n_classes - 1}")
    return arr


def confusion_matrix(y_true, y_pred, class_names: Sequence[str]) -> pd.DataFrame:
    """Counts with true classes as rows and predicted classes as columns (document 000, Fig. 3)."""
    k = len(class_names)
    t = _class_indices(y_true, k, "y_true")
    p = _class_indices(y_pred, k, "y_pred")
    if t.shape != p.shape:
        raise ValueError("y_true and y_pred have different lengths")
    counts = np.bincount(t * k + p, minlength=k * k).reshape(k, k)
    names = [str(c) for c in class_names]
    return pd.DataFrame(counts, index=pd.Index(names, name="true"),
                        columns=pd.Index(names, name="predicted"))


@dataclass(frozen=True)
class MulticlassReport:
    """Document 000's metrics of a single-label multi-class classifier (Section 3.5, Table 8).

    ``per_class``: class, n (true count), auc_ovr, precision, recall, f1. Precision/recall/F1 of a
    class that is never predicted/present is 0, scikit-learn's ``zero_division=0`` convention.
    """

    macro_auroc: float
    macro_recall: float
    macro_f1: float
    chosen_class: str
    chosen_class_precision: float
    accuracy: float
    per_class: pd.DataFrame
    confusion: pd.DataFrame


def multiclass_report(y_true, proba, class_names: Sequence[str],
                      chosen_class: str = "No Finding") -> MulticlassReport:
    """One-vs-rest AUROC per class and its macro average, macro recall, macro F1, precision of
    ``chosen_class`` and the confusion matrix; the prediction is the arg-max of ``proba``
    (N x C class probabilities or scores; ties go to the first class)."""
    names = [str(c) for c in class_names]
    k = len(names)
    scores = as_scores(proba, "proba")
    if scores.ndim != 2 or scores.shape[1] != k:
        raise ValueError(f"proba must be N x {k}, got {scores.shape}")
    t = _class_indices(y_true, k, "y_true")
    pred = np.argmax(scores, axis=1)
    cm = confusion_matrix(t, pred, names)
    counts = cm.to_numpy()
    tp = np.diag(counts).astype(float)
    support = counts.sum(axis=1).astype(float)
    predicted = counts.sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, tp / np.where(support > 0, support, 1), 0.0)
        precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        denom = support + predicted
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
    # macro recall/F1 over the classes present in y_true or y_pred (scikit-learn's default set)
    present = (support > 0) | (predicted > 0)
    aucs = auroc_per_label(t[:, None] == np.arange(k)[None, :], scores, names).to_numpy()
    per_class = pd.DataFrame({"class": names, "n": support.astype(int), "auc_ovr": aucs,
                              "precision": precision, "recall": recall, "f1": f1})
    if chosen_class not in names:
        raise ValueError(f"chosen_class {chosen_class!r} is not one of {names}")
    return MulticlassReport(
        macro_auroc=float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan"),
        macro_recall=float(recall[present].mean()),
        macro_f1=float(f1[present].mean()),
        chosen_class=chosen_class,
        chosen_class_precision=float(precision[names.index(chosen_class)]),
        accuracy=float(tp.sum() / max(t.size, 1)),
        per_class=per_class,
        confusion=cm,
    )
