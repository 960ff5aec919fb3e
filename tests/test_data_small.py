"""The classroom data sets (Kermany, COVID-19 collection, PneumoniaMNIST) and the SSL pool, on the real data."""
from pathlib import Path

import numpy as np
import pytest

from cxrlib.data import covid, medmnist, pediatric, pool
from cxrlib.data.root import DataNotFoundError
from cxrlib.data.splits import LeakageError, leakage_report

BASE_COLUMNS = ["image_id", "patient_id", "path", "label", "split", "dataset"]


@pytest.fixture(scope="module")
def kermany(data_root):
    return pediatric.load_kermany(data_root)


@pytest.fixture(scope="module")
def covid_table(data_root):
    return covid.load_covid(data_root)


@pytest.fixture(scope="module")
def mnist(data_root):
    return medmnist.load_pneumoniamnist(data_root)


@pytest.fixture(scope="module")
def full_pool(data_root):
    return pool.unlabeled_pool(fraction=1.0, seed=0, root=data_root)


def parts_of(table, parts=("train", "val", "test")):
    return {p: table.loc[table["split"] == p, "patient_id"] for p in parts}


def common_checks(table, prefix):
    assert set(BASE_COLUMNS) <= set(table.columns)
    assert table["image_id"].is_unique
    assert table["image_id"].str.startswith(prefix + ":").all()
    assert table["patient_id"].str.startswith(prefix + ":").all()
    assert all(isinstance(p, Path) and p.is_absolute() for p in table["path"])
    assert set(table["split"]) <= {"train", "val", "test"}


# ------------------------------------------------------------------------------------- missing data


@pytest.mark.parametrize(
    "load, page",
    [
        (pediatric.load_kermany, "data.mendeley.com"),
        (covid.load_covid, "github.com/ieee8023/covid-chestxray-dataset"),
        (medmnist.load_pneumoniamnist, "zenodo.org"),
        (pool.nih_sample, "nihcc.app.box.com"),
        (pool.unlabeled_pool, "data.mendeley.com"),
    ],
)
def test_missing_data_names_the_download_page(tmp_path, load, page):
    with pytest.raises(DataNotFoundError, match=page.replace(".", r"\.")):
        load(root=tmp_path)


def test_empty_kermany_folder_is_not_found(tmp_path):
    for part in ("train", "test"):
        for cls in ("NORMAL", "PNEUMONIA"):
            (tmp_path / "kermany-pneumonia" / part / cls).mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="no JPEG images"):
        pediatric.load_kermany(tmp_path)


# ------------------------------------------------------------------------------------------ Kermany


@pytest.mark.parametrize(
    "stem, rule, patient, pathogen",
    [
        ("person1000_bacteria_2931", "person", "person1000", "bacteria"),
        ("person1000_virus_1681", "person", "person1000", "virus"),
        ("person1000_virus_1681", "person_pathogen", "person1000_virus", "virus"),
        ("person447_virus_921_1", "person", "person447", "virus"),
        ("IM-0115-0001", "person", "IM-0115", "none"),
        ("IM-0011-0001-0002", "person", "IM-0011", "none"),
        ("NORMAL2-IM-0300-0001", "person", "NORMAL2-IM-0300", "none"),
        ("NORMAL2-IM-0173-0001-0001", "person_pathogen", "NORMAL2-IM-0173", "none"),
    ],
)
def test_kermany_patient_from_file_name(stem, rule, patient, pathogen):
    assert pediatric.parse_name(stem, rule) == {"patient": patient, "pathogen": pathogen}


def test_kermany_unknown_names_and_rules_raise():
    with pytest.raises(ValueError, match="patient ids cannot be derived"):
        pediatric.parse_name("scan_0001")
    with pytest.raises(KeyError, match="person_pathogen"):
        pediatric.parse_name("IM-0115-0001", "by_study")


def test_kermany_counts_match_the_release(kermany):
    common_checks(kermany, "kermany")
    counts = kermany.groupby(["official_split", "label"]).size().to_dict()
    assert counts == {("train", 0): 1341, ("train", 1): 3875, ("test", 0): 234, ("test", 1): 390}
    assert set(kermany["pathogen"]) == {"bacteria", "virus", "none"}
    assert ((kermany["pathogen"] == "none") == (kermany["label"] == 0)).all()
    assert kermany.loc[kermany["official_split"] == "test", "split"].eq("test").all()
    assert kermany.loc[kermany["split"] == "test", "official_split"].eq("test").all()


def test_kermany_val_is_carved_from_train_by_patient(kermany):
    assert set(kermany.loc[kermany["split"] == "val", "official_split"]) == {"train"}
    assert leakage_report(parts_of(kermany, ("train", "val")))["shared_patients"].sum() == 0
    n_val = kermany.loc[kermany["split"] == "val", "patient_id"].nunique()
    n_train_patients = kermany.loc[kermany["official_split"] == "train", "patient_id"].nunique()
    assert n_val == pytest.approx(0.1 * n_train_patients, abs=2)
    assert set(kermany.loc[kermany["split"] == "val", "label"]) == {0, 1}


