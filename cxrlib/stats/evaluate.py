"""Evaluate per-image predictions: AUROC with CIs, paired comparisons, operating points.

Predictions file format (CSV, one row per image)
------------------------------------------------
========================  ===========================================================================
column                    meaning
========================  ===========================================================================
``image_id``              image identifier, unique per row (NIH's ``Image Index`` is accepted)
``prob_<finding>``        the model's score for ``<finding>`` (any real number, no empty cells);
                          one column per finding, at least one
``<finding>``             the reference label, 0 or 1 (optional: without them the labels come from
                          the NIH metadata)
``patient_id``            patient identifier (needed with labels in the file: the bootstrap redraws
                          patients; with the NIH join it comes from the metadata)
========================  ===========================================================================

Other columns are ignored. This is the layout of our own run folders' ``predictions_<split>.csv``
(:func:`cxrlib.training.run_folder.predictions_frame`) and, without label columns, of the CheXNet
reproduction's ``preds.csv``. :func:`read_predictions` checks the file and names the file, column and
first rows of any bad cell; :func:`evaluation_set` gets the labels (``labels_from``: ``"file"``,
``"nih-metadata"`` or ``"auto"``, which takes the file's labels when it has any) and computes *what is
evaluated*: the findings, the images and patients, the findings left out and why
(:class:`EvaluationSet`, whose :meth:`~EvaluationSet.describe` is the captions' sentence). A finding
with a single class in the labels has no AUROC: it stays in the AUROC table as "not estimable (n
positives = 0)" and is left out of the averages, the paired tests and the thresholds, and the captions
say so. A file in which no finding has both classes is an error, not a table of NaN.

Protocols:

* AUROC per label with a 95% percentile bootstrap CI over **patients** (cluster bootstrap) and DeLong's
  CI (Sun & Xu 2014), plus the macro average over the estimable findings;
* paired comparison of two score sets on the same images: DeLong's test per label, Benjamini-Hochberg
  FDR over labels (document 001 adjusts its p-values for multiplicity); with patients as clusters
  (Obuchowski's variance) beside it, :func:`paired_delong_clustered`;
* what the image adds to age, sex and view: nested logistic regressions fitted on the same patients,
  cross-fitted over two patient halves, with a paired patient-bootstrap CI (:func:`nested_metadata_models`);
* document 001's table (AUC, accuracy, sensitivity, specificity as mean ± sd over labels) at the Youden
  threshold; here the threshold is chosen on one patient-half of the test images and applied to the
  other half, so the test half never sees its own threshold.

No torch: importable in light environments.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxrlib.core.config import lookup
from cxrlib.core.staging import require_finished_run
from cxrlib.stats import bootstrap, checks, delong_auc, multiplicity
from cxrlib.stats import metrics

PROB_PREFIX = "prob_"
ID_COLUMNS = ("image_id", "Image Index")
LABEL_SOURCES = ("auto", "file", "nih-metadata")
FORMAT_HELP = ("a predictions file needs image_id, one prob_<finding> column per finding and, for labels "
               "from the file, patient_id and a 0/1 <finding> column per finding (see the docstring of "
               "cxrlib.stats.evaluate)")


def _rows(frame: pd.DataFrame, mask: np.ndarray, limit: int = 5) -> str:
    """'CSV lines 5, 9 (image ids a.png, b.png)': the header is line 1, data row i is line i + 2."""
    where = np.flatnonzero(mask)[:limit]
    lines = ", ".join(str(int(i) + 2) for i in where)
    more = ", ..." if mask.sum() > limit else ""
    ids = ""
    if "image_id" in frame.columns:
        ids = f" (image_id {', '.join(str(v) for v in frame['image_id'].iloc[where])}{more})"
    return f"line{'s' if len(where) > 1 else ''} {lines}{more}{ids}"


def _check_scores(frame: pd.DataFrame, column: str, path) -> None:
    values = pd.to_numeric(frame[column], errors="coerce")
    not_numbers = values.isna() & frame[column].notna()
    if not_numbers.any():
        raise ValueError(f"{path}: column '{column}' has {int(not_numbers.sum())} value(s) that are not numbers, "
                         f"at {_rows(frame, not_numbers.to_numpy())}; scores must be numbers")
    empty = values.isna().to_numpy()
    if empty.any():
        raise ValueError(f"{path}: column '{column}' has {int(empty.sum())} empty/NaN score(s) of {len(frame)}, at "
                         f"{_rows(frame, empty)}; every image needs a score (re-run the prediction or drop those rows)")
    frame[column] = values.astype(float)


def _check_label_column(frame: pd.DataFrame, column: str, path) -> None:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = (values.isna() | ~values.isin([0, 1])).to_numpy()
    if bad.any():
        shown = sorted({str(v) for v in frame.loc[bad, column].head(5)})
        raise ValueError(f"{path}: label column '{column}' must hold 0 or 1, but {int(bad.sum())} row(s) hold "
                         f"{shown} (empty = nan), at {_rows(frame, bad)}")
    frame[column] = values.astype(int)


def read_predictions(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check a predictions CSV (format in the module docstring).

    ``attrs``: ``labels`` (findings with a ``prob_`` column, file order), ``file_labels`` (those that also
    have a ``<finding>`` label column), ``source``. Bad input raises one ``ValueError`` naming the file,
    the column and the first bad rows (CSV line numbers and image ids). A file written by a cxrlib run is
    read only when that run finished (:func:`cxrlib.core.staging.require_finished_run`).
    """
    require_finished_run(path)
    return check_predictions(pd.read_csv(path), source=path)


