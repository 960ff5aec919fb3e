"""Uncertainty and tests: DeLong (hand-worked, against the direct O(m*n) structural components,
pROC's degenerate cases), the vectorised bootstrap (against a scikit-learn loop on the same
redraws, chunk and seed behaviour, patient clusters, single-class redraws), paired bootstrap,
FDR and kappa intervals."""
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata
from sklearn import metrics as skm

from cxrlib import stats as S
from cxrlib.data.nih import CHEXNET_ORDER
from cxrlib.stats.metrics import UndefinedMetricWarning, auroc

NIH_LABELS = list(CHEXNET_ORDER)


@pytest.fixture(scope="module")
def chexnet(chexnet_predictions):
    """First 3,000 CheXNet test images: labels, real predicted probabilities, patient ids."""
    y, s, patients = chexnet_predictions
    return y[:3000], s[:3000], patients[:3000]


def direct_delong(y, scores):
    """DeLong et al. (1988) structural components by the O(m*n) pairwise kernel."""
    y = np.asarray(y, bool)
    m, n = y.sum(), (~y).sum()
    v10, v01, aucs = [], [], []
    for s in scores:
        s = np.asarray(s, float)
        psi = (s[y][:, None] > s[~y][None, :]) + 0.5 * (s[y][:, None] == s[~y][None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    cov = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    return np.array(aucs), np.atleast_2d(cov)


# --- DeLong ------------------------------------------------------------------------------------
def test_delong_by_hand():
    # positives 0.9, 0.8, 0.3; negatives 0.4, 0.2. V10 = (1, 1, 1/2), V01 = (2/3, 1), AUC = 5/6,
    # S10 = 1/12, S01 = 1/18, var = S10/3 + S01/2 = 1/36 + 1/36 = 1/18.
    r = S.delong([1, 1, 1, 0, 0], [0.9, 0.8, 0.3, 0.4, 0.2])
    assert r.auc == 5 / 6
    assert r.variance == float(Fraction(1, 18))
    half = 1.959963984540054 * (1 / 18) ** 0.5
    assert r.ci == pytest.approx((5 / 6 - half, 1.0))  # upper end truncated at 1, as pROC does
    v10, v01 = S.delong_placements([1, 1, 1, 0, 0], [0.9, 0.8, 0.3, 0.4, 0.2])
    np.testing.assert_array_equal(v10, [1, 1, 0.5])
    np.testing.assert_allclose(v01, [2 / 3, 1])


def test_delong_matches_direct_computation_on_real_data(chexnet):
    y, s, _ = chexnet
    for j in (0, 6, 13):  # common, rarer, rarest (Hernia) labels; real ties included
        aucs, cov = direct_delong(y[:, j], [s[:, j], s[:, (j + 1) % 14]])
        r = S.delong(y[:, j], s[:, j])
        assert r.auc == pytest.approx(aucs[0], rel=1e-13)
        assert r.variance == pytest.approx(cov[0, 0], rel=1e-10)
        fast_aucs, fast_cov = S.delong_covariance(y[:, j], [s[:, j], s[:, (j + 1) % 14]])
        np.testing.assert_allclose(fast_cov, cov, rtol=1e-10)
        t = S.delong_test(y[:, j], s[:, j], s[:, (j + 1) % 14])
        var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
        assert t.variance == pytest.approx(var_diff, rel=1e-10)
        assert t.z == pytest.approx((aucs[0] - aucs[1]) / np.sqrt(var_diff), rel=1e-10)
        assert t.p_value == pytest.approx(2 * (1 - _phi(abs(t.z))), rel=1e-8)


def _phi(z):
    from scipy.stats import norm
    return norm.cdf(z)


def test_delong_heavy_ties_binary_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    a = np.where(rng.random(200) < 0.8, y, 1 - y)  # a hard 0/1 classifier: only two values
    b = rng.integers(0, 3, 200)
    aucs, cov = direct_delong(y, [a, b])
    t = S.delong_test(y, a, b)
    assert (t.auc_a, t.auc_b) == pytest.approx(tuple(aucs), rel=1e-14)
    assert t.variance == pytest.approx(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], rel=1e-12)


def test_delong_perfect_and_reversed_have_zero_variance():
    y = [0, 0, 0, 1, 1]
    with pytest.warns(S.DegenerateAUCWarning):
        r = S.delong(y, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert (r.auc, r.variance, r.ci) == (1.0, 0.0, (1.0, 1.0))
    with pytest.warns(S.DegenerateAUCWarning):
        r = S.delong(y, [0.5, 0.4, 0.3, 0.2, 0.1])
    assert (r.auc, r.variance, r.ci) == (0.0, 0.0, (0.0, 0.0))  # no flipping


def test_delong_no_flipping_below_half():
    y = [1, 1, 1, 0, 0]
    r = S.delong(y, [-0.9, -0.8, -0.3, -0.4, -0.2])
    assert r.auc == 1 / 6 and r.variance == float(Fraction(1, 18))


def test_delong_single_positive_or_negative_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="single positive"):
        r = S.delong([0, 0, 1, 0], [0.1, 0.2, 0.3, 0.05])
    assert r.auc == 1.0 and np.isnan(r.variance) and np.isnan(r.ci[0]) and np.isnan(r.ci[1])
    with pytest.warns(UndefinedMetricWarning, match="single negative"):
        t = S.delong_test([1, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1])
    assert np.isnan(t.z) and np.isnan(t.p_value)
    with pytest.warns(UndefinedMetricWarning, match="one class"):
        r = S.delong([1, 1, 1], [0.1, 0.2, 0.3])
    assert np.isnan(r.auc) and np.isnan(r.variance)


def test_delong_test_identical_and_rank_identical_give_z0_p1():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y, 1.0), 1)  # rounded: many ties
    for other in (s.copy(), np.exp(3 * s) + 7, 1 / (1 + np.exp(-s)), rankdata(s)):
        t = S.delong_test(y, s, other)
        assert (t.difference, t.variance, t.z, t.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_delong_test_degenerate_perfect_pairs():
    y = [0, 0, 1, 1]
    up, down = [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]
    with pytest.warns(S.DegenerateAUCWarning):
        S.delong(y, up)
    t = S.delong_test(y, up, [1, 2, 3, 4])  # both perfect: 0/0 -> Z = 0, p = 1 (pROC)
    assert (t.z, t.p_value) == (0.0, 1.0)
    t = S.delong_test(y, up, down)  # AUC 1 vs AUC 0: difference 1 with variance 0
    assert t.z == np.inf and t.p_value == 0.0


def test_delong_extreme_and_subnormal_scores():
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    s = np.array([5e-324, 1e-323, -np.inf, 1e308, 0.0, np.inf, 2e-323, -0.0])
    aucs, cov = direct_delong(y, [s])
    r = S.delong(y, s)
    assert r.auc == aucs[0] and r.variance == pytest.approx(cov[0, 0], rel=1e-14)
    scaled = S.delong(y, s * 1e-300)  # order-preserving except where it underflows to ties
    assert np.isfinite(scaled.variance)


def test_delong_at_scale_is_fast_and_agrees_with_auroc():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 20_000)
    s = rng.normal(y * 0.5, 1.0).astype(np.float32)
    r = S.delong(y, s)
    assert r.auc == auroc(y, s)
    assert r.ci[0] < r.auc < r.ci[1]


