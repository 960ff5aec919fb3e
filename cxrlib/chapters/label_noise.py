"""NIH ChestX-ray14's text-mined labels measured against an expert re-read (Majkowska et al. 2020).

Document 000 (Elwirehardja et al. 2025, section 4.5 and Conclusion) blames its modest results on label
noise in NIH ChestX-ray14, "especially in the 'No Finding' class", quoting "approximately 35%" of
labels that "did not match" (its reference [20], Jang et al. 2020). This module measures the noise
with real data only.

Data
----
* Expert labels: :mod:`cxrlib.data.nih_relabels` (Majkowska et al., Radiology 2020;294:421-431): 4,376
  NIH images re-read by radiologists for four findings, one adjudicated label per image and finding.
  ``Set Id`` is ``test`` or ``val``; the notebook checks them against the official NIH lists
  (:func:`representativeness`): the ``test`` part lies in the official test list and the ``val`` part in
  ``train_val``, so both the data a model of document 000 or 001 trains on and the data it is tested on
  are represented.
* NIH labels and demographics: :func:`cxrlib.data.nih.load_metadata` (the v2020 file by default), beside the
  expert labels by :func:`cxrlib.data.nih_relabels.join_metadata`.
* Predictions: ``preds.csv`` of a DenseNet-121 CheXNet reproduction (data root,
  ``nih-cxr14/chexnet-densenet121-preds``) for the CheXNet random test list, which overlaps the re-read
  images in part (:func:`auroc_two_truths`).

Mapping NIH findings to the four expert findings
------------------------------------------------
:data:`DEFAULT_FINDING_MAP` (data, a notebook parameter): pneumothorax <- Pneumothorax; nodule or mass
<- Nodule or Mass; airspace opacity <- Consolidation, Infiltration, Pneumonia or Edema; fracture <-
nothing, because NIH has no fracture label (its agreement is undefined and reported as such).
Airspace opacity is an opacity that fills the lung's air spaces. Consolidation is that sign by
definition, Pneumonia and (alveolar) Edema are conditions whose radiographic sign it is, and NIH's
Infiltration is its umbrella term for ill-defined parenchymal opacity. Atelectasis is volume loss;
it shows as an opacity only when extensive, so it is left out by default and tried as an alternative
(:data:`AIRSPACE_OPACITY_ALTERNATIVES`, :func:`mapping_alternatives`). This mapping is our reading of
the finding names, not a transcription of Majkowska et al.'s definitions.

Statistics
----------
Every interval is a percentile bootstrap that resamples **patients** (a patient's images move
together), from :mod:`cxrlib.stats`: :func:`~cxrlib.stats.bootstrap_agreement` (kappa, PPV, NPV,
sensitivity, specificity of the NIH label with the expert label as reference),
:func:`~cxrlib.stats.bootstrap_ci` (shares), :func:`~cxrlib.stats.paired_bootstrap_auroc` (one model,
two reference standards, same redraws). The same ``seed`` gives the same redraws.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib import stats
from cxrlib.data import nih
from cxrlib.data.nih_relabels import EXPERT_FINDINGS, expert_column
from cxrlib.data.root import require_file
from cxrlib.stats import evaluate, simulate
from cxrlib.stats.metrics import agreement_rates


# ------------------------------------------------------------------------------------- registries

#: NIH finding(s) whose union is compared with each expert finding (empty: NIH has no such label).
DEFAULT_FINDING_MAP: dict[str, tuple[str, ...]] = {
    "Pneumothorax": ("Pneumothorax",),
    "Nodule or mass": ("Nodule", "Mass"),
    "Airspace opacity": ("Consolidation", "Infiltration", "Pneumonia", "Edema"),
    "Fracture": (),
}

#: Candidate NIH label sets for airspace opacity, shown side by side (the default among them).
AIRSPACE_OPACITY_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "Consolidation": ("Consolidation",),
    "Consolidation, Pneumonia": ("Consolidation", "Pneumonia"),
    "Consolidation, Pneumonia, Infiltration": ("Consolidation", "Pneumonia", "Infiltration"),
    "Consolidation, Pneumonia, Infiltration, Edema": ("Consolidation", "Infiltration", "Pneumonia", "Edema"),
    "... + Atelectasis": ("Consolidation", "Infiltration", "Pneumonia", "Edema", "Atelectasis"),
}

#: Findings whose AUROC is measured against both reference standards (notebook default).
AUROC_FINDINGS: tuple[str, ...] = ("Pneumothorax", "Nodule or mass")

#: Agreement metrics of the NIH label with the expert label as reference (cxrlib.stats.metrics names).
AGREEMENT_METRICS: tuple[str, ...] = ("kappa", "ppv", "npv", "sensitivity", "specificity")

#: Set Id of the relabel file -> where its images lie in the official NIH split (checked, not assumed:
#: :func:`representativeness` counts the images of each part that are in the official test list).
SET_PARTS: dict[str, str] = {"test": "official test list", "val": "official train_val list"}


def nih_column(finding: str) -> str:
    """Column of the NIH label mapped onto expert ``finding``."""
    return f"nih: {finding}"


def score_column(nih_finding: str) -> str:
    """Column of the model's probability of NIH finding ``nih_finding``."""
    return f"score: {nih_finding}"


