"""Linear probe of document 002 (cxrlib.training.probe) and the published tables of documents 002 and 004."""
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from cxrlib.stats.metrics import auroc
from cxrlib.training.probe import (
    C_GRID,
    METRICS,
    FoldReductionWarning,
    fit_probe,
    patient_folds,
    probe_metrics,
    probe_report,
    select_c,
    table3_layout,
)
from cxrlib.published import load
from cxrlib.stats import bootstrap_ci


def _problem(n_patients=120, images_per_patient=2, dim=8, shift=1.0, seed=0):
    """Patients with several images; label per patient; the first feature carries the signal."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_patients), images_per_patient)
    y = (rng.random(n_patients) < 0.35).astype(int)[groups]
    x = rng.normal(size=(groups.size, dim))
    x[:, 0] += shift * y
    return x, y, groups


def test_c_grid_is_the_one_document_002_prints(data_root):
    """Read from the document's own text (section V), not from a copy typed here."""
    papers = data_root.parent / "papers"
    text = next(papers.glob("002_*.txt"), None)
    if text is None:
        pytest.skip(f"document 002's text is not in {papers}")
    found = re.search(r"parameter space\s+\$C = \\\{([^}]*)\\\}", text.read_text(encoding="utf-8"))
    assert found, "the C grid sentence was not found in document 002"
    assert C_GRID == tuple(float(v) for v in found.group(1).split(","))


def test_metrics_are_the_columns_of_the_published_table3():
    """Our Table III metrics line up with the transcription of document 002's Table III."""
    published = load("d002_table3").frame
    assert set(METRICS) <= set(published.columns)
    assert [c for c in published.columns if c in METRICS] == list(METRICS)  # same order as printed
    assert set(probe_metrics([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])) >= set(METRICS)


# ---------------------------------------------------------------------------------------------
# folds
# ---------------------------------------------------------------------------------------------
def test_patient_folds_are_group_disjoint_and_cover_every_image():
    _, y, groups = _problem(images_per_patient=3)
    folds = patient_folds(y, groups, n_splits=5, seed=3)
    assert len(folds) == 5
    seen = np.concatenate([val for _, val in folds])
    assert np.array_equal(np.sort(seen), np.arange(y.size))  # each image validated exactly once
    for train, val in folds:
        assert not set(groups[train]) & set(groups[val])
        assert set(y[val]) == {0, 1}
    again = patient_folds(y, groups, n_splits=5, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again))
    other = patient_folds(y, groups, n_splits=5, seed=4)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(folds, other))


def test_patient_folds_reduce_k_when_a_class_has_few_patients():
    groups = np.repeat(np.arange(20), 2)
    y = np.zeros(40, dtype=int)
    y[:6] = 1  # three patients with the positive class
    with pytest.warns(FoldReductionWarning, match="3 folds"):
        folds = patient_folds(y, groups, n_splits=5)
    assert len(folds) == 3
    y_one = np.zeros(40, dtype=int)
    y_one[:2] = 1  # a single positive patient
    with pytest.raises(ValueError, match="at least 2 patients"):
        patient_folds(y_one, groups)
    with pytest.raises(ValueError, match="n_splits"):
        patient_folds(y, groups, n_splits=1)


# ---------------------------------------------------------------------------------------------
# model selection and fit
# ---------------------------------------------------------------------------------------------
def test_select_c_table_and_choice():
    x, y, groups = _problem()
    sel = select_c(x, y, groups, n_splits=4, seed=1)
    assert len(sel.cv) == len(C_GRID) * 4
    assert list(sel.cv.columns[:3]) == ["c", "fold", "auc"]
    assert sorted(sel.cv["c"].unique()) == list(C_GRID)
    assert list(sel.summary["c"]) == list(C_GRID)
    means = sel.cv.groupby("c")["auc"].mean()
    assert sel.best_c == means.idxmax()
    assert np.allclose(sel.summary.set_index("c")["mean_auc"], means)
    assert np.allclose(sel.summary.set_index("c")["sd_auc"], sel.cv.groupby("c")["auc"].std(ddof=1))
    # the fold AUROCs are the held-out AUROCs of a standardised balanced logistic regression
    train, val = patient_folds(y, groups, 4, 1)[0]
    scaler = StandardScaler().fit(x[train])
    model = LogisticRegression(C=0.1, class_weight="balanced", max_iter=1000).fit(
        scaler.transform(x[train]), y[train])
    expected = auroc(y[val], model.predict_proba(scaler.transform(x[val]))[:, 1])
    got = sel.cv.query("c == 0.1 and fold == 0")["auc"].item()
    assert got == pytest.approx(expected, abs=1e-12)


def test_select_c_ties_go_to_the_smallest_c():
    x, y, groups = _problem(shift=20.0)  # perfectly separable: every C has fold AUROC 1
    sel = select_c(x, y, groups, cs=(1.0, 0.2, 0.05))
    assert (sel.summary["mean_auc"] == 1.0).all()
    assert sel.best_c == 0.05


