"""Tasks as data, the PyTorch dataset over the preprocessing cache, and document 000's resampling."""
import numpy as np
import pandas as pd
import pytest
import torch

from cxrlib.images.augment import build_augmentation
from cxrlib.data import d000, nih
from cxrlib.data.root import DataNotFoundError
from cxrlib.images.tasks import TASKS, class_counts, get_task, split_tables, subsample
from cxrlib.images.preprocess import preprocess_config
from cxrlib.images.dataset import CxrDataset
from cxrlib.images.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessCache
from cxrlib.images.sampling import VARIANT_COLUMN, resample_plan, resample_table


@pytest.fixture(scope="module")
def kermany(data_root):
    return get_task("kermany_pneumonia").load_table(data_root, seed=0)


def test_task_rows_are_complete():
    assert {"kermany_pneumonia", "nih15_single_label", "nih14_multilabel", "covid_vs_pneumonia"} <= set(TASKS)
    for task in TASKS.values():
        assert task.reference and task.title and task.n_outputs == len(task.classes)
    assert TASKS["nih15_single_label"].classes == nih.SINGLE_LABEL_CLASSES and len(nih.SINGLE_LABEL_CLASSES) == 15
    assert TASKS["nih14_multilabel"].classes == nih.CHEXNET_ORDER
    assert TASKS["kermany_pneumonia"].positive_class == "pneumonia"
    assert TASKS["covid_vs_pneumonia"].positive_class == "covid"


def test_kermany_table(kermany):
    parts = split_tables(kermany)
    assert set(kermany["target"]) == {0, 1} and len(kermany) == 5840
    assert len(parts["test"]) == 624  # official test folder, unchanged
    assert not set(parts["train"]["patient_id"]) & set(parts["val"]["patient_id"])
    counts = class_counts(parts["train"], "kermany_pneumonia")
    assert list(counts.index) == ["normal", "pneumonia"] and counts.sum() == len(parts["train"])


def test_nih_tasks_on_the_sample(data_root):
    single = TASKS["nih15_single_label"].load_table(data_root, seed=0, nih_images="images-256")
    assert single["target"].between(0, 14).all() and set(single["split"]) == {"train", "val", "test"}
    assert "sample" in single.attrs["note"]
    multi = TASKS["nih14_multilabel"].load_table(data_root, seed=0, nih_images="images-256")
    assert len(multi) == 621 and multi[list(nih.CHEXNET_ORDER)].isin([0, 1]).all().all()
    targets = TASKS["nih14_multilabel"].targets(multi)
    assert targets.shape == (621, 14) and targets.dtype == np.float32
    # the sample keeps the official test list: its 75 test-list images are the test part
    assert (multi["split"] == "test").sum() == 75


def test_full_nih_images_missing_say_how_to_get_them(data_root):
    with pytest.raises(DataNotFoundError, match="ChestXray-NIHCC|nih-cxr14"):
        TASKS["nih14_multilabel"].load_table(data_root, seed=0)


def test_covid_task(data_root):
    table = TASKS["covid_vs_pneumonia"].load_table(data_root, seed=0)
    parts = split_tables(table)
    assert set(table["target"]) == {0, 1}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not set(parts[a]["patient_id"]) & set(parts[b]["patient_id"])


def test_unknown_task_option(data_root):
    with pytest.raises(ValueError, match="no option"):
        TASKS["kermany_pneumonia"].load_table(data_root, nih_images="images")


def test_subsample_is_stratified_seeded_and_bounded(kermany):
    task = get_task("kermany_pneumonia")
    a = subsample(kermany, task, {"train": 40, "val": 10}, seed=1)
    b = subsample(kermany, task, {"train": 40, "val": 10}, seed=1)
    assert a.equals(b)
    counts = a.groupby("split").size()
    assert counts["train"] == 40 and counts["val"] == 10 and counts["test"] == 624
    assert a[a["split"] == "train"]["target"].value_counts().tolist() == [20, 20]


def test_dataset_items(kermany, tmp_path):
    task = get_task("kermany_pneumonia")
    table = subsample(kermany, task, {"train": 4, "val": 2, "test": 2}, seed=0)
    config = preprocess_config("classroom", 32)
    cache = PreprocessCache(tmp_path, config)
    dataset = CxrDataset(table, task, cache)
    x, y, index = dataset[1]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64 and index == 1
    grey = cache.get(table["path"][1]).astype(np.float32) / 255
    for c in range(3):  # grey replicated, then ImageNet standardisation (document 000, section 3.2)
        assert torch.allclose(x[c], torch.from_numpy((grey - IMAGENET_MEAN[c]) / IMAGENET_STD[c]), atol=1e-5)
    assert torch.equal(dataset[1][0], x)  # no augmentation: deterministic


