"""NIH ChestX-ray14 tables and splits (cxrlib.data.nih) and document 000's Table 1 (cxrlib.data.d000)."""
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxrlib.data import balance, d000, nih
from cxrlib.data.metadata import read_csv, shipped_path
from cxrlib.data.root import DataNotFoundError
from cxrlib.data.splits import LeakageError, assert_patient_disjoint
from cxrlib.published import load as load_published

NIH_DOWNLOAD_PAGE = "https://nihcc.app.box.com/v/ChestXray-NIHCC"


@pytest.fixture(scope="module")
def meta():
    return nih.load_metadata()


@pytest.fixture(scope="module")
def split(meta, data_root):
    return nih.official_split(meta, root=data_root)


@pytest.fixture(scope="module")
def published():
    return d000.published_table1(include_total=False)


@pytest.fixture(scope="module")
def raw_nih():
    return read_csv(shipped_path("nih"))


def _official_test_images(data_root):
    return set(nih.read_image_list(data_root / "nih-cxr14" / "test_list.txt"))


# ------------------------------------------------------------------------------------ metadata


def test_the_patient_of_an_image_id_is_the_metadatas_patient(meta):
    """The rule used where only a file name is at hand (boxes, prediction files, downloads) gives the metadata's
    patient for every one of the 112,120 images."""
    patients = meta["image_id"].map(nih.patient_of_image)
    assert (patients.astype(int) == meta["patient_id"].astype(int)).all()
    assert nih.patient_of_image("00000013_005.png") == "00000013"


def test_metadata_is_normalised(meta):
    assert len(meta) == 112_120 and meta["patient_id"].nunique() == 30_805
    for column in ["image_id", "patient_id", "labels", "age", "sex", "view", "follow_up", "No Finding",
                   *nih.CHEXNET_ORDER]:
        assert column in meta.columns
    counts = meta["labels"].explode().value_counts()
    for name in (*nih.CHEXNET_ORDER, "No Finding"):
        assert meta[name].sum() == counts[name]
    assert (meta.loc[meta["No Finding"] == 1, "n_labels"] == 0).all()
    assert meta.attrs["source"].endswith("Data_Entry_2017_v2020.csv.gz")


def test_single_label_subset_and_multilabel_targets(meta):
    subset = nih.single_label_subset(meta)
    assert len(subset) == 91_324
    assert set(subset["label"]) == set(nih.SINGLE_LABEL_CLASSES) and len(nih.SINGLE_LABEL_CLASSES) == 15
    assert "Pleural Thickening" in nih.SINGLE_LABEL_CLASSES and "Pleural_Thickening" not in nih.SINGLE_LABEL_CLASSES
    assert (subset["label_index"].map(lambda i: nih.SINGLE_LABEL_CLASSES[i]) == subset["label"]).all()
    targets = nih.multilabel_targets(meta)
    assert list(targets.columns) == list(nih.CHEXNET_ORDER) and targets.columns[0] == "Atelectasis"
    assert targets.columns[-1] == "Hernia" and targets.index.equals(meta.index)
    assert (targets[meta["No Finding"] == 1].sum(axis=1) == 0).all()
    assert (targets.sum(axis=1) == meta["n_labels"]).all()


