"""Fine-tuning tasks as data rows (no torch: the dataset that serves them is :mod:`cxrlib.images.dataset`).

A **task** (:class:`TaskSpec`, registry :data:`TASKS`) says which metadata table to load, which part is
train/val/test, what the targets are and which document it reproduces. Every loader returns the same
shape of table: ``image_id``, ``patient_id``, ``path``, ``split`` (train/val/test, patient-disjoint,
checked by the :mod:`cxrlib.data` loaders), plus

* ``target`` (int class index) for ``kind="binary"`` and ``kind="single_label"``, or
* one 0/1 column per label (named as in ``classes``) for ``kind="multilabel"``.

===========================  ============  ==========================================================
task                         kind          what
===========================  ============  ==========================================================
``kermany_pneumonia``        binary        Kermany pediatric pneumonia vs normal; official test, val =
                                           ``val_fraction`` (10 %) of the official-train patients;
                                           option ``patient_clean`` (default on) drops train patients
                                           with test images; off = the official split, as released
``nih15_single_label``       single_label  document 000: NIH ChestX-ray14, 15 classes (one finding or
                                           No Finding), official test list, val = 20 % of train_val
``nih14_multilabel``         multilabel    NIH ChestX-ray14, the 14 findings of CheXNet, official split
``covid_vs_pneumonia``       binary        COVID-19 vs other pneumonia (Cohen collection), patient split
                                           70/10/20 (document 002's C19-Cohen)
``d001_nih``                 multilabel    document 001, Table 3: ChestX-ray14, 13 findings + No Finding
                                           (no Infiltration), official split
``d001_chexpert``            multilabel    document 001: CheXpert frontal, 10 labels, uncertain ->
                                           negative, 80/20 patient split
``d001_mimic``               multilabel    document 001: MIMIC-CXR-JPG frontal, 10 labels, uncertain ->
                                           negative, 80/20 patient split
``d001_padchest``            multilabel    document 001: PadChest frontal, 17 labels, 80/20 patient split
``d001_vindr``               multilabel    document 001: VinDr-CXR, 11 labels, official train/test
``d002_nih_pneumonia``       binary        document 002: ChestX-ray14 pneumonia vs No Finding, 1,353 +
                                           1,353 images, patient split 70/10/20
``d002_covidgr``             binary        document 002: COVIDGR COVID-19 vs negative, 426 + 426
``d004_chexpert``            multilabel    document 004: CheXpert 14 labels, uncertain -> positive, 80/20
                                           of official train, test = 202 frontal validation images
``d004_chexpert_rare``       multilabel    document 004: CheXpert-Rare (5 rare + No Finding + Other)
``chexpert_competition5``    multilabel    document 003: CheXpert's 5 competition findings, U-Ones
                                           (option), test = the 234 official validation images
``nih_competition5``         multilabel    the same 5 findings on NIH ChestX-ray14 (classroom analogue),
                                           random patient split (test_fraction 30 %)
``pneumoniamnist``           binary        PneumoniaMNIST, official train/val/test of the npz (28 px)
===========================  ============  ==========================================================

Each row also says, as data, its ``uncertainty`` policy, its ``images`` (where the files come from),
the ``document`` it follows and the document's own names of its labels (``document_labels``, in the
order of ``classes``). Document 001's sixth data set, UKA-CXR (University Hospital RWTH Aachen), is not
public: no row can be built for it (:data:`cxrlib.data.d001.NOT_PUBLIC`).

Splits that the documents draw at random ("80 % training and 20 % test sets based on patients") have a
test part drawn with the option ``test_seed`` (default 0) and a validation part drawn with the run's
``seed``, so runs with different seeds (and the two initialisations of document 001) share one test set.

Images that are not on the development machine (CheXpert, PadChest, VinDr-CXR, MIMIC-CXR, COVIDGR) are
read from the layout of their :data:`cxrlib.data.root.SOURCES` row; every listed image must be there,
else :class:`~cxrlib.data.root.DataNotFoundError` names the download page. PneumoniaMNIST's 28 px
arrays are written once as PNG files under the cxrlib cache folder
(:func:`cxrlib.data.medmnist.materialise_pngs`), so the dataset and the preprocessing cache read them like
any other image (and resize them to any ``image_size``).

NIH images are read from ``nih-cxr14/images/`` (the full release; every image must be there) or, with
``task_options={"nih_images": "images-256"}``, from the classroom sample, keeping only the images
present (the table's ``attrs["note"]`` says so).

"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.core.config import lookup
from cxrlib.data import chexpert, covid, covidgr, d001, d004, medmnist, mimic, nih, padchest, pediatric, vindr
from cxrlib.data.root import DataNotFoundError, data_root, how_to_get, require, require_file
from cxrlib.data.splits import assert_patient_disjoint, split_by_patient

TASK_KINDS = ("binary", "single_label", "multilabel")
TARGET = "target"
BASE_COLUMNS = ("image_id", "patient_id", "path", "split")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TaskSpec:
    """One fine-tuning task: how to load its table, its targets, and where it comes from."""

    name: str
    title: str
    kind: str
    classes: tuple[str, ...]
    load: Callable[..., pd.DataFrame]
    dataset: str
    split: str
    reference: str
    val_fraction: float | None  # None: the data set's official validation part (no carving)
    source: str = ""  # the data-root source (cxrlib.data.root.SOURCES) holding the images
    report_class: str | None = None  # multi-class: the class whose precision is reported (document 000)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # task options and their defaults
    document: str = ""  # the source document the row follows ("000" ... "004"), "" for none
    document_labels: tuple[str, ...] = ()  # the document's names of ``classes`` (same order), () = same
    uncertainty: str = "not applicable (labels are certain 0/1)"  # how uncertain labels become targets
    images: str = ""  # where the image files come from (layout below the data root)
    notes: str = ""  # what the document leaves open and what the row chose

    def __post_init__(self) -> None:
        lookup(TASK_KINDS, self.kind, what=f"kind of task {self.name}")
        if self.kind == "binary" and len(self.classes) != 2:
            raise ValueError(f"task {self.name}: a binary task has two classes (negative, positive)")
        if self.document_labels and len(self.document_labels) != len(self.classes):
            raise ValueError(f"task {self.name}: document_labels must name every class, in the order of classes")

    @property
    def labels_as_published(self) -> tuple[str, ...]:
        """The labels as the document names them (``document_labels``, else ``classes``)."""
        return self.document_labels or self.classes

    @property
    def n_outputs(self) -> int:
        """Logits of the model: one per class (softmax) or one per label (sigmoid)."""
        return len(self.classes)

    @property
    def positive_class(self) -> str | None:
        """The positive class of a binary task (the second of ``classes``)."""
        return self.classes[1] if self.kind == "binary" else None

    @property
    def target_columns(self) -> tuple[str, ...]:
        return self.classes if self.kind == "multilabel" else (TARGET,)

    def targets(self, table: pd.DataFrame) -> np.ndarray:
        """Class indices (int64, N) or the N x L 0/1 matrix (float32) of ``table``."""
        if self.kind == "multilabel":
            return np.array(table[list(self.classes)].to_numpy(dtype=np.float32))  # writable copy
        return np.array(table[TARGET].to_numpy(dtype=np.int64))

    def data_path(self, root: PathLike | None = None) -> Path:
        """The folder of the task's data below the data root (for provenance fingerprints); raises
        :class:`DataNotFoundError` saying how to get the data when it is not there."""
        return require(self.source, root)

    def load_table(
        self,
        root: PathLike | None = None,
        seed: int = 0,
        val_fraction: float | None = None,
        **options: Any,
    ) -> pd.DataFrame:
        """The task's table (see the module docstring); ``attrs["task"]`` names the task."""
        unknown = set(options) - set(self.defaults)
        if unknown:
            raise ValueError(
                f"task {self.name} has no option(s) {sorted(unknown)}; known: {sorted(self.defaults) or 'none'}"
            )
        if self.val_fraction is None and val_fraction is not None:
            raise ValueError(f"task {self.name} keeps its data set's official validation part; val_fraction must be None")
        fraction = self.val_fraction if val_fraction is None else float(val_fraction)
        table = self.load(data_root(root), seed, fraction, **{**self.defaults, **options})
        missing = [c for c in (*BASE_COLUMNS, *self.target_columns) if c not in table.columns]
        if missing:
            raise ValueError(f"task {self.name}: the loader's table lacks {missing}")
        table.attrs = {**table.attrs, "task": self.name, "val_fraction": fraction, "seed": seed}
        return table


