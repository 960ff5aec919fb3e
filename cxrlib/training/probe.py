"""Linear probe on frozen features: document 002's logistic-regression protocol (no torch here).

Document 002 (Gazda et al., *Self-supervised deep convolutional neural network for chest X-ray
classification*, section V-B "Numerical results" and Table III) evaluates a self-supervised
backbone by using it "as a fixed feature extractor" and fitting a logistic regression on the
features:

- classifier: scikit-learn ``LogisticRegression``; "the logistic regression weights were
  automatically adjusted to be inversely proportional to the class frequencies"
  (``class_weight="balanced"``); "the other parameters were set to their default values";
- C searched over {0.01, 0.05, 0.1, 0.2, 0.5, 1} (:data:`C_GRID`); "the best model was adopted after a
  grid search based on the area under the receiver operating characteristic curve (AUC)";
- "stratified k-fold cross-validation", with "the CXR images of a particular patient ... only
  within the same data subset";
- reported metrics: accuracy, AUC, sensitivity, specificity and F1 (Table III, :data:`METRICS`).

The protocol here (:func:`select_c`, :func:`fit_probe`):

1. On the training rows only, split patients into ``n_splits`` stratified, patient-disjoint folds
   (scikit-learn ``StratifiedGroupKFold(shuffle=True, random_state=seed)``, :func:`patient_folds`).
   The document does not give k; 5 is our default. When a class occurs in fewer patients than there
   are folds, the number of folds is reduced (with a warning) so every class can reach every fold.
2. For every C, fit ``StandardScaler -> LogisticRegression(C, class_weight="balanced")`` on k-1 folds
   and compute the AUROC (:func:`cxrlib.stats.metrics.auroc`) on the held-out fold. The C with the highest
   mean fold AUROC wins; ties go to the smaller C (stronger regularisation).
3. Refit the pipeline with that C on all training rows; score the test set with
   :meth:`FittedProbe.predict_proba`.

Our choices, not the document's (it does not say):
- **Feature standardisation.** The document does not say whether features were scaled. We
  standardise (``StandardScaler`` inside the pipeline, so it is fitted on the training folds only):
  with unscaled features the meaning of a given C depends on the feature scale of each backbone.
- k = 5 folds; AUROC averaged over folds (scikit-learn's ``GridSearchCV(scoring="roc_auc")``
  convention); ``max_iter`` raised from scikit-learn's default 100 to :data:`DEFAULT_MAX_ITER` so
  that lbfgs converges on 512-2048-dimensional features (at convergence the model is the same).
- Where the grid search runs: the document names both "stratified k-fold cross-validation" and
  training/validation/test subsets without saying which rows the search saw. We cross-validate
  within the rows passed in (the training split; a caller may merge the validation split into it).
- Operating point: the document names no threshold; with default parameters scikit-learn's
  ``predict`` is positive when the probability exceeds 0.5, our default. :func:`probe_metrics` uses
  "positive if probability >= threshold" (the :mod:`cxrlib.stats.metrics` rule), which differs from
  ``predict`` only for a probability of exactly 0.5.

Reading Table III (checked by arithmetic, not stated in the document): given the printed ACC, SEN
and SPE, the printed F1 of Cell, C19-Cohen and COVIDGR matches the F1 of the class whose recall is
SPE (the negative class), not of the positive class; :func:`probe_metrics` therefore also returns
``f1_neg``. Also note that Table III's "fraction of dataset" (1%, 10%, 100%) is the share of
CheXpert used for the *pretext* task; the probe itself always uses the full downstream training set.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from cxrlib.stats import bootstrap_agreement, bootstrap_ci
from cxrlib.stats.metrics import UndefinedMetricWarning, as_binary, auroc, operating_point

__all__ = [
    "C_GRID",
    "METRICS",
    "DEFAULT_N_SPLITS",
    "DEFAULT_MAX_ITER",
    "FoldReductionWarning",
    "patient_folds",
    "make_probe_pipeline",
    "ProbeSelection",
    "select_c",
    "FittedProbe",
    "fit_probe",
    "probe_metrics",
    "probe_report",
    "table3_layout",
]

#: Document 002, section V-B: "we searched through the parameter space C = {0.01, 0.05, 0.1, 0.2,
#: 0.5, 1}".
C_GRID: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
#: Document 002, Table III columns: accuracy, AUC, sensitivity, specificity, F1.
METRICS: tuple[str, ...] = ("acc", "auc", "sen", "spe", "f1")
DEFAULT_N_SPLITS = 5  # our choice: the document says "stratified k-fold" without k
DEFAULT_MAX_ITER = 1000  # scikit-learn's default is 100; see the module docstring
_TIE_TOLERANCE = 1e-12  # mean AUROCs closer than this count as a tie (summation noise only)

# metric name here -> name in cxrlib.stats.metrics.CONFUSION_METRICS
_CONFUSION_NAMES = {"acc": "accuracy", "sen": "sensitivity", "spe": "specificity", "f1": "f1"}


class FoldReductionWarning(UserWarning):
    """Fewer cross-validation folds than asked, because a class occurs in too few patients."""


# ----------------------------------------------------------------------------------------------
# folds
# ----------------------------------------------------------------------------------------------
def _labels(y) -> np.ndarray:
    return as_binary(y, "y").astype(np.int64)


def _check_rows(features, y, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (images x feature dimensions), got {x.shape}")
    labels = _labels(y)
    g = np.asarray(groups)
    if not (x.shape[0] == labels.shape[0] == g.shape[0]):
        raise ValueError(f"features ({x.shape[0]}), y ({labels.shape[0]}) and groups "
                         f"({g.shape[0]}) must have one entry per image")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    if pd.isna(g).any():
        raise ValueError("groups (patient ids) contain missing values")
    return x, labels, g


def patient_folds(y, groups, n_splits: int = DEFAULT_N_SPLITS,
                  seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified, patient-disjoint k-fold split: a list of ``(train_idx, val_idx)`` index arrays.

    scikit-learn's ``StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)``: every patient
    (``groups``) is in exactly one validation fold and the class ratio of each fold is kept close to
    the overall one. If a class occurs in fewer patients than ``n_splits``, the number of folds is
    reduced to that number with a :class:`FoldReductionWarning`; fewer than 2 raises ``ValueError``.
    """
    labels = _labels(y)
    g = np.asarray(groups)
    if labels.ndim != 1 or g.shape != labels.shape:
        raise ValueError(f"y {labels.shape} and groups {g.shape} must be 1-D, one entry per image")
    if pd.isna(g).any():
        raise ValueError("groups (patient ids) contain missing values")
    if int(n_splits) < 2:
        raise ValueError(f"n_splits must be at least 2, got {n_splits}")
    codes = pd.factorize(pd.Series(g))[0]
    patients_per_class = {c: int(np.unique(codes[labels == c]).size) for c in (0, 1)}
    feasible = min(patients_per_class.values())
    if feasible < 2:
        raise ValueError(
            "cannot cross-validate: each class must occur in at least 2 patients, found "
            f"{patients_per_class[0]} patient(s) with label 0 and {patients_per_class[1]} "
            "with label 1")
    if feasible < n_splits:
        warnings.warn(f"only {feasible} patients have the rarer class: using {feasible} folds "
                      f"instead of {n_splits}", FoldReductionWarning, stacklevel=2)
        n_splits = feasible
    splitter = StratifiedGroupKFold(n_splits=int(n_splits), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # scikit-learn counts images, not patients, in this warning; the check above is the one
        # that matters for patient-disjoint folds.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return [(train, val) for train, val in splitter.split(np.zeros(labels.size), labels, codes)]


# ----------------------------------------------------------------------------------------------
# model selection and fit
# ----------------------------------------------------------------------------------------------
def _logistic(c: float, max_iter: int) -> LogisticRegression:
    # Document 002: class weights inversely proportional to class frequencies, other parameters at
    # their defaults (L2 penalty, lbfgs).
    return LogisticRegression(C=c, class_weight="balanced", max_iter=max_iter)


def make_probe_pipeline(c: float, max_iter: int = DEFAULT_MAX_ITER) -> Pipeline:
    """``StandardScaler -> LogisticRegression(C=c, class_weight="balanced")`` (module docstring)."""
    return make_pipeline(StandardScaler(), _logistic(c, max_iter))


def _grid(cs: Sequence[float]) -> tuple[float, ...]:
    grid = tuple(sorted(float(c) for c in cs))
    if not grid:
        raise ValueError("give at least one value of C")
    if any(not (math.isfinite(c) and c > 0) for c in grid):
        raise ValueError(f"every C must be a positive finite number, got {list(cs)}")
    if len(set(grid)) != len(grid):
        raise ValueError(f"C values must be distinct, got {list(cs)}")
    return grid


def _positive_column(model) -> int:
    classes = list(model.classes_)
    if 1 not in classes:
        raise ValueError(f"the model was fitted without the positive class 1 (classes {classes})")
    return classes.index(1)


@dataclass(frozen=True)
class ProbeSelection:
    """Result of the cross-validated grid search over C.

    ``cv``: one row per (C, fold) with columns c, fold, auc (held-out fold AUROC; NaN if a fold had
    a single class), n_val, n_val_positive. ``summary``: one row per C with columns c, mean_auc,
    sd_auc (sample sd over folds, ddof=1), n_folds (folds with a defined AUROC). ``best_c``: the C
    with the highest mean_auc, the smaller C on ties.
    """

    best_c: float
    cv: pd.DataFrame
    summary: pd.DataFrame
    n_splits: int
    seed: int


def select_c(features, y, groups, cs: Sequence[float] = C_GRID, n_splits: int = DEFAULT_N_SPLITS,
             seed: int = 0, max_iter: int = DEFAULT_MAX_ITER) -> ProbeSelection:
    """Choose C by mean held-out AUROC over stratified patient-disjoint folds (document 002, V-B).

    ``features``: N x D frozen features of the **training** images; ``y``: 0/1 labels; ``groups``:
    patient id per image. Each fold standardises with statistics of its own training part.
    """
    x, labels, g = _check_rows(features, y, groups)
    grid = _grid(cs)
    folds = patient_folds(labels, g, n_splits, seed)
    rows = []
    for fold, (train, val) in enumerate(folds):
        scaler = StandardScaler().fit(x[train])
        x_train, x_val = scaler.transform(x[train]), scaler.transform(x[val])
        for c in grid:
            model = _logistic(c, max_iter).fit(x_train, labels[train])
            prob = model.predict_proba(x_val)[:, _positive_column(model)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedMetricWarning)  # counted in n_folds
                auc = auroc(labels[val], prob)
            rows.append({"c": c, "fold": fold, "auc": auc, "n_val": int(val.size),
                         "n_val_positive": int(labels[val].sum())})
    cv = pd.DataFrame(rows)
    grouped = cv.groupby("c", sort=True)["auc"]
    summary = pd.DataFrame({"mean_auc": grouped.mean(), "sd_auc": grouped.std(ddof=1),
                            "n_folds": grouped.count()}).reset_index()
    if summary["mean_auc"].isna().all():
        raise ValueError("the AUROC is undefined in every fold (one class per validation fold)")
    best = summary["mean_auc"].max()
    best_c = float(summary.loc[summary["mean_auc"] >= best - _TIE_TOLERANCE, "c"].min())
    return ProbeSelection(best_c=best_c, cv=cv, summary=summary, n_splits=len(folds), seed=seed)


@dataclass(frozen=True)
class FittedProbe:
    """The probe refitted on all training rows with the selected C."""

    pipeline: Pipeline
    selection: ProbeSelection

    @property
    def c(self) -> float:
        return self.selection.best_c

    def predict_proba(self, features) -> np.ndarray:
        """Probability of the positive class (label 1) for each row of ``features`` (1-D array)."""
        x = np.asarray(features)
        if x.ndim != 2:
            raise ValueError(f"features must be 2-D (images x dimensions), got shape {x.shape}")
        return self.pipeline.predict_proba(x)[:, _positive_column(self.pipeline)]


def fit_probe(features, y, groups, cs: Sequence[float] = C_GRID, n_splits: int = DEFAULT_N_SPLITS,
              seed: int = 0, max_iter: int = DEFAULT_MAX_ITER) -> FittedProbe:
    """Grid-search C (:func:`select_c`), then refit ``StandardScaler -> LogisticRegression`` with
    the best C on every training row (document 002, section V-B)."""
    selection = select_c(features, y, groups, cs=cs, n_splits=n_splits, seed=seed, max_iter=max_iter)
    x, labels, _ = _check_rows(features, y, groups)
    pipeline = make_probe_pipeline(selection.best_c, max_iter).fit(x, labels)
    return FittedProbe(pipeline=pipeline, selection=selection)


# ----------------------------------------------------------------------------------------------
# metrics and bootstrap
# ----------------------------------------------------------------------------------------------
def probe_metrics(y_true, prob, threshold: float = 0.5) -> dict:
    """Document 002's Table III metrics of one test set (proportions, not percent).

    ``acc``, ``sen`` (recall of label 1), ``spe`` (recall of label 0), ``f1`` (F1 of label 1) at
    "positive if prob >= threshold", ``auc`` (threshold-free AUROC); also ``f1_neg`` (F1 of label 0,
    see the module docstring) and the counts ``tp``, ``fp``, ``fn``, ``tn``. Computed by
    :func:`cxrlib.stats.metrics.operating_point` and :func:`cxrlib.stats.metrics.auroc`.
    """
    op = operating_point(y_true, prob, threshold)
    c = op.counts
    f1_neg = 2 * c.tn / (2 * c.tn + c.fn + c.fp) if (2 * c.tn + c.fn + c.fp) else float("nan")
    return {"acc": op.accuracy, "auc": auroc(y_true, prob), "sen": op.sensitivity,
            "spe": op.specificity, "f1": op.f1, "f1_neg": float(f1_neg),
            "tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn}


def probe_report(y_true, prob, groups=None, n_boot: int = 1000, seed: int = 0,
                 alpha: float = 0.05, threshold: float = 0.5) -> dict:
    """:func:`probe_metrics` plus percentile bootstrap CIs: ``<metric>_ci_low``/``_ci_high``.

    Every metric uses the same ``n_boot`` redraws (:func:`cxrlib.stats.redraw_counts` with
    ``seed``): images, or with ``groups`` (patient ids) patients with all their images (cluster
    bootstrap). Vectorised: AUROC via :func:`cxrlib.stats.bootstrap_ci`, the threshold metrics via
    :func:`cxrlib.stats.bootstrap_agreement`. A redraw where a metric is undefined (e.g. no positive)
    is left out of that metric's interval. Also returned: ``n``, ``n_positive``, ``threshold``,
    ``n_boot``, ``alpha``, ``seed`` and ``unit`` ("image" or "patient"). Document 002 reports no
    intervals; this is our addition.
    """
    y = as_binary(y_true)
    p = np.asarray(prob, dtype=float)
    report = probe_metrics(y, p, threshold)
    predicted = p >= threshold
    options = {"n_boot": n_boot, "seed": seed, "groups": groups, "alpha": alpha}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        auc = bootstrap_ci(auroc, y, p, **options)
    intervals = {"auc": (auc.ci_low, auc.ci_high)}
    table = bootstrap_agreement(y, predicted, metrics=tuple(_CONFUSION_NAMES.values()), **options)
    by_name = table.set_index("metric")
    for short, long in _CONFUSION_NAMES.items():
        intervals[short] = (by_name.at[long, "ci_low"], by_name.at[long, "ci_high"])
    # F1 of label 0 = F1 with predictions and truth both negated (same redraws, same seed)
    neg = bootstrap_agreement(~y, ~predicted, metrics=("f1",), **options).iloc[0]
    intervals["f1_neg"] = (neg["ci_low"], neg["ci_high"])
    out = {}
    for name in (*METRICS, "f1_neg"):
        out[name] = report[name]
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (float(v) for v in intervals[name])
    out.update({k: report[k] for k in ("tp", "fp", "fn", "tn")})
    out.update({"n": int(y.size), "n_positive": int(y.sum()), "threshold": float(threshold),
                "n_boot": int(n_boot), "alpha": float(alpha), "seed": int(seed),
                "unit": "image" if groups is None else "patient"})
    return out


# ----------------------------------------------------------------------------------------------
# Table III layout
# ----------------------------------------------------------------------------------------------
def _fraction_label(value) -> tuple[float, str]:
    """(sort key, label): 0.01 -> "1%", "10%" -> "10%"; numbers are proportions in (0, 1]."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text.rstrip("%")), text
        except ValueError:
            return math.inf, text
    number = float(value)
    if not 0 < number <= 1:
        raise ValueError(f"numeric fractions are proportions in (0, 1], got {value!r}; give "
                         "percentages as text such as '10%'")
    return 100 * number, f"{100 * number:g}%"


def _cell(value: float, low: float | None, high: float | None, scale: float, decimals: int) -> str:
    def fmt(v):
        return "na" if v is None or pd.isna(v) else f"{scale * v:.{decimals}f}"

    if low is None and high is None:
        return fmt(value)
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def table3_layout(long: pd.DataFrame, *, ci: bool = False, index: Sequence[str] = ("task", "init"),
                  metrics: Sequence[str] = METRICS, scale: float = 100.0,
                  decimals: int = 1) -> pd.DataFrame:
    """Document 002's Table III layout from a long table (one row per index x fraction).

    ``long`` has the ``index`` columns (default task, init), ``fraction`` (a proportion such as 0.1,
    or a label such as "10%") and one column per metric (proportions; ``scale=100`` prints percent,
    use ``scale=1`` for tables already in percent such as ``cxrlib.published.load("d002_table3")``).
    Result: rows = ``index`` (in order of first appearance in ``long``), columns = MultiIndex
    (fraction label "1%", "10%", ... in increasing order, metric in upper case
    ACC/AUC/SEN/SPE/F1), values rounded to ``decimals``. With
    ``ci=True`` the cells are strings "85.6 [80.1, 90.2]" from ``<metric>_ci_low``/``_ci_high``
    (a metric without CI columns prints its value alone).
    """
    index = list(index)
    needed = [*index, "fraction", *metrics]
    missing = [c for c in needed if c not in long.columns]
    if missing:
        raise ValueError(f"long table lacks columns {missing}; it has {list(long.columns)}")
    frame = long.copy()
    keys = [_fraction_label(v) for v in frame["fraction"]]
    frame["_fraction"] = [label for _, label in keys]
    order = {label: key for key, label in keys}
    if frame.duplicated([*index, "_fraction"]).any():
        dupes = frame.loc[frame.duplicated([*index, "_fraction"], keep=False), [*index, "fraction"]]
        raise ValueError(f"more than one row per {index} and fraction:\n{dupes}")
    for m in metrics:
        if ci:
            lows = frame[f"{m}_ci_low"] if f"{m}_ci_low" in frame else [None] * len(frame)
            highs = frame[f"{m}_ci_high"] if f"{m}_ci_high" in frame else [None] * len(frame)
            frame[m] = [_cell(v, lo, hi, scale, decimals) for v, lo, hi in zip(frame[m], lows, highs)]
        else:
            frame[m] = (scale * pd.to_numeric(frame[m], errors="coerce")).round(decimals)
    wide = frame.pivot(index=index, columns="_fraction", values=list(metrics))
    fractions = sorted(order, key=lambda label: (order[label], label))
    wide = wide.reindex(columns=[(m, f) for f in fractions for m in metrics])
    rows = frame[index].drop_duplicates()  # keep the input's row order, not pivot's sorted one
    wide = wide.reindex(pd.MultiIndex.from_frame(rows) if len(index) > 1
                        else pd.Index(rows[index[0]]))
    wide.columns = pd.MultiIndex.from_tuples([(f, m.upper()) for m, f in wide.columns],
                                             names=["fraction", "metric"])
    return wide


def flat_columns(layout: pd.DataFrame) -> pd.DataFrame:
    """A :func:`table3_layout` frame with one header row ("100% AUC") and the index as columns, for CSV/Markdown."""
    flat = layout.copy()
    flat.columns = [" ".join(str(part) for part in column).strip() for column in flat.columns]
    return flat.reset_index()
