"""NIH ChestX-ray14: the metadata table, the official split (plus a patient-disjoint validation part),
the CheXNet random split, the 15-class single-label subset and the 14-label multi-label targets.

Sources
-------
* Metadata: ``Data_Entry_2017_v2020.csv`` (112,120 images, 30,805 patients), shipped in the
  ``torchxrayvision`` wheel and read without importing torch (:mod:`cxrlib.data.metadata`); any other
  copy of the NIH file (e.g. the 2017 original) can be passed as ``path``.
* Official split: ``train_val_list.txt`` / ``test_list.txt`` of the NIH release (Wang et al., CVPR 2017),
  from the data root (``nih-cxr14`` in :data:`cxrlib.data.root.SOURCES`).
* CheXNet random split: ``nih-cxr14/chexnet-split/{train,val,test}_list.txt`` of the arnoweng CheXNet
  re-implementation (70/10/20, random, NOT the official split; every split built from it is labelled
  ``"chexnet-random"``).

Protocols
---------
* Document 000 (sections 3.1-3.2): the official test list is the test set; a validation set of 20 % is
  carved from ``train_val_list``; the task is the 15-class single-label subset (images with exactly one
  finding, or "No Finding"): 91,324 images, 17,853 of them in the official test list. Our validation
  part is patient-disjoint (document 000's is not: see :mod:`cxrlib.data.d000`).
* Multi-label: the 14 findings in the CheXNet order (Rajpurkar et al. 2017), :data:`CHEXNET_ORDER`.

Every split passes through :func:`cxrlib.data.splits.assert_patient_disjoint`.
"""
from __future__ import annotations


from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.core.config import lookup
from cxrlib.data import metadata as shipped
from cxrlib.data.root import SOURCES, DataNotFoundError, how_to_get, require
from cxrlib.data.splits import assert_patient_disjoint, split_by_patient


class Finding(NamedTuple):
    """One NIH label: its spelling in the NIH files and the display name document 000 uses."""

    nih: str
    display: str


# The 14 findings in the CheXNet order (Rajpurkar et al. 2017; the column order of the CheXNet split lists).
FINDINGS: tuple[Finding, ...] = (
    Finding("Atelectasis", "Atelectasis"),
    Finding("Cardiomegaly", "Cardiomegaly"),
    Finding("Effusion", "Effusion"),
    Finding("Infiltration", "Infiltration"),
    Finding("Mass", "Mass"),
    Finding("Nodule", "Nodule"),
    Finding("Pneumonia", "Pneumonia"),
    Finding("Pneumothorax", "Pneumothorax"),
    Finding("Consolidation", "Consolidation"),
    Finding("Edema", "Edema"),
    Finding("Emphysema", "Emphysema"),
    Finding("Fibrosis", "Fibrosis"),
    Finding("Pleural_Thickening", "Pleural Thickening"),
    Finding("Hernia", "Hernia"),
)
NO_FINDING = Finding("No Finding", "No Finding")

CHEXNET_ORDER: tuple[str, ...] = tuple(f.nih for f in FINDINGS)
"""Column order of :func:`multilabel_targets` (NIH spellings)."""

DISPLAY_NAMES: dict[str, str] = {f.nih: f.display for f in (*FINDINGS, NO_FINDING)}
"""NIH spelling -> display name of document 000 (``Pleural_Thickening`` -> ``Pleural Thickening``)."""

SINGLE_LABEL_CLASSES: tuple[str, ...] = tuple(sorted(DISPLAY_NAMES.values()))
"""The 15 classes of the single-label task, in the (alphabetical) row order of document 000, Table 1."""

# NIH column -> our column; all of them are required in a metadata file.
METADATA_COLUMNS: dict[str, str] = {
    "Image Index": "image_id",
    "Patient ID": "patient_id",
    "Finding Labels": "finding_labels",
    "Follow-up #": "follow_up",
    "Patient Age": "age",
    "Patient Gender": "sex",
    "View Position": "view",
}

