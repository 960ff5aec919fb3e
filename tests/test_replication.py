"""Replication over training seeds: the verdict needs the seeds and the test-set interval to agree."""
import numpy as np
import pytest

from cxrlib.stats import (MIN_SEEDS, auroc, auroc_replicates, bootstrap_auroc, replicated_auroc,
                          replicated_auroc_difference, replicated_values, replication_table)


def _task(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng, y


def _scores(rng, y, separation):
    return y * separation + rng.normal(size=y.shape)


def test_auroc_replicates_match_the_single_model_bootstrap():
    rng, y = _task()
    a, b = _scores(rng, y, 1.0), _scores(rng, y, 0.3)
    estimates, reps = auroc_replicates(y, [a, b], n_boot=200, seed=3)
    assert estimates == pytest.approx([auroc(y, a), auroc(y, b)])
    single = bootstrap_auroc(y, b, n_boot=200, seed=3).replicates.iloc[:, 0].to_numpy()
    np.testing.assert_allclose(reps[:, 1], single)


def test_auroc_replicates_macro_over_labels_and_patients():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (200, 3))
    s = y + rng.normal(size=y.shape)
    groups = np.repeat(np.arange(100), 2)
    estimates, reps = auroc_replicates(y, [s], n_boot=50, seed=0, groups=groups)
    assert estimates[0] == pytest.approx(np.mean([auroc(y[:, j], s[:, j]) for j in range(3)]))
    table = bootstrap_auroc(y, s, n_boot=50, seed=0, groups=groups).replicates
    np.testing.assert_allclose(reps[:, 0], table["macro average"].to_numpy())


def test_a_clear_difference_replicated_over_seeds_is_concluded():
    rng, y = _task(400)
    strong = {s: _scores(rng, y, 2.0) for s in range(3)}
    weak = {s: _scores(rng, y, 0.2) for s in range(3)}
    result = replicated_auroc_difference(y, strong, weak, name="AUROC(strong) - AUROC(weak)", n_boot=300)
    assert result.verdict == "above" and result.concluded
    assert result.ci_low > 0 and all(v > 0 for v in result.values)
    assert result.sentence(above="strong beats weak", below="weak beats strong").startswith("Strong beats weak")
    flipped = replicated_auroc_difference(y, weak, strong, n_boot=300)
    assert flipped.verdict == "below"
    assert flipped.mean == pytest.approx(-result.mean)


def test_no_difference_is_inconclusive_and_the_sentence_claims_nothing():
    rng, y = _task(300)
    a = {s: _scores(rng, y, 1.0) for s in range(4)}
    b = {s: _scores(rng, y, 1.0) for s in range(4)}
    result = replicated_auroc_difference(y, a, b, n_boot=300)
    assert result.ci_low < 0 < result.ci_high
    assert result.verdict == "inconclusive"
    text = result.sentence(above="A beats B", below="B beats A")
    assert "beats" not in text


def test_seeds_that_disagree_block_a_conclusion_even_with_a_narrow_interval():
    result = replicated_values({0: 0.05, 1: 0.04, 2: -0.01}, ci=(0.01, 0.06), name="d")
    assert result.verdict == "inconclusive"
    agreed = replicated_values({0: 0.05, 1: 0.04, 2: 0.01}, ci=(0.01, 0.06), name="d")
    assert agreed.verdict == "above"


def test_fewer_than_min_seeds_is_not_replicated():
    rng, y = _task(300)
    strong = {s: _scores(rng, y, 3.0) for s in range(MIN_SEEDS - 1)}
    result = replicated_auroc(y, strong, n_boot=200)
    assert result.ci_low > 0.5
    assert result.verdict == "not replicated"
    assert "no conclusion" in result.sentence(above="it learned", below="worse than chance")


def test_without_an_interval_nothing_is_concluded():
    result = replicated_values({0: 0.9, 1: 0.91, 2: 0.92}, null=0.5, name="AUROC")
    assert result.verdict == "inconclusive" and result.unit == "none"


def test_patient_interval_is_wider_when_images_repeat_patients():
    rng = np.random.default_rng(5)
    n_patients = 120
    y_patient = rng.integers(0, 2, n_patients)
    y = np.repeat(y_patient, 4)
    groups = np.repeat(np.arange(n_patients), 4)
    patient_effect = np.repeat(rng.normal(size=n_patients), 4)
    scores = {s: y * 0.8 + patient_effect + 0.3 * rng.normal(size=y.size) for s in range(3)}
    by_image = replicated_auroc(y, scores, n_boot=400)
    by_patient = replicated_auroc(y, scores, n_boot=400, groups=groups)
    assert by_patient.unit == "patient" and by_image.unit == "image"
    assert (by_patient.ci_high - by_patient.ci_low) > (by_image.ci_high - by_image.ci_low)


def test_arms_must_share_seeds_and_values_must_match_seeds():
    rng, y = _task(100)
    with pytest.raises(ValueError, match="share their training seeds"):
        replicated_auroc_difference(y, {0: _scores(rng, y, 1), 1: _scores(rng, y, 1)},
                                    {0: _scores(rng, y, 1), 2: _scores(rng, y, 1)})
    with pytest.raises(ValueError, match="ci_low"):
        replicated_values({0: 1.0}, ci=(2.0, 1.0))
    with pytest.raises(ValueError, match="mapping"):
        replicated_values([0.1, 0.2])


def test_table_has_one_row_per_result_with_its_verdict():
    rows = [replicated_values({0: 0.1, 1: 0.2, 2: 0.3}, ci=(0.05, 0.35), name="x"),
            replicated_values({0: 0.1}, ci=(-0.1, 0.3), name="y")]
    table = replication_table(rows, digits=3)
    assert list(table["quantity"]) == ["x", "y"]
    assert list(table["verdict"]) == ["above", "not replicated"]
    assert table.loc[0, "sd"] == pytest.approx(0.1)


def test_a_table_with_nothing_to_compare_keeps_its_columns_through_its_csv(tmp_path):
    """Notebook 13 writes its row differences even when no two rows learned; a reader (the solutions of the
    teaching edition) must get an empty table with the columns back, not a file pandas cannot parse."""
    from cxrlib.core.runs import read_table
    replication_table([], digits=4).to_csv(tmp_path / "diffs.csv", index=False)
    table = read_table(tmp_path, "diffs")
    assert table.empty and "verdict" in table.columns
    (tmp_path / "bare.csv").write_text("\n")
    assert read_table(tmp_path, "bare").empty


def test_replication_plot_draws_every_seed(tmp_path):
    from cxrlib.chapters.plots import replication_plot
    rows = [replicated_values({0: 0.1, 1: 0.2, 2: 0.3}, ci=(0.05, 0.35), name="x")]
    fig = replication_plot(rows)
    dots = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 3]
    assert dots and sorted(dots[0].get_xdata()) == [0.1, 0.2, 0.3]


def test_replication_plot_with_nothing_to_compare_says_so():
    from cxrlib.chapters.plots import replication_plot
    fig = replication_plot([], title="t")
    assert any("nothing to compare" in t.get_text() for t in fig.axes[0].texts)
