"""VinDr-CXR train annotations (Nguyen et al., Scientific Data 2022) and image-level labels from them.

Source: ``vinbigdata-train.csv.gz`` (the Kaggle "VinBigData Chest X-ray Abnormalities Detection" train
file: 15,000 train images, every image read by 3 of 17 radiologists, one row per box or per "No finding"
vote), shipped in the ``torchxrayvision`` wheel and read without importing torch; pass ``path`` for a
user's own ``train.csv``. The 3,000 test images of the official release, with their consensus labels,
and the image-level "global" labels (pneumonia, tuberculosis, COPD, ...) are not in this file.

Protocol: an image is positive for a class when at least ``min_readers`` of its radiologists marked it
(:data:`READER_RULES`: ``any`` = 1, ``majority`` = 2, ``all`` = 3 of the 3 readers). Every VinDr-CXR
image is a posteroanterior frontal radiograph (document 001, Table 1: 100 % PA).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from cxrlib.data import metadata as shipped

PathLike = str | os.PathLike

CLASSES: tuple[str, ...] = (
    "Aortic enlargement",
    "Atelectasis",
    "Calcification",
    "Cardiomegaly",
    "Consolidation",
    "ILD",
    "Infiltration",
    "Lung Opacity",
    "Nodule/Mass",
    "Other lesion",
    "Pleural effusion",
    "Pleural thickening",
    "Pneumothorax",
    "Pulmonary fibrosis",
    "No finding",
)
"""The 14 local findings (class ids 0-13) and "No finding" (class id 14) of the train annotations."""

READER_RULES: dict[str, int] = {"any": 1, "majority": 2, "all": 3}
"""Rule name -> minimum number of the 3 radiologists who must mark a class on an image."""

ANNOTATION_COLUMNS = ("image_id", "class_name", "class_id", "rad_id")


def load_annotations(path: PathLike | None = None) -> pd.DataFrame:
    """The raw annotations, one row per (image, radiologist, box) or (image, radiologist, "No finding")."""
    source = shipped.shipped_path("vindr_train") if path is None else Path(path)
    table = shipped.read_csv(source)
    missing = [c for c in ANNOTATION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"VinDr-CXR annotation file {source} lacks the column(s) {missing} (found {list(table.columns)})"
        )
    unknown = sorted(set(table["class_name"]) - set(CLASSES))
    if unknown:
        raise ValueError(f"VinDr-CXR annotation file {source}: unknown class name(s) {unknown}")
    table.attrs["source"] = str(source)
    return table


def readers_per_class(annotations: pd.DataFrame) -> pd.DataFrame:
    """Images x classes: how many distinct radiologists marked the class on the image (0 to 3)."""
    votes = annotations.drop_duplicates(["image_id", "class_name", "rad_id"])
    counts = votes.groupby(["image_id", "class_name"])["rad_id"].nunique().unstack(fill_value=0)
    images = pd.Index(sorted(annotations["image_id"].unique()), name="image_id")
    return counts.reindex(index=images, columns=list(CLASSES), fill_value=0).astype(int)


def image_labels(annotations: pd.DataFrame, rule: str = "majority") -> pd.DataFrame:
    """Images x :data:`CLASSES`, 0/1 (int8): positive when at least ``READER_RULES[rule]`` readers marked it."""
    if rule not in READER_RULES:
        raise KeyError(f"unknown reader rule {rule!r}; known: {', '.join(READER_RULES)}")
    return (readers_per_class(annotations) >= READER_RULES[rule]).astype("int8")