def check_predictions(frame: pd.DataFrame, source: str | os.PathLike = "predictions") -> pd.DataFrame:
    """The checks and ``attrs`` of :func:`read_predictions` for a predictions table already in memory (e.g.
    ``RunResult.predictions["test"]`` of a run whose folder is still being written); ``source`` names it in
    errors. Returns a checked copy."""
    path = source
    frame = frame.copy()
    id_column = next((c for c in ID_COLUMNS if c in frame.columns), None)
    if id_column is None:
        raise ValueError(f"{path}: no image id column (expected one of {ID_COLUMNS}; columns: {list(frame.columns)[:8]}); "
                         + FORMAT_HELP)
    frame = frame.rename(columns={id_column: "image_id"})
    labels = [c[len(PROB_PREFIX):] for c in frame.columns if c.startswith(PROB_PREFIX)]
    if not labels:
        raise ValueError(f"{path}: no probability columns named '{PROB_PREFIX}<label>' (columns: {list(frame.columns)[:8]}); "
                         + FORMAT_HELP)
    if not len(frame):
        raise ValueError(f"{path}: no rows, nothing to evaluate")
    missing_id = frame["image_id"].isna().to_numpy()
    if missing_id.any():
        raise ValueError(f"{path}: column 'image_id' is empty at {_rows(frame, missing_id)}")
    repeated = frame["image_id"].duplicated(keep=False).to_numpy()
    if repeated.any():
        raise ValueError(f"{path}: repeated image ids (one row per image expected), at {_rows(frame, repeated)}")
    for label in labels:
        _check_scores(frame, f"{PROB_PREFIX}{label}", path)
    file_labels = [label for label in labels if label in frame.columns]
    for label in file_labels:
        _check_label_column(frame, label, path)
    if "patient_id" in frame.columns:
        missing_patient = frame["patient_id"].isna().to_numpy()
        if missing_patient.any():
            raise ValueError(f"{path}: column 'patient_id' is empty at {_rows(frame, missing_patient)}")
    frame.attrs["labels"] = labels
    frame.attrs["file_labels"] = file_labels
    frame.attrs["source"] = str(path)
    return frame