# ------------------------------------------------------------------------------------------ loaders


def _load_kermany(root: Path, seed: int, val_fraction: float, patient_rule: str, patient_clean: bool) -> pd.DataFrame:
    table = pediatric.load_kermany(root, val_fraction=val_fraction, seed=seed, patient_rule=patient_rule,
                                   drop_test_patients=bool(patient_clean))
    return table.assign(**{TARGET: table["label"].astype(int)})


def _load_covid(root: Path, seed: int, val_fraction: float) -> pd.DataFrame:
    test = covid.DEFAULT_FRACTIONS["test"]
    fractions = {"train": 1.0 - test - val_fraction, "val": val_fraction, "test": test}
    task = covid.covid_task(covid.load_covid(root, seed=seed, fractions=fractions))
    # label 1 = COVID-19, 0 = other pneumonia; classes are (negative, positive)
    return task.assign(**{TARGET: task["label"].astype(int)}).reset_index(drop=True)


NIH_IMAGE_FOLDERS = {"images": "nih-cxr14", "images-256": "nih-cxr14-sample"}
"""NIH image folder below ``nih-cxr14/`` -> the data-root source that describes it."""


def nih_image_paths(root: Path, meta: pd.DataFrame, folder: str = "images") -> tuple[pd.Series, str]:
    """Path of every NIH image of ``meta`` in ``nih-cxr14/<folder>/`` and a note on coverage.

    The full folder (``"images"``) must hold every image (else :class:`DataNotFoundError` with the
    download instructions); any other folder is a sample: absent images get a missing path.
    """
    source = lookup(NIH_IMAGE_FOLDERS, folder, what="NIH image folder (nih_images)")
    directory = root / "nih-cxr14" / folder
    present = {entry.name for entry in os.scandir(directory) if entry.name.endswith(".png")} if directory.is_dir() else set()
    found = meta["image_id"].isin(present)
    paths = pd.Series(None, index=meta.index, dtype=object)
    paths[found] = (str(directory) + os.sep + meta.loc[found, "image_id"]).to_numpy(dtype=object)
    missing = int(paths.isna().sum())
    if folder == "images" and missing:
        raise DataNotFoundError(
            f"{missing} of {len(meta)} NIH images are not in {directory} (e.g. "
            f"{list(meta.loc[paths.isna(), 'image_id'][:3])}).\n{how_to_get('nih-cxr14', root)}"
        )
    if not present:
        raise DataNotFoundError(f"no NIH PNG images in {directory}.\n{how_to_get(source, root)}")
    note = (
        "all images" if not missing
        else f"sample: {len(meta) - missing} of {len(meta)} images present in nih-cxr14/{folder}"
    )
    return paths.rename("path"), note


def _nih_table(root: Path, seed: int, val_fraction: float, nih_images: str, nih_metadata: str | None):
    meta = nih.load_metadata(nih_metadata)
    split = nih.official_split(meta, root=root, val_fraction=val_fraction, seed=seed)
    paths, note = nih_image_paths(root, meta, nih_images)
    return meta.assign(split=split, path=paths), note, split.attrs


