"""Tasks as data (every row of the task table on the real data), the PyTorch dataset over the
preprocessing cache, and document 000's resampling."""
import functools
import itertools
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cxrlib.images.augment import build_augmentation
from cxrlib.data import d000, nih
from cxrlib.data.root import SOURCES, DataNotFoundError
from cxrlib.images.task_tables import class_counts, split_tables, subsample
from cxrlib.images.tasks import BASE_COLUMNS, SPLITS, TARGET, TASKS, get_task
from cxrlib.images.preprocess import preprocess_config
from cxrlib.images.dataset import CxrDataset
from cxrlib.images.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessCache
from cxrlib.images.sampling import VARIANT_COLUMN, resample_plan, resample_table


@pytest.fixture(scope="module")
def kermany(data_root):
    return get_task("kermany_pneumonia").load_table(data_root, seed=0)


def test_task_rows_agree_with_the_data_modules():
    for name, task in TASKS.items():
        assert task.name == name and task.reference and task.title and task.n_outputs == len(task.classes)
        assert task.source in SOURCES, f"{name}: unknown data-root source {task.source!r}"
        if task.kind == "binary":
            assert task.positive_class == task.classes[1]
    assert TASKS["nih15_single_label"].classes == nih.SINGLE_LABEL_CLASSES and len(nih.SINGLE_LABEL_CLASSES) == 15
    assert TASKS["nih14_multilabel"].classes == nih.CHEXNET_ORDER


# ------------------------------------------------------------------ every task row on the real data

# A task option that swaps absent full-size images for the classroom sample (applies to any task that has it).
SAMPLE_OPTIONS = {"nih_images": "images-256"}


@functools.cache
def _load(name: str, root: str, options: tuple = ()):
    """(table, None) or (None, the DataNotFoundError) of one task, loaded once per test session."""
    try:
        return TASKS[name].load_table(root, seed=0, **dict(options)), None
    except DataNotFoundError as error:
        return None, error


def _assert_says_how_to_get(task, error, data_root):
    message = str(error)
    # the error says how to get the data (the source's address and layout) ...
    assert SOURCES[task.source].url in message and "Expected layout" in message, message
    # ... and names a path below the data root that really is absent (not a false alarm)
    named = {Path(p.rstrip(".,)'")) for p in re.findall(re.escape(str(data_root)) + r"[^\s'\],]*", message)}
    assert named and any(not p.exists() or (p.is_dir() and not any(p.iterdir())) for p in named), message


@pytest.mark.parametrize("name", TASKS)
def test_task_loads_or_says_how_to_get_its_images(name, data_root):
    """Every row either loads from the data root or raises DataNotFoundError with the download page."""
    table, error = _load(name, str(data_root))
    if error is None:
        assert len(table) and table.attrs["task"] == name
    else:
        _assert_says_how_to_get(TASKS[name], error, data_root)


def _table_or_sample(name, data_root):
    """The task's table; where its images are absent, the error is checked and the sample table used."""
    table, error = _load(name, str(data_root))
    if error is None:
        return table
    task = TASKS[name]
    _assert_says_how_to_get(task, error, data_root)
    options = tuple((k, v) for k, v in SAMPLE_OPTIONS.items() if k in task.defaults)
    if not options:
        pytest.skip(f"{name}: images absent under {data_root} and the task has no sample option")
    table, error = _load(name, str(data_root), options)
    assert error is None, error
    return table


@pytest.mark.parametrize("name", TASKS)
def test_task_table_contract(name, data_root):
    task = TASKS[name]
    table = _table_or_sample(name, data_root)
    assert table.attrs["task"] == name
    for column in (*BASE_COLUMNS, *task.target_columns):
        assert column in table.columns and table[column].notna().all(), column
    assert table["image_id"].is_unique
    assert all(os.path.isfile(p) for p in table["path"]), "a row points at a missing image"
    # splits: exactly train/val/test, each non-empty; val is carved from train by patient
    assert set(table["split"]) == set(SPLITS)
    parts = split_tables(table)
    assert sum(len(p) for p in parts.values()) == len(table)
    assert not set(parts["train"]["patient_id"]) & set(parts["val"]["patient_id"])
    # targets within the class range, and task.targets() is the table's target(s)
    targets = task.targets(table)
    if task.kind == "multilabel":
        assert targets.shape == (len(table), len(task.classes)) and targets.dtype == np.float32
        assert set(np.unique(targets)) <= {0.0, 1.0}
        np.testing.assert_array_equal(targets, table[list(task.classes)].to_numpy(dtype=np.float32))
        assert targets.any(axis=0).any() and targets.flags.writeable
    else:
        assert targets.shape == (len(table),) and targets.dtype == np.int64
        assert targets.min() >= 0 and targets.max() < len(task.classes)
        np.testing.assert_array_equal(targets, table[TARGET].to_numpy())
        if task.kind == "binary":  # both classes in training, else no AUROC and no learning
            assert set(parts["train"][TARGET]) == {0, 1}
    counts = class_counts(parts["train"], task)
    assert list(counts.index) == list(task.classes)
    expected = len(parts["train"]) if task.kind != "multilabel" else int(targets[table["split"] == "train"].sum())
    assert counts.sum() == expected


