"""Tiny fake data sets in the documented layouts, for the tests and the paper smoke harness.

The data sets that need a registration or a credentialed access (CheXpert images, PadChest, VinDr-CXR,
MIMIC-CXR-JPG, COVIDGR) are not on the development machines. Each ``make_*`` function below writes a
handful of tiny greyscale images (a bright top half over a flat grey, no anatomy) and the label files
exactly where the :data:`cxrlib.data.root.SOURCES` row of that data set says they live, with label
values drawn from ``rng``, so that the real loaders (:mod:`cxrlib.images.tasks`, :mod:`cxrlib.data.pool`)
read them unchanged. **Nothing written here is data**: the images are synthetic and the labels random;
anything computed from them only proves that a code path runs. :data:`MAKERS` maps a source key to its
maker (one row per data set).

No torch; OpenCV is imported when an image is written.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.data import chexpert

__all__ = ["MAKERS", "VINDR_LABELS", "make_chexpert", "make_covidgr", "make_mimic", "make_padchest", "make_vindr",
           "write_image"]


def write_image(path: Path, value: int = 0, size: int = 8) -> Path:
    """A ``size`` x ``size`` 8-bit greyscale image at ``path`` (PNG or JPEG by suffix): top half ``255 - value``,
    bottom half ``value``."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((size, size), value, np.uint8)
    image[: size // 2] = 255 - value
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path


def _chexpert_csv(rng, patients, split, frontal_only=False, certain=False) -> pd.DataFrame:
    rows = []
    for p in patients:
        views = [("frontal", "Frontal", "AP")] + ([] if frontal_only else [("lateral", "Lateral", "")])
        for i, (view, fl, ap) in enumerate(views, 1):
            values = rng.choice([1.0, 0.0] if certain else [1.0, 0.0, -1.0, np.nan], size=len(chexpert.LABELS))
            row = {"Path": f"CheXpert-v1.0-small/{split}/patient{p:05d}/study1/view{i}_{view}.jpg", "Sex": "Female",
                   "Age": 50, "Frontal/Lateral": fl, "AP/PA": ap or np.nan}
            row.update(dict(zip(chexpert.LABELS, values)))
            rows.append(row)
    return pd.DataFrame(rows)


def make_chexpert(root: Path, rng: np.random.Generator, size: int = 8) -> None:
    """``chexpert/CheXpert-v1.0-small/{train.csv,valid.csv,train/,valid/}``: 60 train patients (a frontal
    and a lateral view each, labels in {1, 0, -1, blank}) and 10 frontal validation patients (certain labels)."""
    folder = root / "chexpert"
    train = _chexpert_csv(rng, range(1, 61), "train")
    valid = _chexpert_csv(rng, range(64541, 64551), "valid", frontal_only=True, certain=True)
    (folder / "CheXpert-v1.0-small").mkdir(parents=True, exist_ok=True)
    train.to_csv(folder / "CheXpert-v1.0-small" / "train.csv", index=False)
    valid.to_csv(folder / "CheXpert-v1.0-small" / "valid.csv", index=False)
    for path in pd.concat([train, valid])["Path"]:
        write_image(folder / path, size=size)


PADCHEST_FILE = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"


def make_padchest(root: Path, rng: np.random.Generator, size: int = 8) -> None:
    """``padchest/images/<ImageID>.png`` and the labels CSV beside them: 60 images of 30 patients, one in
    five lateral, two labels each from a short list of PadChest terms."""
    folder = root / "padchest"
    names = ["pneumonia", "cardiomegaly", "normal", "pleural effusion", "COPD signs", "scoliosis", "nodule"]
    rows = []
    for i in range(60):
        labels = [str(x) for x in rng.choice(names, size=2, replace=False)]
        rows.append({"ImageID": f"img{i:03d}.png", "ImageDir": 0, "PatientID": f"pt{i // 2}", "StudyID": f"st{i}",
                     "StudyDate_DICOM": 20140101, "PatientBirth": 1950, "PatientSex_DICOM": "F",
                     "Projection": "PA" if i % 5 else "L", "MethodLabel": "Physician", "Labels": str(labels)})
        write_image(folder / "images" / f"img{i:03d}.png", size=size)
    pd.DataFrame(rows).to_csv(folder / PADCHEST_FILE, index=False)


VINDR_LABELS = ("Aortic enlargement", "Atelectasis", "Cardiomegaly", "Consolidation", "Lung Opacity", "Nodule/Mass",
                "Pleural effusion", "Pleural thickening", "Pneumothorax", "Pulmonary fibrosis", "Pneumonia",
                "Tuberculosis", "No finding")


def make_vindr(root: Path, rng: np.random.Generator, size: int = 8) -> None:
    """``vindr-cxr/annotations/image_labels_{train,test}.csv`` and ``vindr-cxr/{train,test}/<image_id>.png``:
    40 train images read by three radiologists each, 10 test images with one consensus row."""
    folder = root / "vindr-cxr"
    rows_train, rows_test = [], []
    for i in range(40):
        image = f"tr{i:04d}"
        base = rng.integers(0, 2, len(VINDR_LABELS))
        for rad in ("R1", "R2", "R3"):
            rows_train.append({"image_id": image, "rad_ID": rad, **dict(zip(VINDR_LABELS, base))})
        write_image(folder / "train" / f"{image}.png", size=size)
    for i in range(10):
        image = f"te{i:04d}"
        rows_test.append({"image_id": image, **dict(zip(VINDR_LABELS, rng.integers(0, 2, len(VINDR_LABELS))))})
        write_image(folder / "test" / f"{image}.png", size=size)
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows_train).to_csv(folder / "annotations" / "image_labels_train.csv", index=False)
    pd.DataFrame(rows_test).to_csv(folder / "annotations" / "image_labels_test.csv", index=False)


