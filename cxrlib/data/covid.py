"""The COVID-19 image data collection (Cohen et al.) as a metadata table, and the task "COVID-19 vs other
pneumonia" with a patient-disjoint 70/10/20 split.

Source: Cohen J.P. et al., "COVID-19 image data collection: prospective predictions are the future",
MELBA 2020 (https://github.com/ieee8023/covid-chestxray-dataset). Layout below the data root:
``covid-chestxray/metadata.csv`` and ``covid-chestxray/images-256/<file stem>.png`` (the classroom copy:
frontal X-rays at 256 px) or ``covid-chestxray/images/<filename>`` (the repository's originals). Rows are
joined on the file stem of the metadata ``filename``. Licences differ per image: the ``license`` column
is kept (``"none listed"`` where the metadata is empty) and must be shown next to any displayed image.

Which images
------------
X-rays (``modality == "X-ray"``) in a frontal view, :data:`FRONTAL_VIEWS` (this mid-2020 copy has PA,
AP and AP Supine; later versions add e.g. "AP Erect" and "AP semi erect"). Lateral (``L``), CT and
unknown views (``?``, empty) are left out. In the classroom copy 571 frontal images of 340 patients join.

The task (label 1 = COVID-19, 0 = other pneumonia)
--------------------------------------------------
:func:`finding_class` maps the ``finding`` column with :data:`FINDING_RULES`, first match wins:

* COVID-19: every finding naming COVID-19 (mid-2020: ``COVID-19``, ``COVID-19, ARDS``; newer versions:
  ``Pneumonia/Viral/COVID-19``).
* other pneumonia: the named pneumonias of this copy (SARS, Pneumocystis, Streptococcus, Pneumonia,
  Klebsiella, E.Coli, Varicella, Mycoplasma Bacterial Pneumonia, Legionella, Lipoid, Bacterial,
  Chlamydophila, Influenza) and, in the newer taxonomy, anything under ``Pneumonia/``.
* excluded (``label`` is missing, ``task_class`` says why): ``No Finding`` (not a pneumonia), ``todo``
  (not yet labelled), ``Unknown``, and ``ARDS`` alone (a syndrome, not a pneumonia type; newer versions
  keep it outside ``Pneumonia/``), plus anything not listed (reported as ``unmapped``).

Split: every patient of the table (those with excluded images only, too) goes to exactly one part of a
70/10/20 split drawn with ``seed`` and stratified by the patient's class (covid if any image is COVID-19,
else other pneumonia if any, else excluded), so the task rows are a patient-disjoint 70/10/20 split by
patients and the excluded images of val/test patients never reach a training pool. Patient ids are the
metadata ``patientid`` (``311a`` and ``311b`` are different people: different sex, age and case notes).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.data.root import DataNotFoundError, how_to_get, require, require_file
from cxrlib.data.splits import assert_patient_disjoint, split_by_patient


DATASET = "covid"
SOURCE_KEY = "covid-chestxray"
IMAGE_FOLDERS = ("images-256", "images")
"""Image folders tried in order: the 256 px classroom PNGs (joined on stem), then the originals."""

FRONTAL_VIEWS = ("PA", "AP", "AP Supine", "AP Erect", "AP semi erect")
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}

COVID, OTHER = "covid", "other_pneumonia"
TASK_LABELS: dict[str, int] = {COVID: 1, OTHER: 0}

OTHER_PNEUMONIAS_2020 = (
    "SARS", "Pneumocystis", "Streptococcus", "Pneumonia", "Klebsiella", "E.Coli", "Varicella",
    "Mycoplasma Bacterial Pneumonia", "Legionella", "Lipoid", "Bacterial", "Chlamydophila", "Influenza",
)
FINDING_RULES: tuple[tuple[str, str], ...] = (
    (r"COVID-19", COVID),
    (r"^(?:" + "|".join(re.escape(f) for f in OTHER_PNEUMONIAS_2020) + r")$", OTHER),
    (r"^Pneumonia/", OTHER),
    (r"^No Finding$", "excluded: no finding"),
    (r"^todo$", "excluded: not yet labelled"),
    (r"^Unknown$", "excluded: unknown"),
    (r"^ARDS$", "excluded: ARDS without a pneumonia type"),
)
"""(regular expression searched in ``finding``, class) rows; the first matching row wins."""

UNMAPPED = "excluded: unmapped"
COLUMNS = ["image_id", "patient_id", "path", "label", "task_class", "split", "dataset", "finding", "view",
           "sex", "age", "license", "url", "doi", "filename"]


def finding_class(finding: object) -> str:
    """The task class of one ``finding`` value (see :data:`FINDING_RULES`).

    >>> finding_class("COVID-19, ARDS"), finding_class("Pneumonia/Viral/COVID-19"), finding_class("SARS")
    ('covid', 'covid', 'other_pneumonia')
    >>> finding_class("todo")
    'excluded: not yet labelled'
    """
    text = "" if pd.isna(finding) else str(finding).strip()
    for pattern, name in FINDING_RULES:
        if re.search(pattern, text):
            return name
    return UNMAPPED


def read_metadata(root: PathLike | None = None) -> pd.DataFrame:
    """``metadata.csv`` as released (``patientid`` read as text), plus ``stem`` (file stem of ``filename``)."""
    path = require_file(SOURCE_KEY, "metadata.csv", root)
    meta = pd.read_csv(path, dtype={"patientid": str})
    missing = [c for c in ("patientid", "finding", "view", "modality", "filename") if c not in meta.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}: not the covid-chestxray-dataset metadata layout")
    meta["stem"] = meta["filename"].map(lambda name: Path(str(name)).stem)
    return meta


def _image_paths(folder: Path, root: PathLike | None) -> dict[str, Path]:
    for name in IMAGE_FOLDERS:
        if (folder / name).is_dir():
            paths = sorted(p for p in (folder / name).iterdir() if p.is_file())
            if paths:
                return {p.stem: p.resolve() for p in paths}
    raise DataNotFoundError(
        f"no images in {' or '.join(str(folder / n) for n in IMAGE_FOLDERS)}.\n{how_to_get(SOURCE_KEY, root)}"
    )


def load_covid(
    root: PathLike | None = None,
    seed: int = 0,
    fractions: Mapping[str, float] | None = None,
    views: tuple[str, ...] = FRONTAL_VIEWS,
) -> pd.DataFrame:
    """All frontal X-rays with an image file, one row per image, with the task label and the split.

    Columns :data:`COLUMNS`: ``image_id`` (``covid:<file stem>``), ``patient_id`` (``covid:<patientid>``),
    ``path`` (absolute :class:`~pathlib.Path`), ``label`` (1 COVID-19, 0 other pneumonia, missing when
    excluded; nullable ``Int64``), ``task_class``, ``split`` (parts of ``fractions``, default 70/10/20 by
    patient, stratified by the patient's class), ``dataset`` and the metadata columns ``finding``,
    ``view``, ``sex``, ``age``, ``license`` (``"none listed"`` if empty), ``url``, ``doi``, ``filename``.
    Metadata rows without an image file are left out (the classroom copy holds the frontal X-rays only).
    Use :func:`covid_task` for the labelled rows.
    """
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    folder = require(SOURCE_KEY, root)
    meta = read_metadata(root)
    images = _image_paths(folder, root)
    frontal = meta[(meta["modality"] == "X-ray") & meta["view"].isin(views)]
    joined = frontal[frontal["stem"].isin(images)].copy()
    if joined.empty:
        raise DataNotFoundError(
            f"none of the {len(images)} image files under {folder} matches a frontal X-ray of metadata.csv by "
            f"file stem.\n{how_to_get(SOURCE_KEY, root)}"
        )
    repeated = joined["stem"][joined["stem"].duplicated()]
    if len(repeated):
        raise ValueError(f"metadata.csv repeats the file stem(s) {list(repeated[:5])}")
    table = pd.DataFrame(
        {
            "image_id": DATASET + ":" + joined["stem"],
            "patient_id": DATASET + ":" + joined["patientid"].str.strip(),
            "path": joined["stem"].map(images),
            "task_class": joined["finding"].map(finding_class),
            "finding": joined["finding"],
            "view": joined["view"],
            "sex": joined.get("sex"),
            "age": joined.get("age"),
            "license": joined.get("license", pd.Series(index=joined.index, dtype=object)).fillna("").str.strip()
            .replace("", "none listed"),
            "url": joined.get("url"),
            "doi": joined.get("doi"),
            "filename": joined["filename"],
        }
    ).reset_index(drop=True)
    table["label"] = table["task_class"].map(TASK_LABELS).astype("Int64")
    table["dataset"] = DATASET
    table["stratum"] = patient_class(table)
    table["split"] = split_by_patient(table, fractions, seed=seed, stratify_col="stratum")
    assert_patient_disjoint({part: table.loc[table["split"] == part, "patient_id"] for part in fractions})
    table = table[COLUMNS]
    table.attrs["protocol"] = {
        "dataset": DATASET, "fractions": fractions, "seed": seed, "unit": "patients",
        "stratify": "patient class (covid > other_pneumonia > excluded)", "views": list(views),
    }
    return table


def patient_class(table: pd.DataFrame) -> pd.Series:
    """Per row, its patient's class: ``covid`` if any image of the patient is COVID-19, else
    ``other_pneumonia`` if any is, else ``excluded``."""
    rank = table["task_class"].map({COVID: 0, OTHER: 1}).fillna(2)
    best = rank.groupby(table["patient_id"]).transform("min")
    return best.map({0: COVID, 1: OTHER, 2: "excluded"}).rename("patient_class")


def covid_task(table: pd.DataFrame) -> pd.DataFrame:
    """The labelled rows of :func:`load_covid` (COVID-19 vs other pneumonia), ``label`` as ``int``."""
    task = table[table["label"].notna()].copy()
    task["label"] = task["label"].astype(int)
    return task


def task_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Images and patients per split and label of the task (for the book's tables)."""
    task = covid_task(table)
    return (
        task.groupby(["split", "label"])
        .agg(images=("image_id", "size"), patients=("patient_id", "nunique"))
        .reset_index()
    )
