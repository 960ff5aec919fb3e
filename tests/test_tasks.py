"""Every document's downstream task as a TaskSpec row: the label lists against the documents' tables,
the table contract on tiny data sets written in each documented layout (for data not on this machine),
the download-page error when the data are missing, PneumoniaMNIST through the fine-tuning engine, and
the patient-clean Kermany option."""
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from cxrlib.data import chexpert, d001, d004, nih, pool
from cxrlib.data.fixtures import make_chexpert, make_covidgr, make_mimic, make_padchest, make_vindr
from cxrlib.data.root import SOURCES, DataNotFoundError
from cxrlib.images.tasks import BASE_COLUMNS, SPLITS, TARGET, TASKS, get_task
from cxrlib.images.task_tables import split_tables
from cxrlib.published import load as load_published

PAPERS = Path(__file__).resolve().parents[2] / "shared" / "papers"
DOCUMENT_ROWS = {"d001_nih": "ChestX-ray14", "d001_chexpert": "CheXpert", "d001_mimic": "MIMIC-CXR",
                 "d001_padchest": "PadChest", "d001_vindr": "VinDr-CXR"}


# ---------------------------------------------------------------------------- rows as data


@pytest.mark.parametrize("name", TASKS)
def test_every_row_states_its_protocol(name):
    task = TASKS[name]
    assert task.split and task.reference and task.uncertainty and task.images and task.source in SOURCES
    assert task.document in ("", "000", "001", "002", "003", "004")
    assert len(task.labels_as_published) == len(task.classes) == task.n_outputs
    assert len(set(task.classes)) == len(task.classes)
    assert set(task.defaults) >= ({"nih_images"} if task.source == "nih-cxr14" else set())


@pytest.mark.parametrize("name, dataset", DOCUMENT_ROWS.items())
def test_document_001_label_sets_are_table_3(name, dataset):
    task = TASKS[name]
    assert task.document == "001" and task.kind == "multilabel"
    assert task.document_labels == d001.TABLE3_LABELS[dataset]
    assert len(task.classes) == d001.TABLE3_COUNTS[dataset]  # 11, 14, 10, 10, 17 (caption of Table 3)


def test_table_3_transcription_matches_the_document_text():
    files = sorted(PAPERS.glob("001_*.txt"))
    if not files:
        pytest.skip(f"document 001's text is not at {PAPERS}")
    lines = files[0].read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Labels\tVinDr-CXR\tChestX-ray14"))
    header = lines[start].split("\t")
    ticks = {column: [] for column in header[1:]}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = line.split("\t")
        for j, column in enumerate(header[1:], 1):
            if j < len(cells) and cells[j].strip() == "✓":
                ticks[column].append(cells[0])
    assert {k: tuple(v) for k, v in ticks.items()} == d001.TABLE3_LABELS
    assert "UKA-CXR" in d001.NOT_PUBLIC and not any(t.document_labels == d001.TABLE3_LABELS["UKA-CXR"]
                                                    for t in TASKS.values())


def test_document_001_nih_drops_infiltration_and_adds_no_finding():
    classes = TASKS["d001_nih"].classes
    assert "Infiltration" not in classes and "No Finding" in classes and len(classes) == 14


def _published_classes(table_id):
    names = load_published(table_id).frame["class"].drop_duplicates().tolist()
    return {n for n in names if n != "Total"}


def test_document_004_label_sets_are_tables_iii_to_v():
    # the published files spell "Enlarged Cardiomedastinum" as printed; document_labels keep that spelling
    assert set(TASKS["d004_chexpert"].document_labels) == _published_classes("d004_table3")
    assert set(TASKS["d004_chexpert"].document_labels) == _published_classes("d004_table5")
    assert set(TASKS["d004_chexpert_rare"].document_labels) == _published_classes("d004_table4")
    assert TASKS["d004_chexpert"].classes == chexpert.LABELS
    assert TASKS["d004_chexpert_rare"].classes == d004.RARE_LABELS
    assert "U-Ones" in TASKS["d004_chexpert"].uncertainty and "U-Zeros" in TASKS["d001_chexpert"].uncertainty


def test_document_002_class_sizes_are_table_ii():
    table = load_published("d002_table2").frame.set_index("dataset")
    row = table.loc.__getitem__
    nih = row("ChestX-ray-14")
    assert TASKS["d002_nih_pneumonia"].defaults["n_per_class"] == int(nih["class_0"]) == int(nih["class_1"]) == 1353
    covidgr = row("COVIDGR")
    assert int(covidgr["class_0"]) == int(covidgr["class_1"]) == 426


# ------------------------------------------------------ missing data: the download page


@pytest.mark.parametrize("name", TASKS)
def test_missing_data_names_the_download_page(name, tmp_path):
    task = TASKS[name]
    with pytest.raises(DataNotFoundError) as error:
        task.load_table(tmp_path / "empty")
    message = str(error.value)
    assert "Expected layout" in message and str(tmp_path / "empty") in message
    assert SOURCES[task.source].url in message or SOURCES[_alt(task.source)].url in message, message


