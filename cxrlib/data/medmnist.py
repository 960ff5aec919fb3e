"""PneumoniaMNIST (MedMNIST v2): 28 px pediatric chest X-rays, pneumonia vs normal, as arrays plus a table.

Source: Yang J. et al., "MedMNIST v2", Scientific Data 2023 (https://zenodo.org/records/10519652, CC BY 4.0),
built from the Kermany et al. (Cell 2018) images. Layout below the data root:
``pneumoniamnist/pneumoniamnist.npz`` with ``{train,val,test}_images`` (N x 28 x 28, uint8) and
``{train,val,test}_labels`` (N x 1; 1 = pneumonia). Official sizes: 4,708 / 524 / 624.

The sizes say where the parts come from: train + val = 4,708 + 524 = 5,232 = Kermany's 5,216 train plus
16 val images, divided about 9:1, and test = Kermany's 624 test images. The same children (at 28 px) are
in :mod:`cxrlib.data.pediatric`: never pool the two, and never pre-train on one and test on the other.

No patient ids: MedMNIST does not publish the source file of each image, so patients cannot be
recovered and the train/val division cannot be checked for patient leakage (MedMNIST documents no
patient grouping for it). ``patient_id`` is therefore the ``image_id`` itself, which makes any split
derived from this table image-level; :attr:`PneumoniaMNIST.has_patient_ids` is ``False`` to say so.
Note that the classroom copy's train rows are not in the official order (rebuilt from two public copies),
so ``image_id`` indices of train rows are stable for this file only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrlib.data.root import require_file

PathLike = str | os.PathLike

DATASET = "pneumoniamnist"
SOURCE_KEY = "pneumoniamnist"
FILE = "pneumoniamnist.npz"
PARTS = ("train", "val", "test")
CLASSES = ("normal", "pneumonia")
COLUMNS = ["image_id", "patient_id", "path", "label", "split", "dataset", "index", "row"]


@dataclass(frozen=True)
class PneumoniaMNIST:
    """All images in one array (train, then val, then test) and the aligned table.

    ``table.row`` is the row of ``images``/``labels``; ``table.index`` the position within its split.
    """

    images: np.ndarray
    labels: np.ndarray
    table: pd.DataFrame
    has_patient_ids: bool = False

    def part(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of one official part."""
        if split not in PARTS:
            raise KeyError(f"unknown split {split!r}; known: {', '.join(PARTS)}")
        rows = self.table.loc[self.table["split"] == split, "row"].to_numpy()
        return self.images[rows], self.labels[rows]


def load_pneumoniamnist(root: PathLike | None = None) -> PneumoniaMNIST:
    """Read the npz: ``images`` (N x 28 x 28 uint8), ``labels`` (N, int64) and the table.

    Table columns :data:`COLUMNS`: ``image_id`` ``"pneumoniamnist:<split>:<index>"``, ``patient_id``
    (= ``image_id``, see the module docstring), ``path`` (the npz file), ``label``, ``split`` (official),
    ``dataset``, ``index`` (position in its split), ``row`` (position in ``images``).
    Raises :class:`~cxrlib.data.root.DataNotFoundError` (naming the Zenodo record) when the file is absent,
    ``ValueError`` when an array is missing or images and labels disagree in length.
    """
    path = require_file(SOURCE_KEY, FILE, root).resolve()
    with np.load(path) as archive:
        missing = [f"{p}_{kind}" for p in PARTS for kind in ("images", "labels") if f"{p}_{kind}" not in archive.files]
        if missing:
            raise ValueError(f"{path} lacks the array(s) {missing}: not the MedMNIST v2 layout")
        images, labels, tables = [], [], []
        offset = 0
        for split in PARTS:
            part_images = archive[f"{split}_images"]
            part_labels = archive[f"{split}_labels"].reshape(-1).astype(np.int64)
            if len(part_images) != len(part_labels):
                raise ValueError(f"{path}: {len(part_images)} {split} images but {len(part_labels)} labels")
            index = np.arange(len(part_labels))
            ids = [f"{DATASET}:{split}:{i}" for i in index]
            tables.append(
                pd.DataFrame({"image_id": ids, "patient_id": ids, "path": [path] * len(ids), "label": part_labels,
                              "split": split, "dataset": DATASET, "index": index, "row": index + offset})
            )
            images.append(part_images)
            labels.append(part_labels)
            offset += len(part_labels)
    table = pd.concat(tables, ignore_index=True)[COLUMNS]
    table.attrs["protocol"] = {"dataset": DATASET, "split": "official MedMNIST v2", "patient_ids": False}
    return PneumoniaMNIST(images=np.concatenate(images), labels=np.concatenate(labels), table=table)
