"""cxrlib.published.align: ours beside the published table (rows, differences, missing rows, bad keys) and
the registry items' ``beside:`` mappings that the pages, the sweep tables and the notebooks read."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from cxrlib import published
from cxrlib.published import align

THEIRS = pd.DataFrame({"class": ["a", "b", "c"], "n": [10, 20, 30], "w": [0.125, 0.5, 1.0]})
OURS = pd.DataFrame({"class": ["c", "a", "z"], "n": [33, 10, 5], "w": [1.0004, 0.1251, 2.0], "note": ["x", "y", "z"]})


def test_rows_values_and_differences():
    out = align.beside(THEIRS, OURS, keys="class", values=["n"])
    # the published rows in their order, then ours that they lack; every column of ours stays in place
    assert list(out["class"]) == ["a", "b", "c", "z"]
    assert list(out.columns) == ["class", "n", "w", "note", "n (published)", "n (ours - published)"]
    assert out["n (ours - published)"].tolist()[0] == 0 and out["n (ours - published)"].tolist()[2] == 3
    b, z = out.iloc[1], out.iloc[3]
    assert math.isnan(b["n"]) and b["n (published)"] == 20 and math.isnan(b["n (ours - published)"])  # missing in ours
    assert z["n"] == 5 and math.isnan(z["n (published)"]) and math.isnan(z["n (ours - published)"])  # missing in theirs


def test_row_rules_names_and_decimals():
    ours_rows = align.beside(THEIRS, OURS, keys="class", values={"w": "w"}, rows="ours", decimals={"w": 3},
                             ours_name="{}_ours", published_name="{}_published", difference_name="{}_diff")
    assert list(ours_rows["class"]) == ["c", "a", "z"]
    assert ours_rows["w_ours"].tolist() == [1.0, 0.125, 2.0]  # rounded to the published precision
    assert ours_rows["w_diff"].tolist()[:2] == [0.0, 0.0]
    theirs_rows = align.beside(THEIRS, OURS, keys="class", values="n", rows="published", difference_name=None)
    assert list(theirs_rows["class"]) == ["a", "b", "c"] and "n (ours - published)" not in theirs_rows
    chosen = align.beside(THEIRS, OURS, keys="class", values="n", rows=["z", "q", "a"])
    assert list(chosen["class"]) == ["z", "q", "a"] and chosen["n"].isna().tolist() == [False, True, False]


def test_keys_and_values_named_differently_on_each_side():
    theirs = THEIRS.rename(columns={"class": "label", "n": "count"})
    out = align.beside(theirs, OURS, keys={"class": "label"}, values={"n": "count"}, rows="ours",
                       published_name="published", difference_name="difference")
    assert out.loc[out["class"] == "c", "difference"].item() == 3 and "label" not in out and "count" not in out


def test_a_value_only_the_published_table_has_is_shown_alone_without_differences():
    out = align.beside(THEIRS, OURS.drop(columns="w"), keys="class", values=["n", "w"], difference_name=None)
    assert out["w (published)"].tolist()[:3] == [0.125, 0.5, 1.0]
    with pytest.raises(align.AlignmentError, match=r"\['w'\] not in ours"):
        align.beside(THEIRS, OURS.drop(columns="w"), keys="class", values=["n", "w"])


@pytest.mark.parametrize("theirs, ours, message", [
    (THEIRS.rename(columns={"class": "label"}), OURS, r"key column\(s\) \['class'\] not in the published table"),
    (THEIRS, OURS.rename(columns={"class": "label"}), r"key column\(s\) \['class'\] not in ours"),
    (THEIRS.assign(**{"class": [1, 2, 3]}), OURS, r"key 'class' holds text in ours .* holds numbers"),
    (pd.concat([THEIRS, THEIRS.head(1)]), OURS, r"published keys \['class'\] repeat: \[\{'class': 'a'\}\]"),
    (THEIRS, OURS.assign(**{"class": ["p", "q", "r"]}), r"no row in common on keys \['class'\]"),
    (THEIRS.drop(columns="n"), OURS, r"value column\(s\) \['n'\] not in the published table"),
])
def test_mismatched_keys_and_columns_raise_naming_them(theirs, ours, message):
    with pytest.raises(align.AlignmentError, match=message):
        align.beside(theirs, ours, keys="class", values="n")


def test_an_output_name_taken_twice_raises():
    with pytest.raises(align.AlignmentError, match="taken twice"):
        align.beside(THEIRS, OURS, keys="class", values=["n", "w"], difference_name="difference")
    with pytest.raises(align.AlignmentError, match="taken twice"):
        align.beside(THEIRS, OURS.assign(**{"n (published)": 1}), keys="class", values="n")


# ------------------------------------------------------------------------------------ registry mappings


def _all_blocks():
    return [block for item in align.registry_items() for block in align.comparisons(item)]


def test_every_beside_block_names_columns_of_its_published_table():
    blocks = _all_blocks()
    assert {b.item for b in blocks} >= {"d000_table1", "d000_table2", "d001_table2", "d002_table3", "d004_table3"}
    for block in blocks:
        frame = block.published_frame()
        assert set(block.keys.values()) <= set(frame.columns), block
        assert set(block.value_pairs().values()) <= set(frame.columns), block
        theirs = block.theirs()
        assert list(theirs.columns) == [*block.keys, *block.value_pairs()] and len(theirs), block
        assert not theirs[list(block.keys)].duplicated().any(), f"{block.item}: published keys repeat"


def test_the_published_table_beside_itself_differs_nowhere():
    block = align.comparisons("d000_table1")[0]
    ours = published.load("d000_table1").frame
    out = block.align(ours, rows="published")
    assert len(out) == len(ours) and (out[[f"{v} (ours - published)" for v in block.value_pairs()]] == 0).all().all()


def test_the_five_grid_tables_share_one_layout_and_each_its_own_published_table():
    blocks = [align.comparisons(f"d000_table{i}")[0] for i in range(2, 7)]
    assert all(b.sweep_table == blocks[0].sweep_table and b.values == blocks[0].values for b in blocks)
    assert [b.published for b in blocks] == [f"d000_table{i}" for i in range(2, 7)]


def test_an_unknown_item_or_block_field_is_refused():
    with pytest.raises(KeyError, match="did you mean 'd000_table2'"):
        align.comparisons("d000_tabel2")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['columns'\]"):
        align.Comparison.from_entry({"keys": "class", "columns": {"n": "n"}}, item="x", published="d000_table1")
