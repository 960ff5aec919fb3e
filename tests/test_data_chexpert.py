"""CheXpert metadata (cxrlib.data.chexpert): loading, patient ids, frontal filter, uncertainty policies."""
import numpy as np
import pandas as pd
import pytest

from cxrlib.data import chexpert, d001, d004
from cxrlib.data.metadata import read_csv, shipped_path
from cxrlib.data.root import DataNotFoundError, SOURCES

NAN = np.nan


@pytest.fixture(scope="module")
def raw_train():
    return read_csv(shipped_path("chexpert_train"))




def _raw_rows(rows):
    """A tiny frame in the official column layout; each row: (path, frontal/lateral, AP/PA, {label: value})."""
    records = []
    for path, frontal_lateral, view, labels in rows:
        record = {"Path": path, "Sex": "Female", "Age": 50, "Frontal/Lateral": frontal_lateral, "AP/PA": view}
        record.update({name: labels.get(name, NAN) for name in chexpert.LABELS})
        records.append(record)
    return pd.DataFrame(records)


# ------------------------------------------------------------------------------------- loading


def test_train_table_is_normalised(train, raw_train):
    assert len(train) == len(raw_train) == 223_414
    assert list(train.columns[:9]) == ["image_id", "patient_id", "study", "view_number", "frontal", "view", "sex",
                                       "age", "split"]
    assert list(train.columns[9:]) == list(chexpert.LABELS)
    assert (train["image_id"] == raw_train["Path"]).all()
    assert train["patient_id"].nunique() == 64_540
    assert (train["split"] == "train").all()
    values = set(np.unique(train[list(chexpert.LABELS)].to_numpy()[~np.isnan(train[list(chexpert.LABELS)].to_numpy())]))
    assert values <= {-1.0, 0.0, 1.0}
    assert train.attrs["source"].endswith("chexpert_train.csv.gz")


def test_patient_ids_and_studies_come_from_the_path(train):
    sample = train.sample(500, random_state=0)
    for row in sample.itertuples():
        parts = row.image_id.split("/")
        assert row.patient_id == parts[2] and row.patient_id.startswith("patient")
        assert row.study == f"{parts[2]}/{parts[3]}"
        assert parts[4].startswith(f"view{row.view_number}_")


def test_frontal_filter_agrees_with_column_and_file_names(train, raw_train, valid):
    assert train["frontal"].sum() == (raw_train["Frontal/Lateral"] == "Frontal").sum()
    for table in (train, valid):
        assert (table["frontal"] == table["image_id"].str.contains("_frontal", regex=False)).all()
        assert chexpert.frontal(table)["frontal"].all()
    assert chexpert.frontal(train)["view"].isin(["AP", "PA", "LL", "RL"]).all()
    assert train.loc[~train["frontal"], "view"].isna().all()


def test_validation_table(valid):
    assert len(valid) == 234 and valid["patient_id"].nunique() == 200
    assert valid["frontal"].sum() == 202
    assert (valid["split"] == "valid").all()
    assert set(np.unique(valid[list(chexpert.LABELS)].to_numpy())) <= {0.0, 1.0}


def test_missing_validation_file_says_where_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError) as error:
        chexpert.load_valid(tmp_path)
    assert SOURCES["chexpert-valid"].url in str(error.value) and "valid.csv" in str(error.value)


def test_hand_made_frame_patient_ids_and_errors():
    raw = _raw_rows([
        ("CheXpert-v1.0-small/train/patient00007/study3/view2_frontal.jpg", "Frontal", "PA", {"Edema": 1}),
        ("CheXpert-v1.0-small/train/patient12345/study1/view1_lateral.jpg", "Lateral", NAN, {}),
    ])
    table = chexpert.normalise(raw, split="train")
    assert table["patient_id"].tolist() == ["patient00007", "patient12345"]
    assert table["study"].tolist() == ["patient00007/study3", "patient12345/study1"]
    assert table["view_number"].tolist() == [2, 1]
    assert table["frontal"].tolist() == [True, False]
    assert len(chexpert.frontal(table)) == 1
    with pytest.raises(ValueError, match="patientNNNNN"):
        chexpert.normalise(_raw_rows([("somewhere/study1/view1_frontal.jpg", "Frontal", "AP", {})]), split="x")
    with pytest.raises(ValueError, match="Edema"):
        chexpert.normalise(_raw_rows([("a/patient1/study1/view1_frontal.jpg", "Frontal", "AP", {"Edema": 2})]), "x")
    with pytest.raises(ValueError, match="lacks the column"):
        chexpert.normalise(raw.drop(columns=["Fracture"]), split="train")
    with pytest.raises(ValueError, match="repeated"):
        chexpert.normalise(pd.concat([raw, raw]), split="train")


# --------------------------------------------------------------------------- uncertainty policies


