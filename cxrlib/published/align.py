"""Our number beside theirs: one function puts a published table and one of ours side by side.

:func:`beside` is the one place where a published table meets a table of ours: it matches rows on key
columns and writes each published value and the difference (ours - published) next to ours. Which
published table, which rows of it, which of our artifact's columns and which keys: the **registry item**
says (``cxrlib/published/registry/d<NNN>.yaml``, field ``beside:``), read by :func:`comparisons`. The
document pages (:mod:`cxrlib.book.registry`: the ``exact`` status), the sweep tables
(:mod:`cxrlib.training.sweeps`: ``table: {item: ...}``), the data tables of :mod:`cxrlib.data` and the
notebooks all go through it; a table that is not one of a document's (e.g. the CheXNet paper's AUROCs in
notebook 04) calls :func:`beside` with the same keywords.

A block of an item's ``beside:`` list (only ``keys`` is required)::

    beside:
      - name: "Total and Test columns"      # how the page names this comparison
        artifact: d000_table1               # our CSV artifact (default: the item's classroom artifact)
        published: d000_table1              # the published table (default: the item's `published`)
        where: {dataset: ChestX-ray14}      # keep the published rows with this value (a list: any of them)
        pivot: {columns: model, value: auroc}       # long -> wide: one published column per model
        relabel: {dataset: {Cell: kermany_pneumonia}}  # published key values -> ours (after the pivot)
        keys: {class: class}                # key columns, ours: theirs (a name or a list when they agree)
        values: {total: total, test: test}  # value columns, ours: theirs (default with a pivot: every
                                            # pivoted column)
        exact: true                         # every compared cell must equal (the page's "exact" status)
        sweep_table: {rows: [...], ...}     # our table is the sweep's (`cxrlib sweep table`): its layout,
                                            # the keys of a sweep file's `table:` (cxrlib.training.sweeps)

Light: pandas and YAML, no torch.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, Union

import pandas as pd
import yaml

from cxrlib.core.config import lookup

Columns = Union[str, Sequence[str], Mapping[str, str]]
ROW_RULES = ("both", "published", "ours")
BLOCK_FIELDS = ("name", "artifact", "published", "where", "pivot", "relabel", "keys", "values", "exact", "sweep_table")


class AlignmentError(ValueError):
    """Two tables that cannot be put side by side (a key or value column missing, keys of different
    kinds, a published key that repeats, no row in common)."""


def _pairs(columns: Columns, what: str) -> dict[str, str]:
    """``ours -> theirs`` from a name, a list of names (the same on both sides) or a mapping."""
    if isinstance(columns, str):
        return {columns: columns}
    if isinstance(columns, Mapping):
        pairs = {str(ours): str(theirs) for ours, theirs in columns.items()}
    else:
        pairs = {str(name): str(name) for name in columns}
    if not pairs:
        raise AlignmentError(f"no {what} columns given")
    return pairs


def _require(frame: pd.DataFrame, names, side: str, what: str) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise AlignmentError(f"{what} column(s) {missing} not in {side}; {side} has {list(frame.columns)}")


def _kind(column: pd.Series) -> str:
    return "numbers" if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) else "text"


def _examples(column: pd.Series) -> list:
    return column.drop_duplicates().head(3).tolist()


def beside(published: pd.DataFrame, ours: pd.DataFrame, *, keys: Columns, values: Columns,
           rows: str | Sequence = "both", ours_name: str = "{}", published_name: str = "{} (published)",
           difference_name: str | None = "{} (ours - published)",
           decimals: Mapping[str, int] | None = None) -> pd.DataFrame:
    """``ours`` with the ``published`` values beside it, row by row, and the differences.

    **Alignment rule.** A row of ours and a row of the published table are the same row when every key
    column (``keys``: one name, a list of names that both sides use, or a mapping ``ours: theirs``) holds
    equal values; values are compared as they are (``1`` and ``"1"`` differ). A published key must not
    repeat (a published table has one row per key); a key of ours may (each such row gets the published
    row). ``rows`` says which rows the result has, in which order: ``"both"`` (the published rows in their
    order, then our rows that the published table lacks, in our order), ``"published"``, ``"ours"``, or
    a list of key values (a tuple per row for several keys): exactly those rows, in that order.

    **Columns.** Every column of ours, in place (each value column renamed by ``ours_name``), then for
    each value column (``values``: ``ours: theirs`` as for ``keys``) the published value named
    ``published_name`` and the difference ``ours - published`` named ``difference_name`` (``None``: no
    differences). A name template holds ``{}`` for our value column's name; a template without it names
    one column (one value only). ``decimals``: our value column -> decimals; ours is rounded to the
    published precision before the difference is taken, and the difference to the same decimals (the
    float noise of subtracting two rounded numbers).

    **Missing values.** A row that one side lacks has NaN in that side's columns and in the difference;
    a cell that is not a number (text, empty) gives a NaN difference. A value column that ours lacks is
    an error unless ``difference_name`` is None and ``ours_name`` is ``"{}"`` (the published column
    is then shown alone).

    Raises :class:`AlignmentError` (a ``ValueError``) naming the keys when a key column is missing on
    one side, when a key holds numbers on one side and text on the other, when a published key repeats,
    and when the two tables share no row; and naming the column when a value column is missing or an
    output name is taken twice.
    """
    keys, pairs = _pairs(keys, "key"), _pairs(values, "value")
    decimals = dict(decimals or {})
    published = published.reset_index(drop=True)
    if set(keys) & set(pairs):
        raise AlignmentError(f"{sorted(set(keys) & set(pairs))} are both key and value columns")
    _require(ours, keys, "ours", "key")
    _require(published, keys.values(), "the published table", "key")
    _require(published, pairs.values(), "the published table", "value")
    if difference_name is not None or ours_name != "{}" or decimals:
        _require(ours, pairs, "ours", "value")
    unknown = sorted(set(decimals) - set(pairs))
    if unknown:
        raise AlignmentError(f"decimals for {unknown}, which are not value columns {list(pairs)}")
    if len(ours) and len(published):
        for mine, theirs in keys.items():
            if _kind(ours[mine]) != _kind(published[theirs]):
                raise AlignmentError(
                    f"key {mine!r} holds {_kind(ours[mine])} in ours ({_examples(ours[mine])}) but the published "
                    f"key {theirs!r} holds {_kind(published[theirs])} ({_examples(published[theirs])}); "
                    "convert one side (e.g. both to text) before aligning")

    right = pd.DataFrame({mine: published[theirs] for mine, theirs in keys.items()})
    if right.duplicated().any():
        repeated = right[right.duplicated(keep=False)].drop_duplicates().to_dict(orient="records")
        raise AlignmentError(f"published keys {list(keys.values())} repeat: {repeated}")
    names = {value: (ours_name.format(value), published_name.format(value),
                     None if difference_name is None else difference_name.format(value)) for value in pairs}
    left = ours.rename(columns={value: names[value][0] for value in pairs if value in ours.columns})
    for value, places in decimals.items():
        left[names[value][0]] = left[names[value][0]].round(places)
    for value, theirs in pairs.items():
        right[names[value][1]] = published[theirs]
    added = [n for value in pairs for n in names[value][1:] if n is not None]
    taken = [n for n in added if n in left.columns] + [n for n in set(added) if added.count(n) > 1]
    if taken:
        raise AlignmentError(f"output column name(s) {sorted(set(taken))} taken twice: give other name templates")

    if len(ours) and len(published):
        common = left[list(keys)].merge(right[list(keys)], on=list(keys), how="inner")
        if common.empty:
            raise AlignmentError(f"no row in common on keys {list(keys)} (ours {list(keys)}: "
                                 f"{left[list(keys)].drop_duplicates().head(3).to_dict(orient='records')}; published "
                                 f"{list(keys.values())}: {right[list(keys)].head(3).to_dict(orient='records')})")
    order_ours, order_published = "__ours_order", "__published_order"
    left[order_ours] = range(len(left))
    right[order_published] = range(len(right))
    if isinstance(rows, str):
        if rows not in ROW_RULES:
            raise AlignmentError(f"rows must be one of {ROW_RULES} or a list of keys; got {rows!r}")
        how = {"both": "outer", "published": "right", "ours": "left"}[rows]
        merged = left.merge(right, on=list(keys), how=how, sort=False)
        merged = merged.sort_values([order_published, order_ours] if rows != "ours" else [order_ours],
                                    na_position="last", kind="stable")
    else:
        wanted = pd.DataFrame([row if isinstance(row, tuple) else (row,) for row in rows], columns=list(keys))
        merged = wanted.merge(left.merge(right, on=list(keys), how="outer", sort=False), on=list(keys), how="left")
    merged = merged.drop(columns=[order_ours, order_published]).reset_index(drop=True)

    columns = [c for c in left.columns if c != order_ours]
    for value in pairs:
        mine, theirs, difference = names[value]
        columns.append(theirs)
        if difference is not None:
            delta = pd.to_numeric(merged[mine], errors="coerce") - pd.to_numeric(merged[theirs], errors="coerce")
            merged[difference] = delta.round(decimals[value]) if value in decimals else delta
            columns.append(difference)
    return merged[columns]


# --------------------------------------------------------------------------------- registry mappings


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One ``beside:`` block of a registry item: the published side, the keys and the value columns."""

    item: str
    published: str
    keys: dict
    values: dict | None = None
    name: str = ""
    artifact: str | None = None
    where: dict = dataclasses.field(default_factory=dict)
    pivot: dict | None = None
    relabel: dict = dataclasses.field(default_factory=dict)
    exact: bool = False
    sweep_table: dict | None = None

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any], *, item: str, published: str | None = None) -> Comparison:
        """A block as written in the registry (``published`` defaults to the item's)."""
        unknown = sorted(set(entry) - set(BLOCK_FIELDS))
        if unknown:
            raise ValueError(f"item {item}: beside: unknown field(s) {unknown}; known: {list(BLOCK_FIELDS)}")
        table = entry.get("published", published)
        if not table or "keys" not in entry:
            raise ValueError(f"item {item}: a beside block needs `keys:` and a published table (its own or the item's)")
        if entry.get("values") is None and not entry.get("pivot"):
            raise ValueError(f"item {item}: a beside block names its `values:` (or pivots the published table)")
        return cls(item=item, published=str(table), keys=_pairs(entry["keys"], "key"),
                   values=None if entry.get("values") is None else _pairs(entry["values"], "value"),
                   name=str(entry.get("name", "")), artifact=entry.get("artifact"), where=dict(entry.get("where") or {}),
                   pivot=entry.get("pivot"), relabel=dict(entry.get("relabel") or {}), exact=bool(entry.get("exact")),
                   sweep_table=entry.get("sweep_table"))

    def _kept(self) -> pd.DataFrame:
        from cxrlib import published

        frame = published.load(self.published).frame
        for column, wanted in self.where.items():
            wanted = wanted if isinstance(wanted, (list, tuple)) else [wanted]
            frame = frame[frame[column].astype(str).isin([str(w) for w in wanted])]
        return frame.reset_index(drop=True)

    def published_rows(self) -> pd.DataFrame:
        """The published rows this block keeps (``where``), key values relabelled; the published names."""
        return self._relabelled(self._kept())

    def _relabelled(self, frame: pd.DataFrame) -> pd.DataFrame:
        for column, labels in self.relabel.items():
            if column in frame.columns:
                frame[column] = frame[column].map(lambda v: labels.get(v, v))
        return frame

    def published_frame(self) -> pd.DataFrame:
        """The published side as :func:`beside` reads it: the kept rows, pivoted when the block says so
        (rows: the keys, sorted; one column per value of ``pivot.columns``, as text), then relabelled."""
        if not self.pivot:
            return self.published_rows()
        wide = self._kept().pivot_table(index=list(self.keys.values()), columns=self.pivot["columns"],
                                 values=self.pivot["value"], aggfunc="first")
        wide.columns = [str(c) for c in wide.columns]
        return self._relabelled(wide.reset_index())

    def value_pairs(self) -> dict[str, str]:
        """``ours: theirs`` of the value columns (with a pivot and no ``values``: every pivoted column)."""
        if self.values is not None:
            return dict(self.values)
        return {c: c for c in self.published_frame().columns if c not in self.keys.values()}

    def theirs(self) -> pd.DataFrame:
        """The published side in our names: the key and value columns only."""
        frame = self.published_frame()
        pairs = {**self.keys, **self.value_pairs()}
        return pd.DataFrame({mine: frame[theirs] for mine, theirs in pairs.items()})

    def align(self, ours: pd.DataFrame, **options) -> pd.DataFrame:
        """:func:`beside` of this block's published side and ``ours`` (``options``: its keywords)."""
        return beside(self.published_frame(), ours, keys=self.keys, values=self.value_pairs(), **options)


def registry_items() -> dict[str, dict]:
    """Every item of ``registry/d*.yaml`` as written: item id -> its fields."""
    items: dict[str, dict] = {}
    folder = resources.files(__package__).joinpath("registry")
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith("d") and path.name.endswith(".yaml"):
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            items.update({entry["id"]: entry for entry in raw.get("items", [])})
    return items


def comparisons(item_id: str) -> tuple[Comparison, ...]:
    """The ``beside:`` blocks of the registry item ``item_id`` (an unknown id raises ``KeyError``)."""
    entry = lookup(registry_items(), item_id, what="registry item")
    return tuple(Comparison.from_entry(block, item=item_id, published=entry.get("published"))
                 for block in entry.get("beside") or ())