def attach_labels(predictions: pd.DataFrame, meta: pd.DataFrame, labels: Sequence[str] | None = None) -> pd.DataFrame:
    """Join predictions with a metadata table holding ``image_id``, ``patient_id`` and one 0/1 column per label.

    Every predicted image must be in ``meta`` (``ValueError`` otherwise). Label columns already in the
    predictions file win over the metadata's.
    """
    labels = list(labels or predictions.attrs["labels"])
    source = predictions.attrs.get("source", "the predictions")
    from_meta = [c for c in ["patient_id", "age", "sex", "view", *labels] if c in meta.columns and c not in predictions.columns]
    joined = predictions.merge(meta[["image_id", *from_meta]], on="image_id", how="left", indicator=True)
    orphans = joined.loc[joined["_merge"] == "left_only", "image_id"]
    if len(orphans):
        raise ValueError(f"{source}: {len(orphans)} of {len(joined)} predicted images are not in the metadata "
                         f"(e.g. {list(orphans[:3])}); a predictions file of another data set needs its own "
                         f"labels: patient_id and 0/1 <finding> columns, read with labels_from='file' "
                         f"(notebook 04: -p labels_from file -p baseline none)")
    missing = [label for label in labels if label not in joined.columns]
    if missing:
        raise ValueError(f"{source}: no label column for {missing} in the predictions or the metadata")
    joined = joined.drop(columns="_merge")
    joined.attrs = {**predictions.attrs, "labels": labels}
    return joined