# --- redraws -------------------------------------------------------------------------------------
def test_redraws_are_seeded_and_chunk_invariant():
    a = np.vstack(list(S.redraw_counts(500, 40, seed=3)))
    b = np.vstack(list(S.redraw_counts(500, 40, seed=3, chunk_size=7)))
    c = np.vstack(list(S.redraw_counts(500, 40, seed=4)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a.sum(axis=1) == 500).all()


def test_patient_redraws_keep_patients_together():
    groups = np.repeat(["p1", "p2", "p3", "p4"], [1, 2, 3, 4])
    counts = np.vstack(list(S.redraw_counts(10, 200, seed=0, groups=groups)))
    for g in np.unique(groups):
        block = counts[:, groups == g]
        assert (block == block[:, :1]).all()
    per_patient = np.stack([counts[:, groups == g][:, 0] for g in np.unique(groups)], axis=1)
    assert (per_patient.sum(axis=1) == 4).all()  # four patients drawn per redraw
    assert len(np.unique(counts.sum(axis=1))) > 1  # hence a varying number of images


# --- bootstrap of AUROC ----------------------------------------------------------------------------
def test_vectorised_bootstrap_equals_sklearn_loop_on_same_redraws(chexnet):
    y, s, patients = chexnet
    for groups in (None, patients):
        res = S.bootstrap_auroc(y, s, NIH_LABELS, n_boot=12, seed=5, groups=groups,
                                averages=("macro", "weighted", "micro"), chunk_size=5)
        counts = np.vstack(list(S.redraw_counts(len(y), 12, seed=5, groups=groups)))
        for b, row in enumerate(counts):
            idx = np.repeat(np.arange(len(y)), row)
            yb, sb = y[idx], s[idx]
            valid = yb.min(axis=0) != yb.max(axis=0)
            expected = np.full(14, np.nan)
            expected[valid] = [skm.roc_auc_score(yb[:, j], sb[:, j]) for j in np.flatnonzero(valid)]
            np.testing.assert_allclose(res.replicates.iloc[b, :14], expected, atol=1e-14)
            exact = [auroc(yb[:, j], sb[:, j]) for j in np.flatnonzero(valid)]
            assert list(res.replicates.iloc[b, np.flatnonzero(valid)]) == exact  # bit-identical
            if valid.all():
                assert res.replicates["macro average"][b] == pytest.approx(expected.mean())
                assert res.replicates["weighted average"][b] == pytest.approx(
                    skm.roc_auc_score(yb, sb, average="weighted"), abs=1e-14)
            assert res.replicates["micro average"][b] == pytest.approx(
                skm.roc_auc_score(yb, sb, average="micro"), abs=1e-14)


def test_bootstrap_table_summaries(chexnet):
    y, s, _ = chexnet
    res = S.bootstrap_auroc(y[:, :3], s[:, :3], NIH_LABELS[:3], n_boot=50, seed=1)
    t = res.table.set_index("label")
    reps = res.replicates["Effusion"].to_numpy()
    assert t.loc["Effusion", "boot_mean"] == pytest.approx(reps.mean())
    assert t.loc["Effusion", "boot_sd"] == pytest.approx(reps.std(ddof=1))
    assert t.loc["Effusion", "ci_low"] == pytest.approx(np.percentile(reps, 2.5))
    assert t.loc["Effusion", "ci_high"] == pytest.approx(np.percentile(reps, 97.5))
    assert t.loc["Effusion", "auc"] == auroc(y[:, 2], s[:, 2])
    assert list(t.index) == NIH_LABELS[:3] + ["macro average", "weighted average"]
    again = S.bootstrap_auroc(y[:, :3], s[:, :3], NIH_LABELS[:3], n_boot=50, seed=1, n_jobs=2)
    pd.testing.assert_frame_equal(res.table, again.table)


def test_bootstrap_memory_is_bounded_by_chunking():
    import tracemalloc

    rng = np.random.default_rng(0)
    y = rng.random((20_000, 2)) < 0.1
    s = rng.normal(y, 1.0)
    tracemalloc.start()
    S.bootstrap_auroc(y, s, n_boot=2000, seed=0, n_jobs=1, averages=())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # one int64 multiplicity matrix for all redraws would be 2000 x 20000 x 8 B = 320 MB
    assert peak < 50e6


def test_bootstrap_single_class_redraw_gives_nan_not_crash():
    y = np.zeros(12, int)
    y[0] = 1  # one positive: many redraws miss it
    s = np.linspace(0, 1, 12)
    res = S.bootstrap_auroc(y, s, ["rare"], n_boot=200, seed=0)
    reps = res.replicates["rare"]
    assert reps.isna().any() and reps.notna().any()
    row = res.table.iloc[0]
    assert row.n_valid == reps.notna().sum() < 200
    assert np.isfinite(row.ci_low) and np.isfinite(row.boot_sd)
    assert res.replicates["macro average"].isna().sum() == reps.isna().sum()


def test_bootstrap_label_undefined_on_full_sample():
    y = np.array([[0, 1], [1, 1], [0, 1], [1, 1]])
    s = np.array([[0.1, 0.3], [0.9, 0.2], [0.2, 0.5], [0.8, 0.1]])
    with pytest.warns(UndefinedMetricWarning):
        res = S.bootstrap_auroc(y, s, ["ok", "never"], n_boot=20, seed=0)
    t = res.table.set_index("label")
    assert t.loc["never", "n_valid"] == 0 and np.isnan(t.loc["never", "ci_low"])
    assert t.loc["macro average", "auc"] == 1.0


def test_bootstrap_ci_generic_matches_vectorised_path(chexnet):
    y, s, patients = chexnet
    fast = S.bootstrap_ci(auroc, y[:, 2], s[:, 2], n_boot=30, seed=9, groups=patients)
    slow = S.bootstrap_ci(lambda a, b: auroc(a, b), y[:, 2], s[:, 2], n_boot=30, seed=9,
                          groups=patients)
    np.testing.assert_array_equal(fast.replicates, slow.replicates)
    assert fast.estimate == auroc(y[:, 2], s[:, 2]) and fast.unit == "patient"
    assert fast.ci_low < fast.estimate < fast.ci_high


def test_bootstrap_ci_any_metric_vector_valued_and_undefined_redraws():
    rng = np.random.default_rng(0)
    x = rng.normal(size=100)
    res = S.bootstrap_ci(lambda v: np.array([v.mean(), np.median(v)]), x, n_boot=200, seed=1)
    assert res.estimate.shape == (2,) and res.replicates.shape == (200, 2)
    assert (res.ci_low < res.estimate).all() and (res.estimate < res.ci_high).all()
    y = np.r_[1, np.zeros(9, int)]
    with pytest.warns(Warning):  # scikit-learn warns on the one-class redraws, returns NaN
        res = S.bootstrap_ci(skm.roc_auc_score, y, np.linspace(0, 1, 10), n_boot=50, seed=0)
    assert 0 < res.n_valid < 50


def test_document_protocols_number_of_redraws(chexnet):
    y, s, _ = chexnet
    assert S.bootstrap_auroc(y[:, :1], s[:, :1], n_boot=S.DOCUMENT_004_REDRAWS).table.n_valid[0] \
        == 500


# --- paired bootstrap -----------------------------------------------------------------------------
def test_paired_bootstrap_identical_models():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (300, 2))
    s = rng.normal(y, 1.0)
    res = S.paired_bootstrap_auroc(y, s, s.copy(), labels=["a", "b"], n_boot=100, seed=0)
    t = res.table
    assert (t.difference == 0).all() and (t.ci_low == 0).all() and (t.ci_high == 0).all()
    assert (t.p_value == 1).all()
    assert t.p_value_fdr.notna().sum() == 2 and (t.p_value_fdr[t.kind == "label"] == 1).all()