def test_uncertainty_policies_on_a_tiny_frame():
    labels = pd.DataFrame({"Edema": [1.0, 0.0, -1.0, NAN], "Fracture": [-1.0, -1.0, 1.0, 0.0]}, index=[10, 11, 12, 13])
    ignore = chexpert.apply_uncertainty(labels, "U-Ignore")
    zeros = chexpert.apply_uncertainty(labels, "U-Zeros")
    ones = chexpert.apply_uncertainty(labels, "U-Ones")
    pd.testing.assert_series_equal(ignore["Edema"], pd.Series([1.0, 0.0, NAN, 0.0], index=labels.index, name="Edema"))
    pd.testing.assert_series_equal(zeros["Edema"], pd.Series([1.0, 0.0, 0.0, 0.0], index=labels.index, name="Edema"))
    pd.testing.assert_series_equal(ones["Edema"], pd.Series([1.0, 0.0, 1.0, 0.0], index=labels.index, name="Edema"))
    assert ones["Fracture"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert list(ones.columns) == ["Edema", "Fracture"]  # the order of chexpert.LABELS
    assert chexpert.apply_uncertainty(labels, "U-Zeros", ["Fracture"]).columns.tolist() == ["Fracture"]
    blank_masked = chexpert.UncertaintyPolicy("custom", 1.0, NAN, "uncertain positive, blank masked")
    assert chexpert.apply_uncertainty(labels, blank_masked)["Edema"].isna().tolist() == [False, False, False, True]
    with pytest.raises(KeyError, match="U-Ones"):
        chexpert.apply_uncertainty(labels, "U-Maybe")


@pytest.mark.parametrize("name", chexpert.UNCERTAINTY_POLICIES)
def test_every_policy_row_maps_uncertain_and_blank_as_it_declares(name):
    policy = chexpert.UNCERTAINTY_POLICIES[name]
    assert policy.name == name
    labels = pd.DataFrame({"Edema": [1.0, 0.0, -1.0, NAN]})
    got = chexpert.apply_uncertainty(labels, name)["Edema"].tolist()
    np.testing.assert_array_equal(got, [1.0, 0.0, policy.uncertain, policy.blank])  # NaN == NaN here
    assert chexpert.apply_uncertainty(labels, policy)["Edema"].equals(chexpert.apply_uncertainty(labels, name)["Edema"])


def test_positive_counts_follow_the_policy(train, raw_train):
    certain = chexpert.positive_counts(train, "U-Zeros")
    with_uncertain = chexpert.positive_counts(train, "U-Ones")
    for label in chexpert.LABELS:
        assert certain[label] == (raw_train[label] == 1).sum()
        assert with_uncertain[label] == raw_train[label].isin([1, -1]).sum()


# ------------------------------------------------------------------ counts move with the CSV


def test_counts_are_computed_from_the_file(raw_train, tmp_path):
    """A modified copy of the train CSV moves the Table 2 column and the document 004 counts."""
    part = raw_train.head(3000).copy()
    original = tmp_path / "train.csv"
    part.to_csv(original, index=False)
    before = d001.chexpert_column(path=original)
    before_004 = d004.class_frequency_table(chexpert.load_train(original))
    frontal_blank = part.index[(part["Frontal/Lateral"] == "Frontal") & part["Atelectasis"].isna()][:5]
    part.loc[frontal_blank, "Atelectasis"] = 1.0
    part.loc[part.index[(part["Frontal/Lateral"] == "Frontal") & (part["Fracture"] == 1)][:2], "Fracture"] = -1.0
    modified = tmp_path / "train_modified.csv"
    part.to_csv(modified, index=False)
    after = d001.chexpert_column(path=modified)
    after_004 = d004.class_frequency_table(chexpert.load_train(modified))
    assert before.total == after.total == (part["Frontal/Lateral"] == "Frontal").sum()
    assert after.counts["Atelectasis"] - before.counts["Atelectasis"] == 5
    assert after.counts["Fracture"] - before.counts["Fracture"] == -2  # uncertain is negative in document 001
    assert after_004.loc["Atelectasis", "positives"] - before_004.loc["Atelectasis", "positives"] == 5
    assert after_004.loc["Fracture", "positives"] == before_004.loc["Fracture", "positives"]  # uncertain positive


def test_the_train_table_is_read_once_per_file_and_each_caller_gets_its_own_copy(raw_train, tmp_path):
    """``load_train`` parses a file once (``metadata.parsed_once``): a caller's edits never reach the next caller, and a file
    rewritten in place (same path) is read again."""
    path = tmp_path / "train.csv"
    raw_train.head(50).to_csv(path, index=False)
    first = chexpert.load_train(path)
    first.loc[first.index[0], "Atelectasis"] = 99.0
    again = chexpert.load_train(path)
    assert again.loc[again.index[0], "Atelectasis"] != 99.0 and again.attrs["source"] == str(path)
    raw_train.head(20).to_csv(path, index=False)
    import os
    os.utime(path, ns=(0, 1))  # a different modification time, whatever the file system's clock resolution
    assert len(chexpert.load_train(path)) == 20
