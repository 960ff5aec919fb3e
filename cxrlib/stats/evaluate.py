"""Evaluate per-image predictions: AUROC with CIs, paired comparisons, operating points.

Works on any predictions file with one row per image, an image id column (``image_id`` or NIH's
``Image Index``) and one ``prob_<label>`` column per label; the labels come from the file
(``<label>`` columns) or from the NIH metadata. This is what ``04_evaluate`` runs on the predictions of
a trained DenseNet-121 and on the ``predictions_test.csv`` of our own runs.

Protocols:

* AUROC per label with a 95% percentile bootstrap CI over **patients** (cluster bootstrap) and DeLong's
  CI (Sun & Xu 2014), plus the macro average;
* paired comparison of two score sets on the same images: DeLong's test per label, Benjamini-Hochberg
  FDR over labels (document 001 adjusts its p-values for multiplicity);
* document 001's table (AUC, accuracy, sensitivity, specificity as mean ± sd over labels) at the Youden
  threshold; here the threshold is chosen on one patient-half of the test images and applied to the
  other half, so the test half never sees its own threshold.

No torch: importable in light environments.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxrlib.stats import inference as stats
from cxrlib.stats import metrics

PROB_PREFIX = "prob_"
ID_COLUMNS = ("image_id", "Image Index")


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """A predictions CSV with ``image_id`` and ``prob_<label>`` columns (``attrs["labels"]`` lists the labels)."""
    frame = pd.read_csv(path)
    id_column = next((c for c in ID_COLUMNS if c in frame.columns), None)
    if id_column is None:
        raise ValueError(f"{path}: no image id column (expected one of {ID_COLUMNS})")
    frame = frame.rename(columns={id_column: "image_id"})
    labels = [c[len(PROB_PREFIX):] for c in frame.columns if c.startswith(PROB_PREFIX)]
    if not labels:
        raise ValueError(f"{path}: no probability columns named '{PROB_PREFIX}<label>'")
    if frame["image_id"].duplicated().any():
        raise ValueError(f"{path}: repeated image ids, e.g. {frame.loc[frame['image_id'].duplicated(), 'image_id'].iloc[0]}")
    frame.attrs["labels"] = labels
    frame.attrs["source"] = str(path)
    return frame


def attach_labels(predictions: pd.DataFrame, meta: pd.DataFrame, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Join predictions with a metadata table holding ``image_id``, ``patient_id`` and one 0/1 column per label.

    Every predicted image must be in ``meta`` (``ValueError`` otherwise). Label columns already in the
    predictions file win over the metadata's.
    """
    labels = list(labels or predictions.attrs["labels"])
    from_meta = [c for c in ["patient_id", "age", "sex", "view", *labels] if c in meta.columns and c not in predictions.columns]
    joined = predictions.merge(meta[["image_id", *from_meta]], on="image_id", how="left", indicator=True)
    orphans = joined.loc[joined["_merge"] == "left_only", "image_id"]
    if len(orphans):
        raise ValueError(f"{len(orphans)} predicted images are not in the metadata (e.g. {list(orphans[:3])})")
    missing = [label for label in labels if label not in joined.columns]
    if missing:
        raise ValueError(f"no label column for {missing} in the predictions or the metadata")
    joined = joined.drop(columns="_merge")
    joined.attrs = {**predictions.attrs, "labels": labels}
    return joined


def arrays(frame: pd.DataFrame, labels: Sequence[str], prefix: str = PROB_PREFIX) -> tuple[np.ndarray, np.ndarray]:
    """(N x L labels as int, N x L scores as float) from a joined frame."""
    y = frame[list(labels)].to_numpy(dtype=int)
    s = frame[[f"{prefix}{label}" for label in labels]].to_numpy(dtype=float)
    return y, s


def auroc_ci_table(frame: pd.DataFrame, labels: Sequence[str], n_boot: int = 1000, seed: int = 0,
                alpha: float = 0.05, group_col: str | None = "patient_id") -> pd.DataFrame:
    """Per label and macro average: AUROC, bootstrap percentile CI (over ``group_col``), DeLong CI, counts."""
    y, s = arrays(frame, labels)
    groups = frame[group_col].to_numpy() if group_col else None
    boot = stats.bootstrap_auroc(y, s, list(labels), n_boot=n_boot, seed=seed, groups=groups, alpha=alpha,
                                 averages=("macro",)).table
    delong_low, delong_high = [], []
    for j in range(len(labels)):
        result = stats.delong(y[:, j], s[:, j], alpha=alpha)
        delong_low.append(result.ci[0])
        delong_high.append(result.ci[1])
    table = boot.rename(columns={"ci_low": "boot_ci_low", "ci_high": "boot_ci_high"})
    table["delong_ci_low"] = delong_low + [np.nan] * (len(table) - len(labels))
    table["delong_ci_high"] = delong_high + [np.nan] * (len(table) - len(labels))
    return table[["label", "kind", "auc", "boot_ci_low", "boot_ci_high", "delong_ci_low", "delong_ci_high",
                  "boot_mean", "boot_sd", "n_positive", "n_negative"]]


