"""Fine-tuning tasks as data rows (no torch: the dataset that serves them is :mod:`cxrlib.images.dataset`).

A **task** (:class:`TaskSpec`, registry :data:`TASKS`) says which metadata table to load, which part is
train/val/test, what the targets are and which document it reproduces. Every loader returns the same
shape of table: ``image_id``, ``patient_id``, ``path``, ``split`` (train/val/test, patient-disjoint,
checked by the :mod:`cxrlib.data` loaders), plus

* ``target`` (int class index) for ``kind="binary"`` and ``kind="single_label"``, or
* one 0/1 column per label (named as in ``classes``) for ``kind="multilabel"``.

=======================  ============  ==============================================================
task                     kind          what
=======================  ============  ==============================================================
``kermany_pneumonia``    binary        Kermany pediatric pneumonia vs normal; official test, val =
                                       ``val_fraction`` (10 %) of the official-train patients
``nih15_single_label``   single_label  document 000: NIH ChestX-ray14, 15 classes (one finding or No
                                       Finding), official test list, val = 20 % of train_val patients
``nih14_multilabel``     multilabel    document 001: NIH ChestX-ray14, 14 findings (CheXNet order),
                                       official split ("original sets retained"), val as above
``covid_vs_pneumonia``   binary        COVID-19 vs other pneumonia (Cohen collection), patient split
                                       70/10/20
=======================  ============  ==============================================================

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

from cxrlib.data import covid, nih, pediatric
from cxrlib.data.root import DataNotFoundError, data_root, how_to_get, require

KINDS = ("binary", "single_label", "multilabel")
TARGET = "target"
BASE_COLUMNS = ("image_id", "patient_id", "path", "split")
SPLITS = ("train", "val", "test")

PathLike = str | os.PathLike


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
    val_fraction: float
    source: str = ""  # the data-root source (cxrlib.data.root.SOURCES) holding the images
    report_class: str | None = None  # multi-class: the class whose precision is reported (document 000)
    defaults: Mapping[str, Any] = field(default_factory=dict)  # task options and their defaults

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "binary" and len(self.classes) != 2:
            raise ValueError(f"task {self.name}: a binary task has two classes (negative, positive)")

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
        fraction = self.val_fraction if val_fraction is None else float(val_fraction)
        table = self.load(data_root(root), seed, fraction, **{**self.defaults, **options})
        missing = [c for c in (*BASE_COLUMNS, *self.target_columns) if c not in table.columns]
        if missing:
            raise ValueError(f"task {self.name}: the loader's table lacks {missing}")
        table.attrs = {**table.attrs, "task": self.name, "val_fraction": fraction, "seed": seed}
        return table


# ------------------------------------------------------------------------------------------ loaders


def _load_kermany(root: Path, seed: int, val_fraction: float, patient_rule: str) -> pd.DataFrame:
    table = pediatric.load_kermany(root, val_fraction=val_fraction, seed=seed, patient_rule=patient_rule)
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
    if folder not in NIH_IMAGE_FOLDERS:
        raise ValueError(f"nih_images must be one of {sorted(NIH_IMAGE_FOLDERS)}, got {folder!r}")
    directory = root / "nih-cxr14" / folder
    present = {p.name for p in directory.glob("*.png")} if directory.is_dir() else set()
    paths = meta["image_id"].map(lambda name: str(directory / name) if name in present else None)
    missing = int(paths.isna().sum())
    if folder == "images" and missing:
        raise DataNotFoundError(
            f"{missing} of {len(meta)} NIH images are not in {directory} (e.g. "
            f"{list(meta.loc[paths.isna(), 'image_id'][:3])}).\n{how_to_get('nih-cxr14', root)}"
        )
    if not present:
        raise DataNotFoundError(f"no NIH PNG images in {directory}.\n{how_to_get(NIH_IMAGE_FOLDERS[folder], root)}")
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
            defaults={"patient_rule": "person"},
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
        ),
        TaskSpec(
            name="nih14_multilabel",
            title="NIH ChestX-ray14, 14 findings multi-label (document 001)",
            kind="multilabel",
            classes=nih.CHEXNET_ORDER,
            load=_load_nih14,
            dataset="NIH ChestX-ray14, all images",
            split="official test list; val = patients of train_val",
            reference="document 001, Methods (ChestX-ray14: original split retained; 14 labels, Table 3)",
            val_fraction=0.2,
            source="nih-cxr14",
            defaults=_NIH_OPTIONS,
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
        ),
    )
}


def get_task(task: str | TaskSpec) -> TaskSpec:
    if isinstance(task, TaskSpec):
        return task
    try:
        return TASKS[task]
    except KeyError:
        raise KeyError(f"unknown task {task!r}; known: {', '.join(TASKS)}") from None


# ------------------------------------------------------------------------------------- table helpers


def split_tables(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"train": ..., "val": ..., "test": ...}`` with reset indices; every part must be non-empty."""
    parts = {name: table[table["split"] == name].reset_index(drop=True) for name in SPLITS}
    empty = [name for name, part in parts.items() if part.empty]
    if empty:
        raise ValueError(f"the table has no {', '.join(empty)} rows (split column values: {sorted(table['split'].unique())})")
    return parts


def stratum(table: pd.DataFrame, task: TaskSpec) -> pd.Series:
    """A per-row class key for stratified subsampling (the target, or the label pattern)."""
    if task.kind == "multilabel":
        return table[list(task.classes)].astype(int).astype(str).agg("".join, axis=1)
    return table[TARGET]


def subsample(table: pd.DataFrame, task: TaskSpec, per_split: Mapping[str, int], seed: int) -> pd.DataFrame:
    """At most ``per_split[part]`` rows of each part, drawn with ``seed`` and spread over the classes
    (round robin over the strata of :func:`stratum`), for tests and quick looks. Parts not named are
    kept whole. Sub-sampling a part keeps the split patient-disjoint."""
    rng = np.random.default_rng(seed)
    keep = []
    for name, part in table.groupby("split", sort=False):
        limit = per_split.get(name)
        if limit is None or limit >= len(part):
            keep.append(part.index.to_numpy())
            continue
        groups = [g.index.to_numpy()[rng.permutation(len(g))] for _, g in part.groupby(stratum(part, task), sort=True)]
        order = [idx for rank in range(max(map(len, groups))) for g in groups if rank < len(g) for idx in [g[rank]]]
        keep.append(np.sort(np.asarray(order[:limit])))
    out = table.loc[np.sort(np.concatenate(keep))].reset_index(drop=True)
    out.attrs = {**table.attrs, "subsample": dict(per_split)}
    return out




def class_counts(table: pd.DataFrame, task: str | TaskSpec) -> pd.Series:
    """Training examples per class (single-label/binary) or positives per label (multi-label)."""
    task = get_task(task)
    if task.kind == "multilabel":
        return table[list(task.classes)].sum().astype(int).rename("positives")
    counts = table[TARGET].value_counts().reindex(range(len(task.classes)), fill_value=0)
    return pd.Series(counts.to_numpy(), index=list(task.classes), name="images")


def target_names(task: str | TaskSpec, values: Sequence[int]) -> list[str]:
    """Class names of integer targets."""
    task = get_task(task)
    return [task.classes[int(v)] for v in values]