def make_mimic(root: Path, rng: np.random.Generator, size: int = 8) -> None:
    """``mimic-cxr-jpg/mimic-cxr-2.0.0-{chexpert,metadata}.csv.gz`` and the frontal JPEGs under
    ``files/p<2 digits>/p<subject>/s<study>/``: 60 studies of 30 subjects, a PA and a lateral view each."""
    folder = root / "mimic-cxr-jpg"
    labels, meta = [], []
    for s in range(60):
        subject, study = 10000000 + s // 2, 50000000 + s
        labels.append({"subject_id": subject, "study_id": study,
                       **dict(zip(chexpert.LABELS, rng.choice([1.0, 0.0, -1.0, np.nan], len(chexpert.LABELS))))})
        for k, view in enumerate(("PA", "LATERAL")):
            dicom = f"d{s:03d}{k}"
            meta.append({"dicom_id": dicom, "subject_id": subject, "study_id": study, "ViewPosition": view})
            if view == "PA":
                write_image(folder / "files" / f"p{str(subject)[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom}.jpg",
                            size=size)
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(labels).to_csv(folder / "mimic-cxr-2.0.0-chexpert.csv.gz", index=False, compression="gzip")
    pd.DataFrame(meta).to_csv(folder / "mimic-cxr-2.0.0-metadata.csv.gz", index=False, compression="gzip")


def make_covidgr(root: Path, rng: np.random.Generator, size: int = 8) -> None:
    """``covidgr/{P,N}/*.jpg``: 30 positive (dark) and 30 negative (bright) images."""
    for cls in ("P", "N"):
        for i in range(30):
            write_image(root / "covidgr" / cls / f"{cls.lower()}{i:03d}.jpg", value=40 if cls == "P" else 200, size=size)


MAKERS: dict[str, Callable[..., None]] = {
    "chexpert": make_chexpert,
    "padchest": make_padchest,
    "vindr-cxr": make_vindr,
    "mimic-cxr": make_mimic,
    "covidgr": make_covidgr,
}
"""Source key (:data:`cxrlib.data.root.SOURCES`) -> the maker of a tiny fake copy in its documented layout."""
