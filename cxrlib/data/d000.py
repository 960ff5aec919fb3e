"""Document 000, Table 1: the 15-class NIH ChestX-ray14 subset per class and split, the class weights
and the resampled train counts.

Protocol (document 000, sections 3.1-3.2, equation 1):

* rows: the 15 classes of the single-label subset (:func:`cxrlib.data.nih.single_label_subset`);
* Total / Test: all images / images of the official NIH test list. These depend only on the metadata
  and the official list, so ours equal the published ones exactly (91,324 and 17,853);
* Val / Train: the document cut 20 % of the train images *per class, by image* (every published Val
  equals ``floor(0.2 * (total - test))``, see :func:`document_val_counts`), so one patient can sit in
  train and val. Our default split is patient-disjoint (:func:`cxrlib.data.nih.official_split`), so our
  Val/Train differ from the published ones by a few percent per class;
* class weight ``W_c = n / (c * n_c)`` on the Train column (``n`` = train images, ``c`` = 15);
* resampling of the train part by :data:`RESAMPLE_RULE` (data, one band per row), applied by
  :func:`resample_factors`, which a sampler can reuse.

:func:`table1_from_counts` takes the counts from anywhere: fed the published Val/Train counts it
reproduces the published class weights and resampled counts (all 15 rows).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from cxrlib.data import nih
from cxrlib.data.balance import RESAMPLE_RULE, class_weights, resampled_counts

TABLE_ID = "d000_table1"
COUNT_COLUMNS = ("total", "test", "val", "train")
TABLE1_COLUMNS = ("class", *COUNT_COLUMNS, "class_weight", "resampled")
TOTAL_ROW = "Total"


def split_counts(meta: pd.DataFrame, split: pd.Series) -> pd.DataFrame:
    """Per class of the single-label subset: ``total``, ``test``, ``val``, ``train`` image counts.

    ``meta`` is a table of :func:`cxrlib.data.nih.load_metadata` (all images or already the subset);
    ``split`` a Series aligned with it (values ``train``/``val``/``test``), e.g. from
    :func:`cxrlib.data.nih.official_split`. Rows in :data:`cxrlib.data.nih.SINGLE_LABEL_CLASSES` order.
    """
    subset = nih.single_label_subset(meta)
    if not isinstance(split, pd.Series):
        raise TypeError("split must be a pandas Series aligned with meta (e.g. nih.official_split(meta))")
    missing = subset.index.difference(split.index)
    if len(missing):
        raise ValueError(f"split has no entry for {len(missing)} rows of meta (e.g. index {list(missing[:5])})")
    parts = split.loc[subset.index]
    bad = parts[~parts.isin(nih.SPLIT_PARTS)]
    if len(bad):
        raise ValueError(
            f"split values must be {nih.SPLIT_PARTS}; found {sorted(map(str, bad.unique()))[:5]} in {len(bad)} rows"
        )
    table = pd.crosstab(subset["label"], parts).reindex(
        index=list(nih.SINGLE_LABEL_CLASSES), columns=["test", "val", "train"], fill_value=0
    )
    table.insert(0, "total", table.sum(axis=1))
    return table.rename_axis(index="class", columns=None).reset_index()


def document_val_counts(counts: pd.DataFrame, fraction: float = 0.2) -> pd.DataFrame:
    """Val/Train as document 000's Table 1 has them: per class, ``val = floor(fraction * (total - test))``
    images and ``train`` the rest (an image-level cut per class, ignoring patients).

    This reproduces all 15 published Val entries; it is our reading of the table, not a stated protocol.
    """
    out = counts.copy()
    train_val = out["total"] - out["test"]
    out["val"] = np.floor(fraction * train_val + 1e-9).astype(int)
    out["train"] = train_val - out["val"]
    return out


def table1_from_counts(
    counts: pd.DataFrame, rule: Iterable[Sequence] = RESAMPLE_RULE, include_total: bool = True
) -> pd.DataFrame:
    """Table 1 from per-class counts (columns ``class``, ``total``, ``test``, ``val``, ``train``).

    Adds ``class_weight`` (equation 1 on ``train``) and ``resampled`` (``train`` under ``rule``); with
    ``include_total`` a last row ``Total`` sums the count columns (its class weight is NaN).
    """
    missing = [c for c in TABLE1_COLUMNS[:5] if c not in counts.columns]
    if missing:
        raise ValueError(f"counts lack column(s) {missing}; need {list(TABLE1_COLUMNS[:5])}")
    rows = counts[counts["class"] != TOTAL_ROW].loc[:, list(TABLE1_COLUMNS[:5])].reset_index(drop=True)
    inconsistent = rows[rows["total"] != rows["test"] + rows["val"] + rows["train"]]
    if len(inconsistent):
        raise ValueError(f"total != test + val + train for {list(inconsistent['class'])}")
    train = rows.set_index("class")["train"]
    weights = class_weights(train)
    rows["class_weight"] = weights.to_numpy()
    rows["resampled"] = resampled_counts(train, weights, rule).to_numpy()
    if include_total:
        total = {"class": TOTAL_ROW, **rows[[*COUNT_COLUMNS, "resampled"]].sum().to_dict(), "class_weight": np.nan}
        rows = pd.concat([rows, pd.DataFrame([total])], ignore_index=True)
    return rows[list(TABLE1_COLUMNS)]


def table1(
    meta: pd.DataFrame, split: pd.Series, rule: Iterable[Sequence] = RESAMPLE_RULE, include_total: bool = True
) -> pd.DataFrame:
    """Document 000, Table 1 computed from a metadata table and a split (columns :data:`TABLE1_COLUMNS`)."""
    return table1_from_counts(split_counts(meta, split), rule=rule, include_total=include_total)


def published_table1(include_total: bool = True) -> pd.DataFrame:
    """The published Table 1 (``cxrlib/published/d000_table1.csv``), columns :data:`TABLE1_COLUMNS` plus
    ``total_pct``; ``attrs["citation"]`` carries the reference."""
    from cxrlib import published

    entry = published.load(TABLE_ID)
    frame = entry.frame
    if not include_total:
        frame = frame[frame["class"] != TOTAL_ROW].reset_index(drop=True)
    frame.attrs["citation"] = entry.citation
    return frame


def compare_with_published(ours: pd.DataFrame, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ours beside the published Table 1 (:func:`cxrlib.published.align.beside`), indexed by class: for
    every column of :data:`TABLE1_COLUMNS`, ``<col>_ours``, ``<col>_published`` and ``<col>_diff`` (ours
    minus published); the published classes in their order, then any class only we have.

    Our class weights are rounded to the published 3 decimals before the difference is taken.
    """
    from cxrlib.published import align

    published = published_table1() if published is None else published
    table = align.beside(published, ours, keys="class", values=list(TABLE1_COLUMNS[1:]), ours_name="{}_ours",
                         published_name="{}_published", difference_name="{}_diff", decimals={"class_weight": 3})
    return table.set_index("class")[[f"{c}_{side}" for c in TABLE1_COLUMNS[1:] for side in ("ours", "published", "diff")]]


def resampled_class_weights(table: pd.DataFrame) -> pd.Series:
    """Equation 1 on the ``resampled`` column (document 000 quotes 0.298-4.275, Hernia 15.456)."""
    rows = table[table["class"] != TOTAL_ROW].set_index("class")["resampled"]
    return class_weights(rows).rename("resampled_class_weight")
