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

from pathlib import Path

import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.core.config import lookup
from cxrlib.data import metadata as shipped
from cxrlib.data.root import require


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


def reader_threshold(rule: str) -> int:
    """How many of the 3 readers must mark a class under reader rule ``rule`` (:data:`READER_RULES`)."""
    return lookup(READER_RULES, rule, what="reader rule")


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
    threshold = reader_threshold(rule)
    return (readers_per_class(annotations) >= threshold).astype("int8")


# ------------------------------------------------------------------ full release (PhysioNet 1.0.0)

SOURCE_KEY = "vindr-cxr"
IMAGE_LABEL_FILES: dict[str, str] = {
    "train": "annotations/image_labels_train.csv",
    "test": "annotations/image_labels_test.csv",
}
"""Image-level label files of the PhysioNet release (local findings and the global labels such as
Pneumonia, which the shipped Kaggle file lacks): train one row per (image, radiologist) with ``rad_ID``,
test one consensus row per image (Nguyen et al. 2022)."""
READER_COLUMN = "rad_ID"


def load_image_labels(root: PathLike | None = None, rule: str = "majority") -> pd.DataFrame:
    """Image-level labels of the full release: one row per image, ``image_id``, ``split`` (the official
    ``train``/``test``) and every label column of the files as 0/1 (int8).

    Train: a label is positive when at least ``READER_RULES[rule]`` of the image's readers marked it
    (document 001 does not say; the majority rule is the one that fits its Table 2, see
    :mod:`cxrlib.data.d001`). Test: the consensus labels as released. Raises
    :class:`~cxrlib.data.root.DataNotFoundError` (naming the PhysioNet page) when the files are absent.
    """
    threshold = reader_threshold(rule)
    folder = require(SOURCE_KEY, root)
    parts = []
    for split, name in IMAGE_LABEL_FILES.items():
        raw = pd.read_csv(folder / name)
        if "image_id" not in raw.columns:
            raise ValueError(f"VinDr-CXR label file {folder / name} has no image_id column (found {list(raw.columns)})")
        labels = [c for c in raw.columns if c not in ("image_id", READER_COLUMN)]
        if READER_COLUMN in raw.columns:
            votes = raw.groupby("image_id")[labels].sum()
            table = (votes >= threshold).astype("int8")
        else:
            if raw["image_id"].duplicated().any():
                raise ValueError(f"{folder / name}: repeated image ids without a {READER_COLUMN} column")
            table = raw.set_index("image_id")[labels].astype("int8")
        parts.append(table.reset_index().assign(split=split))
    out = pd.concat(parts, ignore_index=True).fillna(0)
    repeated = out["image_id"][out["image_id"].duplicated()]
    if len(repeated):
        raise ValueError(f"VinDr-CXR images in both train and test label files: {list(repeated[:3])}")
    out.attrs["source"] = str(folder)
    return out