def test_paired_bootstrap_two_models_same_redraws(chexnet):
    y, s, _ = chexnet
    noisy = s + np.random.default_rng(3).normal(0, 0.2, s.shape)
    res = S.paired_bootstrap_auroc(y[:, :4], s[:, :4], noisy[:, :4], labels=NIH_LABELS[:4],
                                   n_boot=80, seed=2)
    alone = S.bootstrap_auroc(y[:, :4], s[:, :4], NIH_LABELS[:4], n_boot=80, seed=2)
    pd.testing.assert_frame_equal(res.replicates_a, alone.replicates)  # the same redraws
    t = res.table.set_index("label")
    assert (t.loc[NIH_LABELS[:4], "difference"] > 0).all()  # noise hurts
    assert (t.loc[NIH_LABELS[:4], "p_value"] < 0.05).all()
    diff = res.replicates_a - res.replicates_b
    assert t.loc["Atelectasis", "boot_sd"] == pytest.approx(diff["Atelectasis"].std(ddof=1))


def test_paired_bootstrap_one_model_two_truths():
    rng = np.random.default_rng(4)
    expert = rng.integers(0, 2, 400)
    scores = rng.normal(expert, 1.0)
    noisy_label = np.where(rng.random(400) < 0.2, 1 - expert, expert)  # 20% label noise
    res = S.paired_bootstrap_auroc(noisy_label, scores, y_true_b=expert, labels=["finding"],
                                   n_boot=200, seed=1, averages=())
    row = res.table.iloc[0]
    assert row.auc_a == auroc(noisy_label, scores) and row.auc_b == auroc(expert, scores)
    assert row.difference < 0 and row.ci_high < 0 and row.p_value < 0.05


