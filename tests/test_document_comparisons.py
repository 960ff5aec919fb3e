"""cxrlib.chapters.documents: documents 001 and 004's comparisons from fake fine-tuning run folders."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cxrlib.chapters import documents as D
from cxrlib.stats import metrics

matplotlib.use("Agg")  # conftest sets MPLBACKEND=Agg too

LABELS = ["Effusion", "Atelectasis", "Cardiomegaly"]


def _truth(n: int, seed: int = 0) -> pd.DataFrame:
    """n images of n - n // 5 patients: the first n // 5 patients have 2 images each."""
    rng = np.random.default_rng(seed)
    n_pairs = n // 5
    patients = [f"p{i:04d}" for i in range(n_pairs) for _ in range(2)]
    patients += [f"p{i:04d}" for i in range(n_pairs, n - n_pairs)]
    frame = pd.DataFrame({"image_id": [f"img{i:05d}.png" for i in range(n)], "patient_id": patients})
    for j, label in enumerate(LABELS):
        frame[label] = (rng.random(n) < (0.15 + 0.1 * j)).astype(int)
    return frame


def _write_run(folder, truth: pd.DataFrame, noise: float, seed: int, shuffle: bool = False):
    rng = np.random.default_rng(seed)
    frame = truth.copy()
    for label in LABELS:
        frame[f"prob_{label}"] = frame[label] + rng.normal(0, noise, len(frame))
    if shuffle:
        frame = frame.sample(frac=1, random_state=seed).reset_index(drop=True)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "predictions_test.csv", index=False)
    return folder


@pytest.fixture
def runs(tmp_path):
    truth = _truth(400)
    good = _write_run(tmp_path / "dinov2", truth, noise=0.6, seed=1)
    poor = _write_run(tmp_path / "imagenet", truth, noise=2.0, seed=2, shuffle=True)
    return good, poor


def test_identical_runs_give_zero_difference_and_p_one(runs):
    good, _ = runs
    table = D.compare_initialisations(good, good, n_boot=200)
    assert np.allclose(table["difference"], 0)
    assert np.allclose(table["bootstrap_p"], 1)
    labels = table[table["kind"] == "label"]
    assert np.allclose(labels["delong_p"], 1) and np.allclose(labels["clustered_p"], 1)
    assert table.attrs["unit"] == "patient" and table.attrs["n_patients"] == 400 - 80


def test_better_run_wins_with_small_p(runs):
    good, poor = runs
    table = D.compare_initialisations(good, poor, n_boot=300, seed=3)
    assert list(table.columns[2:4]) == ["auc_DINOv2", "auc_ImageNet-21K"]
    assert list(table["label"]) == LABELS + ["macro average"]
    macro = table.set_index("label").loc["macro average"]
    assert macro["difference"] > 0.1 and macro["bootstrap_p"] < 0.05
    assert macro["boot_ci_low"] > 0
    labels = table[table["kind"] == "label"]
    assert (labels["delong_p"] < 0.05).all() and (labels["clustered_p"] < 0.05).all()
    assert (labels["delong_p_fdr"] >= labels["delong_p"] - 1e-12).all()
    # the point estimates are the runs' own AUROCs, although run B's rows are in another order
    a = pd.read_csv(good / "predictions_test.csv")
    assert labels["auc_DINOv2"].iloc[0] == pytest.approx(metrics.auroc(a["Effusion"], a["prob_Effusion"]))
    assert macro["auc_DINOv2"] == pytest.approx(labels["auc_DINOv2"].mean())


def test_mismatched_test_images_raise(tmp_path, runs):
    good, _ = runs
    other = _write_run(tmp_path / "other", _truth(400).iloc[:390], noise=1.0, seed=5)
    with pytest.raises(ValueError, match=r"not hold the same test images.*10 of 400"):
        D.compare_initialisations(good, other, n_boot=50)
    with pytest.raises(ValueError, match="other"):
        D.bootstrap_auc_distributions(good, other, n_boot=50)
    relabelled = _truth(400)
    relabelled["Effusion"] = 1 - relabelled["Effusion"]
    flipped = _write_run(tmp_path / "flipped", relabelled, noise=1.0, seed=6)
    with pytest.raises(ValueError, match="different reference labels"):
        D.compare_initialisations(good, flipped, n_boot=50)


