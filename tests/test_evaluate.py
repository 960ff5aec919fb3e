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


# ------------------------------------------------------------------ labels from the file, what is evaluated
def run_folder_file(tmp_path, n=200, seed=0, **overrides):
    """A predictions file in our run folders' layout (cxrlib.training.run_folder.predictions_frame)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"image_id": [f"other:{i}" for i in range(n)], "patient_id": [f"p{i // 2}" for i in range(n)],
                          "A": rng.integers(0, 2, n), "B": rng.integers(0, 2, n)})
    frame["prob_A"] = frame["A"] * 0.3 + rng.random(n) * 0.7
    frame["prob_B"] = rng.random(n)
    for column, value in overrides.items():
        if value is None:
            frame = frame.drop(columns=column)
        else:
            frame[column] = value
    path = tmp_path / "predictions_test.csv"
    frame.to_csv(path, index=False)
    return path


def test_labels_from_the_file_need_no_metadata(tmp_path, toy):
    meta, _ = toy
    preds = evaluate.read_predictions(run_folder_file(tmp_path))
    assert preds.attrs["file_labels"] == ["A", "B"]
    data = evaluate.evaluation_set(preds, meta)  # auto: the file has labels, its images are not in meta
    assert data.label_source == "the predictions file" and data.labels == ["A", "B"]
    assert data.n_images == 200 and data.n_patients == 100
    assert "2 findings evaluated (A, B) on 200 images of 100 patients" in data.describe()
    table = evaluate.auroc_ci_table(data.frame, data.findings, n_boot=50)
    assert table["auc"].notna().all() and table["note"].iloc[-1] == "over 2 labels"
    with pytest.raises(ValueError, match=r"not in the metadata.*labels_from='file'"):
        evaluate.evaluation_set(preds, meta, labels_from="nih-metadata")
    with pytest.raises(ValueError, match=r"baseline none"):
        evaluate.metadata_covariates(data.frame, meta, data.labels)


@pytest.mark.parametrize("missing, pattern", [("patient_id", r"lacks the column\(s\) \['patient_id'\]"),
                                              ("B", r"lacks the column\(s\) \['B'\]")])
def test_labels_from_the_file_missing_columns_are_an_error(tmp_path, missing, pattern):
    preds = evaluate.read_predictions(run_folder_file(tmp_path, **{missing: None}))
    with pytest.raises(ValueError, match=pattern) as error:
        evaluate.evaluation_set(preds, labels_from="file")
    assert "predictions_test.csv" in str(error.value) and "patient_id" in str(error.value)


def test_bad_cells_name_file_column_and_rows(tmp_path):
    scores = np.linspace(0, 1, 200)
    scores[[7, 40]] = np.nan
    with pytest.raises(ValueError, match=r"predictions_test.csv: column 'prob_B' has 2 empty/NaN score\(s\) of 200, "
                                         r"at lines 9, 42 \(image_id other:7, other:40\)"):
        evaluate.read_predictions(run_folder_file(tmp_path, prob_B=scores))
    labels = np.zeros(200, dtype=object)
    labels[3] = "yes"
    with pytest.raises(ValueError, match=r"label column 'A' must hold 0 or 1.*\['yes'\].*line 5 \(image_id other:3\)"):
        evaluate.read_predictions(run_folder_file(tmp_path, A=labels))
    text = np.array(["0.5"] * 200, dtype=object)
    text[0] = "n/a?"
    with pytest.raises(ValueError, match=r"'prob_A' has 1 value\(s\) that are not numbers, at line 2"):
        evaluate.read_predictions(run_folder_file(tmp_path, prob_A=text))
    ids = [f"x{i}" for i in range(200)]
    ids[5] = "x0"
    with pytest.raises(ValueError, match=r"repeated image ids.*lines 2, 7"):
        evaluate.read_predictions(run_folder_file(tmp_path, image_id=ids))


def test_finding_without_scores_is_reported_as_left_out(toy, tmp_path):
    meta, path = toy
    pd.read_csv(path).drop(columns="prob_B").to_csv(tmp_path / "no_b.csv", index=False)
    data = evaluate.evaluation_set(evaluate.read_predictions(tmp_path / "no_b.csv"), meta, meta_labels=["A", "B"])
    assert data.labels == ["A"] and data.left_out == {"B": "no prob_B column in the file"}
    assert data.describe().startswith("1 finding evaluated of 2 (A)") and "left out: B: no prob_B column" in data.describe()


def test_one_class_finding_is_not_estimable_not_dropped(tmp_path):
    path = run_folder_file(tmp_path, B=0)
    data = evaluate.evaluation_set(evaluate.read_predictions(path))
    assert data.labels == ["A"] and data.not_estimable == {"B": "not estimable (n positives = 0)"}
    assert "left out: B: not estimable (n positives = 0)" in data.describe()
    table = evaluate.auroc_ci_table(data.frame, data.findings, n_boot=50).set_index("label")
    assert table.loc["B", "note"] == "not estimable (n positives = 0)" and np.isnan(table.loc["B", "auc"])
    assert table.loc["B", "n_positive"] == 0 and table.loc["B", "n_negative"] == 200
    assert table.loc["macro average", "auc"] == table.loc["A", "auc"]
    assert table.loc["macro average", "note"] == "over 1 of 2 labels (not estimable: B)"


def test_no_positive_label_is_an_error_not_a_table_of_nan(tmp_path):
    path = run_folder_file(tmp_path, A=0, B=0)
    with pytest.raises(ValueError, match=r"no finding has both positive and negative images.*A: 0 positive / 200 negative"):
        evaluate.evaluation_set(evaluate.read_predictions(path))
    frame = evaluate.read_predictions(path)
    with pytest.raises(ValueError, match="no label has both classes"):
        evaluate.auroc_ci_table(frame, ["A", "B"], n_boot=10)


def test_bad_parameters_are_named(tmp_path):
    data = evaluate.evaluation_set(evaluate.read_predictions(run_folder_file(tmp_path)))
    with pytest.raises(ValueError, match="unknown label source \\(labels_from\\)"):
        evaluate.evaluation_set(data.frame, labels_from="metadata")
    with pytest.raises(ValueError, match="n_boot must be a whole number"):
        evaluate.auroc_ci_table(data.frame, data.labels, n_boot=0)
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        evaluate.auroc_ci_table(data.frame, data.labels, alpha=1.5)


def test_paired_delong_clustered_beside_plain(toy):
    meta, path = toy
    frame = evaluate.attach_labels(evaluate.read_predictions(path), meta)
    y, s = evaluate.arrays(frame, ["A", "B"])
    base = evaluate.metadata_baseline(meta, meta, ["A", "B"])[["prob_A", "prob_B"]].to_numpy()
    table = evaluate.paired_delong_clustered(y, s, base, ["A", "B"], frame["patient_id"], names=("image", "meta"))
    plain = evaluate.paired_delong(y, s, base, ["A", "B"])
    assert np.allclose(table["delong_p"], plain["p_value"]) and np.allclose(table["delong_p_fdr"], plain["p_fdr"])
    assert np.allclose(table["difference"], plain["difference"])
    assert (table["clustered_ci_low"] < table["difference"]).all() and (table["difference"] < table["clustered_ci_high"]).all()
    # one image per patient: the clustered test is DeLong's
    single = evaluate.paired_delong_clustered(y, s, base, ["A", "B"], np.arange(len(frame)))
    assert np.allclose(single["clustered_p"], single["delong_p"]) and np.allclose(single["se_ratio"], 1)
    # the same scores twice per patient (two identical images): the clustered test does not gain from the copies
    twice = pd.concat([frame, frame.assign(image_id=frame["image_id"] + "_copy")], ignore_index=True)
    y2, s2 = evaluate.arrays(twice, ["A", "B"])
    base2 = np.vstack([base, base])
    copied = evaluate.paired_delong_clustered(y2, s2, base2, ["A", "B"], twice["patient_id"])
    assert (copied["se_ratio"] > 1.2).all()


def test_interval_widths(toy):
    meta, path = toy
    frame = evaluate.attach_labels(evaluate.read_predictions(path), meta)
    widths = evaluate.interval_widths(evaluate.auroc_ci_table(frame, ["A", "B"], n_boot=200, seed=1))
    assert list(widths["label"]) == ["A", "B"]
    assert (widths["boot_half_width"] > 0).all() and np.allclose(widths["ratio"], widths["delong_half_width"] / widths["boot_half_width"])


def test_nested_metadata_models_measure_what_the_image_adds():
    rng = np.random.default_rng(4)
    n = 1200
    frame = pd.DataFrame({"patient_id": np.arange(n) // 3, "age": rng.integers(20, 90, n),
                          "sex": rng.choice(["M", "F"], n), "view": rng.choice(["PA", "AP"], n)})
    old = frame["age"].to_numpy() > 60
    frame["A"] = (rng.random(n) < np.where(old, 0.5, 0.15)).astype(int)  # age predicts A
    frame["B"] = (rng.random(n) < np.where(old, 0.5, 0.15)).astype(int)
    frame["prob_A"] = 1 / (1 + np.exp(-(2.5 * frame["A"] + rng.normal(size=n))))  # the image sees A itself
    frame["prob_B"] = 1 / (1 + np.exp(-(1.5 * old + rng.normal(size=n))))  # the image only sees age
    table = evaluate.nested_metadata_models(frame, ["A", "B"], n_boot=200, seed=0).set_index("label")
    assert list(table.columns) == ["auc_metadata", "auc_metadata_image", "difference", "ci_low", "ci_high",
                                   "p_value", "p_fdr", "n_positive", "n_patients"]
    assert table.loc["A", "auc_metadata"] > 0.6  # metadata alone discriminates
    assert table.loc["A", "ci_low"] > 0.1  # the image adds a lot beyond age
    assert table.loc["B", "ci_low"] < 0 < table.loc["B", "ci_high"]  # an image score that only encodes age adds nothing
    assert table.loc["A", "difference"] == pytest.approx(table.loc["A", "auc_metadata_image"] - table.loc["A", "auc_metadata"])
    assert table["n_patients"].iloc[0] == 400
    again = evaluate.nested_metadata_models(frame, ["A", "B"], n_boot=200, seed=0).set_index("label")
    pd.testing.assert_frame_equal(table, again)


def test_clustered_comparison_of_identical_scores_is_not_an_error():
    y = np.array([[1], [0], [1], [0], [1], [0]])
    s = np.array([[0.9], [0.2], [0.7], [0.4], [0.6], [0.1]])
    table = evaluate.paired_delong_clustered(y, s, s.copy(), ["A"], groups=np.array([1, 1, 2, 2, 3, 3]))
    assert table.loc[0, "difference"] == 0 and np.isnan(table.loc[0, "se_ratio"])