def test_paired_bootstrap_requires_a_second_arm():
    with pytest.raises(ValueError):
        S.paired_bootstrap_auroc([0, 1], [0.1, 0.2])


def test_bootstrap_p_value_by_hand():
    assert S.bootstrap_p_value(np.array([-1.0, 1.0, 2.0, 3.0])) == 0.5
    assert S.bootstrap_p_value(np.array([1.0, 2.0, np.nan])) == 0.0
    assert S.bootstrap_p_value(np.zeros(5)) == 1.0


# --- FDR, kappa, agreement ---------------------------------------------------------------------------
def test_fdr_bh_by_hand_and_nan():
    adjusted = S.fdr_bh([0.01, 0.04, 0.03, 0.2, np.nan])
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, min(0.06, 0.0533), 0.0533, 0.2
    np.testing.assert_allclose(adjusted[:4], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert np.isnan(adjusted[4])


def test_kappa_ci_and_agreement_with_patient_groups():
    rng = np.random.default_rng(5)
    patients = np.repeat(np.arange(150), 3)
    reference = rng.integers(0, 2, 450)
    label = np.where(rng.random(450) < 0.15, 1 - reference, reference)
    k = S.kappa_ci(label, reference, n_boot=300, seed=0, groups=patients)
    assert k.kappa == pytest.approx(skm.cohen_kappa_score(label, reference))
    assert k.ci_low < k.kappa < k.ci_high and k.unit == "patient" and k.n_valid == 300
    table = S.bootstrap_agreement(reference, label, n_boot=300, seed=0, groups=patients)
    assert list(table.metric) == ["ppv", "npv", "sensitivity", "specificity", "kappa"]
    ppv = table.set_index("metric").loc["ppv", "estimate"]
    assert ppv == pytest.approx(reference[label == 1].mean())
    assert table.set_index("metric").loc["kappa", "ci_low"] == k.ci_low
    generic = S.bootstrap_ci(lambda a, b: skm.cohen_kappa_score(a, b), label, reference,
                             n_boot=40, seed=0, groups=patients)
    vectorised = S.bootstrap_agreement(reference, label, metrics=("kappa",), n_boot=40, seed=0,
                                       groups=patients)
    assert vectorised.boot_mean[0] == pytest.approx(generic.mean, rel=1e-12)


def test_delong_all_tied_scores_warn_about_the_zero_width_interval():
    with pytest.warns(S.DegenerateAUCWarning, match=r"every score is tied \(3 positive, 3 negative\).*zero width"):
        r = S.delong([0, 0, 1, 1, 0, 1], [0.5] * 6)
    assert r.auc == 0.5 and r.ci == (0.5, 0.5)


@pytest.mark.parametrize("call", [
    lambda **kw: S.bootstrap_ci(S.auroc, [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], **kw),
    lambda **kw: S.bootstrap_auroc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], **kw),
    lambda **kw: S.paired_bootstrap_auroc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], **kw),
    lambda **kw: S.bootstrap_agreement([0, 1, 0, 1], [0, 1, 1, 1], **kw),
    lambda **kw: S.kappa_ci([0, 1, 0, 1], [0, 1, 1, 1], **kw),
], ids=["bootstrap_ci", "bootstrap_auroc", "paired_bootstrap_auroc", "bootstrap_agreement", "kappa_ci"])
def test_every_bootstrap_checks_n_boot_and_alpha_first(call):
    for bad in (-5, 0, 2.5, True):
        with pytest.raises(ValueError, match=rf"n_boot must be a whole number of bootstrap redraws, at least 1 .*got {bad!r}"):
            call(n_boot=bad)
    for bad in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"alpha must be between 0 and 1 .*got {bad}"):
            call(n_boot=10, alpha=bad)