def test_dataset_applies_variant_then_augmentation(kermany, tmp_path):
    task = get_task("kermany_pneumonia")
    table = subsample(kermany, task, {"train": 2, "val": 1, "test": 1}, seed=0)
    cache = PreprocessCache(tmp_path, preprocess_config("classroom", 32))
    flipped = CxrDataset(table.assign(**{VARIANT_COLUMN: "hflip"}), task, cache)
    plain = CxrDataset(table, task, cache)
    assert torch.equal(flipped[0][0], torch.flip(plain[0][0], dims=[-1]))
    augmented = CxrDataset(table, task, cache, build_augmentation("d000"))
    torch.manual_seed(0)
    first = augmented[0][0]
    torch.manual_seed(0)
    assert torch.equal(augmented[0][0], first)


def test_multilabel_dataset_targets(data_root, tmp_path):
    task = get_task("nih14_multilabel")
    table = task.load_table(data_root, seed=0, nih_images="images-256").head(3)
    dataset = CxrDataset(table, task, PreprocessCache(tmp_path, preprocess_config("d001", 32)))
    x, y, _ = dataset[0]
    assert y.shape == (14,) and y.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0  # document 001: min-max, no standardisation


# --------------------------------------------------------------------------- document 000 resampling


def _synthetic_train(counts: pd.Series) -> pd.DataFrame:
    labels = np.repeat(counts.index.to_numpy(), counts.to_numpy())
    return pd.DataFrame({"image_id": [f"img{i}" for i in range(len(labels))], "label": labels})


def test_resampling_reproduces_table_1():
    """Fed the published Train counts, the expansion has exactly the published Resampled counts."""
    published = d000.published_table1(include_total=False).set_index("class")
    train = _synthetic_train(published["train"])
    out = resample_table(train, "label", list(published.index), seed=0)
    got = out["label"].value_counts().reindex(published.index)
    assert got.tolist() == published["resampled"].tolist()
    assert len(out) == 72333
    # oversampled classes (W >= 2): six versions of every image, in document 000's order
    hernia = out[out["label"] == "Hernia"]
    assert hernia.groupby("image_id")[VARIANT_COLUMN].apply(tuple).map(len).eq(6).all()
    assert set(hernia[VARIANT_COLUMN]) == {"original", "hflip", "rotate_-40", "rotate_-20", "rotate_20", "rotate_40"}
    # undersampled (W < 0.1): 40 % of the images, each once, unflipped
    no_finding = out[out["label"] == "No Finding"]
    assert no_finding["image_id"].is_unique and set(no_finding[VARIANT_COLUMN]) == {"original"}
    # kept classes: unchanged
    kept = out[out["label"] == "Infiltration"]
    assert sorted(kept["image_id"]) == sorted(train.loc[train["label"] == "Infiltration", "image_id"])
    plan = out.attrs["resample_plan"]
    assert plan.loc["Hernia", "factor"] == 6 and plan.loc["No Finding", "factor"] == 0.4


def test_undersampling_is_seeded():
    counts = pd.Series({"big": 10000, **{f"small{i}": 20 for i in range(14)}})
    train = _synthetic_train(counts)
    plan = resample_plan(counts)
    # W_big = 10280 / (15 * 10000) = 0.0685 < 0.1: undersampled to 40 %; W_small = 34.3 >= 2: x6
    assert plan.loc["big", "class_weight"] == pytest.approx(10280 / 150000)
    assert plan.loc["big", "resampled"] == 4000 and plan.loc["small0", "resampled"] == 120
    a = resample_table(train, "label", list(counts.index), seed=0)
    b = resample_table(train, "label", list(counts.index), seed=0)
    c = resample_table(train, "label", list(counts.index), seed=1)
    assert a.equals(b) and not a.equals(c) and len(a) == 4000 + 14 * 120


def test_resampling_refuses_bad_input():
    train = _synthetic_train(pd.Series({"a": 10, "b": 10}))
    with pytest.raises(ValueError, match="not among the classes"):
        resample_table(train, "label", ["a"], seed=0)
    with pytest.raises(ValueError, match="resample only once"):
        resample_table(train.assign(variant="original"), "label", ["a", "b"], seed=0)
    with pytest.raises(ValueError, match="whole number"):
        resample_table(train, "label", ["a", "b"], seed=0, rule=[(0.0, 10.0, 1.5)])
