"""The "did it learn?" check (cxrlib.stats.learning) on constructed runs."""
import json
import math

import numpy as np
import pytest

from cxrlib.stats.learning import (
    LearningCheck,
    binary_no_information_loss,
    check_learning,
    contrastive_no_information_loss,
    no_information_loss,
)


def _best_constant_loss_by_search(y, pos_weight=1.0):
    """Brute force: the mean weighted BCE of every constant prediction q on a fine grid, minimised."""
    q = np.linspace(1e-6, 1 - 1e-6, 200_001)
    y = np.asarray(y, dtype=float)
    pos, n = y.sum(), y.size
    loss = (pos_weight * pos * -np.log(q) + (n - pos) * -np.log(1 - q)) / n
    return loss.min()


def test_balanced_binary_is_ln2():
    assert binary_no_information_loss([0, 1, 0, 1]) == pytest.approx(math.log(2))


def test_unweighted_binary_is_the_base_rate_entropy():
    y = np.array([1] * 3 + [0] * 17)
    p = 0.15
    assert binary_no_information_loss(y) == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)))
    assert binary_no_information_loss(y) == pytest.approx(_best_constant_loss_by_search(y), abs=1e-9)


def test_pos_weight_of_document_001_gives_twice_the_negative_share_ln2():
    y = np.array([1] * 3 + [0] * 17)
    pw = 17 / 3
    assert binary_no_information_loss(y, pos_weight=pw) == pytest.approx(2 * 0.85 * math.log(2))
    assert binary_no_information_loss(y, pos_weight=pw) == pytest.approx(
        _best_constant_loss_by_search(y, pw), abs=1e-9)


def test_multilabel_averages_over_labels_like_bce_mean():
    y = np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    expected = np.mean([binary_no_information_loss(y[:, 0]), binary_no_information_loss(y[:, 1])])
    assert binary_no_information_loss(y) == pytest.approx(expected)
    assert binary_no_information_loss(y) < math.log(2)


def test_label_without_positives_costs_nothing():
    # a constant 0 predicts an all-negative label perfectly
    assert binary_no_information_loss(np.zeros((5, 1))) == pytest.approx(0.0)


def test_softmax_unweighted_is_class_entropy_and_document_000_weights_give_ln_c():
    counts = np.array([50, 30, 20])
    p = counts / counts.sum()
    assert no_information_loss(counts) == pytest.approx(-(p * np.log(p)).sum())
    weights = counts.sum() / (3 * counts)  # document 000, equation 1
    for normalize in ("weights", "count"):
        assert no_information_loss(counts, weights=weights, normalize=normalize) == pytest.approx(math.log(3))


def test_contrastive_levels():
    assert contrastive_no_information_loss(2 * 32 - 1) == pytest.approx(math.log(63))
    with pytest.raises(ValueError):
        contrastive_no_information_loss(1)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="0 or 1"):
        binary_no_information_loss([0, 0.5, 1])
    with pytest.raises(ValueError, match="normalize"):
        no_information_loss([1, 2], normalize="mean")
    with pytest.raises(ValueError, match="together"):
        check_learning(estimate=0.7)
    with pytest.raises(ValueError, match="together"):
        check_learning(final_loss=0.3)


# constructed runs, named after what the book measured (issue 23)
def test_model_at_base_rate_loss_did_not_learn():
    # SemSSXL: final loss 0.275 against a base-rate loss 0.274, macro AUROC 0.556 [0.49, 0.62]
    check = check_learning(estimate=0.556, ci_low=0.49, ci_high=0.62, final_loss=0.275, no_information=0.274)
    assert not check.learned
    assert len(check.reasons) == 2
    assert "did not learn" == check.label
    assert "NO" in check.sentence()


def test_ci_wholly_below_chance_did_not_learn_even_with_a_low_loss():
    check = check_learning(estimate=0.439, ci_low=0.392, ci_high=0.495, final_loss=0.1, no_information=0.69)
    assert not check.learned
    assert "reaches down to chance" in check.reasons[0]


def test_learned_needs_both_parts_to_pass():
    check = check_learning(estimate=0.94, ci_low=0.92, ci_high=0.96, final_loss=0.25, no_information=math.log(2))
    assert check.learned and check.label == "learned" and not check.reasons
    assert "yes" in check.sentence() and "0.920" in check.sentence()
    # a loss within the margin of the no-information loss fails, however good the AUROC
    near = check_learning(estimate=0.94, ci_low=0.92, ci_high=0.96, final_loss=0.69, no_information=math.log(2))
    assert not near.learned


def test_sweep_row_at_ln2_did_not_learn():
    # ResNet-18 grid rows: validation loss 0.683-0.693, about ln 2
    for loss in (0.683, 0.690, 0.693):
        assert not check_learning(final_loss=loss, no_information=math.log(2)).learned


def test_undefined_auroc_fails_and_says_why():
    check = check_learning(estimate=float("nan"), ci_low=float("nan"), ci_high=float("nan"))
    assert not check.learned
    assert "undefined" in check.reasons[0]


def test_nothing_checked_is_not_learned():
    check = check_learning()
    assert not check.learned and check.label == "not checked"
    assert check.sentence().startswith("Did the model learn? Not checked")


def test_round_trip_through_json():
    check = check_learning(estimate=0.9, ci_low=0.85, ci_high=0.95, final_loss=0.3, no_information=0.6,
                           what="SSL start")
    again = LearningCheck.from_dict(json.loads(json.dumps(check.to_dict())))
    assert again == check
