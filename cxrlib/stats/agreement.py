"""Agreement of two binary label vectors (kappa, PPV, NPV, sensitivity, specificity) with percentile
bootstrap intervals, vectorised over redraws (the redraws of :func:`cxrlib.stats.bootstrap.redraw_counts`, so
the same ``seed`` gives the same redraws as the AUROC bootstrap; ``groups`` resamples patients)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrlib.stats.bootstrap import DOCUMENT_001_REDRAWS, redraw_counts, resampling_unit, summary_table
from cxrlib.stats.checks import check_boot_args
from cxrlib.stats.metrics import CONFUSION_METRICS, as_binary


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
    n_boot = check_boot_args(n_boot, alpha)
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
    table = summary_table(list(metrics), len(metrics), estimate, reps, alpha)
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
                       n_boot, seed, alpha, resampling_unit(groups))