def test_single_class_label_is_kept_as_note(tmp_path):
    truth = _truth(200)
    truth["Cardiomegaly"] = 0
    a = _write_run(tmp_path / "a", truth, noise=0.5, seed=1)
    b = _write_run(tmp_path / "b", truth, noise=1.5, seed=2)
    table = D.compare_initialisations(a, b, n_boot=100).set_index("label")
    assert np.isnan(table.loc["Cardiomegaly", "auc_DINOv2"])
    assert "not estimable" in table.loc["Cardiomegaly", "note"]
    assert "2 of 3 labels" in table.loc["macro average", "note"]
    t4 = D.d004_table(a, n_boot=100).set_index("label")
    assert t4.loc["Cardiomegaly", "cell"] == "—"


def test_fdr_across_datasets_is_monotone(runs):
    good, poor = runs
    fake = {}
    for name, p in zip("abcde", [0.04, 0.001, 0.03, 0.5, 0.01]):
        fake[name] = pd.DataFrame({"label": ["x", "macro average"], "bootstrap_p": [0.9, p]})
    out = D.fdr_across_datasets(fake)
    assert list(out["dataset"]) == list("abcde")
    assert (out["p_fdr"] >= out["bootstrap_p"]).all()
    order = np.argsort(out["bootstrap_p"].to_numpy())
    assert np.all(np.diff(out["p_fdr"].to_numpy()[order]) >= 0)
    # real tables too
    real = D.fdr_across_datasets({"nih": D.compare_initialisations(good, poor, n_boot=100),
                                  "same": D.compare_initialisations(good, good, n_boot=100)})
    assert real.set_index("dataset").loc["same", "p_fdr"] == pytest.approx(1)


def test_bootstrap_distributions_are_paired_and_match_the_table(runs):
    good, poor = runs
    dist = D.bootstrap_auc_distributions(good, poor, n_boot=200, seed=7)
    assert list(dist.columns) == ["redraw", "DINOv2", "ImageNet-21K"] and len(dist) == 200
    assert (dist["DINOv2"] > dist["ImageNet-21K"]).mean() > 0.95
    table = D.compare_initialisations(good, poor, n_boot=200, seed=7).set_index("label")
    low, high = np.percentile(dist["DINOv2"] - dist["ImageNet-21K"], [2.5, 97.5])
    assert table.loc["macro average", "boot_ci_low"] == pytest.approx(low)
    assert table.loc["macro average", "boot_ci_high"] == pytest.approx(high)
    same = D.bootstrap_auc_distributions(good, good, n_boot=50)
    assert np.array_equal(same["DINOv2"], same["ImageNet-21K"])
    fig = D.plot_bootstrap_distributions({"NIH": dist, "same": same}, p_values={"NIH": 0.0004, "same": 1.0})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    assert "P < 0.001" in fig.axes[0].get_title()
    plt.close(fig)


def test_roc_pairs_one_panel_per_label(runs):
    good, poor = runs
    fig = D.plot_roc_pairs(good, poor, LABELS)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(LABELS)
    for ax, label in zip(visible, LABELS):
        assert label in ax.get_title()
        assert len(ax.lines) == 3  # both runs and the chance line
    assert [t.get_text() for t in visible[0].get_legend().get_texts()] == ["DINOv2", "ImageNet-21K"]
    plt.close(fig)