def test_kermany_split_is_seeded(data_root, kermany):
    again = pediatric.load_kermany(data_root, seed=0)
    other = pediatric.load_kermany(data_root, seed=1)
    assert again["split"].tolist() == kermany["split"].tolist()
    assert other["split"].tolist() != kermany["split"].tolist()
    none = pediatric.load_kermany(data_root, val_fraction=0.0)
    assert none["split"].tolist() == none["official_split"].tolist()


def test_kermany_official_split_leakage_is_reported_not_fixed(data_root, kermany):
    # person<N> numbers shared across pathogens put 170 children in both official parts (module docstring)
    report = pediatric.official_leakage(kermany).iloc[0]
    assert (report["shared_patients"], report["images_a"], report["images_b"]) == (170, 457, 320)
    per_pathogen = pediatric.load_kermany(data_root, patient_rule="person_pathogen")
    assert pediatric.official_leakage(per_pathogen)["shared_patients"].item() == 0
    normal = kermany[kermany["label"] == 0]
    assert leakage_report(
        {p: normal.loc[normal["official_split"] == p, "patient_id"] for p in ("train", "test")}
    )["shared_patients"].item() == 0


def test_kermany_rules_work_on_a_synthetic_tree(tmp_path):
    names = {
        ("train", "NORMAL"): ["IM-0200-0001.jpeg", "IM-0200-0001-0002.jpeg", "NORMAL2-IM-0200-0001.jpeg"],
        ("train", "PNEUMONIA"): ["person5_bacteria_10.jpeg", "person6_virus_3.jpeg"],
        ("test", "NORMAL"): ["IM-0001-0001.jpeg"],
        ("test", "PNEUMONIA"): ["person5_virus_1.jpeg"],
    }
    for (part, cls), files in names.items():
        (tmp_path / "kermany-pneumonia" / part / cls).mkdir(parents=True)
        for name in files:
            (tmp_path / "kermany-pneumonia" / part / cls / name).write_bytes(b"")
    table = pediatric.load_kermany(tmp_path, val_fraction=0.0)
    assert table.loc[table["label"] == 0, "patient_id"].nunique() == 3
    assert pediatric.official_leakage(table)["shared_patients"].item() == 1
    in_test = pediatric.patients_in_test(table)
    leaking_train = table.loc[in_test & (table["official_split"] == "train"), "image_id"]
    assert leaking_train.tolist() == ["kermany:person5_bacteria_10"]
    (tmp_path / "kermany-pneumonia" / "train" / "NORMAL" / "person9_virus_1.jpeg").write_bytes(b"")
    with pytest.raises(ValueError, match="NORMAL folder"):
        pediatric.load_kermany(tmp_path)


# --------------------------------------------------------------------------------------------- COVID


@pytest.mark.parametrize(
    "finding, expected",
    [
        ("COVID-19", "covid"), ("COVID-19, ARDS", "covid"), ("Pneumonia/Viral/COVID-19", "covid"),
        ("SARS", "other_pneumonia"), ("Pneumocystis", "other_pneumonia"), ("Pneumonia", "other_pneumonia"),
        ("Pneumonia/Bacterial/Streptococcus", "other_pneumonia"), ("Lipoid", "other_pneumonia"),
        ("No Finding", "excluded: no finding"), ("todo", "excluded: not yet labelled"),
        ("Unknown", "excluded: unknown"), ("ARDS", "excluded: ARDS without a pneumonia type"),
        ("Tuberculosis", covid.UNMAPPED), (np.nan, covid.UNMAPPED),
    ],
)
def test_covid_finding_classes(finding, expected):
    assert covid.finding_class(finding) == expected


def test_covid_join_keeps_571_frontal_images(covid_table):
    common_checks(covid_table, "covid")
    assert len(covid_table) == 571
    assert covid_table["patient_id"].nunique() == 340
    assert set(covid_table["view"]) <= set(covid.FRONTAL_VIEWS)
    assert covid_table["license"].notna().all() and (covid_table["license"] != "").all()
    assert (covid_table["finding"].map(covid.finding_class) == covid_table["task_class"]).all()
    assert covid_table["task_class"].ne(covid.UNMAPPED).all()


def test_covid_task_is_patient_disjoint_70_10_20(covid_table):
    task = covid.covid_task(covid_table)
    assert set(task["label"]) == {0, 1} and task["label"].dtype.kind == "i"
    assert len(task) == (covid_table["task_class"].isin(["covid", "other_pneumonia"])).sum()
    assert leakage_report(parts_of(covid_table))["shared_patients"].sum() == 0
    patients = task.groupby("split")["patient_id"].nunique()
    shares = patients / patients.sum()
    assert shares.to_dict() == pytest.approx({"train": 0.7, "val": 0.1, "test": 0.2}, abs=0.03)
    counts = covid.task_counts(covid_table)
    assert (counts.groupby("split")["label"].nunique() == 2).all()
    assert counts["images"].sum() == len(task)


