"""Issue 15's classroom analogues: nested label fractions, the training budget rule, the sentence written
from a paired CI, the label-efficiency table, in-memory predictions and text artifacts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrlib.chapters import documents as D
from cxrlib.images.tasks import TARGET, get_task, label_fraction


def _binary_table(n_neg: int = 300, n_pos: int = 700) -> pd.DataFrame:
    ids = [f"img{i:05d}" for i in range(n_neg + n_pos)]
    return pd.DataFrame({"image_id": ids, "patient_id": ids, "path": ids, "split": "train",
                         TARGET: [0] * n_neg + [1] * n_pos})


def test_label_fractions_are_nested_seeded_and_keep_the_class_balance():
    task, table = get_task("pneumoniamnist"), _binary_table()
    small, medium, full = (label_fraction(table, task, f, seed=3) for f in (0.01, 0.1, 1.0))
    assert len(full) == len(table)
    assert set(small["image_id"]) < set(medium["image_id"]) < set(full["image_id"])
    assert medium[TARGET].value_counts().to_dict() == {1: 70, 0: 30}  # 10 % of each class
    assert small[TARGET].value_counts().to_dict() == {1: 7, 0: 3}
    again = label_fraction(table, task, 0.1, seed=3)
    assert again["image_id"].tolist() == medium["image_id"].tolist()
    other = label_fraction(table, task, 0.1, seed=4)
    assert set(other["image_id"]) != set(medium["image_id"])
    assert medium.attrs["label_fraction"] == {"fraction": 0.1, "seed": 3}
    # a tiny fraction keeps at least one image of each class of a binary task
    tiny = label_fraction(_binary_table(5, 50), task, 0.01, seed=0)
    assert set(tiny[TARGET]) == {0, 1}
    with pytest.raises(ValueError, match="fraction"):
        label_fraction(table, task, 0.0, seed=0)


def test_train_config_label_fraction_cuts_only_the_training_part(data_root, tmp_path, monkeypatch):
    from cxrlib.training.finetune import TrainConfig, load_tables

    monkeypatch.setenv("CXRLIB_CACHE", str(tmp_path / "cache"))
    config = TrainConfig(out_dir=str(tmp_path / "run"), task="pneumoniamnist", data_root=str(data_root),
                         label_fraction=0.1)
    parts = load_tables(config, get_task("pneumoniamnist"))
    assert len(parts["train"]) == pytest.approx(471, abs=1)  # 10 % of 4,708, per class
    assert len(parts["val"]) == 524 and len(parts["test"]) == 624
    whole = load_tables(TrainConfig(out_dir=str(tmp_path / "r2"), task="pneumoniamnist", data_root=str(data_root)),
                        get_task("pneumoniamnist"))
    assert set(parts["train"]["image_id"]) < set(whole["train"]["image_id"])
    with pytest.raises(ValueError, match="label_fraction"):
        TrainConfig(out_dir=str(tmp_path), label_fraction=1.5)


def test_budget_schedule_gives_every_fraction_about_the_same_images():
    from cxrlib.chapters.analogues import budget_schedule

    big = budget_schedule(4708, images_budget=1024, batch_size=32, max_epochs=16)
    assert big == {"epochs": 1, "train_images_per_epoch": 1024}
    mid = budget_schedule(471, images_budget=1024, batch_size=32, max_epochs=16)
    assert mid["train_images_per_epoch"] == 448 and mid["epochs"] == 3  # 3 x 448 >= 1024
    small = budget_schedule(47, images_budget=1024, batch_size=32, max_epochs=16)
    assert small == {"epochs": 16, "train_images_per_epoch": 32}  # capped by max_epochs
    with pytest.raises(ValueError, match="batch"):
        budget_schedule(10, images_budget=1024, batch_size=32, max_epochs=16)


def _predictions(truth: np.ndarray, noise: float, seed: int, name: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"img{i:04d}" for i in range(len(truth))]
    frame = pd.DataFrame({"image_id": ids, "patient_id": ids, "pneumonia": truth,
                          "prob_pneumonia": truth + rng.normal(0, noise, len(truth))})
    frame.attrs["source"] = name
    return frame


@pytest.fixture
def truth():
    return (np.random.default_rng(0).random(300) < 0.4).astype(int)


def test_in_memory_predictions_equal_the_folder(truth, tmp_path):
    good, poor = _predictions(truth, 0.5, 1, "good"), _predictions(truth, 2.0, 2, "poor")
    for name, frame in (("good", good), ("poor", poor)):
        (tmp_path / name).mkdir()
        frame.to_csv(tmp_path / name / "predictions_test.csv", index=False)
    from_memory = D.compare_initialisations(good, poor, n_boot=100, names=("a", "b"))
    from_disk = D.compare_initialisations(tmp_path / "good", tmp_path / "poor", n_boot=100, names=("a", "b"))
    pd.testing.assert_frame_equal(from_memory, from_disk)
    assert from_memory.attrs["runs"] == ("good", "poor")
    broken = good.copy()
    broken.loc[1, "image_id"] = broken.loc[0, "image_id"]
    with pytest.raises(ValueError, match="repeated image ids"):
        D.compare_initialisations(broken, poor, n_boot=10)


def test_difference_sentence_follows_the_interval(truth):
    good, poor = _predictions(truth, 0.5, 1, "good"), _predictions(truth, 2.0, 2, "poor")
    table = D.compare_initialisations(good, poor, labels=["pneumonia"], n_boot=200, names=("SSL", "random"))
    sentence = D.difference_sentence(table, label="pneumonia", what="Test AUROC")
    row = table.set_index("label").loc["pneumonia"]
    assert f"{row['auc_SSL']:.3f} with SSL" in sentence and f"{row['boot_ci_low']:+.3f}" in sentence
    assert "lies above 0" in sentence and "SSL scored higher" in sentence
    reverse = D.compare_initialisations(poor, good, labels=["pneumonia"], n_boot=200, names=("random", "SSL"))
    assert "lies below 0" in D.difference_sentence(reverse, label="pneumonia")
    same = D.compare_initialisations(good, good, labels=["pneumonia"], n_boot=200, names=("x", "y"))
    assert "includes 0" in D.difference_sentence(same, label="pneumonia")
    with pytest.raises(ValueError, match="no single row"):
        D.difference_sentence(table, label="absent")


def test_label_efficiency_table_pairs_each_fraction(truth):
    runs = {0.01: (_predictions(truth, 3.0, 1, "a1"), _predictions(truth, 3.0, 2, "b1")),
            1.0: (_predictions(truth, 0.3, 3, "a2"), _predictions(truth, 2.0, 4, "b2"))}
    table = D.label_efficiency(runs, label="pneumonia", names=("SSL", "random"), n_boot=200,
                               n_train={0.01: 47, 1.0: 4708})
    assert table["fraction"].tolist() == [0.01, 1.0] and table["n_train"].tolist() == [47, 4708]
    full = table.iloc[1]
    assert full["ci_low_SSL"] <= full["auc_SSL"] <= full["ci_high_SSL"]
    assert full["difference"] == pytest.approx(full["auc_SSL"] - full["auc_random"])
    assert full["diff_ci_low"] > 0 and full["delong_p"] < 0.05
    text = D.label_efficiency_summary(table)
    assert "With 1 % of the labels (47 training images)" in text and "lies above 0" in text
    fig = D.plot_label_efficiency(table)
    assert len(fig.axes) == 2


def test_text_artifact_writes_the_sentence_with_its_context(tmp_path):
    from cxrlib.book.artifacts import RunArtifacts

    run = RunArtifacts(tmp_path / "run", notebook="x", params={}, context=dict(dataset="d", seed=0))
    run.text("The difference was +0.010 (95 % CI -0.02 to +0.04).", "finding", split="official")
    run.finish()
    md = (tmp_path / "run" / "finding.md").read_text()
    assert md.startswith("The difference was +0.010") and "dataset: d" in md and "split: official" in md
    assert (tmp_path / "run" / "finding.txt").read_text().strip().endswith("+0.04).")