SPLIT_PARTS = ("train", "val", "test")


def patient_of_image(image_id: str) -> str:
    """The patient of an NIH image: image ids are ``<patient>_<follow-up>.png`` (``00000013_005.png`` is patient
    ``"00000013"``'s sixth image), so the patient is the part before the first underscore. Used where only the
    file name is at hand (the box list, prediction files, the downloaded originals); the metadata table's
    ``patient_id`` is the same number."""
    return image_id.split("_")[0]


# --------------------------------------------------------------------------------------- metadata


def load_metadata(path: PathLike | None = None) -> pd.DataFrame:
    """The NIH metadata as a normalised table, one row per image.

    ``path`` defaults to ``Data_Entry_2017_v2020.csv.gz`` shipped with torchxrayvision; a user's own copy
    (``.csv`` or ``.csv.gz``, NIH column names) gives the same table. Columns: ``image_id``,
    ``patient_id``, ``finding_labels`` (the raw ``a|b`` string), ``labels`` (list of NIH names),
    ``n_labels`` (0 for "No Finding"), one 0/1 column per finding in :data:`CHEXNET_ORDER` plus
    ``No Finding``, ``age``, ``sex``, ``view``, ``follow_up``. ``attrs["source"]`` records the file.

    Raises ``ValueError`` naming the problem when columns are missing, image ids repeat, or a label is
    not one of the 14 findings / "No Finding" (or "No Finding" is combined with a finding).

    The table of a file is parsed once per process (keyed by its path, size and modification time; each
    call gets its own copy): a notebook and a task loader that both read the 112,120 rows pay once.
    """
    source = shipped.shipped_path("nih") if path is None else Path(path)
    return shipped.parsed_once(source, _parse_metadata)


def _parse_metadata(source: Path) -> pd.DataFrame:
    raw = shipped.read_csv(source)
    missing = [c for c in METADATA_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"NIH metadata file {source} lacks the column(s) {missing}; expected the NIH Data_Entry_2017 "
            f"layout with at least {list(METADATA_COLUMNS)} (found {list(raw.columns)})."
        )
    meta = raw[list(METADATA_COLUMNS)].rename(columns=METADATA_COLUMNS)
    _check_metadata(meta, source)
    meta["labels"] = meta["finding_labels"].str.split("|")
    meta["n_labels"] = meta["labels"].str.len().where(meta["finding_labels"] != NO_FINDING.nih, 0)
    indicators = meta["finding_labels"].str.get_dummies(sep="|")
    for name in (*CHEXNET_ORDER, NO_FINDING.nih):
        meta[name] = indicators[name].astype("int8") if name in indicators else np.int8(0)
    order = ["image_id", "patient_id", "finding_labels", "labels", "n_labels", *CHEXNET_ORDER,
             NO_FINDING.nih, "age", "sex", "view", "follow_up"]
    meta = meta[order]
    meta.attrs["source"] = str(source)
    return meta


def _check_metadata(meta: pd.DataFrame, source: Path) -> None:
    if meta["finding_labels"].isna().any() or meta["image_id"].isna().any() or meta["patient_id"].isna().any():
        rows = meta.index[meta[["finding_labels", "image_id", "patient_id"]].isna().any(axis=1)]
        raise ValueError(f"NIH metadata file {source}: empty image id, patient id or label in rows {list(rows[:5])}")
    duplicated = meta["image_id"][meta["image_id"].duplicated()]
    if len(duplicated):
        raise ValueError(
            f"NIH metadata file {source}: {len(duplicated)} repeated image ids, e.g. {list(duplicated[:5])}"
        )
    exploded = meta["finding_labels"].str.split("|").explode()
    unknown = sorted(set(exploded) - set(DISPLAY_NAMES))
    if unknown:
        raise ValueError(
            f"NIH metadata file {source}: unknown label(s) {unknown[:10]}; known: {sorted(DISPLAY_NAMES)}"
        )
    mixed = meta["finding_labels"].str.contains(NO_FINDING.nih, regex=False) & meta["finding_labels"].str.contains(
        "|", regex=False
    )
    if mixed.any():
        raise ValueError(
            f"NIH metadata file {source}: 'No Finding' combined with a finding in {int(mixed.sum())} rows, "
            f"e.g. {list(meta.loc[mixed, 'image_id'][:5])}"
        )


