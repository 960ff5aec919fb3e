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

from cxrlib.core.io import PathLike
from cxrlib.core.config import lookup
from cxrlib.data.root import require_file


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
        lookup(PARTS, split, what="PneumoniaMNIST part")
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


# ----------------------------------------------------------------------- images as files

PNG_DIR_ENV = "CXRLIB_CACHE"


def default_png_dir() -> "os.PathLike":
    """Where the PNG copies of the npz images go: ``$CXRLIB_CACHE/sources`` if set, else
    ``~/.cache/cxrlib/sources`` (beside the preprocessing cache, never in the repository or the data root)."""
    from pathlib import Path

    env = os.environ.get(PNG_DIR_ENV)
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "cxrlib") / "sources"


def materialise_pngs(data: PneumoniaMNIST, npz: PathLike, png_dir: PathLike | None = None) -> pd.DataFrame:
    """The table of ``data`` with ``path`` pointing at one 8-bit greyscale PNG per image (native 28 px).

    The images are written once into ``<png_dir>/pneumoniamnist-<first 16 hex of the npz's SHA-256>/``
    (``<split>/<index>.png``), so another npz file never reuses stale copies; the folder is filled in a
    temporary folder and renamed into place, so a reader sees all images or none (two processes racing
    both write, one rename wins). The fine-tuning dataset then reads them like any other image file (and
    the preprocessing cache resizes them to any ``image_size``).
    """
    import shutil
    import tempfile
    from pathlib import Path

    import cv2

    from cxrlib.core.io import file_sha256

    base = Path(png_dir) if png_dir is not None else Path(default_png_dir())
    target = base / f"{DATASET}-{file_sha256(npz)[:16]}"
    table = data.table.copy()
    relative = table["split"] + "/" + table["index"].astype(str) + ".png"
    if not (target / "complete").is_file():
        base.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{DATASET}-", dir=base))
        try:
            for split in PARTS:
                (scratch / split).mkdir()
            for row, name in zip(table["row"].to_numpy(), relative):
                if not cv2.imwrite(str(scratch / name), np.ascontiguousarray(data.images[row], dtype=np.uint8)):
                    raise OSError(f"could not write {scratch / name}")
            (scratch / "complete").write_text(f"{len(table)} images from {npz}\n", encoding="utf-8")
            try:
                os.replace(scratch, target)
            except OSError:
                if not (target / "complete").is_file():
                    raise
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    table["path"] = [str(target / name) for name in relative]
    table.attrs = {**data.table.attrs, "images": str(target)}
    return table


def png_table(root: PathLike | None = None, png_dir: PathLike | None = None) -> pd.DataFrame:
    """PneumoniaMNIST as an image table (pool source and task loader): :data:`COLUMNS` with ``path`` a PNG
    file (:func:`materialise_pngs`); ``split`` is the official one."""
    npz = require_file(SOURCE_KEY, FILE, root).resolve()
    return materialise_pngs(load_pneumoniamnist(root), npz, png_dir)