# ---------------------------------------------------------------------------------------- loading


def load_predictions(path: PathLike | None = None, root: PathLike | None = None) -> pd.DataFrame:
    """Predicted probabilities per image: ``image_id`` and ``score: <NIH finding>`` for the 14 findings.

    ``path`` defaults to ``nih-cxr14/chexnet-densenet121-preds/preds.csv`` under the data root (a
    missing file raises :class:`~cxrlib.data.root.DataNotFoundError` saying where to get it); any CSV
    with ``Image Index`` and ``prob_<finding>`` columns (NIH spellings) works.
    """
    source = require_file("chexnet-predictions", "preds.csv", root) if path is None else Path(path)
    raw = evaluate.read_predictions(source)
    expected = [f"{evaluate.PROB_PREFIX}{name}" for name in nih.CHEXNET_ORDER]
    missing = [c for c in expected if c not in raw.columns]
    if missing:
        raise ValueError(f"predictions file {source} lacks the column(s) {missing}")
    if raw[expected].isna().any().any():
        raise ValueError(f"predictions file {source} has empty probabilities")
    table = pd.DataFrame({"image_id": raw["image_id"]})
    for name in nih.CHEXNET_ORDER:
        table[score_column(name)] = raw[f"{evaluate.PROB_PREFIX}{name}"].astype(float)
    table.attrs["source"] = str(source)
    return table


# ---------------------------------------------------------------------------------------- mapping


def normalise_finding_map(finding_map: Mapping[str, Sequence[str] | str] | None = None) -> dict[str, tuple[str, ...]]:
    """Every expert finding -> a tuple of NIH findings (empty when unmapped); ``None`` -> the default.

    A string value is one NIH finding. Unknown expert findings or NIH names raise ``ValueError``.
    """
    finding_map = DEFAULT_FINDING_MAP if finding_map is None else finding_map
    unknown = [k for k in finding_map if k not in EXPERT_FINDINGS]
    if unknown:
        raise ValueError(f"finding_map: unknown expert finding(s) {unknown}; known: {list(EXPERT_FINDINGS)}")
    out: dict[str, tuple[str, ...]] = {}
    for finding in EXPERT_FINDINGS:
        value = finding_map.get(finding) or ()
        names = (value,) if isinstance(value, str) else tuple(value)
        wrong = [n for n in names if n not in nih.CHEXNET_ORDER]
        if wrong:
            raise ValueError(f"finding_map[{finding!r}]: {wrong} are not NIH findings; known: {list(nih.CHEXNET_ORDER)}")
        out[finding] = names
    return out


def describe_finding_map(finding_map: Mapping[str, Sequence[str] | str] | None = None) -> str:
    """One line for captions: ``Pneumothorax ← Pneumothorax; Nodule or mass ← Nodule or Mass; ...``
    (expert finding ← the NIH findings whose union stands for it)."""
    mapping = normalise_finding_map(finding_map)
    parts = []
    for finding, names in mapping.items():
        source = " or ".join(nih.DISPLAY_NAMES[n] for n in names) if names else "none (NIH has no such label)"
        parts.append(f"{finding} ← {source}")
    return "; ".join(parts)


def _nih_label(joined: pd.DataFrame, names: tuple[str, ...]) -> pd.Series:
    return joined[list(names)].max(axis=1).astype("int8")


def mapped_nih_labels(joined: pd.DataFrame, finding_map=None) -> pd.DataFrame:
    """0/1 columns ``nih: <finding>`` (any of the mapped NIH findings) for every mapped expert finding."""
    mapping = normalise_finding_map(finding_map)
    return pd.DataFrame({nih_column(f): _nih_label(joined, names) for f, names in mapping.items() if names},
                        index=joined.index)


# -------------------------------------------------------------------------------------- agreement


def contingency_tables(joined: pd.DataFrame, finding_map=None) -> pd.DataFrame:
    """The 2x2 tables, NIH label (rows) by expert label (columns), stacked for all four findings.

    Columns: finding, nih_labels, nih_label ("NIH positive"/"NIH negative", or "no NIH label"),
    expert_positive, expert_negative, images.
    """
    mapping = normalise_finding_map(finding_map)
    rows = []
    for finding, names in mapping.items():
        expert = joined[expert_column(finding)].astype(bool)
        source = ", ".join(names) if names else "none"
        if not names:
            groups = {"no NIH label": np.ones(len(joined), dtype=bool)}
        else:
            label = _nih_label(joined, names).astype(bool).to_numpy()
            groups = {"NIH positive": label, "NIH negative": ~label}
        for name, rows_in in groups.items():
            rows.append({"finding": finding, "nih_labels": source, "nih_label": name,
                         "expert_positive": int((expert & rows_in).sum()),
                         "expert_negative": int((~expert & rows_in).sum()), "images": int(rows_in.sum())})
    return pd.DataFrame(rows)