def beside_published(table: pd.DataFrame, published: pd.DataFrame, column: str = "auc") -> pd.DataFrame:
    """Add ``published_<column>`` and ``difference`` (ours - published) by label."""
    theirs = published.set_index("label")[column]
    out = table.copy()
    out[f"published_{column}"] = out["label"].map(theirs)
    out["difference"] = out[column] - out[f"published_{column}"]
    return out


def metadata_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Age (years, and squared, scaled), sex and view position as a numeric design matrix."""
    age = frame["age"].astype(float).clip(0, 100) / 100.0
    design = pd.DataFrame({"age": age, "age2": age**2}, index=frame.index)
    design["male"] = (frame["sex"].astype(str).str.upper().str[0] == "M").astype(float)
    design["view_pa"] = (frame["view"].astype(str).str.upper() == "PA").astype(float)
    return design


def metadata_baseline(train: pd.DataFrame, test: pd.DataFrame, labels: Sequence[str], C: float = 1.0) -> pd.DataFrame:
    """A metadata-only model: per label, logistic regression on age, sex and view fitted on ``train``.

    Returns ``image_id`` and ``prob_<label>`` for the rows of ``test``: the same layout as a predictions
    file, so the baseline goes through every evaluation an image model goes through.
    """
    from sklearn.linear_model import LogisticRegression

    x_train, x_test = metadata_features(train), metadata_features(test)
    out = pd.DataFrame({"image_id": test["image_id"].to_numpy()})
    for label in labels:
        y = train[label].to_numpy(dtype=int)
        model = LogisticRegression(C=C, max_iter=1000).fit(x_train, y)
        out[f"{PROB_PREFIX}{label}"] = model.predict_proba(x_test)[:, 1]
    out.attrs["labels"] = list(labels)
    return out


def paired_delong(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, labels: Sequence[str],
                  names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """DeLong's paired test per label (same images, two score sets) with Benjamini-Hochberg FDR over labels."""
    rows = []
    for j, label in enumerate(labels):
        result = stats.delong_test(y[:, j], score_a[:, j], score_b[:, j])
        rows.append({"label": label, f"auc_{names[0]}": result.auc_a, f"auc_{names[1]}": result.auc_b,
                     "difference": result.auc_a - result.auc_b, "z": result.z, "p_value": result.p_value})
    table = pd.DataFrame(rows)
    table["p_fdr"] = stats.fdr_bh(table["p_value"].to_numpy())
    return table


def patient_halves(patient_ids: Sequence, seed: int = 0) -> np.ndarray:
    """A boolean mask: True for images of a random half of the patients (seeded)."""
    patients = pd.unique(pd.Series(patient_ids).astype(str))
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(patients, size=len(patients) // 2, replace=False))
    return pd.Series(patient_ids).astype(str).isin(chosen).to_numpy()


def operating_points_by_halves(frame: pd.DataFrame, labels: Sequence[str], seed: int = 0,
                               group_col: str = "patient_id") -> pd.DataFrame:
    """Youden thresholds chosen on one patient-half and applied to the other, both ways round.

    One row per (label, evaluated half): threshold, accuracy, sensitivity, specificity, F1, ... .
    """
    y, s = arrays(frame, labels)
    half = patient_halves(frame[group_col].to_numpy(), seed)
    parts = []
    for chosen_on, evaluated in ((half, ~half), (~half, half)):
        table = metrics.youden_operating_points(y[chosen_on], s[chosen_on], y[evaluated], s[evaluated], list(labels))
        parts.append(table.assign(evaluated_half="B" if chosen_on is half else "A"))
    return pd.concat(parts, ignore_index=True)


def mean_sd_summary(per_label: pd.DataFrame, columns: Sequence[str], scale: float = 100.0) -> pd.DataFrame:
    """Document 001's layout: each metric as mean ± sd over labels (in percent by default)."""
    rows = []
    for column in columns:
        values = per_label[column].astype(float) * scale
        rows.append({"metric": column, "mean": values.mean(), "sd": values.std(ddof=1),
                     "mean ± sd": f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"})
    return pd.DataFrame(rows)


def roc_curves(y: np.ndarray, s: np.ndarray, labels: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label -> (false positive rate, true positive rate) for plotting."""
    curves = {}
    for j, label in enumerate(labels):
        curve = metrics.roc_curve(y[:, j], s[:, j])
        curves[label] = (curve.fpr, curve.tpr)
    return curves
