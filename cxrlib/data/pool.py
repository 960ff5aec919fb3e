"""The unlabeled image pool for self-supervised pre-training, and the check that it holds no test data.

Protocol (the SSL pre-training issue of the project): the pool is the Kermany train images with labels
dropped, the NIH classroom sample, the COVID-19 collection, or their union (classroom); CheXpert's
train images (paper profile: documents 002 and 004; needs the downloaded images); pretext fractions of
1 / 10 / 100 % are drawn **by patient**; test images, and every image of a test patient, are never in
the pool.

* Which rows: those in ``parts`` (default: train only) of each source's own split, minus every image of
  a patient who has an image in that source's test part. The second rule matters for Kermany only: its
  official test part shares patients with train under the default patient rule (see
  :mod:`cxrlib.data.pediatric`), and those train images are dropped. The splits are the loaders'
  defaults (Kermany: val carved with ``val_fraction=0.1, seed=0``; COVID: 70/10/20 with ``seed=0``);
  pass ``options`` to match other settings.
* NIH sample: ``nih-cxr14/images-256/<Image Index>.png``; the patient is the first 8 digits of the name
  (``00000075_000.png`` -> ``nih:75``); images in the official ``test_list.txt`` (and any other image of
  a patient listed there) are the test part, the rest is train (no val).
* Fractions: within each source, patients are sorted, shuffled with a generator seeded by ``seed`` and
  the source name, and the first ``max(1, round(fraction * n))`` are kept, so the 1 % pool lies inside
  the 10 % pool, which lies inside the 100 % pool (same seed), and adding a source never changes which
  patients another source contributes.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.core.config import lookup
from cxrlib.data import chexpert, covid, medmnist, pediatric
from cxrlib.data.nih import read_image_list
from cxrlib.data.root import DataNotFoundError, how_to_get, require, require_file
from cxrlib.data.splits import LeakageError


POOL_COLUMNS = ["image_id", "patient_id", "path", "dataset"]
NIH_DATASET = "nih"


def nih_sample(root: PathLike | None = None) -> pd.DataFrame:
    """The NIH classroom sample as a table: ``image_id`` (``nih:<Image Index>``), ``patient_id``
    (``nih:<int of the first 8 digits>``), ``path``, ``split`` (``test`` if the image or its patient is
    in the official test list, else ``train``), ``dataset``."""
    folder = require("nih-cxr14-sample", root)
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise DataNotFoundError(f"no PNG images in {folder}.\n{how_to_get('nih-cxr14-sample', root)}")
    test_names = set(read_image_list(require_file("nih-cxr14", "test_list.txt", root)))
    table = pd.DataFrame({"name": [p.name for p in paths], "path": [p.resolve() for p in paths]})
    digits = table["name"].str.extract(r"^(\d{8})_\d+\.png$", expand=False)
    if digits.isna().any():
        bad = list(table["name"][digits.isna()][:5])
        raise ValueError(f"NIH sample files not named '<8-digit patient>_<3-digit follow-up>.png': {bad}")
    table["patient_id"] = NIH_DATASET + ":" + digits.astype(int).astype(str)
    test_patients = {f"{NIH_DATASET}:{int(name[:8])}" for name in test_names}
    in_test = table["name"].isin(test_names) | table["patient_id"].isin(test_patients)
    table["split"] = np.where(in_test, "test", "train")
    table["image_id"] = NIH_DATASET + ":" + table["name"]
    table["dataset"] = NIH_DATASET
    return table[["image_id", "patient_id", "path", "split", "dataset"]]


SOURCE_TABLES: dict[str, Callable[..., pd.DataFrame]] = {
    "kermany": pediatric.load_kermany,
    "nih_sample": nih_sample,
    "covid": covid.load_covid,
    "chexpert": chexpert.image_table,
    "pneumoniamnist": medmnist.png_table,  # 28 px PNG copies; the same children as "kermany": never both
}
"""Pool source name -> loader returning a table with ``image_id``, ``patient_id``, ``path``, ``split``,
``dataset`` (keyword arguments: ``root`` and the loader's own options)."""


SOURCE_DATA = {"kermany": "kermany-pneumonia", "nih_sample": "nih-cxr14-sample", "covid": "covid-chestxray",
               "chexpert": "chexpert", "pneumoniamnist": "pneumoniamnist"}
"""Pool source name -> the data-root source (:data:`cxrlib.data.root.SOURCES`) holding its images."""


def source_table(name: str, root: PathLike | None = None, **options) -> pd.DataFrame:
    """The full table (all parts) of one pool source."""
    return lookup(SOURCE_TABLES, name, what="pool source")(root=root, **options)


def held_out_tables(
    sources: Iterable[str] = ("kermany", "nih_sample", "covid"), root: PathLike | None = None,
    options: Mapping[str, Mapping] | None = None,
) -> dict[str, pd.DataFrame]:
    """The test rows of each source (what :func:`assert_disjoint_from` checks a pool against)."""
    options = options or {}
    tables = {name: source_table(name, root, **options.get(name, {})) for name in sources}
    return {name: table[table["split"] == "test"] for name, table in tables.items()}


def draw_patients(table: pd.DataFrame, fraction: float, seed: int, salt: str) -> pd.DataFrame:
    """Rows of the first ``max(1, round(fraction * n))`` of the ``n`` patients after a seeded shuffle
    (nested: a smaller fraction keeps a prefix of the same order)."""
    patients = np.array(sorted(table["patient_id"].unique()), dtype=object)
    rng = np.random.default_rng([seed, zlib.crc32(salt.encode())])
    order = patients[rng.permutation(len(patients))]
    keep = set(order[: max(1, int(round(fraction * len(order))))]) if len(order) else set()
    return table[table["patient_id"].isin(keep)]


def unlabeled_pool(
    sources: Iterable[str] = ("kermany", "nih_sample", "covid"),
    fraction: float = 1.0,
    seed: int = 0,
    root: PathLike | None = None,
    parts: Iterable[str] = ("train",),
    options: Mapping[str, Mapping] | None = None,
) -> pd.DataFrame:
    """Unlabeled images for pre-training: columns :data:`POOL_COLUMNS`, no labels.

    ``sources`` are keys of :data:`SOURCE_TABLES`; ``fraction`` (0 < f <= 1) of each source's eligible
    patients is drawn with ``seed`` (see the module docstring); ``options`` maps a source to its loader's
    keyword arguments (e.g. ``{"kermany": {"val_fraction": 0.2, "seed": 1}}``). The result is checked
    disjoint from every source's test part, by image and by patient. ``attrs["protocol"]`` records the
    parameters and ``attrs["counts"]`` the images and patients per source before and after the draw.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    sources = tuple(sources)
    if not sources:
        raise ValueError("the pool needs at least one source")
    if {"kermany", "pneumoniamnist"} <= set(sources):
        raise ValueError("kermany and pneumoniamnist hold the same children (PneumoniaMNIST is Kermany at 28 px, "
                         "without patient ids): pool one of them, never both")
    parts = tuple(parts)
    if "test" in parts:
        raise ValueError("test images are never in the pool")
    options = options or {}
    pieces, counts, tests = [], {}, []
    for name in sources:
        table = source_table(name, root, **options.get(name, {}))
        test = table[table["split"] == "test"]
        eligible = table[table["split"].isin(parts) & ~table["patient_id"].isin(set(test["patient_id"]))]
        drawn = draw_patients(eligible, fraction, seed, salt=name)
        counts[name] = {
            "eligible_images": len(eligible), "eligible_patients": int(eligible["patient_id"].nunique()),
            "dropped_test_patient_images": int((table["split"].isin(parts) & table["patient_id"].isin(
                set(test["patient_id"]))).sum()),
            "images": len(drawn), "patients": int(drawn["patient_id"].nunique()),
        }
        pieces.append(drawn[POOL_COLUMNS])
        tests.append(test)
    pool = pd.concat(pieces, ignore_index=True)
    repeated = pool["image_id"][pool["image_id"].duplicated()]
    if len(repeated):
        raise ValueError(f"the pool repeats image ids {list(repeated[:5])}: a source is listed twice")
    assert_disjoint_from(pool, *tests)
    pool.attrs["protocol"] = {"sources": list(sources), "fraction": fraction, "seed": seed, "unit": "patients",
                              "parts": list(parts), "options": {k: dict(v) for k, v in options.items()}}
    pool.attrs["counts"] = counts
    return pool


def assert_disjoint_from(pool: pd.DataFrame, *test_tables: pd.DataFrame) -> None:
    """Raise :class:`~cxrlib.data.splits.LeakageError` if a pool image (by ``image_id`` or ``path``) or a
    pool patient (``patient_id``) occurs in any of ``test_tables``."""
    problems = []
    for i, test in enumerate(test_tables):
        for column, what in (("image_id", "images"), ("path", "image files"), ("patient_id", "patients")):
            if column not in pool or column not in test:
                continue
            shared = set(pool[column].astype(str)) & set(test[column].astype(str))
            if shared:
                problems.append(f"test table {i}: {len(shared)} shared {what} (e.g. {sorted(shared)[:3]})")
    if problems:
        raise LeakageError("the pool overlaps test data:\n  " + "\n  ".join(problems))
