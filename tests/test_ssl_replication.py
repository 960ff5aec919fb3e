"""Notebook 06's replicated SSL-vs-random comparisons and the power statement (constructed inputs)."""
import numpy as np
import pandas as pd
import pytest

from cxrlib.chapters import linear_probe as lp
from cxrlib.stats import detectable_difference


def test_detectable_difference_is_z_alpha_plus_z_power_times_se():
    assert detectable_difference(0.1) == pytest.approx((1.959964 + 0.841621) * 0.1, rel=1e-5)
    assert detectable_difference(0.1, power=0.5) == pytest.approx(1.959964 * 0.1, rel=1e-5)
    with pytest.raises(ValueError):
        detectable_difference(0.1, power=1.0)


def test_random_features_are_keyed_by_their_seed():
    class Info:
        sha256, timm_name, requested = None, "resnet18", "none"

    assert lp.weights_id(Info(), 0) != lp.weights_id(Info(), 1)

    class File(Info):
        sha256 = "abc"

    assert lp.weights_id(File(), 0) == lp.weights_id(File(), 1) == "abc"


def _predictions(y, score, ids):
    return pd.DataFrame({"image_id": ids, "COVID": y, "prob_COVID": score})


def test_replicated_run_difference_pairs_seeds_and_clusters_by_patient():
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    ids = [f"i{k}" for k in range(40)]
    patients = pd.Series([f"p{k // 2}" for k in range(40)], index=ids)
    good = {s: _predictions(y, y + rng.normal(0, 0.3, 40), ids) for s in range(3)}
    poor = {s: _predictions(y, rng.normal(0, 1, 40), ids) for s in range(3)}
    result = lp.replicated_run_difference(good, poor, "COVID", patients, name="good - poor", n_boot=200)
    assert result.n_seeds == 3 and result.unit == "patient"
    assert all(v > 0.2 for v in result.values) and result.verdict == "above"
    reversed_ = lp.replicated_run_difference(poor, good, "COVID", patients, name="poor - good", n_boot=200)
    assert reversed_.verdict == "below"
    shuffled = {s: p.iloc[::-1].reset_index(drop=True) for s, p in poor.items()}  # same images, other order
    same = lp.replicated_run_difference(good, shuffled, "COVID", patients, name="x", n_boot=200)
    assert same.values == pytest.approx(result.values)
    with pytest.raises(ValueError, match="patient"):
        lp.replicated_run_difference(good, poor, "COVID", patients.iloc[:-2], name="x", n_boot=50)


def test_sentences_of_a_model_that_did_not_learn_conclude_nothing():
    from cxrlib.stats import replicated_values

    r = replicated_values({0: 0.1, 1: 0.12, 2: 0.09}, ci=(0.05, 0.15), name="d")
    assert r.verdict == "above"
    claimed = lp.replicated_sentences({"t": r}, learned=True, above="on {}, A beats B", below="on {}, B beats A")
    assert claimed[0].startswith("On t, A beats B")
    demo = lp.replicated_sentences({"t": r}, learned=False, above="on {}, A beats B", below="on {}, B beats A")
    assert "beats" not in demo[0] and demo[0].startswith("Not interpreted")


def test_power_sentence_counts_images_and_patients_of_the_test_part():
    table = pd.DataFrame({"role": ["test"] * 6 + ["fit"], "patient_id": ["a", "a", "b", "c", "d", "d", "e"],
                          "target": [0, 0, 0, 1, 1, 1, 0]})
    text = lp.power_sentence("covid_vs_pneumonia", table, 0.05, what="the difference")
    assert "3 covid images from 2 patients" in text and "3 other_pneumonia images from 2 patients" in text
    assert f"{detectable_difference(0.05):.3f}" in text
