"""Point metrics: exact small cases worked by hand, scikit-learn agreement on the real CheXNet
predictions, and the degenerate inputs (single class, NaN, extreme scores)."""
from fractions import Fraction

import numpy as np
import pytest
from sklearn import metrics as skm

from cxrlib.stats import metrics as M
from cxrlib.data.nih import CHEXNET_ORDER
from cxrlib.stats.metrics import UndefinedMetricWarning

NIH_LABELS = list(CHEXNET_ORDER)


@pytest.fixture(scope="module")
def chexnet(chexnet_predictions):
    """Real CheXNet (DenseNet-121 reproduction) probabilities and labels, 22,433 test images."""
    y, s, _ = chexnet_predictions
    return y, s


def pairwise_auc(y, s) -> Fraction:
    pos = [v for v, t in zip(s, y) if t]
    neg = [v for v, t in zip(s, y) if not t]
    wins = sum(Fraction(1) if p > q else Fraction(1, 2) if p == q else 0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


# --- AUROC -----------------------------------------------------------------------------------
def test_auroc_by_hand():
    # pairs (pos, neg): (0.35, 0.1) ok, (0.35, 0.4) wrong, (0.8, *) ok -> 3 of 4
    assert M.auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # a tie between a positive and a negative counts 1/2: (1 vs 1) 0.5, (1 vs 2) 0, (3 vs *) 2
    assert M.auroc([0, 1, 0, 1], [1, 1, 2, 3]) == 0.625


def test_auroc_is_not_flipped():
    assert M.auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert M.auroc([0, 0, 1, 1], [0.1, 0.4, 0.8, 0.35][::-1]) == 0.25


def test_auroc_single_class_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(M.auroc([1, 1, 1], [0.2, 0.4, 0.1]))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(M.auroc([0, 0], [0.2, 0.4]))


def test_auroc_rejects_nan_and_non_binary():
    with pytest.raises(ValueError, match="NaN"):
        M.auroc([0, 1], [0.2, np.nan])
    with pytest.raises(ValueError, match="0 and 1"):
        M.auroc([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match="same shape"):
        M.auroc([0, 1, 1], [0.2, 0.3])


def test_auroc_extreme_and_subnormal_scores_exact():
    s = np.array([-np.inf, -1e308, -5e-324, -0.0, 0.0, 5e-324, 1e-310, 1e308, np.inf, 5e-324])
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    assert M.auroc(y, s) == float(pairwise_auc(y, s))
    # -0.0 and 0.0 are equal: a tie, not an ordering
    assert M.auroc([0, 1], [0.0, -0.0]) == 0.5


def test_auroc_integer_and_bool_scores():
    assert M.auroc([0, 1, 0, 1], np.array([3, 2**62, 1, 2**62 + 1], dtype=np.int64)) == 1.0
    assert M.auroc([0, 1, 1, 0], [False, True, False, False]) == 0.75


def test_averages_match_sklearn_on_real_predictions(chexnet):
    y, s = chexnet
    per_label = M.auroc_per_label(y, s, NIH_LABELS)
    expected = [skm.roc_auc_score(y[:, j], s[:, j]) for j in range(y.shape[1])]
    np.testing.assert_allclose(per_label.to_numpy(), expected, rtol=0, atol=1e-14)
    for name, fn in [("macro", M.macro_auroc), ("weighted", M.weighted_auroc),
                     ("micro", M.micro_auroc)]:
        assert fn(y, s) == pytest.approx(skm.roc_auc_score(y, s, average=name), abs=1e-14)
    table = M.auroc_table(y, s, NIH_LABELS)
    assert list(table["label"][-3:]) == ["macro average", "weighted average", "micro average"]
    assert table.loc[table.label == "Hernia", "n_positive"].item() == y[:, -1].sum()


def test_macro_average_skips_undefined_label_with_warning():
    y = np.array([[0, 1], [1, 1], [0, 1], [1, 1]])
    s = np.array([[0.1, 0.3], [0.9, 0.2], [0.2, 0.5], [0.8, 0.1]])
    with pytest.warns(UndefinedMetricWarning):
        assert M.macro_auroc(y, s) == 1.0


# --- ROC curve and operating points ------------------------------------------------------------
def test_roc_curve_by_hand():
    curve = M.roc_curve([0, 0, 1, 1, 1], [0.1, 0.5, 0.5, 0.7, 0.9])
    np.testing.assert_array_equal(curve.thresholds, [np.inf, 0.9, 0.7, 0.5, 0.1])
    np.testing.assert_array_equal(curve.true_positives, [0, 1, 2, 3, 3])
    np.testing.assert_array_equal(curve.false_positives, [0, 0, 0, 1, 2])
    area = np.trapezoid(curve.tpr, curve.fpr)
    assert area == pytest.approx(M.auroc([0, 0, 1, 1, 1], [0.1, 0.5, 0.5, 0.7, 0.9]), abs=1e-15)


def test_youden_threshold_is_observed_score_with_ge_rule():
    y = [0, 0, 1, 1, 1, 0]
    s = [0.1, 0.5, 0.5, 0.7, 0.9, 0.3]
    # t=0.7: tp 2/3, fp 0 -> J = 2/3; t=0.5: tp 3/3, fp 1/3 -> J = 2/3 (tie): highest t wins
    assert M.youden_threshold(y, s) == 0.7
    op = M.operating_point(y, s, 0.5)  # score >= 0.5 is positive: the tied 0.5 negative is an FP
    assert (op.counts.tp, op.counts.fp, op.counts.fn, op.counts.tn) == (3, 1, 0, 2)
    assert op.sensitivity == 1.0 and op.specificity == pytest.approx(2 / 3)
    assert op.accuracy == pytest.approx(5 / 6) and op.f1 == pytest.approx(6 / 7)


def test_youden_validation_then_test_and_optimistic_variant():
    y_val = np.array([0, 0, 1, 1])
    s_val = np.array([0.2, 0.4, 0.6, 0.8])  # J maximal (=1) at t = 0.6
    y_test = np.array([0, 1, 0, 1, 1])
    s_test = np.array([0.3, 0.5, 0.65, 0.7, 0.9])
    honest = M.youden_operating_points(y_val, s_val, y_test, s_test, labels=["x"])
    row = honest.iloc[0]
    assert row.threshold == 0.6 and row.threshold_chosen_on == "validation" and not row.optimistic
    assert (row.tp, row.fp, row.fn, row.tn) == (2, 1, 1, 1)
    optimistic = M.youden_operating_points_optimistic(y_test, s_test, labels=["x"]).iloc[0]
    assert optimistic.optimistic and optimistic.threshold_chosen_on == "test (optimistic)"
    # on test: J(0.7) = 2/3 - 0 beats J(0.5) = 1 - 1/2 and J(0.9) = 1/3
    assert optimistic.threshold == 0.7 and optimistic.specificity == 1.0


def test_youden_undefined_on_single_class_validation():
    with pytest.warns(UndefinedMetricWarning):
        table = M.youden_operating_points([0, 0], [0.1, 0.2], [0, 1], [0.1, 0.2])
    assert np.isnan(table.threshold.item()) and np.isnan(table.sensitivity.item())


# --- agreement of two label vectors ----------------------------------------------------------------
def test_agreement_rates_and_kappa_by_hand():
    label = [1, 1, 1, 0, 0, 0, 0, 1]
    reference = [1, 1, 0, 0, 0, 1, 0, 1]
    r = M.agreement_rates(reference, label)
    assert (r.counts.tp, r.counts.fp, r.counts.fn, r.counts.tn) == (3, 1, 1, 3)
    assert r.ppv == 0.75 and r.npv == 0.75 and r.sensitivity == 0.75 and r.specificity == 0.75
    # p_o = 6/8, p_e = 1/2 -> kappa = (3/4 - 1/2) / (1/2) = 1/2
    assert r.kappa == 0.5 == M.cohen_kappa(label, reference)
    assert M.cohen_kappa(label, reference) == pytest.approx(skm.cohen_kappa_score(label, reference))


def test_kappa_undefined_when_both_constant():
    assert np.isnan(M.cohen_kappa([1, 1, 1], [1, 1, 1]))
    assert M.cohen_kappa([1, 1, 0], [0, 0, 1]) == pytest.approx(
        skm.cohen_kappa_score([1, 1, 0], [0, 0, 1]))


# --- multi-class (document 000) ---------------------------------------------------------------------
def test_multiclass_report_by_hand_and_against_sklearn():
    names = ["A", "B", "No Finding"]
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    proba = np.array([[.6, .3, .1], [.2, .5, .3], [.1, .8, .1], [.3, .3, .4], [.1, .2, .7],
                      [.5, .1, .4], [.2, .2, .6]])
    rep = M.multiclass_report(y, proba, names, chosen_class="No Finding")
    pred = proba.argmax(axis=1)  # [0, 1, 1, 2, 2, 0, 2]
    expected_cm = [[1, 1, 0], [0, 1, 1], [1, 0, 2]]
    np.testing.assert_array_equal(rep.confusion.to_numpy(), expected_cm)
    assert rep.chosen_class_precision == pytest.approx(2 / 3)  # predicted NF: rows 3, 4, 6
    assert rep.macro_recall == pytest.approx(skm.recall_score(y, pred, average="macro"))
    assert rep.macro_f1 == pytest.approx(skm.f1_score(y, pred, average="macro"))
    ovr = [skm.roc_auc_score(y == k, proba[:, k]) for k in range(3)]
    np.testing.assert_allclose(rep.per_class.auc_ovr, ovr, atol=1e-15)
    assert rep.macro_auroc == pytest.approx(np.mean(ovr))
    assert rep.accuracy == pytest.approx(4 / 7)


def test_confusion_matrix_rejects_bad_indices():
    with pytest.raises(ValueError):
        M.confusion_matrix([0, 3], [0, 1], ["a", "b", "c"])


def test_nan_message_says_how_many_and_where():
    with pytest.raises(ValueError, match=r"y_score contains 2 NaN of 4 values, first at index 1, 3"):
        M.auroc([0, 1, 0, 1], [0.2, np.nan, 0.1, np.nan])
    scores = np.array([[0.1, 0.2], [0.3, np.nan], [0.5, 0.6]])
    with pytest.raises(ValueError, match=r"contains 1 NaN of 6 values, first at \(row, column\) \(1, 1\)"):
        M.auroc_per_label(np.array([[0, 1], [1, 0], [1, 1]]), scores)
    with pytest.raises(ValueError, match=r"y_true contains 1 NaN of 3 values, first at index 0: drop or impute"):
        M.auroc([np.nan, 1, 0], [0.2, 0.3, 0.1])