def _finish_nih(table: pd.DataFrame, note: str, split_attrs: dict) -> pd.DataFrame:
    table = table[table["path"].notna()].reset_index(drop=True)
    table.attrs = {"note": note, "split_protocol": split_attrs.get("protocol", {}), "split_name": "nih-official"}
    return table


def _load_nih15(root: Path, seed: int, val_fraction: float, nih_images: str, nih_metadata: str | None):
    meta, note, split_attrs = _nih_table(root, seed, val_fraction, nih_images, nih_metadata)
    subset = nih.single_label_subset(meta)
    subset[TARGET] = subset["label_index"].astype(int)
    return _finish_nih(subset, note, split_attrs)


def _load_nih14(root: Path, seed: int, val_fraction: float, nih_images: str, nih_metadata: str | None):
    meta, note, split_attrs = _nih_table(root, seed, val_fraction, nih_images, nih_metadata)
    targets = nih.multilabel_targets(meta)
    table = meta.drop(columns=list(targets.columns)).join(targets)
    return _finish_nih(table, note, split_attrs)


# ------------------------------------------------------------------ shared pieces of the new loaders


def require_images(paths: Sequence[str], key: str, root: Path) -> None:
    """Every image file of ``paths`` must exist; else :class:`DataNotFoundError` with the download page."""
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DataNotFoundError(
            f"{len(missing)} of {len(paths)} images are missing, e.g. {missing[0]}\n{how_to_get(key, root)}"
        )


def patient_split(
    table: pd.DataFrame, seed: int, val_fraction: float, test_fraction: float, test_seed: int,
    stratify: str | None = None,
) -> pd.Series:
    """train/val/test by patient: ``test_fraction`` of the patients drawn with ``test_seed`` (fixed across
    runs), then ``val_fraction`` of the remaining patients drawn with ``seed``; checked patient-disjoint."""
    outer = split_by_patient(table, {"rest": 1.0 - test_fraction, "test": test_fraction}, seed=test_seed,
                             stratify_col=stratify)
    split = outer.astype(object).copy()
    rest = table[outer == "rest"]
    split.loc[rest.index] = split_by_patient(rest, {"train": 1.0 - val_fraction, "val": val_fraction}, seed=seed,
                                             stratify_col=stratify)
    assert_patient_disjoint({part: table.loc[split == part, "patient_id"] for part in SPLITS})
    return split.rename("split")