def test_select_c_prefers_the_c_with_the_best_auc():
    # The label is visible only in x1 - x2 (x2 is the large nuisance z that also sits in x1).
    # Strong L2 shrinkage pulls the weights towards the mean-difference direction, which ignores
    # x2, so the weakest regularisation in the grid (C = 1) wins by a wide margin.
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 2)
    y = (rng.random(60) < 0.4).astype(int)[groups]
    z = 3 * rng.normal(size=y.size)
    x = np.column_stack([y + 0.3 * rng.normal(size=y.size) + z, z + 0.1 * rng.normal(size=y.size)])
    sel = select_c(x, y, groups, seed=0)
    means = sel.summary.set_index("c")["mean_auc"]
    assert sel.best_c == 1.0
    assert means[1.0] > means[0.01] + 0.2
    assert means.is_monotonic_increasing


def test_fit_probe_uses_balanced_weights_and_all_training_rows():
    x, y, groups = _problem(seed=5)
    probe = fit_probe(x, y, groups, n_splits=3)
    scaler, logistic = probe.pipeline[0], probe.pipeline[-1]
    assert logistic.class_weight == "balanced"
    assert logistic.C == probe.c == probe.selection.best_c
    assert scaler.n_samples_seen_ == len(y)
    # "balanced" = sample weights n / (2 n_c): the same fit as explicit inverse-frequency weights
    z = StandardScaler().fit_transform(x)
    weights = len(y) / (2 * np.bincount(y))[y]
    manual = LogisticRegression(C=probe.c, max_iter=1000).fit(z, y, sample_weight=weights)
    assert np.allclose(logistic.coef_, manual.coef_, atol=1e-4)
    prob = probe.predict_proba(x)
    assert prob.shape == (len(y),)
    assert np.allclose(prob, probe.pipeline.predict_proba(x)[:, 1])
    assert auroc(y, prob) > 0.7


def test_fit_probe_rejects_bad_input():
    x, y, groups = _problem()
    with pytest.raises(ValueError, match="one entry per image"):
        fit_probe(x[:-1], y, groups)
    with pytest.raises(ValueError, match="positive"):
        select_c(x, y, groups, cs=(0.1, -1.0))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_probe(bad, y, groups)