# ------------------------------------------------------------------------------------ label views


def single_label_subset(meta: pd.DataFrame) -> pd.DataFrame:
    """The 15-class single-label subset of document 000 (section 3.1): images with exactly one finding or
    "No Finding" (91,324 of the 112,120 images of the v2020 file).

    Adds ``label`` (display name, one of :data:`SINGLE_LABEL_CLASSES`) and ``label_index`` (its position
    there). The index of ``meta`` is kept, so a split aligned with ``meta`` can be used with ``.loc``.
    """
    _require_columns(meta, ["finding_labels"], "single_label_subset")
    subset = meta[~meta["finding_labels"].str.contains("|", regex=False)].copy()
    subset["label"] = subset["finding_labels"].map(DISPLAY_NAMES)
    subset["label_index"] = subset["label"].map({name: i for i, name in enumerate(SINGLE_LABEL_CLASSES)}).astype(int)
    return subset


def multilabel_targets(meta: pd.DataFrame) -> pd.DataFrame:
    """The 14-label multi-label targets (0/1, int8), columns in :data:`CHEXNET_ORDER`, index of ``meta``.

    "No Finding" is the all-zero row, as in CheXNet.
    """
    _require_columns(meta, list(CHEXNET_ORDER), "multilabel_targets")
    return meta[list(CHEXNET_ORDER)].astype("int8")


