"""Issue 15's classroom analogues: nested label fractions, the training budget rule, the sentence written
from a paired CI, the label-efficiency table, in-memory predictions and text artifacts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrlib.chapters import documents as D
from cxrlib.images.tasks import TARGET, get_task
from cxrlib.images.task_tables import label_fraction


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


def test_label_schedule_grows_the_step_budget_with_the_labels_and_caps_it():
    from cxrlib.chapters.analogues import label_schedule

    plan = dict(batch_size=128, epoch_images=512, min_epoch_steps=8, max_epochs=4, max_images=9416)
    small = label_schedule(47, **plan)  # 1 %: batch 32, 11 passes per epoch (517 -> 512 images)
    assert small == {"batch_size": 32, "epoch_repeats": 11, "epochs": 4, "train_images_per_epoch": 512,
                     "max_steps": 64}
    mid = label_schedule(470, **plan)  # 10 %: two passes per epoch; batches of 64 give it 14 steps, not 7
    assert mid == {"batch_size": 64, "epoch_repeats": 2, "epochs": 4, "train_images_per_epoch": 896,
                   "max_steps": 56}
    big = label_schedule(4708, **plan)  # 100 %: one pass per epoch, capped at max_images (two epochs)
    assert big == {"batch_size": 128, "epoch_repeats": 1, "epochs": 2, "train_images_per_epoch": 4608,
                   "max_steps": 72}
    seen = [p["max_steps"] * p["batch_size"] for p in (small, mid, big)]
    assert seen == sorted(seen)  # the images seen grow with the labels
    for plan_ in (small, mid, big):
        assert plan_["train_images_per_epoch"] // plan_["batch_size"] >= plan["min_epoch_steps"]
    tiny = label_schedule(4708, batch_size=16, epoch_images=64, min_epoch_steps=1, max_epochs=1, max_images=64)
    assert tiny["train_images_per_epoch"] == 64 and tiny["epochs"] == 1 and tiny["batch_size"] == 16  # a smoke budget
    floor = label_schedule(3, batch_size=16, epoch_images=6, min_epoch_steps=100, max_epochs=1, max_images=64)
    assert floor["batch_size"] == 2  # never a batch of one image (BatchNorm), never larger than the set
    with pytest.raises(ValueError, match="at least two"):
        label_schedule(1, **plan)


def test_epoch_repeats_make_one_epoch_several_seeded_passes():
    from cxrlib.training.common import EpochSeededSampler

    one, three = EpochSeededSampler(10, seed=3), EpochSeededSampler(10, seed=3, repeats=3)
    one.set_epoch(2), three.set_epoch(2)
    order = list(three)
    assert len(three) == 30 and len(order) == 30
    assert order[:10] == list(one)  # the first pass is the one-pass order (old runs unchanged)
    for k in range(3):
        assert sorted(order[10 * k:10 * (k + 1)]) == list(range(10))  # every pass visits every image once
    assert order[10:20] != order[:10]
    with pytest.raises(ValueError, match="repeats"):
        EpochSeededSampler(10, seed=0, repeats=0)


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


def _seeded_runs(truth, noise_a, noise_b, seeds=(0, 1, 2)):
    return {"SSL": {s: _predictions(truth, noise_a, 10 + s, f"a{s}") for s in seeds},
            "random": {s: _predictions(truth, noise_b, 20 + s, f"b{s}") for s in seeds}}


def test_replicated_label_efficiency_concludes_only_where_seeds_interval_and_learning_agree(truth):
    predictions = {0.01: _seeded_runs(truth, 0.3, 2.0), 0.1: _seeded_runs(truth, 1.0, 1.0),
                   1.0: _seeded_runs(truth, 0.3, 0.3)}
    learned = {f: {n: {s: True for s in range(3)} for n in ("SSL", "random")} for f in predictions}
    learned[1.0]["random"][2] = False
    table, results = D.replicated_label_efficiency(predictions, label="pneumonia", names=("SSL", "random"),
                                                   learned=learned, n_boot=200)
    assert table["fraction"].tolist() == [0.01] * 3 + [0.1] * 3 + [1.0] * 3
    assert table["start"].tolist()[:3] == ["SSL", "random", "SSL - random"]
    first = table.iloc[2]
    ssl_1, random_1, diff_1 = results[:3]
    assert diff_1.values == pytest.approx(tuple(a - b for a, b in zip(ssl_1.values, random_1.values)))
    assert first["verdict"] == "above" and first["learned"] == "3/3" and first["n_seeds"] == 3
    assert table.iloc[0]["verdict"] == "above" and table.iloc[0]["null"] == 0.5  # AUROC against chance
    assert table.iloc[8]["learned"] == "2/3" and table.iloc[7]["learned"] == "2/3"
    text = D.replicated_label_efficiency_text(table, results)
    assert "With 1 % of the labels the SSL start scored higher than the random start" in text
    assert "With 100 % of the labels (test AUROC" in text and "pipeline demo" in text
    assert "scored higher" not in text.split("With 10 %")[1].split("With 100 %")[0]  # equal arms: no claim
    assert "FALLS" in text and "SSL start's mean AUROC" in text  # 1 % -> 10 %: a real fall for SSL
    assert "no patient ids" in text
    fig = D.plot_replicated_label_efficiency(table, results)
    assert len(fig.axes) == 1
    two_seeds = {0.01: _seeded_runs(truth, 0.3, 2.0, seeds=(0, 1))}
    table2, results2 = D.replicated_label_efficiency(two_seeds, label="pneumonia", names=("SSL", "random"), n_boot=50)
    assert table2.iloc[2]["verdict"] == "not replicated" and table2.iloc[2]["learned"] == "not checked"
    assert "scored higher" not in D.replicated_label_efficiency_text(table2, results2)
    shuffled = {0.01: _seeded_runs(truth, 0.3, 2.0)}
    shuffled[0.01]["random"][1] = shuffled[0.01]["random"][1].iloc[::-1]
    with pytest.raises(ValueError, match="same images"):
        D.replicated_label_efficiency(shuffled, label="pneumonia", names=("SSL", "random"), n_boot=50)


def test_text_artifact_writes_the_sentence_with_its_context(tmp_path):
    from cxrlib.book.artifacts import RunArtifacts

    run = RunArtifacts(tmp_path / "run", notebook="x", params={}, context=dict(dataset="d", seed=0))
    run.text("The difference was +0.010 (95 % CI -0.02 to +0.04).", "finding", split="official")
    run.finish()
    md = (tmp_path / "run" / "finding.md").read_text()
    assert md.startswith("The difference was +0.010") and "dataset: d" in md and "split: official" in md
    assert (tmp_path / "run" / "finding.txt").read_text().strip().endswith("+0.04).")
