"""Evaluation of predictions files: joining, per-label tables, paired tests, thresholds by halves."""
import numpy as np
import pandas as pd
import pytest

from cxrlib.stats import evaluate


@pytest.fixture()
def toy(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    meta = pd.DataFrame({
        "image_id": [f"{i:05d}.png" for i in range(n)],
        "patient_id": np.arange(n) // 2,
        "age": rng.integers(20, 90, n), "sex": rng.choice(["M", "F"], n), "view": rng.choice(["PA", "AP"], n),
        "A": rng.integers(0, 2, n), "B": rng.integers(0, 2, n),
    })
    preds = pd.DataFrame({"Image Index": meta["image_id"],
                          "prob_A": meta["A"] * 0.4 + rng.random(n) * 0.6,
                          "prob_B": rng.random(n)})
    path = tmp_path / "preds.csv"
    preds.to_csv(path, index=False)
    return meta, path


def test_read_and_join(toy):
    meta, path = toy
    preds = evaluate.read_predictions(path)
    assert preds.attrs["labels"] == ["A", "B"]
    frame = evaluate.attach_labels(preds, meta)
    assert {"patient_id", "A", "B", "prob_A"} <= set(frame.columns)
    with pytest.raises(ValueError, match="not in the metadata"):
        evaluate.attach_labels(preds, meta.iloc[10:])


def test_bad_predictions_file(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"x": [1], "prob_A": [0.1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="image id"):
        evaluate.read_predictions(path)
    pd.DataFrame({"image_id": ["a"], "score": [0.1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="prob_"):
        evaluate.read_predictions(path)


def test_auroc_table_and_paired_test(toy):
    meta, path = toy
    frame = evaluate.attach_labels(evaluate.read_predictions(path), meta)
    table = evaluate.auroc_ci_table(frame, ["A", "B"], n_boot=200, seed=1)
    a = table.set_index("label").loc["A"]
    assert a["auc"] > 0.8 and a["boot_ci_low"] < a["auc"] < a["boot_ci_high"]
    assert a["delong_ci_low"] < a["auc"] < a["delong_ci_high"]
    assert "macro average" in set(table["label"])
    y, s = evaluate.arrays(frame, ["A", "B"])
    same = evaluate.paired_delong(y, s, s, ["A", "B"])
    assert (same["p_value"] == 1).all() and (same["z"] == 0).all()


def test_metadata_baseline_layout(toy):
    meta, _ = toy
    base = evaluate.metadata_baseline(meta.iloc[:300], meta.iloc[300:], ["A", "B"])
    assert list(base.columns) == ["image_id", "prob_A", "prob_B"] and len(base) == 100
    assert base["prob_A"].between(0, 1).all()


def test_halves_are_patient_disjoint_and_seeded(toy):
    meta, path = toy
    half = evaluate.patient_halves(meta["patient_id"], seed=3)
    assert not set(meta.loc[half, "patient_id"]) & set(meta.loc[~half, "patient_id"])
    assert (half == evaluate.patient_halves(meta["patient_id"], seed=3)).all()
    frame = evaluate.attach_labels(evaluate.read_predictions(path), meta)
    points = evaluate.operating_points_by_halves(frame, ["A"], seed=0)
    assert set(points["evaluated_half"]) == {"A", "B"} and (points["threshold_chosen_on"] == "validation").all()
    summary = evaluate.mean_sd_summary(pd.DataFrame({"auc": [0.8, 0.9]}), ["auc"])
    assert summary.loc[0, "mean ± sd"] == "85.00 ± 7.07"