def _require_columns(table: pd.DataFrame, columns: list[str], who: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{who} needs a table from nih.load_metadata(); missing column(s) {missing}")


# ----------------------------------------------------------------------------------------- splits


def read_image_list(path: Path) -> list[str]:
    """One image name a line (the first whitespace-separated field), blank lines skipped."""
    with open(path, encoding="utf-8") as handle:
        return [line.split()[0] for line in handle if line.strip()]


def official_lists(root: PathLike | None = None) -> dict[str, list[str]]:
    """The official NIH lists ``{"train_val": [...], "test": [...]}`` from the data root.

    Raises :class:`~cxrlib.data.root.DataNotFoundError` (naming the NIH download page) when absent.
    """
    folder = require("nih-cxr14", root)
    return {
        "train_val": read_image_list(folder / "train_val_list.txt"),
        "test": read_image_list(folder / "test_list.txt"),
    }


def patient_strata(meta: pd.DataFrame) -> pd.Series:
    """Per row, its patient's rarest finding (by frequency in ``meta``; ties by name).

    Stratifying patients by this keeps every class, rare ones included, near the requested share in each
    part, although a patient's images all go to one part.
    """
    exploded = meta["labels"].explode()
    frequency = exploded.map(exploded.value_counts())
    per_label = pd.DataFrame(
        {"patient_id": meta.loc[exploded.index, "patient_id"].to_numpy(), "label": exploded.to_numpy(),
         "frequency": frequency.to_numpy()}
    )
    rarest = per_label.sort_values(["frequency", "label"], kind="stable").drop_duplicates("patient_id")
    return meta["patient_id"].map(rarest.set_index("patient_id")["label"]).rename("stratum")


def official_split(
    meta: pd.DataFrame,
    root: PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
) -> pd.Series:
    """The official NIH split with a patient-disjoint, seeded validation part carved from ``train_val``.

    Returns a Series aligned with ``meta`` (name ``split``, values ``train``/``val``/``test``);
    ``attrs["split_name"] == "nih-official"`` and ``attrs["protocol"]`` records the parameters.
    ``val_fraction`` is the share of train_val *patients* that go to ``val`` (within each stratum of
    :func:`patient_strata` when ``stratify``); the image share comes out close to it (the tests hold it
    within 0.01). Document 000 uses ``val_fraction=0.2``. The strata, and so the split, depend on the rows
    of ``meta``: pass the full metadata (not a subset) so that the single-label and the multi-label tasks
    share one split.

    Checks, with clear errors: the lists exist under the data root (``DataNotFoundError``), no image is in
    both lists and every image of ``meta`` is in one of them (``ValueError``), and the lists are
    patient-disjoint on ``meta`` (``LeakageError``), as is the final train/val/test split.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    _require_columns(meta, ["image_id", "patient_id", "labels"], "official_split")
    if not meta.index.is_unique:
        raise ValueError("official_split needs a table with a unique index (one row per image)")
    list_dir = require("nih-cxr14", root)
    lists = official_lists(root)
    both = set(lists["train_val"]) & set(lists["test"])
    if both:
        raise ValueError(
            f"the official lists in {list_dir} share {len(both)} images (e.g. {sorted(both)[:5]}); "
            f"re-download them: {SOURCES['nih-cxr14'].url}"
        )
    part = pd.Series(
        {**dict.fromkeys(lists["train_val"], "train_val"), **dict.fromkeys(lists["test"], "test")}, name="split"
    )
    official = meta["image_id"].map(part)
    uncovered = meta.loc[official.isna(), "image_id"]
    if len(uncovered):
        raise ValueError(
            f"{len(uncovered)} of {len(meta)} metadata images are in neither official list in {list_dir} "
            f"(e.g. {list(uncovered[:5])}): the lists and the metadata file "
            f"({meta.attrs.get('source', 'unknown source')}) do not belong together."
        )
    assert_patient_disjoint(
        {name: meta.loc[official == name, "patient_id"] for name in ("train_val", "test")}
    )
    split = official.where(official == "test", "train").astype(object)
    train_val = meta[official == "train_val"]
    if val_fraction > 0 and len(train_val):
        table = train_val[["patient_id"]].assign(stratum=patient_strata(train_val) if stratify else 0)
        carved = split_by_patient(
            table, {"train": 1.0 - val_fraction, "val": val_fraction}, seed=seed, stratify_col="stratum"
        )
        split.loc[carved.index] = carved
    split = split.rename("split")
    assert_patient_disjoint({name: meta.loc[split == name, "patient_id"] for name in SPLIT_PARTS})
    split.attrs = {
        "split_name": "nih-official",
        "protocol": {"val_fraction": val_fraction, "seed": seed, "stratify": stratify,
                     "val_unit": "patients", "lists": str(list_dir)},
    }
    return split


def chexnet_lists(root: PathLike | None = None) -> pd.DataFrame:
    """The CheXNet random split lists as a table: ``image_id``, ``split``, 14 label columns (CheXNet order).

    Not the official split: a random patient-disjoint 70/10/20 split of a CheXNet re-implementation.
    """
    folder = require("nih-chexnet-split", root)
    parts = []
    for name in SPLIT_PARTS:
        table = pd.read_csv(folder / f"{name}_list.txt", sep=r"\s+", header=None, names=["image_id", *CHEXNET_ORDER])
        if table[list(CHEXNET_ORDER)].isna().any().any():
            raise ValueError(f"{folder / f'{name}_list.txt'}: expected an image name and 14 labels on every line")
        parts.append(table.assign(split=name))
    lists = pd.concat(parts, ignore_index=True)
    repeated = lists["image_id"][lists["image_id"].duplicated()]
    if len(repeated):
        raise ValueError(f"the CheXNet lists in {folder} repeat {len(repeated)} images, e.g. {list(repeated[:5])}")
    return lists[["image_id", "split", *CHEXNET_ORDER]]


def chexnet_label_disagreements(meta: pd.DataFrame, root: PathLike | None = None) -> pd.DataFrame:
    """Where the CheXNet lists' labels differ from ``meta``: one row per (image, finding).

    Columns ``image_id``, ``finding``, ``chexnet``, ``metadata``. The lists were made from the 2017
    metadata; against the v2020 file shipped by torchxrayvision 1.5.7, 181 images differ (NIH revised
    labels in 2020).
    """
    lists = chexnet_lists(root).set_index("image_id")
    ours = multilabel_targets(meta).set_axis(meta["image_id"], axis=0)
    common = ours.index.intersection(lists.index)
    theirs = lists.loc[common, list(CHEXNET_ORDER)]
    mine = ours.loc[common]
    differs = (theirs.to_numpy() != mine.to_numpy())
    image_idx, finding_idx = np.nonzero(differs)
    return pd.DataFrame(
        {
            "image_id": common[image_idx],
            "finding": np.asarray(CHEXNET_ORDER)[finding_idx],
            "chexnet": theirs.to_numpy()[image_idx, finding_idx],
            "metadata": mine.to_numpy()[image_idx, finding_idx],
        }
    )


def chexnet_split(meta: pd.DataFrame, root: PathLike | None = None) -> pd.Series:
    """The CheXNet random split (70/10/20) aligned with ``meta``; labelled ``attrs["split_name"] ==
    "chexnet-random"`` because it is NOT the official NIH split.

    Every image of ``meta`` must be in the lists (``ValueError`` otherwise); the parts are checked
    patient-disjoint. ``attrs["label_disagreements"]`` counts images whose CheXNet labels differ from
    ``meta`` (see :func:`chexnet_label_disagreements` for the rows).
    """
    _require_columns(meta, ["image_id", "patient_id"], "chexnet_split")
    lists = chexnet_lists(root)
    split = meta["image_id"].map(lists.set_index("image_id")["split"]).rename("split")
    uncovered = meta.loc[split.isna(), "image_id"]
    if len(uncovered):
        raise ValueError(
            f"{len(uncovered)} metadata images are in none of the CheXNet lists (e.g. {list(uncovered[:5])})"
        )
    assert_patient_disjoint({name: meta.loc[split == name, "patient_id"] for name in SPLIT_PARTS})
    disagreements = chexnet_label_disagreements(meta, root)
    split.attrs = {
        "split_name": "chexnet-random",
        "protocol": {"source": SOURCES["nih-chexnet-split"].url, "official": False},
        "label_disagreements": int(disagreements["image_id"].nunique()),
    }
    return split


NIH_SPLITS: dict[str, Callable[..., pd.Series]] = {
    "nih-official": official_split,
    "chexnet-random": chexnet_split,
}
"""Split schemes by name; a notebook parameter picks one (``make_split(name, meta, **options)``)."""


def make_split(name: str, meta: pd.DataFrame, root: PathLike | None = None, **options) -> pd.Series:
    """Build split ``name`` (a key of :data:`NIH_SPLITS`) for ``meta``; ``options`` go to that function."""
    return lookup(NIH_SPLITS, name, what="NIH split")(meta, root=root, **options)


# ----------------------------------------------------------------------------------------- images


def sample_images(root: PathLike | None = None, meta: pd.DataFrame | None = None) -> pd.DataFrame:
    """The PNGs in ``nih-cxr14/images-256`` (the classroom sample) joined with the metadata.

    One row per image, the metadata columns plus ``path`` (a string). Images without a metadata row
    raise ``ValueError``; an empty or missing folder raises ``DataNotFoundError``.
    """
    folder = require("nih-cxr14-sample", root)
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise DataNotFoundError(f"no PNG images in {folder}.\n{how_to_get('nih-cxr14-sample', root)}")
    meta = load_metadata() if meta is None else meta
    files = pd.DataFrame({"image_id": [p.name for p in paths], "path": [str(p) for p in paths]})
    joined = files.merge(meta, on="image_id", how="left", indicator=True)
    orphans = joined.loc[joined["_merge"] == "left_only", "image_id"]
    if len(orphans):
        raise ValueError(
            f"{len(orphans)} images in {folder} have no metadata row (e.g. {list(orphans[:5])}); "
            f"name the files by their NIH 'Image Index'."
        )
    return joined.drop(columns="_merge")[[*meta.columns, "path"]]