# ---------------------------------------------------------------------------------------------
# clustered DeLong (Obuchowski 1997)
# ---------------------------------------------------------------------------------------------
def _binormal(rng, n, shift=1.0):
    y = rng.random(n) < 0.3
    return y, rng.normal(size=n) + shift * y


def test_obuchowski_equals_delong_with_one_image_per_patient():
    rng = np.random.default_rng(1)
    y, s = _binormal(rng, 400)
    s2 = s + rng.normal(scale=0.8, size=s.size)
    patients = [f"p{i}" for i in rng.permutation(s.size)]  # any ids, any order
    plain, clustered = S.delong(y, s), S.obuchowski_auc(y, s, patients)
    assert clustered.auc == pytest.approx(plain.auc, abs=1e-15)
    assert clustered.variance == pytest.approx(plain.variance, rel=1e-10)
    assert clustered.ci == pytest.approx(plain.ci, rel=1e-9)
    test, ctest = S.delong_test(y, s, s2), S.clustered_delong_test(y, s, s2, patients)
    assert ctest.variance == pytest.approx(test.variance, rel=1e-10)
    assert ctest.covariance == pytest.approx(test.covariance, rel=1e-10)
    assert ctest.p_value == pytest.approx(test.p_value, rel=1e-8)
    assert ctest.ci == pytest.approx(test.ci, rel=1e-9)
    # Obuchowski's own factor I / (I - 1) differs from DeLong's only in the small-sample factor
    assert S.obuchowski_auc(y, s, patients, correction="obuchowski").variance == pytest.approx(plain.variance, rel=0.02)