def test_covid_split_is_seeded(data_root, covid_table):
    assert covid.load_covid(data_root, seed=0)["split"].tolist() == covid_table["split"].tolist()
    assert covid.load_covid(data_root, seed=3)["split"].tolist() != covid_table["split"].tolist()


# ----------------------------------------------------------------------------------- PneumoniaMNIST


def test_pneumoniamnist_arrays_and_table(data_root, mnist):
    table = mnist.table
    assert table.groupby("split").size().to_dict() == {"train": 4708, "val": 524, "test": 624}
    assert mnist.images.shape == (5856, 28, 28) and mnist.images.dtype == np.uint8
    assert (table["patient_id"] == table["image_id"]).all() and not mnist.has_patient_ids
    assert table["image_id"].iloc[0] == "pneumoniamnist:train:0"
    assert table["image_id"].is_unique
    with np.load(data_root / "pneumoniamnist" / "pneumoniamnist.npz") as raw:
        images, labels = mnist.part("test")
        assert np.array_equal(images, raw["test_images"])
        assert np.array_equal(labels, raw["test_labels"].reshape(-1))
    assert (mnist.labels[table["row"]] == table["label"]).all()


# -------------------------------------------------------------------------------------------- pool


def test_pool_has_no_labels_and_no_test_data(data_root, full_pool, kermany, covid_table):
    assert list(full_pool.columns) == pool.POOL_COLUMNS
    assert full_pool["image_id"].is_unique
    assert set(full_pool["dataset"]) == {"kermany", "nih", "covid"}
    nih = pool.nih_sample(data_root)
    assert len(nih) == 621 and nih["patient_id"].is_unique and (nih["split"] == "test").sum() == 75
    assert nih.loc[nih["image_id"] == "nih:00000075_000.png", "patient_id"].item() == "nih:75"
    tests = [t[t["split"] == "test"] for t in (kermany, covid_table, nih)]
    pool.assert_disjoint_from(full_pool, *tests)
    train_ids = set(kermany.loc[kermany["split"] == "train", "image_id"])
    pooled = full_pool.loc[full_pool["dataset"] == "kermany", "image_id"]
    assert set(pooled) < train_ids  # train only, minus images of patients with official test images
    counts = full_pool.attrs["counts"]["kermany"]
    assert counts["images"] + counts["dropped_test_patient_images"] == len(train_ids)
    assert (full_pool["dataset"] == "nih").sum() == 546


def test_assert_disjoint_from_catches_images_and_patients(full_pool):
    one = full_pool.iloc[[0]]
    with pytest.raises(LeakageError, match="shared images"):
        pool.assert_disjoint_from(full_pool, one)
    same_patient = one.assign(image_id="other:image", path=Path("/nowhere.png"))
    with pytest.raises(LeakageError, match="shared patients"):
        pool.assert_disjoint_from(full_pool, same_patient)


def test_pool_fractions_draw_whole_patients_nested_and_seeded(data_root, full_pool):
    tenth = pool.unlabeled_pool(fraction=0.1, seed=0, root=data_root)
    hundredth = pool.unlabeled_pool(fraction=0.01, seed=0, root=data_root)
    for name, counts in tenth.attrs["counts"].items():
        assert counts["patients"] == max(1, round(0.1 * counts["eligible_patients"]))
    # whole patients: every image of a drawn patient comes along
    per_patient = full_pool.groupby("patient_id").size()
    drawn = tenth.groupby("patient_id").size()
    assert drawn.to_dict() == per_patient[drawn.index].to_dict()
    assert set(hundredth["image_id"]) < set(tenth["image_id"]) < set(full_pool["image_id"])
    assert pool.unlabeled_pool(fraction=0.1, seed=0, root=data_root)["image_id"].tolist() == tenth["image_id"].tolist()
    assert set(pool.unlabeled_pool(fraction=0.1, seed=1, root=data_root)["image_id"]) != set(tenth["image_id"])
    alone = pool.unlabeled_pool(sources=("covid",), fraction=0.1, seed=0, root=data_root)
    assert set(alone["image_id"]) == set(tenth.loc[tenth["dataset"] == "covid", "image_id"])


def test_pool_rejects_bad_arguments(data_root):
    with pytest.raises(ValueError, match="fraction"):
        pool.unlabeled_pool(fraction=0.0, root=data_root)
    with pytest.raises(ValueError, match="never in the pool"):
        pool.unlabeled_pool(parts=("train", "test"), root=data_root)
    with pytest.raises(KeyError, match="unknown pool source"):
        pool.unlabeled_pool(sources=("imagenet",), root=data_root)
    with pytest.raises(DataNotFoundError, match="CheXpert-v1.0-small"):  # a source whose images are not here
        pool.unlabeled_pool(sources=("chexpert",), root=data_root)
