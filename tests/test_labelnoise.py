"""NIH label noise (cxrlib.chapters.label_noise, cxrlib.stats.simulate): loading and joining the expert re-read, the
NIH -> expert mapping, agreement and No-Finding shares on hand-made frames, the real shipped files,
a modified relabel file that moves the notebook's artifacts, and the label-flip simulation."""
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxrlib.chapters import label_noise as ln
from cxrlib.stats import simulate
from cxrlib.data import nih, nih_relabels
from cxrlib.data.metadata import shipped_path
from cxrlib.stats.metrics import auroc

REPO = Path(__file__).resolve().parents[1]
EXPERT_COLUMNS = ["Fracture", "Pneumothorax", "Airspace opacity", "Nodule or mass"]


# ------------------------------------------------------------------------------------ tiny frames


def relabel_csv(path: Path, rows: list[dict]) -> Path:
    """A relabel file in the shipped layout; every row gives image, patient, set and the four YES/NO."""
    frame = pd.DataFrame(rows)
    frame = frame.rename(columns={"image": "Image Index", "patient": "Patient ID", "set": "Set Id",
                                  "labels": "Finding Labels"})
    frame.to_csv(path, index=False)
    return path


def row(image, patient, labels="No Finding", set_id="test", **expert):
    base = {"image": image, "patient": patient, "set": set_id, "labels": labels}
    base.update({c: "NO" for c in EXPERT_COLUMNS})
    base.update({c.replace("_", " "): v for c, v in expert.items()})
    return base


def tiny_meta(rows: list[tuple]) -> pd.DataFrame:
    """A metadata table in nih.load_metadata()'s layout from (image, patient, "a|b" labels, age, view, follow_up)."""
    records = []
    for image, patient, labels, age, view, follow_up in rows:
        names = labels.split("|")
        record = {"image_id": image, "patient_id": patient, "finding_labels": labels, "labels": names,
                  "n_labels": 0 if labels == "No Finding" else len(names), "age": age, "sex": "M", "view": view,
                  "follow_up": follow_up}
        for name in (*nih.CHEXNET_ORDER, nih.NO_FINDING.nih):
            record[name] = int(name in names)
        records.append(record)
    return pd.DataFrame(records)


@pytest.fixture
def tiny(tmp_path):
    """Six images of four patients with known expert and NIH labels."""
    path = relabel_csv(tmp_path / "relabels.csv", [
        row("a.png", 1, "Pneumothorax", Pneumothorax="YES"),                 # NIH+ expert+
        row("b.png", 1, "Pneumothorax", Pneumothorax=" no "),                # NIH+ expert-  (blank, lower case)
        row("c.png", 2, "No Finding", Pneumothorax="yes"),                   # NIH- expert+  (No Finding, wrong)
        row("d.png", 3, "No Finding", set_id="val"),                          # NIH- expert-  (No Finding, right)
        row("e.png", 3, "Nodule|Infiltration", set_id="val", Nodule_or_mass="YES", Airspace_opacity="YES"),
        row("f.png", 4, "No Finding", set_id="val", Fracture="YES"),         # No Finding + fracture only
    ])
    meta = tiny_meta([("a.png", 1, "Pneumothorax", 30, "PA", 0), ("b.png", 1, "Pneumothorax", 30, "AP", 1),
                      ("c.png", 2, "No Finding", 50, "AP", 3), ("d.png", 3, "No Finding", 70, "PA", 0),
                      ("e.png", 3, "Nodule|Infiltration", 70, "AP", 1), ("f.png", 4, "No Finding", 20, "PA", 25),
                      ("z.png", 9, "Mass", 40, "PA", 0)])
    return nih_relabels.join_metadata(nih_relabels.load_relabels(path), meta)


def test_load_relabels_codes_yes_no_and_keeps_one_row_per_image(tmp_path):
    path = relabel_csv(tmp_path / "r.csv", [row("a.png", 1, Pneumothorax=" yes "), row("b.png", 2)])
    table = nih_relabels.load_relabels(path)
    assert list(table["image_id"]) == ["a.png", "b.png"]
    assert table[nih_relabels.expert_column("Pneumothorax")].tolist() == [1, 0]
    assert table[nih_relabels.expert_column("Fracture")].dtype == np.int8
    assert table.attrs["source"] == str(path)


@pytest.mark.parametrize("problem, message", [
    ([row("a.png", 1, Pneumothorax="MAYBE")], "not YES/NO"),
    ([row("a.png", 1), row("a.png", 1)], "more than once"),
])
def test_load_relabels_rejects_bad_files(tmp_path, problem, message):
    with pytest.raises(ValueError, match=message):
        nih_relabels.load_relabels(relabel_csv(tmp_path / "r.csv", problem))


