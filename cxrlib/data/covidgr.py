"""COVIDGR-1.0 (Tabik et al., IEEE JBHI 2020): 426 COVID-19 positive and 426 negative PA chest X-rays
from Hospital Universitario San Cecilio, Granada (document 002's fourth downstream data set).

Layout below the data root (row ``covidgr`` of :data:`cxrlib.data.root.SOURCES`; no automatic download):
``covidgr/P/*`` positives, ``covidgr/N/*`` negatives (JPEG or PNG). The data set holds one image per
patient, so the file stem is the patient id. 76 of the positives were PCR-positive with a chest X-ray
read as normal (document 002, section IV), which keeps the task hard.
"""
from __future__ import annotations

import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.data.root import DataNotFoundError, how_to_get, require


SOURCE_KEY = "covidgr"
DATASET = "covidgr"
CLASS_FOLDERS: dict[str, int] = {"N": 0, "P": 1}
"""Folder -> label (1 = COVID-19 positive)."""
SUFFIXES = (".jpg", ".jpeg", ".png")


def load_covidgr(root: PathLike | None = None) -> pd.DataFrame:
    """One row per image: ``image_id`` and ``patient_id`` (``covidgr:<folder>/<stem>``), ``path``, ``label``.

    Raises :class:`DataNotFoundError` with the download page when a folder is missing or holds no image.
    """
    folder = require(SOURCE_KEY, root)
    rows = []
    for name, label in CLASS_FOLDERS.items():
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            raise DataNotFoundError(f"no images in {folder / name}.\n{how_to_get(SOURCE_KEY, root)}")
        rows += [{"image_id": f"{DATASET}:{name}/{p.stem}", "path": str(p), "label": label} for p in files]
    table = pd.DataFrame(rows)
    table["patient_id"] = table["image_id"]  # one image per patient (Tabik et al. 2020)
    table["dataset"] = DATASET
    return table[["image_id", "patient_id", "path", "label", "dataset"]]
