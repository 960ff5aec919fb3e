"""Selecting rows of a task's table (:mod:`cxrlib.images.tasks`): its split parts, the per-row class key
(stratum), stratified subsets for quick runs, nested label fractions, and class counts and names.

Light (pandas and numpy, no torch), like :mod:`.tasks`, whose rows and column names it reads.
"""
from __future__ import annotations

import functools
import operator
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cxrlib.images.tasks import SPLITS, TARGET, TaskSpec, get_task


def split_tables(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"train": ..., "val": ..., "test": ...}`` with reset indices; every part must be non-empty."""
    parts = {name: table[table["split"] == name].reset_index(drop=True) for name in SPLITS}
    empty = [name for name, part in parts.items() if part.empty]
    if empty:
        raise ValueError(f"the table has no {', '.join(empty)} rows (split column values: {sorted(table['split'].unique())})")
    return parts


def stratum(table: pd.DataFrame, task: TaskSpec) -> pd.Series:
    """A per-row class key for stratified subsampling (the target, or the label pattern)."""
    if task.kind == "multilabel":  # "0110...": one character per label, joined column by column (vectorised)
        columns = [table[label].astype(int).astype(str) for label in task.classes]
        return functools.reduce(operator.add, columns).rename(None)
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
        # round robin: every stratum's first row (in stratum order), then every stratum's second, ...
        rank = np.concatenate([np.arange(len(g)) for g in groups])
        which = np.concatenate([np.full(len(g), i) for i, g in enumerate(groups)])
        order = np.concatenate(groups)[np.lexsort((which, rank))]
        keep.append(np.sort(order[:limit]))
    out = table.loc[np.sort(np.concatenate(keep))].reset_index(drop=True)
    out.attrs = {**table.attrs, "subsample": dict(per_split)}
    return out


def label_fraction(table: pd.DataFrame, task: str | TaskSpec, fraction: float, seed: int) -> pd.DataFrame:
    """The rows of a (training) table whose labels a label-efficiency run keeps: ``fraction`` of each class
    (stratum of :func:`stratum`), rounded, at least one per class for binary and single-label tasks.

    Nested and seeded: every class is shuffled once with ``seed`` (whatever the fraction) and a fraction keeps
    a prefix of that order, so with one seed the 1 % rows lie inside the 10 % rows, which lie inside the
    100 % rows. Our choice for the label-efficiency curve of notebook 12 (rows are images; PneumoniaMNIST has
    no patient ids). ``attrs["label_fraction"]`` records the fraction and the seed.
    """
    task = get_task(task)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    keys = stratum(table, task)
    keep = []
    for key in sorted(keys.unique(), key=str):
        rows = table.index[keys == key].to_numpy()
        order = rows[np.random.default_rng([seed, zlib.crc32(str(key).encode())]).permutation(len(rows))]
        n = int(round(fraction * len(order)))
        if task.kind != "multilabel":
            n = max(1, n)
        keep.append(order[:n])
    out = table.loc[np.sort(np.concatenate(keep))]
    out.attrs = {**table.attrs, "label_fraction": {"fraction": float(fraction), "seed": int(seed)}}
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