def _multilabel_table(ids: pd.DataFrame, targets: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """``ids`` (image_id, patient_id, path, split, ...) beside the 0/1 targets named ``classes``."""
    values = targets.to_numpy(dtype=np.float32)
    frame = pd.DataFrame(values, columns=list(classes), index=ids.index).astype("int8")
    return pd.concat([ids, frame], axis=1).reset_index(drop=True)


# ------------------------------------------------------------------------------------- document 001

D001_NIH = tuple(d001.TABLE3_COLUMNS["ChestX-ray14"].values())
D001_CHEXPERT = tuple(d001.TABLE3_COLUMNS["CheXpert"].values())
D001_MIMIC = tuple(d001.TABLE3_COLUMNS["MIMIC-CXR"].values())
D001_VINDR = tuple(d001.TABLE3_COLUMNS["VinDr-CXR"].values())
D001_PADCHEST = tuple(d001.TABLE3_PADCHEST)


def _load_d001_nih(root: Path, seed: int, val_fraction: float, nih_images: str, nih_metadata: str | None):
    meta, note, split_attrs = _nih_table(root, seed, val_fraction, nih_images, nih_metadata)
    table = meta.drop(columns=[c for c in meta.columns if c in D001_NIH]).join(meta[list(D001_NIH)].astype("int8"))
    return _finish_nih(table, note, split_attrs)


CHEXPERT_DIR = "CheXpert-v1.0-small"


def chexpert_tables(root: Path) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """(train, valid, folder) of the CheXpert release under the data root: the labels of the user's own
    ``CheXpert-v1.0-small/train.csv`` and ``valid.csv`` (which belong to the images beside them; the
    ``chexpert/valid.csv`` of the classroom copy stands in for a missing ``valid.csv``)."""
    folder = require("chexpert", root)
    train_csv = folder / CHEXPERT_DIR / "train.csv"
    train = chexpert.normalise(pd.read_csv(train_csv), split="train", source=train_csv)
    valid_csv = folder / CHEXPERT_DIR / "valid.csv"
    if not valid_csv.is_file():
        valid_csv = require_file("chexpert-valid", "valid.csv", root)
    valid = chexpert.normalise(pd.read_csv(valid_csv), split="valid", source=valid_csv)
    return train, valid, folder


def _chexpert_ids(images: pd.DataFrame, folder: Path) -> pd.DataFrame:
    return pd.DataFrame({
        "image_id": "chexpert:" + images["image_id"], "patient_id": "chexpert:" + images["patient_id"],
        "path": [str(folder / p) for p in images["image_id"]], "study": images["study"],
    }, index=images.index)


def _load_d001_chexpert(root: Path, seed: int, val_fraction: float, selection: str, test_seed: int):
    train, valid, folder = chexpert_tables(root)
    images = d001.select_chexpert(train, valid, selection).reset_index(drop=True)
    ids = _chexpert_ids(images, folder)
    ids["split"] = patient_split(ids, seed, val_fraction, 0.2, test_seed)
    targets = chexpert.apply_uncertainty(images, "U-Zeros", D001_CHEXPERT)
    require_images(ids["path"].tolist(), "chexpert", root)
    table = _multilabel_table(ids, targets, D001_CHEXPERT)
    table.attrs = {"note": f"selection {selection!r}: {d001.get_chexpert_selection(selection).description}"}
    return table


def _load_d001_mimic(root: Path, seed: int, val_fraction: float, test_seed: int):
    images = mimic.load_frontal(root)
    folder = require(mimic.SOURCE_KEY, root)
    ids = images[["image_id", "patient_id", "study"]].assign(path=[str(folder / p) for p in images["relative_path"]])
    ids["split"] = patient_split(ids, seed, val_fraction, 0.2, test_seed)
    require_images(ids["path"].tolist(), mimic.SOURCE_KEY, root)
    return _multilabel_table(ids, chexpert.apply_uncertainty(images, "U-Zeros", D001_MIMIC), D001_MIMIC)


PADCHEST_LABEL_FILE = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"


def _load_d001_padchest(root: Path, seed: int, val_fraction: float, test_seed: int):
    folder = require("padchest", root)
    own = [folder / PADCHEST_LABEL_FILE, folder / f"{PADCHEST_LABEL_FILE}.gz"]
    labels_file = next((p for p in own if p.is_file()), None)  # else the copy shipped in torchxrayvision
    images = padchest.frontal(padchest.load_metadata(labels_file), labelled_only=True).reset_index(drop=True)
    indicators = padchest.label_indicators(images, d001.TABLE3_PADCHEST, match=d001.PADCHEST_MATCH)
    ids = pd.DataFrame({
        "image_id": "padchest:" + images["image_id"], "patient_id": "padchest:" + images["patient_id"],
        "path": [str(folder / "images" / name) for name in images["image_id"]], "study": images["study"],
    })
    ids["split"] = patient_split(ids, seed, val_fraction, 0.2, test_seed)
    require_images(ids["path"].tolist(), "padchest", root)
    table = _multilabel_table(ids, indicators, D001_PADCHEST)
    table.attrs = {"note": f"labels from {labels_file or 'the PadChest CSV shipped in torchxrayvision'}"}
    return table


def _load_d001_vindr(root: Path, seed: int, val_fraction: float, reader_rule: str):
    labels = vindr.load_image_labels(root, reader_rule)
    absent = [c for c in D001_VINDR if c not in labels.columns]
    if absent:
        raise ValueError(f"the VinDr-CXR image label files lack the column(s) {absent}")
    folder = require(vindr.SOURCE_KEY, root)
    ids = pd.DataFrame({
        "image_id": "vindr:" + labels["image_id"], "patient_id": "vindr:" + labels["image_id"],
        "path": [str(folder / split / f"{name}.png") for split, name in zip(labels["split"], labels["image_id"])],
        "split": labels["split"].astype(object),
    })
    train = ids[ids["split"] == "train"]
    ids.loc[train.index, "split"] = split_by_patient(train, {"train": 1.0 - val_fraction, "val": val_fraction},
                                                     seed=seed)
    require_images(ids["path"].tolist(), vindr.SOURCE_KEY, root)
    return _multilabel_table(ids, labels[list(D001_VINDR)], D001_VINDR)


# ------------------------------------------------------------------------------------- document 002


def _load_d002_nih_pneumonia(root: Path, seed: int, val_fraction: float, nih_images: str,
                             nih_metadata: str | None, n_per_class: int, draw_seed: int, test_seed: int):
    meta = nih.load_metadata(nih_metadata)
    paths, note = nih_image_paths(root, meta, nih_images)
    meta = meta.assign(path=paths)[paths.notna()]
    pneumonia = meta[meta["Pneumonia"] == 1]
    sick = set(pneumonia["patient_id"])
    controls = meta[(meta["No Finding"] == 1) & ~meta["patient_id"].isin(sick)]
    controls = controls.sort_values(["patient_id", "follow_up"], kind="stable").drop_duplicates("patient_id")
    n = min(int(n_per_class), len(pneumonia), len(controls))
    rng = np.random.default_rng(draw_seed)
    drawn = pd.concat([
        part.iloc[np.sort(rng.permutation(len(part))[:n])] for part in (controls, pneumonia)
    ])
    table = pd.DataFrame({
        "image_id": drawn["image_id"], "patient_id": "nih:" + drawn["patient_id"].astype(str),
        "path": drawn["path"], TARGET: drawn["Pneumonia"].astype(int), "finding_labels": drawn["finding_labels"],
    }).reset_index(drop=True)
    table["split"] = patient_split(table, seed, val_fraction, 0.2, test_seed, stratify=TARGET)
    table.attrs = {"note": f"{n} + {n} images ({note}); the document's Table II: 1,353 + 1,353"}
    return table


def _load_d002_covidgr(root: Path, seed: int, val_fraction: float, test_seed: int):
    table = covidgr.load_covidgr(root)
    table[TARGET] = table["label"].astype(int)
    table["split"] = patient_split(table, seed, val_fraction, 0.2, test_seed, stratify=TARGET)
    return table


# ------------------------------------------------------------------------------------- document 004

D004_CHEXPERT = chexpert.LABELS


def _d004_parts(root: Path, seed: int, val_fraction: float, frontal_only: bool):
    train, valid, folder = chexpert_tables(root)
    train = (chexpert.frontal(train) if frontal_only else train).reset_index(drop=True)
    test = chexpert.frontal(valid).reset_index(drop=True)  # the 202 frontal validation images
    return train, test, folder


def _d004_table(train, test, train_targets, test_targets, folder, seed, val_fraction, classes, root):
    ids = _chexpert_ids(train, folder)
    ids["split"] = split_by_patient(ids, {"train": 1.0 - val_fraction, "val": val_fraction}, seed=seed)
    test_ids = _chexpert_ids(test, folder).assign(split="test")
    both = pd.concat([_multilabel_table(ids, train_targets, classes), _multilabel_table(test_ids, test_targets, classes)],
                     ignore_index=True)
    assert_patient_disjoint({part: both.loc[both["split"] == part, "patient_id"] for part in SPLITS})
    require_images(both["path"].tolist(), "chexpert", root)
    return both


def _load_d004_chexpert(root: Path, seed: int, val_fraction: float, frontal_only: bool):
    train, test, folder = _d004_parts(root, seed, val_fraction, frontal_only)
    return _d004_table(train, test, chexpert.apply_uncertainty(train, "U-Ones", D004_CHEXPERT),
                       chexpert.apply_uncertainty(test, "U-Ones", D004_CHEXPERT), folder, seed, val_fraction,
                       D004_CHEXPERT, root)


def _load_d004_rare(root: Path, seed: int, val_fraction: float, test_rare_only: bool):
    train, test, folder = _d004_parts(root, seed, val_fraction, True)
    rare = d004.chexpert_rare(train, "U-Ones", frontal_only=False)
    test_targets = d004.rare_targets(test, "U-Ones")
    if test_rare_only:
        keep = test_targets[list(d004.SELECTION_CLASSES)].eq(chexpert.POSITIVE).any(axis=1)
        test, test_targets = test[keep], test_targets[keep]
    return _d004_table(train.loc[rare.index], test, rare[list(d004.RARE_LABELS)], test_targets, folder, seed,
                       val_fraction, d004.RARE_LABELS, root)


# ---------------------------------------------------------------------------------- PneumoniaMNIST


def _load_pneumoniamnist(root: Path, seed: int, val_fraction: None, png_dir: str | None):
    table = medmnist.png_table(root, png_dir)
    table[TARGET] = table["label"].astype(int)
    return table


# ------------------------------------------------------------------------------------- document 003

COMPETITION5 = chexpert.COMPETITION_LABELS
NIH_TO_COMPETITION5 = {"Atelectasis": "Atelectasis", "Cardiomegaly": "Cardiomegaly", "Consolidation": "Consolidation",
                       "Edema": "Edema", "Effusion": "Pleural Effusion"}
"""NIH ChestX-ray14 finding -> CheXpert competition label (same findings; NIH says Effusion)."""


def _load_chexpert_competition5(root: Path, seed: int, val_fraction: float, frontal_only: bool,
                                uncertainty_policy: str):
    train, valid, folder = chexpert_tables(root)
    train = (chexpert.frontal(train) if frontal_only else train).reset_index(drop=True)
    valid = (chexpert.frontal(valid) if frontal_only else valid).reset_index(drop=True)
    ids = _chexpert_ids(train, folder)
    ids["split"] = split_by_patient(ids, {"train": 1.0 - val_fraction, "val": val_fraction}, seed=seed)
    test_ids = _chexpert_ids(valid, folder).assign(split="test")
    both = pd.concat([
        _multilabel_table(ids, chexpert.apply_uncertainty(train, uncertainty_policy, COMPETITION5), COMPETITION5),
        _multilabel_table(test_ids, chexpert.apply_uncertainty(valid, uncertainty_policy, COMPETITION5), COMPETITION5),
    ], ignore_index=True)
    assert_patient_disjoint({part: both.loc[both["split"] == part, "patient_id"] for part in SPLITS})
    require_images(both["path"].tolist(), "chexpert", root)
    both.attrs = {"note": f"uncertainty policy {uncertainty_policy}; frontal_only={frontal_only}"}
    return both


def _load_nih_competition5(root: Path, seed: int, val_fraction: float, nih_images: str, nih_metadata: str | None,
                           test_fraction: float, test_seed: int):
    meta = nih.load_metadata(nih_metadata)
    paths, note = nih_image_paths(root, meta, nih_images)
    meta = meta.assign(path=paths)
    meta = meta[meta["path"].notna()].reset_index(drop=True)
    targets = meta[list(NIH_TO_COMPETITION5)].astype("int8").rename(columns=NIH_TO_COMPETITION5)
    ids = meta[["image_id", "patient_id", "path"]].copy()
    ids["split"] = patient_split(ids, seed, val_fraction, test_fraction, test_seed)
    table = pd.concat([ids, targets], axis=1)
    table.attrs = {"note": note}
    return table


#: Labels of :data:`TASKS` ``kermany_pathogen``: pneumonia of any cause and its two causes in Kermany's file names.
KERMANY_PATHOGEN_LABELS = ("Pneumonia", "Bacterial", "Viral")


def _load_kermany_pathogen(root: Path, seed: int, val_fraction: float, patient_rule: str,
                           patient_clean: bool) -> pd.DataFrame:
    table = _load_kermany(root, seed, val_fraction, patient_rule, patient_clean)
    return table.assign(Pneumonia=table["label"].astype("int8"),
                        Bacterial=(table["pathogen"] == "bacteria").astype("int8"),
                        Viral=(table["pathogen"] == "virus").astype("int8"))


_NIH_OPTIONS = {"nih_images": "images", "nih_metadata": None}

TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec(
            name="kermany_pneumonia",
            title="Pediatric pneumonia vs normal (Kermany et al. 2018)",
            kind="binary",
            classes=("normal", "pneumonia"),
            load=_load_kermany,
            dataset="Kermany pediatric chest X-rays (CC BY 4.0)",
            split="official test; val carved from official-train patients",
            reference="Kermany et al., Cell 2018; the 'Cell' data set of document 002",
            val_fraction=0.1,
            source="kermany-pneumonia",
            defaults={"patient_rule": "person", "patient_clean": True},
            document="002",
            images="kermany-pneumonia/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg",
            notes=(
                "The official test folder shares 170 'person<N>' numbers (457 train, 320 test images) with train "
                "under patient_rule='person' (cxrlib.data.pediatric.official_leakage); patient_clean=True drops "
                "those train images before val is carved, making train/val/test patient-disjoint. Default True "
                "(the classroom runs); the paper parameter files that follow document 002's use of the official "
                "split set patient_clean: false, and notebook 11 reports test AUROC both ways."
            ),
        ),
        TaskSpec(
            name="nih15_single_label",
            title="NIH ChestX-ray14, 15-class single-label (document 000)",
            kind="single_label",
            classes=nih.SINGLE_LABEL_CLASSES,
            load=_load_nih15,
            dataset="NIH ChestX-ray14, single-label subset",
            split="official test list; val = patients of train_val",
            reference="document 000, sections 3.1-3.2 and Table 1",
            val_fraction=0.2,
            source="nih-cxr14",
            report_class="No Finding",
            defaults=_NIH_OPTIONS,
            document="000",
            images="nih-cxr14/images/<Image Index>.png (or the images-256 sample)",
        ),
        TaskSpec(
            name="nih14_multilabel",
            title="NIH ChestX-ray14, 14 findings multi-label (document 001)",
            kind="multilabel",
            classes=nih.CHEXNET_ORDER,
            load=_load_nih14,
            dataset="NIH ChestX-ray14, all images",
            split="official test list; val = patients of train_val",
            reference="CheXNet (Rajpurkar et al. 2017) label set; document 001's own label set is d001_nih",
            val_fraction=0.2,
            source="nih-cxr14",
            defaults=_NIH_OPTIONS,
            images="nih-cxr14/images/<Image Index>.png (or the images-256 sample)",
            notes="Keeps Infiltration and has no No Finding label: NOT document 001's Table 3 (use d001_nih).",
        ),
        TaskSpec(
            name="covid_vs_pneumonia",
            title="COVID-19 vs other pneumonia (Cohen et al. collection)",
            kind="binary",
            classes=(covid.OTHER, covid.COVID),
            load=_load_covid,
            dataset="COVID-19 image data collection (frontal X-rays; per-image licences)",
            split="patient-disjoint, test 20 %, val = val_fraction, rest train",
            reference="the C19-Cohen task of document 002",
            val_fraction=0.1,
            source="covid-chestxray",
            document="002",
            images="covid-chestxray/images-256/<file stem>.png",
        ),
        TaskSpec(
            name="d001_nih",
            title="NIH ChestX-ray14, document 001's 14 labels (13 findings + No Finding)",
            kind="multilabel",
            classes=D001_NIH,
            load=_load_d001_nih,
            dataset="NIH ChestX-ray14, all images (all frontal)",
            split="official test list; val = 20 % of the train_val patients",
            reference="document 001, Table 3 (ChestX-ray14 column) and Methods ('original sets ... retained')",
            val_fraction=0.2,
            source="nih-cxr14",
            defaults=_NIH_OPTIONS,
            document="001",
            document_labels=d001.TABLE3_LABELS["ChestX-ray14"],
            images="nih-cxr14/images/<Image Index>.png (or the images-256 sample)",
            notes="Table 3 leaves out Infiltration and adds No finding (healthy); the order is Table 3's.",
        ),
        TaskSpec(
            name="d001_chexpert",
            title="CheXpert, document 001's 10 labels, uncertain as negative",
            kind="multilabel",
            classes=D001_CHEXPERT,
            load=_load_d001_chexpert,
            dataset="CheXpert v1.0 (small or full release), frontal images",
            split="80 % / 20 % of the patients (test drawn with test_seed); val = val_fraction of the training patients",
            reference="document 001, Table 3 (CheXpert column), Methods ('80% training and 20% test sets based on "
                      "patients', 'Label unification')",
            val_fraction=0.1,
            source="chexpert",
            defaults={"selection": "frontal-train", "test_seed": 0},
            document="001",
            document_labels=d001.TABLE3_LABELS["CheXpert"],
            uncertainty="U-Zeros: uncertain (-1) and blank are negative (document 001, 'Label unification')",
            images="chexpert/CheXpert-v1.0-small/{train,valid}/patient*/study*/view*_frontal.jpg with its train.csv",
            notes=(
                "The document splits the images 80/20 by patient but does not say which images: selection "
                "'frontal-train' (default) takes every frontal train image; 'authors-reconstructed' is our "
                "inferred rule that reproduces its Table 2 counts (cxrlib.data.d001). The validation part for "
                "early stopping is ours (the document names none)."
            ),
        ),
        TaskSpec(
            name="d001_mimic",
            title="MIMIC-CXR-JPG, document 001's 10 labels, uncertain as negative",
            kind="multilabel",
            classes=D001_MIMIC,
            load=_load_d001_mimic,
            dataset="MIMIC-CXR-JPG v2, frontal images (ViewPosition PA or AP)",
            split="80 % / 20 % of the patients (test drawn with test_seed); val = val_fraction of the training patients",
            reference="document 001, Table 3 (MIMIC-CXR column), Methods",
            val_fraction=0.1,
            source="mimic-cxr",
            defaults={"test_seed": 0},
            document="001",
            document_labels=d001.TABLE3_LABELS["MIMIC-CXR"],
            uncertainty="U-Zeros: uncertain (-1) and blank are negative (document 001, 'Label unification')",
            images="mimic-cxr-jpg/files/p*/p<subject>/s<study>/<dicom_id>.jpg (credentialed PhysioNet access)",
            notes="Labels are per study (CheXpert labeler); every frontal image of a study carries them.",
        ),
        TaskSpec(
            name="d001_padchest",
            title="PadChest, document 001's 17 labels",
            kind="multilabel",
            classes=D001_PADCHEST,
            load=_load_d001_padchest,
            dataset="PadChest, frontal images (PA, AP, AP_horizontal) with a label list",
            split="80 % / 20 % of the patients (test drawn with test_seed); val = val_fraction of the training patients",
            reference="document 001, Table 3 (PadChest column), Methods",
            val_fraction=0.1,
            source="padchest",
            defaults={"test_seed": 0},
            document="001",
            document_labels=d001.TABLE3_LABELS["PadChest"],
            uncertainty="not applicable (report labels are present or absent)",
            images="padchest/images/<ImageID>.png (16-bit PNGs)",
            notes=(
                "A label is positive when a report label name contains one of its patterns "
                "(cxrlib.data.d001.TABLE3_PADCHEST, the substring rule that reproduces Table 2); class names are "
                "the document's."
            ),
        ),
        TaskSpec(
            name="d001_vindr",
            title="VinDr-CXR, document 001's 11 labels",
            kind="multilabel",
            classes=D001_VINDR,
            load=_load_d001_vindr,
            dataset="VinDr-CXR (PhysioNet 1.0.0), 15,000 train and 3,000 test images",
            split="official test (3,000 images); val = val_fraction of the official train images",
            reference="document 001, Table 3 (VinDr-CXR column), Methods ('original sets ... retained')",
            val_fraction=0.1,
            source="vindr-cxr",
            defaults={"reader_rule": "majority"},
            document="001",
            document_labels=d001.TABLE3_LABELS["VinDr-CXR"],
            uncertainty="train: positive when 2 of the 3 readers marked it (reader_rule); test: the released consensus",
            images="vindr-cxr/{train,test}/<image_id>.png (PNG conversions of the released DICOMs)",
            notes=(
                "VinDr-CXR publishes no patient ids: patient_id is the image id (one image per study in the "
                "release). Pneumonia is a global label of the full release, absent from the Kaggle file shipped "
                "in torchxrayvision, so the task reads the PhysioNet image_labels files."
            ),
        ),
        TaskSpec(
            name="d002_nih_pneumonia",
            title="NIH ChestX-ray14 pneumonia vs healthy, balanced (document 002)",
            kind="binary",
            classes=("No Finding", "Pneumonia"),
            load=_load_d002_nih_pneumonia,
            dataset="NIH ChestX-ray14: images with Pneumonia and one No Finding image of other patients",
            split="patient-disjoint, test 20 % (test_seed), val = val_fraction, rest train; stratified by class",
            reference="document 002, Table II (ChestX-ray-14: 2,706 = 1,353 + 1,353) and section IV",
            val_fraction=0.1,
            source="nih-cxr14",
            defaults={**_NIH_OPTIONS, "n_per_class": 1353, "draw_seed": 0, "test_seed": 0},
            document="002",
            document_labels=("healthy", "pneumonia"),
            images="nih-cxr14/images/<Image Index>.png (or the images-256 sample: as many per class as present)",
            notes=(
                "The document selects 'patients with pneumonia and a matched number of healthy controls' and "
                "prints 1,353 per class; its selection rule is not given (the NIH file has 1,431 Pneumonia images "
                "of 1,008 patients). We draw n_per_class Pneumonia images (any co-finding) and n_per_class No "
                "Finding images, one per patient never labelled Pneumonia, with draw_seed (fixed across runs). "
                "The document's probe uses stratified k-fold; we use one patient-disjoint train/val/test split."
            ),
        ),
        TaskSpec(
            name="d002_covidgr",
            title="COVIDGR-1.0, COVID-19 vs negative (document 002)",
            kind="binary",
            classes=("negative", "COVID-19"),
            load=_load_d002_covidgr,
            dataset="COVIDGR-1.0 (Tabik et al. 2020), 426 positive and 426 negative PA images",
            split="patient-disjoint, test 20 % (test_seed), val = val_fraction, rest train; stratified by class",
            reference="document 002, Table II (COVIDGR: 852 = 426 + 426) and section IV",
            val_fraction=0.1,
            source="covidgr",
            defaults={"test_seed": 0},
            document="002",
            images="covidgr/{P,N}/*.jpg (COVIDGR_1.0.zip)",
            notes="One image per patient, so the split by image is a split by patient. The document follows the "
                  "published protocol of Tabik et al. (5-fold cross-validation); we use one split.",
        ),
        TaskSpec(
            name="d004_chexpert",
            title="CheXpert, 14 labels, uncertain as positive (document 004)",
            kind="multilabel",
            classes=D004_CHEXPERT,
            load=_load_d004_chexpert,
            dataset="CheXpert v1.0: frontal train images; test = the 202 frontal official validation images",
            split="official validation (202 frontal) as test; official train split 80/20 by patient into train/val",
            reference="document 004, sections 3.4.2 and 4.2.1; Tables III and V (14 classes)",
            val_fraction=0.2,
            source="chexpert",
            defaults={"frontal_only": True},
            document="004",
            document_labels=tuple("Enlarged Cardiomedastinum" if c == "Enlarged Cardiomediastinum" else c
                                  for c in D004_CHEXPERT),
            uncertainty="U-Ones: uncertain (-1) is positive, blank negative (document 004, section 3.4.2)",
            images="chexpert/CheXpert-v1.0-small/{train,valid}/... with its train.csv and valid.csv",
            notes=(
                "The document divides the official train set 80/20 without saying by patient; we split by patient. "
                "Fracture has no positive test image and is left out of the document's evaluation (section 4.2.1); "
                "it stays a training label here. Train images frontal (frontal_only), as for CheXpert-Rare."
            ),
        ),
        TaskSpec(
            name="d004_chexpert_rare",
            title="CheXpert-Rare: 5 rare classes, No Finding and Other (document 004)",
            kind="multilabel",
            classes=d004.RARE_LABELS,
            load=_load_d004_rare,
            dataset="CheXpert-Rare (frontal train images with a positive among 6 classes; published 82,942)",
            split="official validation (202 frontal) as test; CheXpert-Rare train split 80/20 by patient",
            reference="document 004, sections 3.4.2, 3.5 and 4.2.1; Table IV",
            val_fraction=0.2,
            source="chexpert",
            defaults={"test_rare_only": False},
            document="004",
            document_labels=tuple("Enlarged Cardiomedastinum" if c == "Enlarged Cardiomediastinum" else c
                                  for c in d004.RARE_LABELS),
            uncertainty="U-Ones: uncertain (-1) is positive, blank negative (document 004, section 3.4.2)",
            images="chexpert/CheXpert-v1.0-small/{train,valid}/... with its train.csv and valid.csv",
            notes=(
                "Subset rule of cxrlib.data.d004.chexpert_rare. The test set is all 202 frontal validation images "
                "with the seven targets (test_rare_only=True keeps those with a positive among the six classes); "
                "the document does not say which."
            ),
        ),
        TaskSpec(
            name="chexpert_competition5",
            title="CheXpert, the five competition findings (document 003)",
            kind="multilabel",
            classes=COMPETITION5,
            load=_load_chexpert_competition5,
            dataset="CheXpert v1.0 (small or full release): train images; test = the 234 official validation images",
            split="official validation (234 images, 200 patients) as test; official train split by patient into "
                  "train/val (val_fraction)",
            reference="document 003, slides 'Dataset Description' and 'Why CheXpert' (five key pathologies); "
                      "Irvin et al. 2019 (competition labels)",
            val_fraction=0.1,
            source="chexpert",
            defaults={"frontal_only": False, "uncertainty_policy": "U-Ones"},
            document="003",
            uncertainty="U-Ones by default (option uncertainty_policy: U-Ones, U-Zeros or U-Ignore): uncertain (-1) "
                        "is positive, blank negative. Document 003 praises CheXpert's three-class labels but states "
                        "no policy: ours (U-Ones, which Irvin et al. found best for Atelectasis and Edema)",
            images="chexpert/CheXpert-v1.0-small/{train,valid}/... with its train.csv and valid.csv",
            notes=(
                "Document 003 lists frontal and lateral images and the official validation set (234 images, 200 "
                "patients) but no training protocol: all views by default (frontal_only=False), so a test patient "
                "can have several images (clustered statistics). The hidden official test set (668 images) is not "
                "available."
            ),
        ),
        TaskSpec(
            name="nih_competition5",
            title="NIH ChestX-ray14 with CheXpert's five competition findings (classroom analogue of document 003)",
            kind="multilabel",
            classes=COMPETITION5,
            load=_load_nih_competition5,
            dataset="NIH ChestX-ray14 (full release, or the 621-image classroom sample with nih_images='images-256')",
            split="random patient split: test_fraction of the patients (test_seed), val = val_fraction of the rest",
            reference="NIH ChestX-ray14 (Wang et al. 2017) labels Atelectasis, Cardiomegaly, Consolidation, Edema, "
                      "Effusion: the five CheXpert competition findings (document 003)",
            val_fraction=0.1,
            source="nih-cxr14",
            defaults={**_NIH_OPTIONS, "test_fraction": 0.3, "test_seed": 0},
            document="003",
            document_labels=("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion"),
            uncertainty="not applicable (NIH labels are 0/1 text-mined labels with no uncertain class)",
            images="nih-cxr14/images/<Image Index>.png (or the images-256 sample)",
            notes=(
                "Not the official NIH split: the sample holds only 75 official-test images (3 with Edema), so a "
                "random patient split gives a usable test part. NIH's Effusion is renamed Pleural Effusion; "
                "document_labels keeps the NIH names."
            ),
        ),
        TaskSpec(
            name="pneumoniamnist",
            title="PneumoniaMNIST (MedMNIST v2), pneumonia vs normal at 28 px",
            kind="binary",
            classes=medmnist.CLASSES,
            load=_load_pneumoniamnist,
            dataset="PneumoniaMNIST: Kermany et al.'s images at 28 x 28",
            split="official train/val/test of the npz (4,708 / 524 / 624)",
            reference="Yang et al., MedMNIST v2, Scientific Data 2023",
            val_fraction=None,
            source="pneumoniamnist",
            defaults={"png_dir": None},
            images="pneumoniamnist/pneumoniamnist.npz, written once as PNGs under $CXRLIB_CACHE/sources "
                   "(default ~/.cache/cxrlib/sources)",
            notes=(
                "No patient ids (patient_id = image_id): the official train/val division cannot be checked for "
                "patient leakage. The same children as kermany_pneumonia: never pool the two."
            ),
        ),
        TaskSpec(
            name="kermany_pathogen",
            title="Pediatric pneumonia and its cause as three labels (Kermany et al. 2018; multi-label)",
            kind="multilabel",
            classes=KERMANY_PATHOGEN_LABELS,
            load=_load_kermany_pathogen,
            dataset="Kermany pediatric chest X-rays (CC BY 4.0)",
            split="official test; val carved from official-train patients (as kermany_pneumonia)",
            reference="Kermany et al., Cell 2018 (bacterial/viral in the file names)",
            val_fraction=0.1,
            source="kermany-pneumonia",
            defaults={"patient_rule": "person", "patient_clean": True},
            images="kermany-pneumonia/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg",
            notes=(
                "A multi-label view of kermany_pneumonia with thousands of positives per label: Pneumonia (any), "
                "Bacterial and Viral (the 'bacteria'/'virus' part of the file name). The labels are nested "
                "(Bacterial or Viral implies Pneumonia), as CheXpert's are (e.g. Consolidation within Lung "
                "Opacity). Notebook 09's classroom task: the NIH sample has too few positives per finding for a "
                "model to learn at classroom scale."
            ),
        ),
    )
}


def get_task(task: str | TaskSpec) -> TaskSpec:
    """The row of :data:`TASKS` named ``task`` (a row passes through)."""
    return lookup(TASKS, task, what="task", row_type=TaskSpec)