def test_d004_total_is_positive_weighted_mean_and_ci_contains_estimate(runs):
    good, _ = runs
    table = D.d004_table(good, n_boot=500, seed=0)
    assert list(table["label"]) == LABELS + ["Total"]
    classes = table[table["kind"] == "class"]
    frame = pd.read_csv(good / "predictions_test.csv")
    aucs = np.array([metrics.auroc(frame[c], frame[f"prob_{c}"]) for c in LABELS])
    weights = frame[LABELS].sum().to_numpy()
    assert np.allclose(classes["auc"], aucs)
    assert np.allclose(classes["n_positive"], weights)
    total = table.set_index("label").loc["Total"]
    assert total["auc"] == pytest.approx(np.sum(aucs * weights) / weights.sum())
    assert total["auc"] != pytest.approx(aucs.mean(), abs=1e-6)  # weighted, not macro
    assert (table["ci_low"] <= table["auc"]).all() and (table["auc"] <= table["ci_high"]).all()
    assert table["cell"].iloc[0] == f"{aucs[0]:.3f} ± {table['half_width'].iloc[0]:.3f}"
    assert table.attrs["n_boot"] == 500 and table.attrs["unit"] == "image"
    assert D.d004_table(good, n_boot=100, by_patient=True).attrs["unit"] == "patient"


def test_d004_side_by_side_and_ci_plot(runs):
    good, poor = runs
    tables = {"Baseline": D.d004_table(poor, n_boot=100), "MoCo": D.d004_table(good, n_boot=100)}
    wide = D.d004_tables_side_by_side({**tables, "SimCLR": good}, n_boot=100)
    assert list(wide.columns) == ["Class Name", "Baseline", "MoCo", "SimCLR"]
    assert list(wide["Class Name"]) == LABELS + ["Total"]
    assert wide["MoCo"].equals(wide["SimCLR"])  # same run, same seed
    fig = D.plot_ci(tables, title="Fig. 5.1")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == LABELS + ["Total"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Baseline", "MoCo"]
    plt.close(fig)


def test_paired_scores_align_every_seed_to_the_same_images(tmp_path):
    truth = _truth(200)
    a = {s: _write_run(tmp_path / f"a{s}", truth, noise=0.5, seed=s, shuffle=True) for s in (0, 1, 2)}
    b = {s: _write_run(tmp_path / f"b{s}", truth, noise=1.5, seed=10 + s, shuffle=s == 1) for s in (0, 1, 2)}
    y, groups, sa, sb = D.paired_scores(a, b, label="Effusion")
    order = pd.read_csv(a[0] / "predictions_test.csv")
    assert np.array_equal(y, order["Effusion"].to_numpy()) and np.array_equal(groups, order["patient_id"].to_numpy())
    for s in (0, 1, 2):  # each run's own score of each image, whatever its row order
        own = pd.read_csv(b[s] / "predictions_test.csv").set_index("image_id").loc[order["image_id"], "prob_Effusion"]
        assert np.allclose(sb[s], own.to_numpy())
    with pytest.raises(ValueError, match="same seeds"):
        D.paired_scores(a, {0: b[0]}, label="Effusion")


def test_label_counts_sentence_follows_the_counts(runs):
    """#24: "most labels have a handful of positives or none" was written by hand while every label had >= 2."""
    good, poor = runs
    table = D.compare_initialisations(good, poor, n_boot=50)
    text = D.label_counts_sentence(table, few=10)
    pos = table.loc[table["kind"] == "label", "n_positive"]
    assert f"have {pos.min()} to {pos.max()} positive images among 400 test images" in text
    assert "every label has at least one" in text and "have none" not in text
    table.loc[0, "n_positive"] = 0
    assert "1 have none" in D.label_counts_sentence(table)


def test_book_claims_that_the_data_contradicted_are_gone():
    """#24 item 4: sentences that a build's numbers contradicted are generated from the artifacts now."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    pages = {"book/documents_analogues.md": ["handful of positives or none"],
             "notebooks/11_documents.py": ["can only flatter"],
             "book/federated.md": ["as good as the honest run", "federated models bring it close"]}
    for page, phrases in pages.items():
        text = (repo / page).read_text(encoding="utf-8")
        assert not [p for p in phrases if p in text], page