def _alt(key):  # NIH tasks look for the official lists first (the nih-cxr14 row)
    return {"nih-cxr14-sample": "nih-cxr14"}.get(key, key)


# ------------------------------------------------ tiny data sets in the documented layouts


MAKERS = {
    "d001_chexpert": make_chexpert, "d004_chexpert": make_chexpert, "d004_chexpert_rare": make_chexpert,
    "chexpert_competition5": make_chexpert, "d001_padchest": make_padchest, "d001_vindr": make_vindr, "d001_mimic": make_mimic, "d002_covidgr": make_covidgr,
}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_data")
    rng = np.random.default_rng(0)
    for maker in dict.fromkeys(MAKERS.values()):
        maker(root, rng)
    return root


def check_contract(task, table):
    assert table.attrs["task"] == task.name
    for column in (*BASE_COLUMNS, *task.target_columns):
        assert column in table.columns and table[column].notna().all(), column
    assert table["image_id"].is_unique and all(os.path.isfile(p) for p in table["path"])
    parts = split_tables(table)
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not set(parts[a]["patient_id"]) & set(parts[b]["patient_id"]), (a, b)
    targets = task.targets(table)
    if task.kind == "multilabel":
        assert targets.shape == (len(table), len(task.classes)) and set(np.unique(targets)) <= {0.0, 1.0}
        assert targets.any(axis=0).any()
    else:
        assert targets.min() >= 0 and targets.max() < len(task.classes)
        assert set(parts["train"][TARGET]) == {0, 1}


@pytest.mark.parametrize("name", MAKERS)
def test_rows_on_tiny_data_in_the_documented_layout(name, tiny_root):
    task = TASKS[name]
    table = task.load_table(tiny_root, seed=0)
    check_contract(task, table)
    assert set(table["split"]) == set(SPLITS)
    again = task.load_table(tiny_root, seed=1)
    assert sorted(again["image_id"]) == sorted(table["image_id"])
    if "test_seed" in task.defaults or name.startswith("d004") or name == "d001_vindr":  # fixed test set
        assert set(again.loc[again["split"] == "test", "image_id"]) == set(table.loc[table["split"] == "test", "image_id"])


def test_chexpert_rows_follow_their_documents(tiny_root):
    d1 = TASKS["d001_chexpert"].load_table(tiny_root)
    d4 = TASKS["d004_chexpert"].load_table(tiny_root)
    rare = TASKS["d004_chexpert_rare"].load_table(tiny_root)
    train = chexpert.normalise(pd.read_csv(tiny_root / "chexpert/CheXpert-v1.0-small/train.csv"), "train")
    frontal = chexpert.frontal(train).set_index("image_id")
    ids = d1["image_id"].str.removeprefix("chexpert:")
    raw = frontal.loc[ids, "Pneumonia"].to_numpy()
    assert (d1["Pneumonia"].to_numpy()[raw == -1] == 0).all()  # document 001: uncertain negative
    ids4 = d4.loc[d4["split"] != "test", "image_id"].str.removeprefix("chexpert:")
    raw4 = frontal.loc[ids4, "Pneumonia"].to_numpy()
    assert (d4.loc[d4["split"] != "test", "Pneumonia"].to_numpy()[raw4 == -1] == 1).all()  # document 004: positive
    assert (d4["split"] == "test").sum() == 10 and d4.loc[d4["split"] == "test", "image_id"].str.contains("/valid/").all()
    assert set(d4.loc[d4["split"] != "test", "patient_id"]) == {"chexpert:" + p for p in frontal["patient_id"]}
    expected = d004.chexpert_rare(train)
    assert sorted(rare.loc[rare["split"] != "test", "image_id"]) == sorted("chexpert:" + expected["image_id"])


def test_chexpert_competition5_follows_its_uncertainty_option(tiny_root):
    task = TASKS["chexpert_competition5"]
    assert task.classes == chexpert.COMPETITION_LABELS and task.document == "003"
    ones = task.load_table(tiny_root)
    zeros = task.load_table(tiny_root, uncertainty_policy="U-Zeros")
    train = chexpert.normalise(pd.read_csv(tiny_root / "chexpert/CheXpert-v1.0-small/train.csv"), "train")
    raw = train.set_index("image_id").loc[ones.loc[ones["split"] != "test", "image_id"].str.removeprefix("chexpert:")]
    for label in task.classes:
        uncertain = raw[label].to_numpy() == -1
        assert (ones.loc[ones["split"] != "test", label].to_numpy()[uncertain] == 1).all()
        assert (zeros.loc[zeros["split"] != "test", label].to_numpy()[uncertain] == 0).all()
    assert ones.loc[ones["split"] == "test", "image_id"].str.contains("/valid/").all()
    frontal = task.load_table(tiny_root, frontal_only=True)
    assert len(frontal) < len(ones)  # the tiny layout has lateral images; the default keeps them (document 003)