# ---------------------------------------------------------------------------------------------
# metrics and bootstrap
# ---------------------------------------------------------------------------------------------
def test_probe_metrics_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    prob = np.array([0.9, 0.6, 0.4, 0.2, 0.7, 0.1, 0.5, 0.8])
    # threshold 0.5, positive if prob >= 0.5: tp = 3 (0.9, 0.6, 0.8), fp = 2 (0.7, 0.5),
    # fn = 1 (0.4), tn = 2 (0.2, 0.1)
    m = probe_metrics(y, prob)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 2, 1, 2)
    assert m["acc"] == pytest.approx(5 / 8)
    assert m["sen"] == pytest.approx(3 / 4)
    assert m["spe"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert m["f1_neg"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert m["auc"] == pytest.approx(13 / 16)  # 13 of 16 (positive, negative) pairs ordered
    strict = probe_metrics(y, prob, threshold=0.55)  # 0.5 is now negative: tn = 3
    assert strict["spe"] == pytest.approx(3 / 4)


def test_probe_report_intervals():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(300), 2)
    y = (rng.random(300) < 0.4).astype(int)[groups]
    prob = 1 / (1 + np.exp(-(1.5 * y - 0.75 + rng.normal(size=y.size))))
    report = probe_report(y, prob, groups=groups, n_boot=1000, seed=1)
    point = probe_metrics(y, prob)
    for name in (*METRICS, "f1_neg"):
        assert report[name] == point[name]
        assert report[f"{name}_ci_low"] <= report[name] <= report[f"{name}_ci_high"]
        assert report[f"{name}_ci_low"] < report[f"{name}_ci_high"]
    assert (report["n"], report["n_positive"], report["n_boot"]) == (600, int(y.sum()), 1000)
    assert report["threshold"] == 0.5 and report["unit"] == "patient"
    assert report == probe_report(y, prob, groups=groups, n_boot=1000, seed=1)  # deterministic
    other = probe_report(y, prob, groups=groups, n_boot=1000, seed=2)
    assert other["auc_ci_low"] != report["auc_ci_low"]
    # the AUROC interval is cxrlib.stats' patient bootstrap with the same seed
    ref = bootstrap_ci(auroc, y, prob, n_boot=1000, seed=1, groups=groups)
    assert (report["auc_ci_low"], report["auc_ci_high"]) == pytest.approx(ref.ci)
    assert probe_report(y, prob, n_boot=50)["unit"] == "image"


# ---------------------------------------------------------------------------------------------
# Table III layout
# ---------------------------------------------------------------------------------------------
def _long():
    rows = []
    for init in ("ssl", "imagenet"):
        for fraction in (1.0, 0.01, 0.1):
            values = {m: 0.5 + 0.1 * fraction for m in METRICS}
            values.update({f"{m}_ci_low": 0.4 for m in METRICS})
            values.update({f"{m}_ci_high": 0.9 for m in METRICS})
            rows.append({"task": "kermany_pneumonia", "init": init, "fraction": fraction, **values})
    return pd.DataFrame(rows)


def test_table3_layout_shape_and_labels():
    wide = table3_layout(_long())
    assert wide.shape == (2, 15)
    assert wide.columns.names == ["fraction", "metric"]
    assert list(wide.columns.get_level_values(0).unique()) == ["1%", "10%", "100%"]
    assert list(wide.columns[:5].get_level_values(1)) == ["ACC", "AUC", "SEN", "SPE", "F1"]
    assert list(wide.index) == [("kermany_pneumonia", "ssl"), ("kermany_pneumonia", "imagenet")]
    assert wide.loc[("kermany_pneumonia", "ssl"), ("10%", "AUC")] == 51.0
    assert wide.loc[("kermany_pneumonia", "ssl"), ("100%", "F1")] == 60.0
    text = table3_layout(_long(), ci=True)
    assert text.loc[("kermany_pneumonia", "imagenet"), ("1%", "SEN")] == "50.1 [40.0, 90.0]"
    assert all(re.fullmatch(r"\d+\.\d \[\d+\.\d, \d+\.\d\]", v) for v in text.to_numpy().ravel())
    with pytest.raises(ValueError, match="more than one row"):
        table3_layout(pd.concat([_long(), _long()]))
    with pytest.raises(ValueError, match="lacks columns"):
        table3_layout(_long().drop(columns="f1"))


# ---------------------------------------------------------------------------------------------
# published tables
# ---------------------------------------------------------------------------------------------
def test_d002_table3_published():
    table = load("d002_table3")
    assert table.document == "002" and "Gazda" in table.citation
    frame = table.frame
    ours = frame[frame["source"] == "document 002"]
    assert len(ours) == 12
    assert set(ours["fraction"]) == {"1%", "10%", "100%"}
    cell = ours.set_index(["dataset", "fraction"])
    assert cell.loc[("Cell", "100%"), "auc"] == 97.7
    assert cell.loc[("C19-Cohen", "10%"), "auc"] == 91.5  # "AUCs up to 91.5% ... 10% fraction"
    assert cell.loc[("Cell", "100%"), "auc"] == ours["auc"].max()
    wide = table3_layout(frame, index=("dataset",), scale=1)
    assert list(wide.columns.get_level_values(0).unique()) == ["1%", "10%", "100%", "published"]
    assert wide.loc["Cell", ("1%", "ACC")] == 85.6
    assert wide.loc["ChestX-ray-14", ("published", "AUC")] == 65.8
    assert np.isnan(wide.loc["C19-Cohen", ("published", "AUC")])


def test_d002_table2_published():
    frame = load("d002_table2").frame.set_index("dataset")
    assert frame.loc["CheXpert", "samples"] == 224316
    assert frame.loc["ChestX-ray-14", ["class_0", "class_1"]].sum() == 2706
    assert frame.loc["COVIDGR", ["class_0", "class_1"]].sum() == 852


def test_d004_ssl_tables_published():
    t3, t4, t5 = (load(f"d004_table{k}").frame for k in (3, 4, 5))
    assert list(t3.columns) == ["row", "class", "model", "auroc", "half_width"]
    assert set(t3["model"]) == {"B1", "F1", "F2"} and set(t4["model"]) == {"B3", "F3", "F4"}
    assert set(t5["model"]) == {"B1", "F5"}
    total = t3.set_index(["class", "model"]).loc[("Total", "B1")]
    assert (total["auroc"], total["half_width"]) == (0.660, 0.032)
    for frame in (t3, t4, t5):
        fracture = frame[frame["class"] == "Fracture"]
        assert len(fracture) and fracture[["auroc", "half_width"]].isna().all().all()
        assert frame.drop(frame.index[frame["class"] == "Fracture"])["auroc"].notna().all()
    # Table V repeats Table III's baseline column
    b1_3 = t3[t3["model"] == "B1"].reset_index(drop=True)
    b1_5 = t5[t5["model"] == "B1"].reset_index(drop=True)
    pd.testing.assert_frame_equal(b1_3, b1_5)
    assert "500" in load("d004_table3").notes


def test_published_ids_are_unique_across_yaml_files():
    import yaml
    from importlib import resources

    ids = []
    for item in resources.files("cxrlib.published").iterdir():
        if item.name.endswith(".yaml"):
            ids += list((yaml.safe_load(item.read_text(encoding="utf-8")) or {}).keys())
    assert len(ids) == len(set(ids))


def test_no_warnings_on_clean_problem():
    x, y, groups = _problem(seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_probe(x, y, groups)
