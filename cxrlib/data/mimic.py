"""MIMIC-CXR-JPG v2 (Johnson et al. 2019): the frontal images with their CheXpert-labeler labels.

Source (credentialed PhysioNet access, no automatic download; row ``mimic-cxr`` of
:data:`cxrlib.data.root.SOURCES`): ``mimic-cxr-2.0.0-chexpert.csv.gz`` (one row per study: ``subject_id``,
``study_id`` and the 14 CheXpert observations as 1 / 0 / -1 / blank) and ``mimic-cxr-2.0.0-metadata.csv.gz``
(one row per image: ``dicom_id``, ``subject_id``, ``study_id``, ``ViewPosition``, ...). Images:
``files/p<2 digits>/p<subject_id>/s<study_id>/<dicom_id>.jpg``. Labels are per study, so every image of a
study carries its study's labels.

Frontal = ``ViewPosition`` PA or AP (document 001 keeps frontal images only). The label values follow
:mod:`cxrlib.data.chexpert` (same labeler, same columns), so its uncertainty policies apply.
"""
from __future__ import annotations

import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.data import chexpert
from cxrlib.data.root import require


SOURCE_KEY = "mimic-cxr"
LABEL_FILE = "mimic-cxr-2.0.0-chexpert.csv.gz"
METADATA_FILE = "mimic-cxr-2.0.0-metadata.csv.gz"
FRONTAL_VIEWS: tuple[str, ...] = ("PA", "AP")


def image_path(subject_id: int, study_id: int, dicom_id: str) -> str:
    """Relative path of one JPEG in the release layout."""
    subject = f"p{int(subject_id)}"
    return f"files/{subject[:3]}/{subject}/s{int(study_id)}/{dicom_id}.jpg"


def load_frontal(root: PathLike | None = None) -> pd.DataFrame:
    """One row per frontal image: ``image_id`` (``mimic:<dicom_id>``), ``patient_id`` (``mimic:p<subject>``),
    ``study``, ``view``, ``relative_path`` and the 14 label columns of :data:`cxrlib.data.chexpert.LABELS`
    as floats (NaN, -1, 0, 1). Images of studies without a label row are left out."""
    folder = require(SOURCE_KEY, root)
    labels = pd.read_csv(folder / LABEL_FILE)
    meta = pd.read_csv(folder / METADATA_FILE, usecols=["dicom_id", "subject_id", "study_id", "ViewPosition"])
    missing = [c for c in ("subject_id", "study_id", *chexpert.LABELS) if c not in labels.columns]
    if missing:
        raise ValueError(f"{folder / LABEL_FILE} lacks the column(s) {missing}")
    frontal = meta[meta["ViewPosition"].isin(FRONTAL_VIEWS)]
    table = frontal.merge(labels, on=["subject_id", "study_id"], how="inner")
    out = pd.DataFrame({
        "image_id": "mimic:" + table["dicom_id"].astype(str),
        "patient_id": "mimic:p" + table["subject_id"].astype(int).astype(str),
        "study": table["study_id"].astype(int).astype(str),
        "view": table["ViewPosition"],
        "relative_path": [image_path(s, t, d) for s, t, d in zip(table["subject_id"], table["study_id"],
                                                                   table["dicom_id"])],
    })
    out = pd.concat([out, table[list(chexpert.LABELS)].apply(pd.to_numeric, errors="coerce").astype(float)], axis=1)
    out.attrs["source"] = str(folder)
    return out.reset_index(drop=True)