def label_counts(frame: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """label, n_positive, n_negative, estimable (both classes present), note ('' or 'not estimable (...)')."""
    rows = []
    for label in labels:
        y = frame[label].to_numpy(dtype=int)
        pos, neg = int(y.sum()), int(y.size - y.sum())
        note = "" if pos and neg else f"not estimable (n {'positives' if not pos else 'negatives'} = 0)"
        rows.append({"label": label, "n_positive": pos, "n_negative": neg, "estimable": bool(pos and neg),
                     "note": note})
    return pd.DataFrame(rows, columns=["label", "n_positive", "n_negative", "estimable", "note"])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class EvaluationSet:
    """What is evaluated: the joined frame and the findings, with every finding left out and why.

    ``findings``: findings with scores and labels (file order); ``labels``: those that are estimable
    (both classes present), on which AUROCs, averages, tests and thresholds are computed;
    ``not_estimable``/``left_out``: finding -> reason (``left_out``: expected findings without a score
    column); ``label_source``: where the labels come from.
    """

    frame: pd.DataFrame
    findings: list[str]
    labels: list[str]
    not_estimable: dict[str, str]
    left_out: dict[str, str] = field(default_factory=dict)
    label_source: str = ""
    source: str = ""

    @property
    def n_images(self) -> int:
        return len(self.frame)

    @property
    def n_patients(self) -> int:
        return int(self.frame["patient_id"].nunique())

    def describe(self) -> str:
        """One sentence for captions: which findings, how many images, what was left out and why."""
        n_expected = len(self.findings) + len(self.left_out)
        text = (f"{_plural(len(self.labels), 'finding')} evaluated"
                + (f" of {n_expected}" if n_expected != len(self.labels) else "")
                + f" ({', '.join(self.labels)}) on {self.n_images:,} images of {self.n_patients:,} patients"
                + (f", labels from {self.label_source}" if self.label_source else ""))
        skipped = [f"{name}: {reason}" for name, reason in {**self.not_estimable, **self.left_out}.items()]
        if skipped:
            text += "; left out: " + "; ".join(skipped)
        return text


def evaluation_set(predictions: pd.DataFrame, meta: pd.DataFrame | None = None, labels_from: str = "auto",
            meta_labels: Sequence[str] | None = None, meta_name: str = "the NIH metadata") -> EvaluationSet:
    """Labels for a :func:`read_predictions` frame and the set of findings to evaluate.

    ``labels_from``: ``"file"`` (the file's ``<finding>`` and ``patient_id`` columns; missing ones are an
    error), ``"nih-metadata"`` (join ``meta`` by image id) or ``"auto"`` (the file's labels when it has
    any label column, else ``meta``). ``meta_labels``: the findings ``meta`` labels (e.g. NIH's 14); with labels
    from ``meta``, those without a ``prob_`` column are reported in ``left_out``. Raises ``ValueError`` when no finding has both
    classes.
    """
    lookup(LABEL_SOURCES, labels_from, what="label source (labels_from)")
    source = predictions.attrs.get("source", "predictions")
    labels = list(predictions.attrs["labels"])
    file_labels = list(predictions.attrs.get("file_labels", [l for l in labels if l in predictions.columns]))
    use_file = labels_from == "file" or (labels_from == "auto" and bool(file_labels))
    if use_file:
        missing = [label for label in labels if label not in file_labels]
        if "patient_id" not in predictions.columns:
            missing = ["patient_id", *missing]
        if missing:
            raise ValueError(f"{source}: labels are read from the file, but it lacks the column(s) {missing}; "
                             + FORMAT_HELP + "; or take the labels from the NIH metadata (labels_from='nih-metadata')")
        frame = predictions.copy()
        frame.attrs = dict(predictions.attrs)
        label_source = "the predictions file"
    else:
        if meta is None:
            raise ValueError(f"{source}: the file has no label columns and no metadata was given; " + FORMAT_HELP)
        frame = attach_labels(predictions, meta, labels)
        label_source = meta_name
    expected = [] if use_file else list(meta_labels or [])
    left_out = {name: f"no {PROB_PREFIX}{name} column in the file" for name in expected if name not in labels}
    counts = label_counts(frame, labels)
    not_estimable = dict(zip(counts.loc[~counts["estimable"], "label"], counts.loc[~counts["estimable"], "note"]))
    estimable = counts.loc[counts["estimable"], "label"].tolist()
    if not estimable:
        detail = ", ".join(f"{r.label}: {r.n_positive} positive / {r.n_negative} negative" for r in counts.itertuples())
        raise ValueError(f"{source}: no finding has both positive and negative images (labels from {label_source}: "
                         f"{detail}); an AUROC needs both, so there is nothing to evaluate. Check the label columns "
                         "(are they the reference standard, 0/1?) or the choice of images")
    frame.attrs["labels"] = estimable
    return EvaluationSet(frame, labels, estimable, not_estimable, left_out, label_source, str(source))


def arrays(frame: pd.DataFrame, labels: Sequence[str], prefix: str = PROB_PREFIX) -> tuple[np.ndarray, np.ndarray]:
    """(N x L labels as int, N x L scores as float) from a joined frame."""
    y = frame[list(labels)].to_numpy(dtype=int)
    s = frame[[f"{prefix}{label}" for label in labels]].to_numpy(dtype=float)
    return y, s


def auroc_ci_table(frame: pd.DataFrame, labels: Sequence[str], n_boot: int = 1000, seed: int = 0,
                   alpha: float = 0.05, group_col: str | None = "patient_id") -> pd.DataFrame:
    """Per label and macro average: AUROC, bootstrap percentile CI (over ``group_col``), DeLong CI, counts.

    A label with a single class keeps its row, with NaN numbers and ``note`` "not estimable (n positives =
    0)", and is left out of the macro average, whose ``note`` says over how many labels it averages.
    """
    labels = list(labels)
    n_boot = checks.check_boot_args(n_boot, alpha)
    counts = label_counts(frame, labels).set_index("label")
    ok = [label for label in labels if counts.loc[label, "estimable"]]
    columns = ["label", "kind", "auc", "boot_ci_low", "boot_ci_high", "delong_ci_low", "delong_ci_high",
               "boot_mean", "boot_sd", "n_positive", "n_negative", "note"]
    if not ok:
        notes = ", ".join(f"{label}: {counts.loc[label, 'note']}" for label in labels)
        raise ValueError(f"no label has both classes ({notes}): no AUROC can be estimated")
    y, s = arrays(frame, ok)
    groups = frame[group_col].to_numpy() if group_col else None
    boot = bootstrap.bootstrap_auroc(y, s, ok, n_boot=n_boot, seed=seed, groups=groups, alpha=alpha,
                                     averages=("macro",)).table
    boot = boot.rename(columns={"ci_low": "boot_ci_low", "ci_high": "boot_ci_high"}).set_index("label")
    rows = []
    for label in labels:
        row = {"label": label, "kind": "label", "n_positive": int(counts.loc[label, "n_positive"]),
               "n_negative": int(counts.loc[label, "n_negative"]), "note": counts.loc[label, "note"]}
        if label in ok:
            j = ok.index(label)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", metrics.UndefinedMetricWarning)  # one positive: noted below
                result = delong_auc.delong(y[:, j], s[:, j], alpha=alpha)
            row.update({c: boot.loc[label, c] for c in ("auc", "boot_ci_low", "boot_ci_high", "boot_mean", "boot_sd")})
            row.update(delong_ci_low=result.ci[0], delong_ci_high=result.ci[1])
            if np.isnan(result.variance):
                row["note"] = "DeLong CI undefined (fewer than 2 positives or negatives)"
        rows.append(row)
    macro = boot.loc["macro average"]
    skipped = [label for label in labels if label not in ok]
    rows.append({"label": "macro average", "kind": "average",
                 **{c: macro[c] for c in ("auc", "boot_ci_low", "boot_ci_high", "boot_mean", "boot_sd")},
                 "n_positive": int(y.sum()), "n_negative": int(y.size - y.sum()),
                 "note": f"over {len(ok)} of {len(labels)} labels (not estimable: {', '.join(skipped)})" if skipped
                 else f"over {_plural(len(ok), 'label')}"})
    table = pd.DataFrame(rows)
    return table.reindex(columns=columns)


def metadata_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Age (years, and squared, scaled), sex and view position as a numeric design matrix."""
    age = frame["age"].astype(float).clip(0, 100) / 100.0
    design = pd.DataFrame({"age": age, "age2": age**2}, index=frame.index)
    design["male"] = (frame["sex"].astype(str).str.upper().str[0] == "M").astype(float)
    design["view_pa"] = (frame["view"].astype(str).str.upper() == "PA").astype(float)
    return design


def metadata_covariates(frame: pd.DataFrame, meta: pd.DataFrame, labels: Sequence[str] = (),
                        who: str = "the metadata-only baseline") -> pd.DataFrame:
    """``frame`` with ``age``, ``sex`` and ``view`` from ``meta`` (by image id), for :func:`metadata_baseline`.

    Every image must be in ``meta`` and every label a column of ``meta`` (the baseline is fitted on its
    training images); otherwise one ``ValueError`` says which and how to go without the baseline.
    """
    source = frame.attrs.get("source", "the predictions")
    orphans = frame.loc[~frame["image_id"].isin(meta["image_id"]), "image_id"]
    if len(orphans):
        raise ValueError(f"{who} needs age, sex and view from the NIH metadata, but {len(orphans)} of {len(frame)} "
                         f"images of {source} are not in it (e.g. {list(orphans[:3])}); evaluate without it "
                         "(notebook 04: -p baseline none)")
    unknown = [label for label in labels if label not in meta.columns]
    if unknown:
        raise ValueError(f"{who} is fitted on NIH labels, and {unknown} are not NIH findings; evaluate without it "
                         "(notebook 04: -p baseline none)")
    have = [c for c in ("age", "sex", "view") if c in frame.columns]
    out = frame.drop(columns=have).merge(meta[["image_id", "age", "sex", "view"]], on="image_id", how="left")
    out.attrs = dict(frame.attrs)
    return out


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
        result = delong_auc.delong_test(y[:, j], score_a[:, j], score_b[:, j])
        rows.append({"label": label, f"auc_{names[0]}": result.auc_a, f"auc_{names[1]}": result.auc_b,
                     "difference": result.auc_a - result.auc_b, "z": result.z, "p_value": result.p_value})
    table = pd.DataFrame(rows)
    table["p_fdr"] = multiplicity.fdr_bh(table["p_value"].to_numpy())
    return table


def paired_delong_clustered(y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, labels: Sequence[str],
                            groups: Sequence, names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Paired comparison per label with patients as clusters, beside plain DeLong.

    Columns: label, ``auc_<a>``, ``auc_<b>``, difference; DeLong's paired test treating every image as
    independent (``delong_ci_low/high``, ``delong_p``, ``delong_p_fdr``) and the same test with
    Obuchowski's clustered covariance (:func:`cxrlib.stats.clustered_delong_test`: a patient's
    images are one unit; ``clustered_ci_low/high``, ``clustered_p``, ``clustered_p_fdr``), and
    ``se_ratio`` = clustered / plain standard error of the difference (above 1: the plain test is too
    narrow because images of one patient are correlated). Benjamini-Hochberg over the labels, per test.
    """
    groups = np.asarray(groups)
    rows = []
    for j, label in enumerate(labels):
        plain = delong_auc.delong_test(y[:, j], score_a[:, j], score_b[:, j])
        clustered = delong_auc.clustered_delong_test(y[:, j], score_a[:, j], score_b[:, j], groups)
        ratio = float(np.sqrt(clustered.variance / plain.variance)) if plain.variance > 0 else float("nan")
        rows.append({"label": label, f"auc_{names[0]}": plain.auc_a, f"auc_{names[1]}": plain.auc_b,
                     "difference": plain.difference,
                     "delong_ci_low": plain.ci[0], "delong_ci_high": plain.ci[1], "delong_p": plain.p_value,
                     "clustered_ci_low": clustered.ci[0], "clustered_ci_high": clustered.ci[1],
                     "clustered_p": clustered.p_value, "se_ratio": ratio})
    table = pd.DataFrame(rows)
    table["delong_p_fdr"] = multiplicity.fdr_bh(table["delong_p"].to_numpy())
    table["clustered_p_fdr"] = multiplicity.fdr_bh(table["clustered_p"].to_numpy())
    order = ["label", f"auc_{names[0]}", f"auc_{names[1]}", "difference", "delong_ci_low", "delong_ci_high",
             "delong_p", "delong_p_fdr", "clustered_ci_low", "clustered_ci_high", "clustered_p", "clustered_p_fdr",
             "se_ratio"]
    return table[order]


def interval_widths(auc_table: pd.DataFrame) -> pd.DataFrame:
    """Per label of :func:`auroc_ci_table`: half-widths of the patient-bootstrap and the DeLong CI, their
    ratio, and whether DeLong's is the narrower (DeLong counts images as independent; the bootstrap
    redraws patients). Columns: label, boot_half_width, delong_half_width, ratio (DeLong / bootstrap),
    delong_narrower."""
    rows = auc_table[(auc_table["kind"] == "label") & auc_table["delong_ci_low"].notna()].copy()
    boot = (rows["boot_ci_high"] - rows["boot_ci_low"]) / 2
    delong = (rows["delong_ci_high"] - rows["delong_ci_low"]) / 2
    return pd.DataFrame({"label": rows["label"].to_numpy(), "boot_half_width": boot.to_numpy(),
                         "delong_half_width": delong.to_numpy(), "ratio": (delong / boot).to_numpy(),
                         "delong_narrower": (delong < boot).to_numpy()})


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def nested_metadata_models(frame: pd.DataFrame, labels: Sequence[str], n_boot: int = 1000, seed: int = 0,
                           alpha: float = 0.05, group_col: str = "patient_id", C: float = 1.0,
                           score_prefix: str = PROB_PREFIX) -> pd.DataFrame:
    """What the image score adds to age, sex and view: two nested models fitted on the same patients.

    Per label, two logistic regressions: ``metadata`` (age, age², sex, view: :func:`metadata_features`)
    and ``metadata + image`` (the same plus the logit of the image model's score). ``frame`` needs
    ``age``, ``sex``, ``view``, ``group_col``, the labels and ``<score_prefix><label>``. The patients
    are split into two random halves (:func:`patient_halves`); each half is scored by models fitted on
    the other half (two-fold cross-fitting), so no image is scored by a model fitted on it and both
    models always saw the same patients. On the out-of-fold scores: both AUROCs and their difference
    (the discrimination that the image adds beyond the metadata, on this population) with a paired
    patient-bootstrap CI and p-value (:func:`cxrlib.stats.paired_bootstrap_auroc`, redrawing
    patients; Benjamini-Hochberg over labels). The bootstrap holds the fitted models fixed, so the CI
    reflects test-sample variation, not refitting. Columns: label, auc_metadata, auc_metadata_image,
    difference, ci_low, ci_high, p_value, p_fdr, n_positive, n_patients.
    """
    from sklearn.linear_model import LogisticRegression

    labels = list(labels)
    base = metadata_features(frame).to_numpy(dtype=float)
    half = patient_halves(frame[group_col].to_numpy(), seed)
    out_meta = np.full((len(frame), len(labels)), np.nan)
    out_full = np.full((len(frame), len(labels)), np.nan)
    y = frame[labels].to_numpy(dtype=int)
    for j, label in enumerate(labels):
        full = np.column_stack([base, _logit(frame[f"{score_prefix}{label}"].to_numpy())])
        for fit_on in (half, ~half):
            if len(np.unique(y[fit_on, j])) < 2:
                raise ValueError(f"nested_metadata_models: '{label}' has a single class in one patient half "
                                 f"({int(y[fit_on, j].sum())} positives); too few positives to fit on half the patients")
            meta_model = LogisticRegression(C=C, max_iter=1000).fit(base[fit_on], y[fit_on, j])
            full_model = LogisticRegression(C=C, max_iter=1000).fit(full[fit_on], y[fit_on, j])
            out_meta[~fit_on, j] = meta_model.predict_proba(base[~fit_on])[:, 1]
            out_full[~fit_on, j] = full_model.predict_proba(full[~fit_on])[:, 1]
    paired = bootstrap.paired_bootstrap_auroc(y, out_full, out_meta, labels=labels, n_boot=n_boot, seed=seed,
                                              groups=frame[group_col].to_numpy(), alpha=alpha, averages=()).table
    paired = paired[paired["kind"] == "label"]
    table = pd.DataFrame({"label": paired["label"].to_numpy(), "auc_metadata": paired["auc_b"].to_numpy(),
                          "auc_metadata_image": paired["auc_a"].to_numpy(),
                          "difference": paired["difference"].to_numpy(), "ci_low": paired["ci_low"].to_numpy(),
                          "ci_high": paired["ci_high"].to_numpy(), "p_value": paired["p_value"].to_numpy(),
                          "p_fdr": paired["p_value_fdr"].to_numpy()})
    table["n_positive"] = y.sum(axis=0).astype(int)
    table["n_patients"] = int(frame[group_col].nunique())
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
    """Document 001's layout: each metric as mean ± sd over labels (in percent by default); ``n_labels``
    counts the labels with a value (NaN, e.g. an undefined threshold, is left out)."""
    rows = []
    for column in columns:
        values = per_label[column].astype(float) * scale
        rows.append({"metric": column, "mean": values.mean(), "sd": values.std(ddof=1),
                     "mean ± sd": f"{values.mean():.2f} ± {values.std(ddof=1):.2f}",
                     "n_labels": int(values.notna().sum())})
    return pd.DataFrame(rows)


def roc_curves(y: np.ndarray, s: np.ndarray, labels: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label -> (false positive rate, true positive rate) for plotting."""
    curves = {}
    for j, label in enumerate(labels):
        curve = metrics.roc_curve(y[:, j], s[:, j])
        curves[label] = (curve.fpr, curve.tpr)
    return curves