def _agreement_row(label, expert, groups, metrics, n_boot, seed, alpha) -> dict:
    table = stats.bootstrap_agreement(expert, label, metrics=metrics, n_boot=n_boot, seed=seed, groups=groups,
                                      alpha=alpha).set_index("metric")
    row = {}
    for metric in metrics:
        row[metric] = float(table.loc[metric, "estimate"])
        row[f"{metric}_low"] = float(table.loc[metric, "ci_low"])
        row[f"{metric}_high"] = float(table.loc[metric, "ci_high"])
    return row


def agreement_table(joined: pd.DataFrame, finding_map=None, *, n_boot: int = 1000, seed: int = 0,
                    alpha: float = 0.05, metrics: Sequence[str] = AGREEMENT_METRICS) -> pd.DataFrame:
    """Agreement of the NIH label with the expert label (the reference), per expert finding.

    Columns: finding, nih_labels, images, patients, expert_positive, nih_positive, tp, fp, fn, tn
    (label vs reference), then ``<metric>``, ``<metric>_low``, ``<metric>_high`` for each metric
    (point estimate and percentile CI of the patient bootstrap). ppv = P(expert positive | NIH
    positive), npv = P(expert negative | NIH negative). A finding without NIH label (fracture) keeps
    its counts of expert positives and NaN elsewhere.
    """
    mapping = normalise_finding_map(finding_map)
    patients = joined["patient_id"].to_numpy()
    rows = []
    for finding, names in mapping.items():
        expert = joined[expert_column(finding)].to_numpy()
        row = {"finding": finding, "nih_labels": ", ".join(names) if names else "none (no NIH label)",
               "images": len(joined), "patients": int(joined["patient_id"].nunique()),
               "expert_positive": int(expert.sum())}
        if names:
            label = _nih_label(joined, names).to_numpy()
            row.update(nih_positive=int(label.sum()), tp=int((label & expert).sum()),
                       fp=int((label & (1 - expert)).sum()), fn=int(((1 - label) & expert).sum()),
                       tn=int(((1 - label) & (1 - expert)).sum()))
            row.update(_agreement_row(label, expert, patients, tuple(metrics), n_boot, seed, alpha))
        rows.append(row)
    columns = ["finding", "nih_labels", "images", "patients", "expert_positive", "nih_positive", "tp", "fp", "fn",
               "tn"] + [f"{m}{s}" for m in metrics for s in ("", "_low", "_high")]
    return pd.DataFrame(rows).reindex(columns=columns)