def test_obuchowski_counts_copies_of_a_patients_image_once():
    """Every image repeated k times inside its patient: DeLong's variance shrinks about k-fold (it counts
    the copies as independent), the clustered variance is that of the original images."""
    rng = np.random.default_rng(2)
    y, s = _binormal(rng, 300)
    k = 5
    Y, Sc, G = np.repeat(y, k), np.repeat(s, k), np.repeat(np.arange(y.size), k)
    original = S.delong(y, s).variance
    assert S.obuchowski_auc(Y, Sc, G).variance == pytest.approx(original, rel=1e-10)
    assert S.delong(Y, Sc).variance == pytest.approx(original / k, rel=0.05)
    s2 = s + rng.normal(scale=0.8, size=s.size)
    paired = S.delong_test(y, s, s2)
    clustered = S.clustered_delong_test(Y, Sc, np.repeat(s2, k), G)
    assert clustered.variance == pytest.approx(paired.variance, rel=1e-9)
    assert clustered.p_value == pytest.approx(paired.p_value, rel=1e-7)
    assert S.delong_test(Y, Sc, np.repeat(s2, k)).p_value < paired.p_value


def test_clustering_widens_the_interval_and_matches_the_real_spread():
    """Simulation: 120 patients x 4 images sharing a patient effect in the score and the label. Over
    repeated samples, the clustered variance tracks the observed variance of the AUC; DeLong's, which
    treats the 480 images as independent, is too small."""
    rng = np.random.default_rng(3)
    n_patients, per = 120, 4
    aucs, plain, clustered = [], [], []
    for _ in range(150):
        groups = np.repeat(np.arange(n_patients), per)
        sick = rng.random(n_patients) < 0.3  # a finding is a patient's, seen on most of their films
        y = sick[groups] & (rng.random(groups.size) < 0.8)
        s = rng.normal(size=n_patients)[groups] + 1.2 * y + 0.5 * rng.normal(size=groups.size)
        aucs.append(auroc(y, s))
        plain.append(S.delong(y, s).variance)
        clustered.append(S.obuchowski_auc(y, s, groups).variance)
    observed = np.var(aucs, ddof=1)
    assert np.mean(plain) < 0.5 * observed
    assert 0.7 * observed < np.mean(clustered) < 1.3 * observed
    assert np.mean(np.array(clustered) > np.array(plain)) > 0.9


def test_clustered_delong_degenerate_inputs():
    y = np.array([1, 1, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.1, 0.2, 0.3])
    same = S.clustered_delong_test(y, s, s, [1, 2, 3, 4, 5])
    assert same.z == 0 and same.p_value == 1
    with pytest.warns(UndefinedMetricWarning):
        one_patient = S.obuchowski_auc(y, s, [1, 1, 2, 2, 2])  # one patient holds every positive
    assert np.isnan(one_patient.variance) and one_patient.auc == 1.0
    with pytest.raises(ValueError, match="groups has"):
        S.obuchowski_auc(y, s, [1, 2])
    with pytest.raises(ValueError, match="correction"):
        S.obuchowski_auc(y, s, [1, 2, 3, 4, 5], correction="none")
