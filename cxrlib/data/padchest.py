"""PadChest metadata (Bustos et al., Medical Image Analysis 2020): one row per image, its projection and
its report labels.

Source: ``PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz`` (160,861 images, 67,625 patients),
shipped in the ``torchxrayvision`` wheel and read without importing torch; a user's own copy of the
official CSV can be passed as ``path``. Images are not needed here.

Protocols
---------
* Frontal images: ``Projection`` in :data:`FRONTAL_PROJECTIONS` (posteroanterior, anteroposterior
  vertical and anteroposterior horizontal, i.e. supine). Left out: lateral (``L``), rib views
  (``COSTAL``), ``UNK`` and ``EXCLUDE``. With this choice the PA share of the frontal images is the 82.9 %
  printed in document 001, Table 1 (the notebook recomputes it).
* Labels: the ``Labels`` column holds a Python-style list of finding names (e.g.
  ``['pleural effusion', 'COPD signs']``), some with a leading space; we strip the names. 79 frontal rows
  (103 in all) have no label list at all; ``has_labels`` marks the others.
* :func:`label_indicators` maps label names to table rows with a mapping given as data (row ->
  patterns) and a match rule from :data:`MATCH_RULES`.
"""
from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.core.config import lookup
from cxrlib.data import metadata as shipped


FRONTAL_PROJECTIONS: tuple[str, ...] = ("PA", "AP", "AP_horizontal")
"""``Projection`` values counted as frontal (document 001 uses frontal images only)."""

METADATA_COLUMNS: dict[str, str] = {
    "ImageID": "image_id",
    "ImageDir": "image_dir",
    "PatientID": "patient_id",
    "StudyID": "study",
    "StudyDate_DICOM": "study_date",
    "PatientBirth": "birth_year",
    "PatientSex_DICOM": "sex",
    "Projection": "projection",
    "MethodLabel": "method_label",
    "Labels": "labels_raw",
}


def load_metadata(path: PathLike | None = None) -> pd.DataFrame:
    """The PadChest metadata, normalised, one row per image.

    Columns: ``image_id``, ``image_dir``, ``patient_id`` and ``study`` (strings), ``study_date``,
    ``birth_year``, ``age`` (study year minus birth year), ``sex``, ``projection``, ``frontal`` (bool,
    :data:`FRONTAL_PROJECTIONS`), ``method_label`` (``Physician`` or ``RNN_model``), ``labels`` (tuple of
    stripped label names; empty when the file has none), ``has_labels`` (bool), ``labels_raw``.
    Raises ``ValueError`` on missing columns or repeated image ids.
    """
    source = shipped.shipped_path("padchest") if path is None else Path(path)
    raw = shipped.read_csv(source, low_memory=False)
    missing = [c for c in METADATA_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"PadChest metadata file {source} lacks the column(s) {missing} (found {list(raw.columns)})")
    meta = raw[list(METADATA_COLUMNS)].rename(columns=METADATA_COLUMNS)
    duplicated = meta["image_id"][meta["image_id"].duplicated()]
    if len(duplicated):
        raise ValueError(
            f"PadChest metadata file {source}: {len(duplicated)} repeated image ids, e.g. {list(duplicated[:3])}"
        )
    meta["patient_id"] = meta["patient_id"].astype(str)
    meta["study"] = meta["study"].astype(str)
    meta["age"] = meta["study_date"] // 10_000 - meta["birth_year"]
    meta["frontal"] = meta["projection"].isin(FRONTAL_PROJECTIONS)
    meta["has_labels"] = meta["labels_raw"].notna()
    meta["labels"] = meta["labels_raw"].map(parse_labels)
    order = ["image_id", "image_dir", "patient_id", "study", "study_date", "birth_year", "age", "sex",
             "projection", "frontal", "method_label", "labels", "has_labels", "labels_raw"]
    meta = meta[order]
    meta.attrs["source"] = str(source)
    return meta


def parse_labels(value: object) -> tuple[str, ...]:
    """``"['a', ' b']"`` -> ``("a", "b")``; a missing value -> ``()``. Raises ``ValueError`` on other text."""
    if not isinstance(value, str):
        return ()
    try:
        items = ast.literal_eval(value)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"PadChest Labels value is not a list literal: {value[:80]!r}") from error
    return tuple(str(item).strip() for item in items)


def frontal(meta: pd.DataFrame, labelled_only: bool = True) -> pd.DataFrame:
    """The frontal images (``Projection`` in :data:`FRONTAL_PROJECTIONS`), by default only those with labels."""
    keep = meta["frontal"] & (meta["has_labels"] if labelled_only else True)
    return meta[keep]


MATCH_RULES: dict[str, Callable[[str, str], bool]] = {
    "exact": lambda label, pattern: label == pattern,
    "substring": lambda label, pattern: pattern in label,
}
"""How a pattern of a mapping matches a PadChest label name."""


def label_indicators(
    meta: pd.DataFrame, mapping: Mapping[str, tuple[str, ...]], match: str = "substring"
) -> pd.DataFrame:
    """One bool column per mapping row: does the image carry a label that matches one of the row's patterns.

    ``mapping`` is row name -> patterns; ``match`` is a key of :data:`MATCH_RULES`. With ``"substring"``
    the pattern ``"atelectasis"`` also catches ``"laminar atelectasis"``, ``"lobar atelectasis"``, ...
    """
    rule = lookup(MATCH_RULES, match, what="match rule")
    vocabulary = sorted({label for labels in meta["labels"] for label in labels})
    columns = {}
    for row, patterns in mapping.items():
        matching = {label for label in vocabulary if any(rule(label, p) for p in patterns)}
        columns[row] = meta["labels"].map(lambda labels, m=matching: not m.isdisjoint(labels)).astype(bool)
    return pd.DataFrame(columns, index=meta.index)


def label_vocabulary(meta: pd.DataFrame) -> pd.Series:
    """Every label name with the number of images that carry it, most frequent first."""
    counts = meta["labels"].map(set).explode().dropna().value_counts()
    return counts.rename("images").astype(np.int64)