def mapping_alternatives(joined: pd.DataFrame, finding: str = "Airspace opacity",
                         alternatives: Mapping[str, Sequence[str]] = AIRSPACE_OPACITY_ALTERNATIVES, *,
                         default: Sequence[str] | None = None, n_boot: int = 1000, seed: int = 0,
                         alpha: float = 0.05) -> pd.DataFrame:
    """Agreement of ``finding`` under several candidate NIH label sets (same redraws for all).

    Columns: nih_labels, in_use (the set equals ``default``), nih_positive, then kappa, ppv, npv,
    sensitivity, specificity with CIs.
    """
    if finding not in EXPERT_FINDINGS:
        raise ValueError(f"unknown expert finding {finding!r}; known: {list(EXPERT_FINDINGS)}")
    expert = joined[expert_column(finding)].to_numpy()
    patients = joined["patient_id"].to_numpy()
    in_use = set(default) if default is not None else None
    rows = []
    for name, names in alternatives.items():
        names = normalise_finding_map({finding: names})[finding]
        label = _nih_label(joined, names).to_numpy()
        rows.append({"nih_labels": name, "in_use": in_use is not None and set(names) == in_use,
                     "nih_positive": int(label.sum()),
                     **_agreement_row(label, expert, patients, AGREEMENT_METRICS, n_boot, seed, alpha)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ No Finding


def _share_row(indicator: np.ndarray, patients: np.ndarray, n_boot: int, seed: int, alpha: float) -> dict:
    if indicator.size == 0:
        return {"images": 0, "patients": 0, "count": 0, "share": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    result = stats.bootstrap_ci(np.mean, indicator.astype(float), n_boot=n_boot, seed=seed, groups=patients,
                                alpha=alpha)
    return {"images": int(indicator.size), "patients": int(pd.unique(patients).size), "count": int(indicator.sum()),
            "share": float(result.estimate), "ci_low": float(result.ci_low), "ci_high": float(result.ci_high)}


def no_finding_indicators(joined: pd.DataFrame, finding_map=None) -> pd.DataFrame:
    """For the images NIH calls "No Finding": 0/1 columns ``any of the four`` (an expert found at least
    one of the four findings), ``any with an NIH label`` (one of the mapped findings), and one per
    expert finding. Index of ``joined``."""
    mapping = normalise_finding_map(finding_map)
    normal = joined[joined[nih.NO_FINDING.nih] == 1]
    expert = normal[[expert_column(f) for f in EXPERT_FINDINGS]]
    mapped = [expert_column(f) for f, names in mapping.items() if names]
    out = pd.DataFrame({"any of the four": expert.max(axis=1), "any with an NIH label": normal[mapped].max(axis=1)},
                       index=normal.index)
    for finding in EXPERT_FINDINGS:
        out[finding] = normal[expert_column(finding)]
    return out.astype("int8")


def no_finding_table(joined: pd.DataFrame, finding_map=None, *, n_boot: int = 1000, seed: int = 0,
                     alpha: float = 0.05) -> pd.DataFrame:
    """Share of NIH "No Finding" images in which the experts found something, with patient-bootstrap CIs.

    Rows: for all re-read images, the share with at least one of the four expert findings, with at
    least one of the findings NIH has a label for, and with each finding; for each Set Id part, the
    first two. Columns: part, expert_finding, images, patients, count, share, ci_low, ci_high.
    """
    indicators = no_finding_indicators(joined, finding_map)
    normal = joined.loc[indicators.index]
    patients = normal["patient_id"].to_numpy()
    mapping = normalise_finding_map(finding_map)
    with_label = ", ".join(f for f, names in mapping.items() if names)
    describe = {"any of the four": "at least one of the four",
                "any with an NIH label": f"at least one that NIH labels ({with_label})"}
    rows = []
    for column in indicators.columns:
        rows.append({"part": "all re-read images", "expert_finding": describe.get(column, column),
                     **_share_row(indicators[column].to_numpy(), patients, n_boot, seed, alpha)})
    for set_id, where in SET_PARTS.items():
        in_part = (normal["set_id"] == set_id).to_numpy()
        for column in ("any of the four", "any with an NIH label"):
            rows.append({"part": f"Set Id {set_id} ({where})", "expert_finding": describe[column],
                         **_share_row(indicators[column].to_numpy()[in_part], patients[in_part], n_boot, seed, alpha)})
    return pd.DataFrame(rows)


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the integer bins [e0, e1), [e1, e2), ..., [e_last, inf): ``0–29``, ``30–44``, ``≥75``."""
    labels = []
    for low, high in zip(edges[:-1], edges[1:]):
        low, high = int(low), int(high)
        labels.append(str(low) if high - 1 == low else f"{low}–{high - 1}")
    labels.append(f"≥{int(edges[-1])}")
    return labels


def share_by_group(joined: pd.DataFrame, by: str, edges: Sequence[float] | None = None, finding_map=None, *,
                   indicator: str = "any of the four", n_boot: int = 1000, seed: int = 0,
                   alpha: float = 0.05) -> pd.DataFrame:
    """The No-Finding share of :func:`no_finding_table` (``indicator`` column of
    :func:`no_finding_indicators`) per value of ``by`` (e.g. ``view``), or per bin of a numeric
    column (``age``, ``follow_up``) with integer bin ``edges`` (the last bin is open).

    Columns: variable, group, images, patients, count, share, ci_low, ci_high (empty groups dropped).
    """
    indicators = no_finding_indicators(joined, finding_map)
    normal = joined.loc[indicators.index]
    if edges is None:
        groups = normal[by].astype(str)
        order = sorted(groups.unique())
    else:
        edges = [float(e) for e in edges]
        if sorted(edges) != edges or len(set(edges)) != len(edges):
            raise ValueError(f"bin edges must increase strictly, got {edges}")
        order = bin_labels(edges)
        groups = pd.cut(normal[by], [*edges, np.inf], right=False, labels=order).astype(str)
    values = indicators[indicator].to_numpy()
    patients = normal["patient_id"].to_numpy()
    rows = []
    for group in order:
        mask = (groups == group).to_numpy()
        if mask.any():
            rows.append({"variable": by, "group": group, **_share_row(values[mask], patients[mask], n_boot, seed, alpha)})
    return pd.DataFrame(rows)


def label_error_table(joined: pd.DataFrame, claims: pd.DataFrame | None = None, finding_map=None, *,
                      n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """How often the NIH labels are wrong, by four definitions, beside the published claims.

    Our rows (patient-bootstrap CIs): NIH "No Finding" images with at least one of the four expert
    findings; with at least one finding that NIH labels; all images whose NIH label disagrees with
    the expert on at least one mapped finding; (image, mapped finding) pairs that disagree.
    ``claims`` (``quantity``, ``value``, ``quote``, ``where``) rows come first, labelled by their
    ``source`` column. Columns: source, quantity, images, value, ci_low, ci_high, where.
    """
    mapping = normalise_finding_map(finding_map)
    mapped = [f for f, names in mapping.items() if names]
    indicators = no_finding_indicators(joined, mapping)
    normal_patients = joined.loc[indicators.index, "patient_id"].to_numpy()
    patients = joined["patient_id"].to_numpy()
    nih_labels = mapped_nih_labels(joined, mapping).to_numpy()
    expert = joined[[expert_column(f) for f in mapped]].to_numpy()
    disagree = (nih_labels != expert).astype(float)
    measures = [
        ("NIH 'No Finding' images with at least one of the four expert findings",
         indicators["any of the four"].to_numpy().astype(float), normal_patients, np.mean),
        (f"NIH 'No Finding' images with at least one expert finding that NIH labels ({', '.join(mapped)})",
         indicators["any with an NIH label"].to_numpy().astype(float), normal_patients, np.mean),
        (f"images whose NIH label disagrees with the experts on at least one of {', '.join(mapped)}",
         disagree.max(axis=1), patients, np.mean),
        (f"(image, finding) pairs that disagree, over {', '.join(mapped)}", disagree, patients, np.mean),
    ]
    rows = []
    if claims is not None:
        for claim in claims.itertuples(index=False):
            rows.append({"source": claim.source, "quantity": claim.quote, "images": np.nan, "value": float(claim.value),
                         "ci_low": np.nan, "ci_high": np.nan, "where": claim.where})
    where = "expert re-read (Majkowska et al. 2020) vs. NIH v2020 labels"
    for quantity, values, groups, metric in measures:
        result = stats.bootstrap_ci(metric, values, n_boot=n_boot, seed=seed, groups=groups, alpha=alpha)
        rows.append({"source": "ours", "quantity": quantity, "images": int(values.shape[0]),
                     "value": float(result.estimate), "ci_low": float(result.ci_low), "ci_high": float(result.ci_high),
                     "where": where})
    table = pd.DataFrame(rows)
    table["images"] = pd.Series([r["images"] for r in rows], dtype=object)  # counts stay integers beside blanks
    return table


# --------------------------------------------------------------------------- the sample's make-up


def representativeness(meta: pd.DataFrame, joined: pd.DataFrame, lists: Mapping[str, Sequence[str]],
                       finding_map=None) -> pd.DataFrame:
    """How the re-read images compare with the rest of their official NIH list.

    ``lists``: :func:`cxrlib.data.nih.official_lists`. Groups: each Set Id part, and the images of the
    official list it lies in that were not re-read. Columns: group, images, patients,
    in_official_test (share of the group's images in the official test list), ap_view, median_age,
    median_follow_up, and the share of NIH-positive images for "No Finding" and each mapped finding.
    """
    mapping = normalise_finding_map(finding_map)
    test = set(lists["test"])
    meta = meta.assign(official=np.where(meta["image_id"].isin(test), "test", "train_val"))
    set_of = joined.set_index("image_id")["set_id"]
    meta["set_id"] = meta["image_id"].map(set_of)
    groups = {}
    for set_id in sorted(joined["set_id"].unique(), reverse=True):
        part = meta[meta["set_id"] == set_id]
        groups[f"re-read, Set Id {set_id}"] = part
        lies_in = part["official"].mode().iat[0] if len(part) else "test"
        groups[f"not re-read, rest of official {lies_in}"] = meta[(meta["official"] == lies_in) & meta["set_id"].isna()]
    rows = []
    for name, part in groups.items():
        row = {"group": name, "images": len(part), "patients": int(part["patient_id"].nunique()),
               "in_official_test": float((part["official"] == "test").mean()),
               "ap_view": float((part["view"] == "AP").mean()), "median_age": float(part["age"].median()),
               "median_follow_up": float(part["follow_up"].median()),
               "nih_no_finding": float(part[nih.NO_FINDING.nih].mean())}
        for finding, names in mapping.items():
            if names:
                row[f"nih_{finding}"] = float(_nih_label(part, names).mean())
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- AUROC, two truths


def auroc_two_truths(joined: pd.DataFrame, predictions: pd.DataFrame, finding_map=None,
                     findings: Sequence[str] = AUROC_FINDINGS, *, n_boot: int = 1000, seed: int = 0,
                     alpha: float = 0.05) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The AUROC of the same predictions against the expert labels and against the NIH labels.

    Restricted to the re-read images that have predictions. The score of an expert finding is the
    highest predicted probability among its mapped NIH findings (one for pneumothorax, the larger of
    Nodule and Mass for nodule or mass). :func:`cxrlib.stats.paired_bootstrap_auroc` resamples
    patients, the same redraws for both reference standards; difference = AUROC(expert) -
    AUROC(NIH), with its percentile CI and bootstrap p-value.

    ``auroc_nih_if_random`` is the AUROC against the NIH labels expected if NIH's errors on this
    subset (its miss rate 1 - sensitivity and false-positive rate 1 - specificity, expert as
    reference) were independent of the model's score (:func:`cxrlib.stats.simulate.expected_auroc_under_flips`).

    Returns ``(table, subset)``: one row per finding, and the joined rows with their scores.
    """
    mapping = normalise_finding_map(finding_map)
    unmapped = [f for f in findings if f not in mapping or not mapping[f]]
    if unmapped:
        raise ValueError(f"no NIH label is mapped to {unmapped}: their AUROC against NIH labels is undefined")
    subset = joined.merge(predictions, on="image_id", how="inner")
    if subset.empty:
        raise ValueError("no re-read image has a prediction: check the predictions file")
    y_expert = subset[[expert_column(f) for f in findings]].to_numpy()
    y_nih = np.column_stack([_nih_label(subset, mapping[f]).to_numpy() for f in findings])
    scores = np.column_stack([subset[[score_column(n) for n in mapping[f]]].max(axis=1).to_numpy() for f in findings])
    result = stats.paired_bootstrap_auroc(y_expert, scores, y_true_b=y_nih, labels=list(findings), n_boot=n_boot,
                                          seed=seed, groups=subset["patient_id"].to_numpy(), alpha=alpha, averages=())
    table = result.table.set_index("label")
    low_a, high_a = stats.percentile_ci(result.replicates_a[list(findings)].to_numpy(), alpha)
    low_b, high_b = stats.percentile_ci(result.replicates_b[list(findings)].to_numpy(), alpha)
    rows = []
    for j, finding in enumerate(findings):
        nih_vs_expert = agreement_rates(y_expert[:, j], y_nih[:, j])
        auc_expert = float(table.loc[finding, "auc_a"])
        rows.append({
            "finding": finding,
            "score": "max(" + ", ".join(f"P({nih.DISPLAY_NAMES[n]})" for n in mapping[finding]) + ")",
            "images": len(subset), "patients": int(subset["patient_id"].nunique()),
            "expert_positive": int(y_expert[:, j].sum()), "nih_positive": int(y_nih[:, j].sum()),
            "auroc_expert": auc_expert, "auroc_expert_low": float(low_a[j]), "auroc_expert_high": float(high_a[j]),
            "auroc_nih": float(table.loc[finding, "auc_b"]), "auroc_nih_low": float(low_b[j]),
            "auroc_nih_high": float(high_b[j]),
            "difference": float(table.loc[finding, "difference"]), "ci_low": float(table.loc[finding, "ci_low"]),
            "ci_high": float(table.loc[finding, "ci_high"]), "p_value": float(table.loc[finding, "p_value"]),
            "auroc_nih_if_random": simulate.expected_auroc_under_flips(
                auc_expert, float(y_expert[:, j].mean()), 1.0 - nih_vs_expert.sensitivity,
                1.0 - nih_vs_expert.specificity),
        })
    return pd.DataFrame(rows), subset


def _and(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _p_text(p: float, n_boot: int | None) -> str:
    if n_boot and p < 1 / n_boot:
        return f"p < {1 / n_boot:.2g} (the resolution of {n_boot} redraws)"
    return f"p = {p:.2g}"


def reading_of_shift(aurocs: pd.DataFrame, n_boot: int | None = None, alpha: float = 0.05) -> tuple[pd.DataFrame, str]:
    """What the table of :func:`auroc_two_truths` supports, in words generated from its numbers.

    Per finding: the difference (expert - NIH) with its paired CI and p-value, and ``reading``: whether
    the CI excludes 0 (then the direction is stated) or not (then: no detectable shift on these
    patients), and where ``auroc_nih_if_random`` lies relative to the CI of the AUROC against NIH
    labels. Returns ``(table, summary)``; ``summary`` is one paragraph for the notebook and the chapter
    that counts the findings whose interval excludes 0 and names the two explanations for an AUROC
    against NIH labels above the random-error value (a model trained on NIH labels reproduces their
    errors; errors that cluster on hard images cost less AUROC than random ones). The CI decides the
    wording; nothing here is typed from a result.
    """
    level = f"{1 - alpha:.0%}"
    rows, excluding, above_random = [], [], []
    for r in aurocs.itertuples():
        ci = f"{r.difference:+.3f} ({level} CI {r.ci_low:+.3f} to {r.ci_high:+.3f}, paired patient bootstrap, {_p_text(r.p_value, n_boot)})"
        if r.ci_low > 0 or r.ci_high < 0:
            excluding.append(r.finding)
            side = "higher" if r.ci_low > 0 else "lower"
            reading = f"AUROC against the expert labels {side} than against the NIH labels: {ci}; the interval excludes 0"
        else:
            reading = (f"difference expert − NIH {ci}; the interval includes 0: no shift is detectable on these "
                       f"{getattr(r, 'patients', 'few')} patients")
        random_value = getattr(r, "auroc_nih_if_random", float("nan"))
        if np.isfinite(random_value):
            where = ("below" if random_value < r.auroc_nih_low else "above" if random_value > r.auroc_nih_high
                     else "inside")
            if where == "below":
                above_random.append(r.finding)
            reading += (f". The AUROC expected against NIH labels if NIH's errors were random, {random_value:.3f}, lies "
                        f"{where} the {level} CI of the measured one ({r.auroc_nih:.3f}, {r.auroc_nih_low:.3f} to "
                        f"{r.auroc_nih_high:.3f})")
        rows.append({"finding": r.finding, "difference": r.difference, "ci_low": r.ci_low, "ci_high": r.ci_high,
                     "p_value": r.p_value, "ci_excludes_0": r.finding in excluding, "reading": reading})
    n = len(rows)
    if not excluding:
        head = (f"{'Neither' if n == 2 else 'None'} of the {n} paired {level} intervals of the difference excludes 0: "
                "scoring the same predictions against expert instead of NIH labels moves the AUROC by no detectable "
                "amount at this sample size, in either direction")
    else:
        head = (f"The paired {level} interval of the difference excludes 0 for {len(excluding)} of {n} findings "
                f"({_and(excluding)}); for the others no shift is detectable at this sample size")
    tail = ""
    if above_random:
        tail = (f". For {_and(above_random)} the value that random label errors of NIH's measured size would leave "
                "lies below the interval of the AUROC measured against NIH labels. Two explanations fit, and these "
                "data do not separate them: the model was trained on NIH labels and reproduces their errors, and "
                "NIH's errors cluster on hard, ambiguous images, where they cost less AUROC than errors spread at "
                "random")
    return pd.DataFrame(rows), head + tail + "."


# ------------------------------------------------------------------------------------ key numbers


def _fmt_ci(value: float, low: float, high: float, percent: bool = False) -> str:
    if percent:
        return f"{100 * value:.1f}% (95% CI {100 * low:.1f}–{100 * high:.1f}%)"
    return f"{value:.3f} (95% CI {low:.3f} to {high:.3f})"


def key_numbers(agreement: pd.DataFrame, label_errors: pd.DataFrame, aurocs: pd.DataFrame,
                simulation: pd.DataFrame, claim: Mapping | None = None,
                d001_table4: pd.DataFrame | None = None) -> pd.DataFrame:
    """The chapter's answers in one table of text: question, ours, published.

    ``agreement`` from :func:`agreement_table`, ``label_errors`` from :func:`label_error_table` (its
    "ours" rows are used), ``aurocs`` from :func:`auroc_two_truths`, ``simulation`` from
    :func:`cxrlib.stats.simulate.summarise_curve`; ``claim``: the published claim shown beside the first row
    (``source``, ``value``, ``quote``); ``d001_table4``: document 001's Table 4
    (``cxrlib.published.load("d001_table4")``: ``metric``, ``pretraining``, ``dataset``, ``mean_pct``),
    whose ChestX-ray14 AUC difference between the two initialisations is computed here.
    """
    rows = []
    ours = label_errors[label_errors["source"] == "ours"].reset_index(drop=True)
    claim_text = f"{claim['source']}: {float(claim['value']):.0%} (\"{claim['quote']}\")" if claim is not None else ""
    for row in ours.itertuples():
        rows.append({"question": f"Share of {row.quantity}", "ours": _fmt_ci(row.value, row.ci_low, row.ci_high, True),
                     "published": ""})
    if claim is not None:  # a different quantity (all labels, not our rows): its own row, never beside ours
        rows.append({"question": f"{str(claim['source']).capitalize()}: share of all NIH labels that did not match the images",
                     "ours": "not measured here (a different quantity)", "published": claim_text})
    for row in agreement.dropna(subset=["kappa"]).itertuples():
        rows.append({"question": f"Cohen's kappa, NIH ({row.nih_labels}) vs. experts: {row.finding}",
                     "ours": _fmt_ci(row.kappa, row.kappa_low, row.kappa_high), "published": ""})
    for row in aurocs.itertuples():
        rows.append({"question": f"{row.finding}: AUROC of the DenseNet-121 against experts / against NIH labels",
                     "ours": f"{row.auroc_expert:.3f} / {row.auroc_nih:.3f} ({row.images} images)", "published": ""})
        rows.append({"question": f"{row.finding}: AUROC(experts) − AUROC(NIH), paired patient bootstrap",
                     "ours": _fmt_ci(row.difference, row.ci_low, row.ci_high), "published": ""})
        rows.append({"question": f"{row.finding}: width of the 95% CI of the AUROC against experts",
                     "ours": f"{row.auroc_expert_high - row.auroc_expert_low:.3f}", "published": ""})
    tenth = simulation[np.isclose(simulation["fraction"], 0.1)]
    for row in tenth.itertuples():
        rows.append({"question": f"Simulation, 10% flipped, {row.scenario}: mean AUROC drop",
                     "ours": f"{row.mean_drop:.3f}", "published": ""})
    d001_auc = (None if d001_table4 is None else
                d001_table4[(d001_table4["metric"] == "AUC") & (d001_table4["dataset"] == "ChestX-ray14")])
    if d001_auc is not None and len(d001_auc) >= 2:
        first, second = d001_auc.iloc[0], d001_auc.iloc[1]
        gap = (float(first["mean_pct"]) - float(second["mean_pct"])) / 100
        rows.append({"question": f"Document 001, ChestX-ray14 (NIH labels): mean AUC {first['pretraining']} − "
                                 f"{second['pretraining']}",
                     "ours": "", "published": f"{gap:.4f} (Table 4; reported as significant)"})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------- figures


def plot_share_by_group(tables: Mapping[str, pd.DataFrame], overall: float | None = None,
                        reference: float | None = None, reference_label: str = ""):
    """One panel per variable: share with CI per group, the overall share (grey) and a published
    reference value (red, dashed); the number of images under each point."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(3.6 * len(tables), 3.8), sharey=True, squeeze=False)
    for ax, (title, table) in zip(axes[0], tables.items()):
        x = np.arange(len(table))
        share = table["share"].to_numpy()
        err = np.vstack([share - table["ci_low"].to_numpy(), table["ci_high"].to_numpy() - share])
        ax.errorbar(x, share, yerr=err, fmt="o", color="#1f77b4", capsize=3)
        for xi, n in zip(x, table["images"]):
            ax.annotate(f"n={n}", (xi, 0.02), ha="center", fontsize=7, color="#555555")
        if overall is not None:
            ax.axhline(overall, color="grey", lw=1, label="all No-Finding images")
        if reference is not None:
            ax.axhline(reference, color="#d62728", lw=1, ls="--", label=reference_label)
        ax.set_xticks(x, table["group"], fontsize=8)
        ax.set_xlim(-0.6, len(table) - 0.4)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("share with an expert finding")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_auroc_two_truths(aurocs: pd.DataFrame, ax=None):
    """Per finding: AUROC against experts and against NIH labels with CIs, and the value expected
    against NIH labels if NIH's errors were random (open diamond)."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
    else:
        fig = ax.figure
    x = np.arange(len(aurocs))
    for offset, key, label, color in ((-0.12, "auroc_expert", "against expert labels", "#2ca02c"),
                                      (0.12, "auroc_nih", "against NIH labels", "#ff7f0e")):
        value = aurocs[key].to_numpy()
        err = np.vstack([value - aurocs[f"{key}_low"].to_numpy(), aurocs[f"{key}_high"].to_numpy() - value])
        ax.errorbar(x + offset, value, yerr=err, fmt="o", color=color, capsize=3, label=label)
    ax.plot(x + 0.12, aurocs["auroc_nih_if_random"], "D", mfc="none", color="#ff7f0e", ms=7,
            label="against NIH labels if NIH's errors were random")
    ax.set_xticks(x, [f"{f}\n({n} images)" for f, n in zip(aurocs["finding"], aurocs["images"])], fontsize=8)
    ax.set_xlim(-0.6, len(aurocs) - 0.4)
    ax.set_ylabel("AUROC of the same DenseNet-121 predictions")
    ax.set_title("Real data: one model, two reference standards", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="lower center")
    fig.tight_layout()
    return fig


def plot_noise_mechanism(simulation: pd.DataFrame, auc: float, aurocs: pd.DataFrame):
    """The simulation (left) next to the real measurement (right)."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.4), gridspec_kw={"width_ratios": [1.5, 1]})
    simulate.plot_flip_curve(simulation, auc, ax=left,
                             title=f"Simulation: same scores, noisier labels (true AUROC {auc:.2f})")
    plot_auroc_two_truths(aurocs, ax=right)
    low = min(0.5, float(np.nanmin(simulation["auroc_low"])), float(np.nanmin(aurocs[["auroc_nih_low", "auroc_expert_low",
                                                                                     "auroc_nih_if_random"]].to_numpy())))
    for ax in (left, right):
        ax.set_ylim(low - 0.12, 1.0)  # room for the legends under the curves
    left.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