def test_load_relabels_names_missing_columns(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame({"Image Index": ["a.png"], "Patient ID": [1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="Set Id"):
        nih_relabels.load_relabels(path)


def test_join_metadata_checks_images_and_patients(tmp_path, tiny):
    assert len(tiny) == 6 and "z.png" not in set(tiny["image_id"])
    assert tiny.attrs["label_string_differences"] == 0
    relabels = nih_relabels.load_relabels(relabel_csv(tmp_path / "r.csv", [row("a.png", 1), row("q.png", 5)]))
    meta = tiny_meta([("a.png", 1, "No Finding", 30, "PA", 0)])
    with pytest.raises(ValueError, match="not in the NIH metadata"):
        nih_relabels.join_metadata(relabels, meta)
    relabels = nih_relabels.load_relabels(relabel_csv(tmp_path / "r.csv", [row("a.png", 7)]))
    with pytest.raises(ValueError, match="another patient id"):
        nih_relabels.join_metadata(relabels, meta)


def test_finding_map_is_validated_and_completed():
    default = ln.normalise_finding_map(None)
    assert default["Fracture"] == () and default["Nodule or mass"] == ("Nodule", "Mass")
    assert ln.normalise_finding_map({"Pneumothorax": "Pneumothorax"}) == {
        "Pneumothorax": ("Pneumothorax",), "Nodule or mass": (), "Airspace opacity": (), "Fracture": ()}
    with pytest.raises(ValueError, match="unknown expert finding"):
        ln.normalise_finding_map({"Cardiomegaly": ["Cardiomegaly"]})
    with pytest.raises(ValueError, match="not NIH findings"):
        ln.normalise_finding_map({"Nodule or mass": ["Nodules"]})
    text = ln.describe_finding_map(None)
    assert "Nodule or mass ← Nodule or Mass" in text and "Fracture ← none" in text


def test_mapping_is_a_union_of_nih_labels(tiny):
    labels = ln.mapped_nih_labels(tiny, {"Nodule or mass": ["Nodule", "Mass"], "Airspace opacity": ["Infiltration"]})
    assert list(labels.columns) == ["nih: Nodule or mass", "nih: Airspace opacity"]
    assert labels["nih: Nodule or mass"].tolist() == [0, 0, 0, 0, 1, 0]
    assert labels["nih: Airspace opacity"].tolist() == [0, 0, 0, 0, 1, 0]


def test_contingency_and_agreement_counts_by_hand(tiny):
    tables = ln.contingency_tables(tiny).set_index(["finding", "nih_label"])
    assert tables.loc[("Pneumothorax", "NIH positive"), ["expert_positive", "expert_negative"]].tolist() == [1, 1]
    assert tables.loc[("Pneumothorax", "NIH negative"), ["expert_positive", "expert_negative"]].tolist() == [1, 3]
    assert tables.loc[("Fracture", "no NIH label"), "expert_positive"] == 1
    agreement = ln.agreement_table(tiny, n_boot=20, seed=1).set_index("finding")
    pneumothorax = agreement.loc["Pneumothorax"]
    assert (pneumothorax[["tp", "fp", "fn", "tn"]].tolist()) == [1, 1, 1, 3]
    assert pneumothorax["ppv"] == pytest.approx(0.5) and pneumothorax["npv"] == pytest.approx(0.75)
    # kappa = (po - pe) / (1 - pe) with po = 4/6, pe = (2*2 + 4*4)/36
    pe = 20 / 36
    assert pneumothorax["kappa"] == pytest.approx((4 / 6 - pe) / (1 - pe))
    assert pneumothorax["kappa_low"] <= pneumothorax["kappa_high"]
    fracture = agreement.loc["Fracture"]
    assert fracture["expert_positive"] == 1 and np.isnan(fracture["kappa"]) and "no NIH label" in fracture["nih_labels"]


def test_no_finding_shares_by_hand(tiny):
    indicators = ln.no_finding_indicators(tiny)
    assert list(tiny.loc[indicators.index, "image_id"]) == ["c.png", "d.png", "f.png"]
    assert indicators["any of the four"].tolist() == [1, 0, 1]
    assert indicators["any with an NIH label"].tolist() == [1, 0, 0]  # fracture is not an NIH finding
    table = ln.no_finding_table(tiny, n_boot=20, seed=0)
    first = table.iloc[0]
    assert (first["images"], first["count"], first["patients"]) == (3, 2, 3)
    assert first["share"] == pytest.approx(2 / 3)
    by_view = ln.share_by_group(tiny, "view", None, n_boot=10).set_index("group")
    assert by_view.loc["PA", "share"] == pytest.approx(0.5) and by_view.loc["AP", "share"] == 1.0
    by_follow_up = ln.share_by_group(tiny, "follow_up", [0, 1, 5, 20], n_boot=10)
    assert by_follow_up["group"].tolist() == ["0", "1–4", "≥20"]  # empty bins are dropped


def test_bin_labels():
    assert ln.bin_labels([0, 30, 45, 60, 75]) == ["0–29", "30–44", "45–59", "60–74", "≥75"]
    assert ln.bin_labels([0, 1, 5, 20]) == ["0", "1–4", "5–19", "≥20"]


def test_auroc_two_truths_on_a_tiny_frame(tiny):
    scores = pd.DataFrame({"image_id": tiny["image_id"]})
    for name in nih.CHEXNET_ORDER:
        scores[ln.score_column(name)] = 0.0
    scores[ln.score_column("Pneumothorax")] = [0.9, 0.1, 0.8, 0.2, 0.3, 0.4]  # ranks the expert labels perfectly
    scores[ln.score_column("Mass")] = [0.1, 0.2, 0.3, 0.4, 0.9, 0.5]
    table, subset = ln.auroc_two_truths(tiny, scores, n_boot=50, seed=0)
    table = table.set_index("finding")
    assert len(subset) == 6
    assert table.loc["Pneumothorax", "auroc_expert"] == 1.0
    assert table.loc["Pneumothorax", "auroc_nih"] == pytest.approx(auroc([1, 1, 0, 0, 0, 0], scores[ln.score_column("Pneumothorax")]))
    assert table.loc["Pneumothorax", "difference"] == pytest.approx(1.0 - table.loc["Pneumothorax", "auroc_nih"])
    assert table.loc["Nodule or mass", "score"] == "max(P(Nodule), P(Mass))"
    with pytest.raises(ValueError, match="no NIH label is mapped"):
        ln.auroc_two_truths(tiny, scores, findings=["Fracture"], n_boot=5)


def test_load_predictions_validates(tmp_path):
    path = tmp_path / "preds.csv"
    pd.DataFrame({"Image Index": ["a.png"], "prob_Atelectasis": [0.1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match="prob_Cardiomegaly"):
        ln.load_predictions(path)


# ------------------------------------------------------------------------------ the shipped files


@pytest.fixture(scope="module")
def meta():
    return nih.load_metadata()


@pytest.fixture(scope="module")
def joined(meta):
    return nih_relabels.join_metadata(nih_relabels.load_relabels(), meta)


def test_shipped_relabels_are_one_adjudicated_row_per_image(joined):
    assert len(joined) == 4376 and joined["image_id"].is_unique
    assert set(joined["set_id"]) == {"test", "val"}
    assert joined.attrs["label_string_differences"] == 0
    assert set(np.unique(joined[[nih_relabels.expert_column(f) for f in nih_relabels.EXPERT_FINDINGS]].to_numpy())) == {0, 1}


def test_set_ids_lie_in_the_official_lists(meta, joined, data_root):
    sample = ln.representativeness(meta, joined, nih.official_lists(data_root)).set_index("group")
    assert sample.loc["re-read, Set Id test", "images"] == 1962
    assert sample.loc["re-read, Set Id test", "in_official_test"] == 1.0
    assert sample.loc["re-read, Set Id val", "in_official_test"] == 0.0
    assert sample["images"].sum() == len(meta)


def test_real_auroc_matches_the_metric_directly(joined, data_root):
    table, subset = ln.auroc_two_truths(joined, ln.load_predictions(root=data_root), n_boot=20, seed=0)
    row_ = table.set_index("finding").loc["Pneumothorax"]
    assert row_["images"] == len(subset) > 500
    assert row_["auroc_expert"] == pytest.approx(auroc(subset[nih_relabels.expert_column("Pneumothorax")],
                                                       subset[ln.score_column("Pneumothorax")]))
    assert row_["auroc_nih"] == pytest.approx(auroc(subset["Pneumothorax"], subset[ln.score_column("Pneumothorax")]))


def modified_relabels(tmp_path: Path, meta: pd.DataFrame) -> Path:
    """The shipped file with every NIH 'No Finding' image of the official test part re-read as pneumothorax."""
    with gzip.open(shipped_path("nih_google_relabels"), "rt") as handle:
        raw = pd.read_csv(handle)
    normal = raw["Finding Labels"].eq("No Finding") & raw["Set Id"].eq("test")
    raw.loc[normal, "Pneumothorax"] = "YES"
    path = tmp_path / "relabels_modified.csv.gz"
    raw.to_csv(path, index=False, compression="gzip")
    return path


def test_a_modified_relabel_file_moves_the_numbers(tmp_path, meta, joined):
    changed = nih_relabels.join_metadata(nih_relabels.load_relabels(modified_relabels(tmp_path, meta)), meta)
    before = ln.no_finding_table(joined, n_boot=20).iloc[0]["share"]
    after = ln.no_finding_table(changed, n_boot=20).iloc[0]["share"]
    assert after > before
    kappa = [ln.agreement_table(t, n_boot=20).set_index("finding").loc["Pneumothorax", "kappa"] for t in (joined, changed)]
    assert kappa[1] < kappa[0]


def test_the_notebook_artifacts_come_from_the_relabel_file_it_is_given(tmp_path, meta, data_root):
    """Run 07_label_noise on a modified relabel file: its artifacts equal the library's numbers on that
    file and differ from those on the shipped file."""
    papermill = pytest.importorskip("papermill")
    path = modified_relabels(tmp_path, meta)
    out = tmp_path / "07"
    papermill.execute_notebook(str(REPO / "notebooks" / "07_label_noise.ipynb"), str(tmp_path / "run.ipynb"),
                               parameters=dict(out_dir=str(out), relabel_file=str(path), data_root=str(data_root),
                                               n_boot=20, sim_repeats=3),
                               kernel_name="python3", cwd=str(REPO), progress_bar=False)
    shares = pd.read_csv(out / "no_finding_share.csv")
    changed = nih_relabels.join_metadata(nih_relabels.load_relabels(path), meta)
    expected = ln.no_finding_table(changed, n_boot=20, seed=0)
    np.testing.assert_allclose(shares["share"], expected["share"])
    shipped = ln.no_finding_table(nih_relabels.join_metadata(nih_relabels.load_relabels(), meta), n_boot=20, seed=0)
    assert not np.allclose(shares["share"], shipped["share"])
    agreement = pd.read_csv(out / "nih_vs_expert_agreement.csv").set_index("finding")
    assert agreement.loc["Pneumothorax", "expert_positive"] == changed[nih_relabels.expert_column("Pneumothorax")].sum()
    assert (out / "no_finding_by_group.png").stat().st_size > 0 and (out / "provenance.json").exists()


# ------------------------------------------------------------------------------------- simulation


def test_binormal_problem_has_the_requested_auroc():
    y, scores = simulate.binormal_problem(40000, 0.3, 0.8, np.random.default_rng(0))
    assert y.sum() == 12000
    assert auroc(y, scores) == pytest.approx(0.8, abs=0.01)


def test_flip_labels_flips_exact_counts():
    y = np.array([1] * 10 + [0] * 30)
    noisy = simulate.flip_labels(y, 0.3, 0.1, np.random.default_rng(0))
    assert ((y == 1) & (noisy == 0)).sum() == 3 and ((y == 0) & (noisy == 1)).sum() == 3
    with pytest.raises(ValueError):
        simulate.flip_labels(y, 1.5, 0.0, np.random.default_rng(0))


def test_expected_auroc_formula_edge_cases():
    assert simulate.expected_auroc_under_flips(0.8, 0.2, 0.0, 0.0) == pytest.approx(0.8)
    assert simulate.expected_auroc_under_flips(0.8, 0.2, 0.5, 0.5) == pytest.approx(0.5)  # labels carry no information
    assert simulate.expected_auroc_under_flips(0.8, 0.2, 1.0, 1.0) == pytest.approx(0.2)  # every label swapped


def test_simulation_is_seeded_and_falls_with_the_flip_fraction():
    kwargs = dict(auc=0.85, prevalence=0.3, n_images=1000, fractions=(0.0, 0.1, 0.2, 0.3), n_repeats=8)
    first = simulate.label_flip_curve(seed=3, **kwargs)
    pd.testing.assert_frame_equal(first, simulate.label_flip_curve(seed=3, **kwargs))
    assert not first["auroc_noisy"].equals(simulate.label_flip_curve(seed=4, **kwargs)["auroc_noisy"])
    summary = simulate.summarise_curve(first)
    for scenario, part in summary.groupby("scenario"):
        means = part.sort_values("fraction")["auroc_mean"].to_numpy()
        assert np.all(np.diff(means) < 0), scenario
        np.testing.assert_allclose(part["auroc_mean"], part["expected"], atol=0.02)
    assert summary.loc[summary["fraction"] == 0.0, "mean_drop"].eq(0).all()


def test_key_numbers_take_document_001s_chestxray14_auc_gap_from_table4():
    from cxrlib import published
    from cxrlib.chapters import label_noise as ln

    empty = pd.DataFrame
    key = ln.key_numbers(empty({"kappa": []}), empty({"source": []}), empty(), empty({"fraction": []}),
                         d001_table4=published.load("d001_table4").frame)
    row = key[key["question"].str.startswith("Document 001")].iloc[0]
    assert "DINOv2 − ImageNet-21K" in row["question"] and row["published"].startswith("0.0069 ")  # 79.79 - 79.10
