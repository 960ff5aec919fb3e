"""CheXpert v1.0 metadata: the train and validation label tables, the frontal filter and the
uncertainty policies.

Sources
-------
* Train labels: ``chexpert_train.csv.gz`` (the official ``CheXpert-v1.0-small/train.csv``, 223,414 rows,
  64,540 patients), shipped in the ``torchxrayvision`` wheel and read without importing torch
  (:mod:`cxrlib.data.metadata`); a user's own ``train.csv`` (small or full-resolution release, same
  columns) can be passed as ``path``.
* Validation labels: ``chexpert/valid.csv`` under the data root (234 images of 200 patients, radiologist
  consensus, 202 of them frontal); the ``chexpert-valid`` row of :data:`cxrlib.data.root.SOURCES` says
  where to get it.

Label values (Irvin et al., AAAI 2019): ``1`` positive, ``0`` negative, ``-1`` uncertain, blank (NaN) not
mentioned in the report. "No Finding" is only ever 1 or blank in the train file.

Protocols
---------
* Frontal filter: the ``Frontal/Lateral`` column (it agrees with the ``view?_frontal``/``_lateral`` file
  names on every row of both files). Document 001 (section "Choice of the training chest radiographs")
  and document 004 (sections 3.4.1-3.4.2) both keep frontal images only.
* Uncertainty policies (Irvin et al. 2019, section 4): :data:`UNCERTAINTY_POLICIES`. Document 001
  ("Label unification") maps uncertain to negative (``U-Zeros``); document 004 (section 3.4.2) counts
  uncertain as positive (``U-Ones``). Blank is "not mentioned" and becomes negative in every policy
  (document 004: "the absence of any label as not detected").
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.core.config import lookup
from cxrlib.data import metadata as shipped
from cxrlib.data.root import DataNotFoundError, how_to_get, require, require_file


LABELS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
"""The 14 observations in the column order of the official CSV files."""

COMPETITION_LABELS: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
"""The five competition findings of Irvin et al. 2019 (used by document 003)."""

POSITIVE, NEGATIVE, UNCERTAIN = 1.0, 0.0, -1.0

# Official column -> our column (the 14 label columns keep their official names).
METADATA_COLUMNS: dict[str, str] = {
    "Path": "image_id",
    "Sex": "sex",
    "Age": "age",
    "Frontal/Lateral": "frontal_lateral",
    "AP/PA": "view",
}

PATIENT_PATTERN = r"(patient\d+)"
STUDY_PATTERN = r"(patient\d+/study\d+)"
VIEW_NUMBER_PATTERN = r"/view(\d+)_"


class UncertaintyPolicy(NamedTuple):
    """How uncertain (-1) and blank (NaN) labels become training targets (NaN = masked out of the loss)."""

    name: str
    uncertain: float
    blank: float
    description: str


UNCERTAINTY_POLICIES: dict[str, UncertaintyPolicy] = {
    p.name: p
    for p in (
        UncertaintyPolicy("U-Ignore", np.nan, NEGATIVE, "uncertain labels are masked (NaN), blank is negative"),
        UncertaintyPolicy("U-Zeros", NEGATIVE, NEGATIVE, "uncertain is negative (document 001)"),
        UncertaintyPolicy("U-Ones", POSITIVE, NEGATIVE, "uncertain is positive (document 004)"),
    )
}
"""The uncertainty policies of Irvin et al. 2019, section 4, as data."""


# --------------------------------------------------------------------------------------- loading


def load_train(path: PathLike | None = None) -> pd.DataFrame:
    """The CheXpert train labels as a normalised table, one row per image (see :func:`normalise`).

    ``path`` defaults to the ``chexpert_train.csv.gz`` shipped with torchxrayvision (223,414 rows).
    The table of a file is parsed once per process (keyed by its path, size and modification time; each call
    gets its own copy; :func:`cxrlib.data.metadata.parsed_once`): notebooks 01 and 11 and their
    exercises read it in one kernel of ``cxrlib book --smoke``.
    """
    source = shipped.shipped_path("chexpert_train") if path is None else Path(path)
    return shipped.parsed_once(source, _parse_train)


def _parse_train(source: Path) -> pd.DataFrame:
    return normalise(shipped.read_csv(source), split="train", source=source)


def load_valid(root: PathLike | None = None) -> pd.DataFrame:
    """The CheXpert validation labels (``chexpert/valid.csv`` under the data root, 234 rows).

    Raises :class:`~cxrlib.data.root.DataNotFoundError` with the download instructions when absent.
    """
    source = require_file("chexpert-valid", "valid.csv", root)
    return normalise(pd.read_csv(source), split="valid", source=source)


def image_table(root: PathLike | None = None, frontal_only: bool = False) -> pd.DataFrame:
    """CheXpert images on disk as an unlabeled pool source (documents 002 and 004 pre-train on them).

    Rows: the images of the release's own ``CheXpert-v1.0-small/train.csv`` (``split`` "train"; the copy
    shipped in torchxrayvision may list images a user's copy lacks) and the validation images (``split`` "test": the
    202 frontal validation images are document 004's test set); ``path`` under
    ``<root>/chexpert/``; ``patient_id`` prefixed ``chexpert:``. Needs the images of
    CheXpert-v1.0-small (or the full-size release unpacked with the same layout): raises
    :class:`~cxrlib.data.root.DataNotFoundError` saying where to get them when a listed image is missing.
    """
    folder = require("chexpert", root)
    train = load_train(folder / "CheXpert-v1.0-small" / "train.csv")  # the labels that belong to these images
    valid_csv = folder / "CheXpert-v1.0-small" / "valid.csv"
    valid = normalise(pd.read_csv(valid_csv), split="valid", source=valid_csv) if valid_csv.exists() else train.head(0)
    table = pd.concat([train, valid.assign(split="test")], ignore_index=True)
    if frontal_only:
        table = table[table["frontal"]]
    table = table.assign(path=[str(folder / p) for p in table["image_id"]])
    absent = [p for p in table["path"].iloc[:: max(1, len(table) // 50)] if not Path(p).exists()]
    if absent:
        raise DataNotFoundError(f"CheXpert images are missing (e.g. {absent[0]}).\n{how_to_get('chexpert', root)}")
    out = pd.DataFrame({"image_id": "chexpert:" + table["image_id"], "patient_id": "chexpert:" + table["patient_id"],
                        "path": table["path"], "split": table["split"], "dataset": "chexpert"})
    return out.reset_index(drop=True)


def normalise(raw: pd.DataFrame, split: str, source: PathLike | None = None) -> pd.DataFrame:
    """Normalise an official CheXpert label table.

    Columns: ``image_id`` (the ``Path`` as written in the file), ``patient_id`` (``patientNNNNN`` from the
    path), ``study`` (``patientNNNNN/studyN``), ``view_number`` (N of ``viewN_``), ``frontal`` (bool),
    ``view`` (``AP``/``PA``; also ``LL``/``RL`` on a few frontal rows; NaN on laterals), ``sex``, ``age``,
    ``split`` and the 14 label columns of :data:`LABELS` as floats (NaN, -1, 0, 1).
    ``attrs["source"]`` records the file. Raises ``ValueError`` on missing columns, repeated paths, a
    path without a patient id, or a label value outside {NaN, -1, 0, 1}.
    """
    missing = [c for c in (*METADATA_COLUMNS, *LABELS) if c not in raw.columns]
    if missing:
        raise ValueError(
            f"CheXpert label file {source} lacks the column(s) {missing}; expected the official train.csv/"
            f"valid.csv layout (found {list(raw.columns)})."
        )
    table = raw[list(METADATA_COLUMNS)].rename(columns=METADATA_COLUMNS)
    duplicated = table["image_id"][table["image_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"CheXpert label file {source}: {len(duplicated)} repeated paths, e.g. {list(duplicated[:3])}")
    table["patient_id"] = table["image_id"].str.extract(PATIENT_PATTERN, expand=False)
    if table["patient_id"].isna().any():
        bad = table.loc[table["patient_id"].isna(), "image_id"]
        raise ValueError(f"CheXpert label file {source}: no patientNNNNN in the path of {list(bad[:3])}")
    table["study"] = table["image_id"].str.extract(STUDY_PATTERN, expand=False)
    table["view_number"] = pd.to_numeric(table["image_id"].str.extract(VIEW_NUMBER_PATTERN, expand=False))
    table["frontal"] = table.pop("frontal_lateral").eq("Frontal")
    table["split"] = split
    labels = raw[list(LABELS)].apply(pd.to_numeric, errors="coerce").astype(float)
    bad_values = ~(labels.isna() | labels.isin([POSITIVE, NEGATIVE, UNCERTAIN]))
    if bad_values.to_numpy().any():
        column = labels.columns[bad_values.any()][0]
        raise ValueError(f"CheXpert label file {source}: values other than blank/-1/0/1 in column {column!r}")
    order = ["image_id", "patient_id", "study", "view_number", "frontal", "view", "sex", "age", "split"]
    table = pd.concat([table[order], labels], axis=1)
    table.attrs["source"] = str(source) if source is not None else ""
    return table


# ------------------------------------------------------------------------------------ label views


def frontal(table: pd.DataFrame) -> pd.DataFrame:
    """The frontal images of a normalised table (the ``Frontal/Lateral`` column)."""
    return table[table["frontal"]]


def resolve_policy(policy: str | UncertaintyPolicy) -> UncertaintyPolicy:
    """A policy by name (``U-Ignore``, ``U-Zeros``, ``U-Ones``) or the policy itself."""
    return lookup(UNCERTAINTY_POLICIES, policy, what="uncertainty policy", row_type=UncertaintyPolicy)


def apply_uncertainty(
    labels: pd.DataFrame, policy: str | UncertaintyPolicy, columns: list[str] | tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Training targets from raw labels: 1 stays 1, 0 stays 0, -1 and blank follow ``policy``.

    ``labels`` is a normalised table (or any frame with the label columns); ``columns`` defaults to the
    label columns of :data:`LABELS` present in it. The result has those columns only, as floats in
    {0, 1} (plus NaN for masked entries under ``U-Ignore``), with the index of ``labels``.
    """
    rule = resolve_policy(policy)
    columns = [c for c in LABELS if c in labels.columns] if columns is None else list(columns)
    raw = labels[columns].astype(float)
    out = raw.where(raw.isin([POSITIVE, NEGATIVE]), np.nan)
    out = out.mask(raw.eq(UNCERTAIN), rule.uncertain)
    out = out.mask(raw.isna(), rule.blank)
    return out


def positive_counts(
    table: pd.DataFrame, policy: str | UncertaintyPolicy = "U-Zeros", columns: tuple[str, ...] = LABELS
) -> pd.Series:
    """Number of images with a positive target per label under ``policy`` (``U-Zeros``: certain positives)."""
    targets = apply_uncertainty(table, policy, columns)
    return targets.eq(POSITIVE).sum().astype(int).rename("positives")
