"""Pediatric pneumonia chest X-rays of Kermany et al. (Cell 2018) as a metadata table with patient ids.

Source: Kermany D. et al., "Identifying medical diagnoses and treatable diseases by image-based deep
learning", Cell 2018 (Mendeley Data ``rscbjbr9sj``, ``ChestXRay2017.zip``, CC BY 4.0). Layout below the
data root: ``kermany-pneumonia/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg``. The official 16-image ``val``
folder is not used (not even read): our validation part is carved from the official train part by
patient (:func:`load_kermany`, ``val_fraction`` and ``seed``).

Task: pneumonia (1) vs normal (0); ``pathogen`` is ``bacteria``, ``virus`` or ``none`` (normal).

Patient ids from file names (inspected on the 5,840 images of the released train and test folders)
-----------------------------------------------------------------------------------------------------
* Pneumonia: ``person<N>_<bacteria|virus>_<K>.jpeg`` (one file has a further ``_1``). ``K`` is an
  image counter per pathogen; within each pathogen ``N`` never decreases as ``K`` grows, so ``N`` numbers
  patients. Whether ``person<N>`` with bacteria and ``person<N>`` with virus are the *same* child is not
  documented: 979 of the 1,667 numbers occur with both pathogens (implausibly many children with both a
  bacterial and a viral pneumonia on file). Two rules are offered (:data:`PATIENT_RULES`):

  - ``"person"`` (default, conservative): the number alone, ``kermany:person<N>``. If the two pathogen
    series are in fact separate numberings this merges unrelated children, which only makes splits
    coarser and never hides leakage.
  - ``"person_pathogen"``: ``kermany:person<N>_<pathogen>``, i.e. separate numberings per pathogen.

* Normal: ``IM-<A>-<B>[-<C>].jpeg`` and ``NORMAL2-IM-<A>-<B>[-<C>].jpeg`` (a second batch whose numbers
  ``A`` restart and overlap those of the first). ``B`` is ``0001`` in all but one file and ``-<C>`` numbers
  extra views of the same study, so the patient is the batch plus ``A``: ``kermany:IM-<A>`` or
  ``kermany:NORMAL2-IM-<A>``. Nothing links a normal study to a ``person<N>`` id.

Official split (what the data show; :func:`official_leakage` recomputes it)
--------------------------------------------------------------------------
Normal studies are disjoint between train and test (test holds the low numbers of each batch). Under
``"person_pathogen"`` the official split is patient-disjoint. Under ``"person"`` 170 numbers have images
in both train and test, always with one pathogen in each (e.g. ``person100``: ``virus_184`` in train,
``bacteria_475..482`` in test): 457 train and 320 test images. A crude check (pixel correlation of 48 px
thumbnails) finds same-number bacteria/virus pairs barely more alike than random pairs, while
same-number same-pathogen pairs are clearly more alike; this hints at separate numberings but does not
prove it. The official test split is kept unchanged (``official_split``); :func:`official_leakage`
reports the overlap and the SSL pool (:mod:`cxrlib.data.pool`) leaves out train patients that have
test images.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.core.config import lookup
from cxrlib.data.root import DataNotFoundError, how_to_get, require
from cxrlib.data.splits import assert_patient_disjoint, leakage_report, split_by_patient


DATASET = "kermany"
SOURCE_KEY = "kermany-pneumonia"
OFFICIAL_PARTS = ("train", "test")
CLASS_FOLDERS: dict[str, int] = {"NORMAL": 0, "PNEUMONIA": 1}
"""Folder name -> ``label`` (1 = pneumonia)."""

PNEUMONIA_NAME = re.compile(r"^person(?P<number>\d+)_(?P<pathogen>bacteria|virus)_(?P<counter>\d+)(?:_\d+)?$")
NORMAL_NAME = re.compile(r"^(?P<batch>NORMAL2-)?IM-(?P<study>\d+)-\d+(?:-\d+)?$")


def _person(match: re.Match) -> str:
    return f"person{match['number']}"


def _person_pathogen(match: re.Match) -> str:
    return f"person{match['number']}_{match['pathogen']}"


PATIENT_RULES: dict[str, Callable[[re.Match], str]] = {
    "person": _person,
    "person_pathogen": _person_pathogen,
}
"""How a pneumonia file name becomes a patient id (see the module docstring); normal names have one rule."""

COLUMNS = ["image_id", "patient_id", "path", "label", "pathogen", "official_split", "split", "dataset"]


def parse_name(stem: str, patient_rule: str = "person") -> dict[str, str]:
    """``patient`` (without the data-set prefix) and ``pathogen`` of one Kermany file stem.

    >>> parse_name("person1000_bacteria_2931")
    {'patient': 'person1000', 'pathogen': 'bacteria'}
    >>> parse_name("NORMAL2-IM-0300-0001")
    {'patient': 'NORMAL2-IM-0300', 'pathogen': 'none'}
    """
    patient = lookup(PATIENT_RULES, patient_rule, what="patient rule")
    pneumonia = PNEUMONIA_NAME.match(stem)
    if pneumonia:
        return {"patient": patient(pneumonia), "pathogen": pneumonia["pathogen"]}
    normal = NORMAL_NAME.match(stem)
    if normal:
        return {"patient": f"{normal['batch'] or ''}IM-{normal['study']}", "pathogen": "none"}
    raise ValueError(
        f"Kermany file name {stem!r} matches neither 'person<N>_<bacteria|virus>_<K>' nor "
        f"'[NORMAL2-]IM-<A>-<B>[-<C>]'; patient ids cannot be derived from it."
    )


def scan_files(root: PathLike | None = None, patient_rule: str = "person") -> pd.DataFrame:
    """One row per JPEG of the official train and test folders, with the official split and no val.

    Raises :class:`DataNotFoundError` (naming the Mendeley download page) when a folder is missing or
    empty, and ``ValueError`` for a file name with no patient id, a pneumonia name in NORMAL (or the
    reverse), or a repeated file stem.
    """
    folder = require(SOURCE_KEY, root)
    rows = []
    for part in OFFICIAL_PARTS:
        for class_folder, label in CLASS_FOLDERS.items():
            class_dir = folder / part / class_folder
            files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in {".jpeg", ".jpg"})
            if not files:
                raise DataNotFoundError(f"no JPEG images in {class_dir}.\n{how_to_get(SOURCE_KEY, root)}")
            resolved_dir = class_dir.resolve()  # once per folder: resolving ~6k paths one by one costs seconds
            for path in files:
                parsed = parse_name(path.stem, patient_rule)
                if (parsed["pathogen"] == "none") != (label == 0):
                    raise ValueError(f"{path}: a {parsed['pathogen']} file name in the {class_folder} folder")
                absolute = path.resolve() if path.is_symlink() else resolved_dir / path.name  # = path.resolve()
                rows.append(
                    {"image_id": f"{DATASET}:{path.stem}", "patient_id": f"{DATASET}:{parsed['patient']}",
                     "path": absolute, "label": label, "pathogen": parsed["pathogen"], "official_split": part}
                )
    table = pd.DataFrame(rows)
    repeated = table["image_id"][table["image_id"].duplicated()]
    if len(repeated):
        raise ValueError(f"Kermany file stems repeat across folders: {list(repeated[:5])}")
    return table


def load_kermany(
    root: PathLike | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    patient_rule: str = "person",
    drop_test_patients: bool = False,
) -> pd.DataFrame:
    """The Kermany table: the official test part unchanged and a validation part carved from train.

    Columns :data:`COLUMNS`: ``image_id`` (``kermany:<file stem>``), ``patient_id`` (``kermany:...``,
    rule ``patient_rule``), ``path`` (absolute :class:`~pathlib.Path`), ``label`` (1 pneumonia, 0 normal),
    ``pathogen`` (bacteria/virus/none), ``official_split`` (train/test as released), ``split``
    (train/val/test), ``dataset`` (``"kermany"``).

    ``val_fraction`` of the official-train *patients*, stratified by label, go to ``val`` with ``seed``;
    train and val are checked patient-disjoint. The official test part is NOT checked (it overlaps
    train under the default rule, see :func:`official_leakage`), and is never altered.
    ``attrs["protocol"]`` records the parameters.

    ``drop_test_patients=True`` leaves out every official-train image of a patient who has an image in the
    official test part (under ``patient_rule="person"``: 457 images of 170 patients) *before* the
    validation part is carved, so train, val and test are patient-disjoint; the test part stays whole.
    ``attrs["dropped_test_patients"]`` counts the images and patients left out.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    table = scan_files(root, patient_rule)
    dropped = {"images": 0, "patients": 0}
    if drop_test_patients:
        shared = patients_in_test(table) & (table["official_split"] != "test")
        dropped = {"images": int(shared.sum()), "patients": int(table.loc[shared, "patient_id"].nunique())}
        table = table[~shared].reset_index(drop=True)
    split = table["official_split"].copy()
    official_train = table[table["official_split"] == "train"]
    if val_fraction > 0:
        split.loc[official_train.index] = split_by_patient(
            official_train, {"train": 1.0 - val_fraction, "val": val_fraction}, seed=seed, stratify_col="label"
        )
    table["split"] = split
    table["dataset"] = DATASET
    checked = ("train", "val", "test") if drop_test_patients else ("train", "val")
    assert_patient_disjoint({part: table.loc[table["split"] == part, "patient_id"] for part in checked})
    table = table[COLUMNS]
    table.attrs["protocol"] = {
        "dataset": DATASET, "val_fraction": val_fraction, "seed": seed, "val_unit": "patients",
        "stratify": "label", "patient_rule": patient_rule, "test": "official, unchanged",
        "drop_test_patients": drop_test_patients,
    }
    table.attrs["dropped_test_patients"] = dropped
    return table


def official_leakage(table: pd.DataFrame) -> pd.DataFrame:
    """Patients shared by the official train and test parts (a :func:`leakage_report` row) plus the
    number of images concerned on each side (``images_a``, ``images_b``)."""
    parts = {part: table.loc[table["official_split"] == part, "patient_id"] for part in OFFICIAL_PARTS}
    report = leakage_report(parts)
    shared = set(parts["train"]) & set(parts["test"])
    report["images_a"] = int(parts["train"].isin(shared).sum())
    report["images_b"] = int(parts["test"].isin(shared).sum())
    return report


def patients_in_test(table: pd.DataFrame) -> pd.Series:
    """Per row, whether its patient has an image in the official test part (for pools that must never
    contain a test patient)."""
    return table["patient_id"].isin(set(table.loc[table["official_split"] == "test", "patient_id"]))