def test_nih_competition5_on_the_sample(data_root):
    task = TASKS["nih_competition5"]
    table = task.load_table(data_root, nih_images="images-256", test_fraction=0.4)
    check_contract(task, table)
    assert task.classes == chexpert.COMPETITION_LABELS
    meta = nih.load_metadata().set_index("image_id").loc[table["image_id"]]
    assert (table["Pleural Effusion"].to_numpy() == meta["Effusion"].to_numpy()).all()  # NIH's Effusion, renamed
    assert 0.35 < (table["split"] == "test").mean() < 0.45


def test_a_missing_image_names_the_download_page(tiny_root, tmp_path):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(tiny_root / "covidgr", root / "covidgr")
    shutil.copytree(tiny_root / "padchest", root / "padchest")
    (root / "padchest" / "images" / "img001.png").unlink()
    with pytest.raises(DataNotFoundError, match=re.escape(SOURCES["padchest"].url)) as error:
        TASKS["d001_padchest"].load_table(root)
    assert "img001.png" in str(error.value)
    for f in (root / "covidgr" / "N").iterdir():
        f.unlink()
    with pytest.raises(DataNotFoundError, match=re.escape(SOURCES["covidgr"].url)):
        TASKS["d002_covidgr"].load_table(root)


# ------------------------------------------------------------------- data on this machine


def test_d001_nih_on_the_sample(data_root):
    table = TASKS["d001_nih"].load_table(data_root, nih_images="images-256")
    check_contract(TASKS["d001_nih"], table)
    assert (table["split"] == "test").sum() == 75  # the official test list, as for nih14_multilabel
    assert (table["No Finding"] == (table["finding_labels"] == "No Finding")).all()


def test_d002_nih_pneumonia_is_balanced_and_patient_disjoint(data_root):
    task = TASKS["d002_nih_pneumonia"]
    table = task.load_table(data_root, nih_images="images-256")
    check_contract(task, table)
    counts = table[TARGET].value_counts()
    assert counts[0] == counts[1] == 32  # every pneumonia image of the sample, as many controls
    assert not set(table.loc[table[TARGET] == 0, "patient_id"]) & set(table.loc[table[TARGET] == 1, "patient_id"])
    assert (table.loc[table[TARGET] == 0, "finding_labels"] == "No Finding").all()
    assert table.loc[table[TARGET] == 0, "patient_id"].is_unique  # one image per healthy control


def test_pneumoniamnist_rows_and_pngs(data_root, tmp_path):
    task = TASKS["pneumoniamnist"]
    table = task.load_table(data_root, png_dir=str(tmp_path / "png"))
    check_contract(task, table)
    assert table["split"].value_counts().to_dict() == {"train": 4708, "val": 524, "test": 624}
    assert Path(table["path"][0]).is_relative_to(tmp_path / "png")
    from cxrlib.data.medmnist import load_pneumoniamnist

    data = load_pneumoniamnist(data_root)
    row = table.iloc[5000]
    np.testing.assert_array_equal(cv2.imread(row["path"], cv2.IMREAD_GRAYSCALE), data.images[row["row"]])
    with pytest.raises(ValueError, match="official validation"):
        task.load_table(data_root, val_fraction=0.2)


def test_pneumoniamnist_fits_in_the_engine(data_root, tmp_path, monkeypatch):
    from cxrlib.training.finetune import TrainConfig, fit

    monkeypatch.setenv("CXRLIB_CACHE", str(tmp_path / "cache"))  # the PNG copies go under the cache folder
    config = TrainConfig(out_dir=str(tmp_path / "run"), task="pneumoniamnist", data_root=str(data_root),
                         backbone="resnet18", weights="none", image_size=28, batch_size=16,
                         unfrozen_blocks=1, subset={"train": 32, "val": 32, "test": 32}, epochs=1,
                         progress="none", cache_dir=str(tmp_path / "cache"))
    result = fit(config)
    assert result.metrics["task"] == "pneumoniamnist" and 0.0 <= result.metrics["test"]["auroc"] <= 1.0
    assert len(pd.read_csv(result.out_dir / "predictions_test.csv")) == 32
    assert (tmp_path / "cache" / "sources").is_dir()


def test_pneumoniamnist_pool_source(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("CXRLIB_CACHE", str(tmp_path / "cache"))
    drawn = pool.unlabeled_pool(["pneumoniamnist"], fraction=0.01, root=data_root)
    assert len(drawn) == 47 and set(drawn["dataset"]) == {"pneumoniamnist"}  # 1 % of the 4,708 train images
    assert all(os.path.isfile(p) for p in drawn["path"])
    with pytest.raises(ValueError, match="same children"):
        pool.unlabeled_pool(["kermany", "pneumoniamnist"], root=data_root)


def test_kermany_patient_clean_option(data_root):
    task = get_task("kermany_pneumonia")
    assert task.defaults["patient_clean"] is True  # classroom default; the paper files set it off
    clean = task.load_table(data_root)
    check_contract(task, clean)
    assert len(clean) == 5840 - 457 and (clean["split"] == "test").sum() == 624
    assert clean.attrs["dropped_test_patients"] == {"images": 457, "patients": 170}