@pytest.mark.parametrize("name", TASKS)
def test_task_splits_are_patient_disjoint(name, data_root):
    parts = split_tables(_table_or_sample(name, data_root))
    for a, b in itertools.combinations(SPLITS, 2):
        shared = set(parts[a]["patient_id"]) & set(parts[b]["patient_id"])
        assert not shared, f"{a}/{b} share {len(shared)} patients, e.g. {sorted(shared)[:3]}"


def test_kermany_official_split_leaks_and_the_clean_option_removes_it(data_root):
    """The official Kermany train and test folders share 170 'person<N>' patients (patient_rule='person'):
    with patient_clean=False (the official split, the paper profile) train and test share them; the default
    (patient_clean=True, the classroom runs) drops their train images and keeps the test part whole."""
    task = TASKS["kermany_pneumonia"]
    assert task.defaults["patient_clean"] is True
    official = split_tables(_load("kermany_pneumonia", str(data_root), (("patient_clean", False),))[0])
    shared = set(official["train"]["patient_id"]) | set(official["val"]["patient_id"])
    shared &= set(official["test"]["patient_id"])
    assert len(shared) == 170
    clean = split_tables(_table_or_sample("kermany_pneumonia", data_root))
    for a, b in itertools.combinations(SPLITS, 2):
        assert not set(clean[a]["patient_id"]) & set(clean[b]["patient_id"])
    assert clean["test"]["image_id"].tolist() == official["test"]["image_id"].tolist()
    dropped = set(official["train"]["image_id"]) | set(official["val"]["image_id"])
    dropped -= set(clean["train"]["image_id"]) | set(clean["val"]["image_id"])
    assert len(dropped) == 457  # every train image of the 170 shared patients, nothing else
    assert not (set(clean["train"]["patient_id"]) | set(clean["val"]["patient_id"])) & shared


@pytest.mark.parametrize("name", TASKS)
def test_task_table_is_seeded(name, data_root):
    task = TASKS[name]
    table = _table_or_sample(name, data_root)
    options = {k: v for k, v in SAMPLE_OPTIONS.items() if k in task.defaults and _load(name, str(data_root))[1]}
    again = task.load_table(data_root, seed=0, **options)
    pd.testing.assert_frame_equal(table, again)
    other = task.load_table(data_root, seed=1, **options)
    assert sorted(other["image_id"]) == sorted(table["image_id"])  # the seed moves rows between splits only
    # an official test part, or one drawn with its own test_seed, is the same for every run seed
    if task.split.startswith("official") or "test_seed" in task.defaults:
        test_ids = set(table.loc[table["split"] == "test", "image_id"])
        assert test_ids == set(other.loc[other["split"] == "test", "image_id"])
    if task.val_fraction is None:  # the data set's own validation part: nothing is drawn
        pd.testing.assert_series_equal(table["split"], other["split"])
    else:  # a validation part carved with the run's seed
        assert not table["split"].equals(other["split"])


def test_kermany_table(kermany):
    parts = split_tables(kermany)
    assert set(kermany["target"]) == {0, 1} and len(kermany) == 5840 - 457  # patient_clean (default) drops 457
    assert len(parts["test"]) == 624  # official test folder, unchanged
    counts = class_counts(parts["train"], "kermany_pneumonia")
    assert list(counts.index) == ["normal", "pneumonia"] and counts.sum() == len(parts["train"])


def test_nih_tasks_on_the_sample(data_root):
    single = TASKS["nih15_single_label"].load_table(data_root, seed=0, nih_images="images-256")
    assert "sample" in single.attrs["note"]
    multi = TASKS["nih14_multilabel"].load_table(data_root, seed=0, nih_images="images-256")
    assert len(multi) == 621
    # the sample keeps the official test list: its 75 test-list images are the test part
    assert (multi["split"] == "test").sum() == 75
    official_test = set((data_root / "nih-cxr14" / "test_list.txt").read_text().split())
    assert set(multi.loc[multi["split"] == "test", "image_id"]) == set(multi["image_id"]) & official_test


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