def test_metadata_missing_columns_is_a_clear_error(raw_nih, tmp_path):
    path = tmp_path / "no_patient.csv"
    raw_nih.head(50).drop(columns=["Patient ID"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['Patient ID'\]"):
        nih.load_metadata(path)


def test_metadata_bad_labels_and_duplicates_are_clear_errors(raw_nih, tmp_path):
    bad = raw_nih.head(50).copy()
    bad.loc[3, "Finding Labels"] = "Pneumonia|Covid"
    bad.to_csv(tmp_path / "unknown.csv", index=False)
    with pytest.raises(ValueError, match="unknown label.*Covid"):
        nih.load_metadata(tmp_path / "unknown.csv")
    mixed = raw_nih.head(50).copy()
    mixed.loc[3, "Finding Labels"] = "No Finding|Mass"
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(ValueError, match="'No Finding' combined"):
        nih.load_metadata(tmp_path / "mixed.csv")
    pd.concat([raw_nih.head(5), raw_nih.head(1)]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(ValueError, match="repeated image ids"):
        nih.load_metadata(tmp_path / "dup.csv")
    with pytest.raises(FileNotFoundError):
        nih.load_metadata(tmp_path / "absent.csv")


# -------------------------------------------------------------------------------------- splits


def test_official_split_is_patient_disjoint_and_keeps_the_official_test_list(meta, split, data_root):
    assert split.attrs["split_name"] == "nih-official" and split.index.equals(meta.index)
    assert set(split) == {"train", "val", "test"}
    assert_patient_disjoint({part: meta.loc[split == part, "patient_id"] for part in ("train", "val", "test")})
    assert set(meta.loc[split == "test", "image_id"]) == _official_test_images(data_root)
    val_share = (split == "val").sum() / (split != "test").sum()
    assert abs(val_share - 0.2) < 0.01


def test_official_split_is_seeded(meta, split, data_root):
    again = nih.official_split(meta, root=data_root, seed=0)
    assert again.equals(split)
    other = nih.official_split(meta, root=data_root, seed=1)
    assert not other.equals(split)
    assert (other == "test").equals(split == "test")


def test_val_fraction_is_a_parameter(meta, data_root):
    tenth = nih.official_split(meta, root=data_root, val_fraction=0.1)
    assert abs((tenth == "val").sum() / (tenth != "test").sum() - 0.1) < 0.01
    assert tenth.attrs["protocol"]["val_fraction"] == 0.1
    none = nih.official_split(meta, root=data_root, val_fraction=0.0)
    assert set(none) == {"train", "test"}
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="val_fraction"):
            nih.official_split(meta, root=data_root, val_fraction=bad)


def test_missing_split_lists_name_the_nih_download_page(meta, tmp_path):
    (tmp_path / "nih-cxr14").mkdir()
    with pytest.raises(DataNotFoundError, match=NIH_DOWNLOAD_PAGE) as error:
        nih.official_split(meta, root=tmp_path)
    assert "train_val_list.txt" in str(error.value)


def _write_lists(root, train_val, test):
    folder = root / "nih-cxr14"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train_val_list.txt").write_text("\n".join(train_val) + "\n")
    (folder / "test_list.txt").write_text("\n".join(test) + "\n")


def test_bad_official_lists_are_clear_errors(meta, data_root, tmp_path):
    train_val = nih.read_image_list(data_root / "nih-cxr14" / "train_val_list.txt")
    test = nih.read_image_list(data_root / "nih-cxr14" / "test_list.txt")
    _write_lists(tmp_path / "short", train_val[:-10], test)
    with pytest.raises(ValueError, match="10 of 112120 metadata images are in neither official list"):
        nih.official_split(meta, root=tmp_path / "short")
    _write_lists(tmp_path / "overlap", train_val, test + train_val[:3])
    with pytest.raises(ValueError, match="share 3 images"):
        nih.official_split(meta, root=tmp_path / "overlap")
    # 00000001_000.png moves to the test list while the patient's other images stay in train_val
    _write_lists(tmp_path / "leak", train_val[1:], test + train_val[:1])
    with pytest.raises(LeakageError, match="train_val & test"):
        nih.official_split(meta, root=tmp_path / "leak")


def test_chexnet_split_is_labelled_and_checked(meta, data_root):
    chexnet = nih.make_split("chexnet-random", meta, root=data_root)
    assert chexnet.attrs["split_name"] == "chexnet-random" and chexnet.attrs["protocol"]["official"] is False
    assert chexnet.value_counts().to_dict() == {"train": 78_468, "val": 11_219, "test": 22_433}
    assert_patient_disjoint({part: meta.loc[chexnet == part, "patient_id"] for part in ("train", "val", "test")})
    disagreements = nih.chexnet_label_disagreements(meta, root=data_root)
    assert chexnet.attrs["label_disagreements"] == disagreements["image_id"].nunique() > 0
    assert (disagreements["chexnet"] != disagreements["metadata"]).all()
    with pytest.raises(KeyError, match="known: nih-official, chexnet-random"):
        nih.make_split("random", meta)


def test_sample_images_join_the_metadata(meta, data_root, tmp_path):
    sample = nih.sample_images(root=data_root, meta=meta)
    assert len(sample) == 621 and sample["patient_id"].is_unique
    assert sample["path"].map(lambda p: p.endswith(".png")).all()
    assert sample["image_id"].isin(_official_test_images(data_root)).sum() == 75
    (tmp_path / "nih-cxr14" / "images-256").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="no PNG images"):
        nih.sample_images(root=tmp_path, meta=meta)


# ------------------------------------------------------------------------------- document 000


def test_table1_total_and_test_equal_the_published_ones(meta, split, published):
    table = d000.table1(meta, split)
    assert list(table.columns) == list(d000.TABLE1_COLUMNS)
    total_row = table.set_index("class").loc[d000.TOTAL_ROW]
    assert (total_row["total"], total_row["test"]) == (91_324, 17_853)
    assert total_row["val"] + total_row["train"] == 91_324 - 17_853
    ours = table[table["class"] != d000.TOTAL_ROW].reset_index(drop=True)
    assert list(ours["class"]) == list(published["class"])
    assert ours["total"].tolist() == published["total"].tolist()
    assert ours["test"].tolist() == published["test"].tolist()
    comparison = d000.compare_with_published(table)
    assert (comparison[["total_diff", "test_diff"]] == 0).all().all()


def test_published_counts_reproduce_class_weights_and_resampled(published):
    recomputed = d000.table1_from_counts(published[["class", "total", "test", "val", "train"]], include_total=False)
    assert np.allclose(recomputed["class_weight"].round(3), published["class_weight"], atol=1e-9)
    assert recomputed["resampled"].tolist() == published["resampled"].tolist()
    total = d000.table1_from_counts(published).set_index("class").loc[d000.TOTAL_ROW]
    assert total["resampled"] == 72_333 and total["train"] == 58_783


def test_document_val_rule_reproduces_the_whole_published_table(meta, split):
    """Their Val is floor(20% of total - test) per class (image level): with it, every column matches."""
    counts = d000.document_val_counts(d000.split_counts(meta, split))
    comparison = d000.compare_with_published(d000.table1_from_counts(counts))
    assert (comparison.filter(like="_diff").fillna(0) == 0).all().all()


def test_published_transcription_is_consistent(published):
    full = d000.published_table1()
    assert "Elwirehardja" in full.attrs["citation"] and "2025:22" in full.attrs["citation"]
    printed_total = full.set_index("class").loc[d000.TOTAL_ROW]
    for column in ("total", "test", "val", "train", "resampled"):
        assert published[column].sum() == printed_total[column]
    assert (published["total"] == published["test"] + published["val"] + published["train"]).all()
    assert np.allclose((100 * published["total"] / printed_total["total"]).round(3), published["total_pct"])
    text = load_published("d000_section32").frame.set_index("quantity")["value"]
    weights = d000.resampled_class_weights(published).round(3)
    assert weights["Hernia"] == text["resampled_weight_hernia"]
    others = weights.drop("Hernia")
    assert (others.min(), others.max()) == (text["resampled_weight_min_excluding_hernia"],
                                            text["resampled_weight_max_excluding_hernia"])


def test_table1_follows_a_modified_metadata_file(raw_nih, data_root, tmp_path, meta, split):
    modified = raw_nih.copy()
    test_images = _official_test_images(data_root)
    in_test = modified["Image Index"].isin(test_images)
    no_finding_test = modified.index[in_test & (modified["Finding Labels"] == "No Finding")][:3]
    modified.loc[no_finding_test, "Finding Labels"] = "Hernia"
    multi_train = modified.index[~in_test & modified["Finding Labels"].str.contains("|", regex=False)][:2]
    modified.loc[multi_train, "Finding Labels"] = "Edema"
    path = tmp_path / "Data_Entry_modified.csv.gz"
    modified.to_csv(path, index=False)

    changed = nih.load_metadata(path)
    assert changed.attrs["source"] == str(path)
    before = d000.table1(meta, split).set_index("class")
    after = d000.table1(changed, nih.official_split(changed, root=data_root)).set_index("class")
    assert after.loc["Hernia", "test"] == before.loc["Hernia", "test"] + 3
    assert after.loc["No Finding", "test"] == before.loc["No Finding", "test"] - 3
    assert after.loc["Hernia", "total"] == 113 and after.loc["Edema", "total"] == 630
    assert after.loc[d000.TOTAL_ROW, "total"] == 91_326
    assert after.loc[d000.TOTAL_ROW, "test"] == 17_853


def test_resampling_rule_is_data_and_checked():
    weights = pd.Series({"rare": 2.0, "middle": 1.5, "unstated": 0.5, "common": 0.0999})
    factors = balance.resample_factors(weights)
    assert factors.to_dict() == {"rare": 6.0, "middle": 1.0, "unstated": 1.0, "common": 0.4}
    custom = [(0.0, 1.0, 0.5), (1.0, math.inf, 2.0)]
    assert balance.resample_factors(weights, custom).tolist() == [2.0, 2.0, 0.5, 0.5]
    assert balance.resampled_counts(pd.Series([5]), pd.Series([0.05])).tolist() == [2]
    with pytest.raises(ValueError, match="overlap"):
        balance.resample_factors(weights, [(0.0, 1.0, 1.0), (0.5, math.inf, 2.0)])
    with pytest.raises(ValueError, match="outside every resampling band"):
        balance.resample_factors(weights, [(1.0, math.inf, 1.0)])
    with pytest.raises(ValueError, match="at least one image per class"):
        balance.class_weights(pd.Series({"a": 10, "b": 0}))


def test_bad_split_inputs_are_clear_errors(meta, split):
    with pytest.raises(ValueError, match="split values must be"):
        d000.split_counts(meta, split.replace("val", "validation"))
    with pytest.raises(ValueError, match="no entry for"):
        d000.split_counts(meta, split.iloc[:100])
    with pytest.raises(ValueError, match="counts lack column"):
        d000.table1_from_counts(pd.DataFrame({"class": ["a"], "total": [1]}))


def test_notebook_01_without_the_official_test_list_says_how_to_get_it(data_root, tmp_path, monkeypatch):
    """A data root whose NIH folder lacks test_list.txt: the notebook stops with the data set's help (what
    `cxrlib data-check` reports), not a bare FileNotFoundError, before its run folder is opened."""
    import jupytext

    from cxrlib.core.staging import staging_dir
    from cxrlib.data.root import SOURCES

    root = tmp_path / "data"
    (root / "nih-cxr14").mkdir(parents=True)
    for source in data_root.iterdir():
        if source.name != "nih-cxr14":
            (root / source.name).symlink_to(source)
    for item in (data_root / "nih-cxr14").iterdir():
        if item.name != "test_list.txt":
            (root / "nih-cxr14" / item.name).symlink_to(item)
    notebook = jupytext.read(Path(__file__).resolve().parents[1] / "notebooks" / "01_data.py")
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    namespace: dict = {}
    exec(code[0], namespace)  # the parameter cell
    namespace.update(out_dir=str(tmp_path / "01_data"), data_root=str(root))
    with pytest.raises(DataNotFoundError) as error:
        exec(code[1], namespace)  # imports and run context
    text = str(error.value)
    assert text.rstrip().endswith("test_list.txt") and "missing:" in text
    assert SOURCES["nih-cxr14"].url in text and "Expected layout" in text
    assert not staging_dir(tmp_path / "01_data").exists()
