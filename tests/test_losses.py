"""Weighted losses against hand-computed values and against document 000's published weights."""
import math

import numpy as np
import pytest
import torch

from cxrlib.data import d000
from cxrlib.training.losses import (
    WeightedBCE,
    WeightedCrossEntropy,
    build_loss,
    class_weight_tensor,
    inverse_frequency_pos_weight,
)


def test_class_weights_equation_1_by_hand():
    # n = 4 images, c = 2 classes, n_0 = 3, n_1 = 1: W_0 = 4 / (2 * 3), W_1 = 4 / (2 * 1)
    w = class_weight_tensor([0, 0, 0, 1], 2)
    assert w.tolist() == pytest.approx([4 / 6, 2.0])


def test_class_weights_need_every_class():
    with pytest.raises(ValueError, match="at least one image per class"):
        class_weight_tensor([0, 0, 2], 3)


def test_resampled_weights_match_document_000():
    """Document 000, section 3.2: after resampling the weights range from 0.298 to 4.275, Hernia 15.456."""
    table = d000.published_table1(include_total=False).set_index("class")
    labels = np.repeat(np.arange(len(table)), table["resampled"].to_numpy())
    w = class_weight_tensor(labels, len(table)).numpy()
    hernia = list(table.index).index("Hernia")
    assert round(float(w[hernia]), 3) == 15.456
    others = np.delete(w, hernia)
    assert round(float(others.min()), 3) == 0.298 and round(float(others.max()), 3) == 4.275
    # and on the Train column, the published class_weight column
    train_labels = np.repeat(np.arange(len(table)), table["train"].to_numpy())
    ours = class_weight_tensor(train_labels, len(table)).numpy().astype(float)
    assert np.round(ours, 3) == pytest.approx(table["class_weight"].to_numpy(), abs=1e-9)


def test_weighted_cross_entropy_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = torch.tensor([0, 1, 1])
    weight = torch.tensor([0.5, 2.0])
    # per-example -log softmax of the true class
    l0 = -math.log(math.exp(2) / (math.exp(2) + 1))
    l1 = -math.log(math.e / (1 + math.e))
    l2 = math.log(2)
    weights = [0.5, 2.0, 2.0]
    numerator = 0.5 * l0 + 2.0 * l1 + 2.0 * l2
    pytorch_style = WeightedCrossEntropy(weight, normalize="weights")(logits, target)
    keras_style = WeightedCrossEntropy(weight, normalize="count")(logits, target)
    assert float(pytorch_style) == pytest.approx(numerator / sum(weights), rel=1e-6)
    assert float(keras_style) == pytest.approx(numerator / 3, rel=1e-6)
    assert float(pytorch_style) == pytest.approx(float(torch.nn.CrossEntropyLoss(weight=weight)(logits, target)))
    assert float(WeightedCrossEntropy(None)(logits, target)) == pytest.approx((l0 + l1 + l2) / 3, rel=1e-6)


def test_inverse_frequency_pos_weight_by_hand():
    targets = np.array([[1, 0], [0, 0], [1, 1], [0, 0]])
    # label 0: 2 positives, 2 negatives -> 1; label 1: 1 positive, 3 negatives -> 3
    assert inverse_frequency_pos_weight(targets).tolist() == pytest.approx([1.0, 3.0])


def test_label_without_positives_warns_and_is_unweighted():
    with pytest.warns(UserWarning, match="Hernia"):
        w = inverse_frequency_pos_weight(np.array([[1, 0], [0, 0]]), labels=["Effusion", "Hernia"])
    assert w.tolist() == [1.0, 1.0]


def test_weighted_bce_by_hand():
    logits = torch.zeros(2, 2)  # sigmoid = 0.5 everywhere: each term is log 2
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    pos_weight = torch.tensor([3.0, 1.0])
    # terms: (1,label0) 3 log2, (1,label1) log2, (2,label0) log2, (2,label1) 1 * log2 -> mean over 4
    expected = (3 + 1 + 1 + 1) * math.log(2) / 4
    assert float(WeightedBCE(pos_weight)(logits, target)) == pytest.approx(expected, rel=1e-6)
    assert float(WeightedBCE(None)(logits, target)) == pytest.approx(math.log(2), rel=1e-6)


def test_build_loss_by_task_kind():
    ce = build_loss("binary", np.array([0, 1, 1, 1]), 2)
    assert isinstance(ce, WeightedCrossEntropy) and ce.weight.tolist() == pytest.approx([2.0, 4 / 6])
    bce = build_loss("multilabel", np.array([[1, 0], [0, 1], [0, 1]]), 2)
    assert isinstance(bce, WeightedBCE) and bce.pos_weight.tolist() == pytest.approx([2.0, 0.5])
    assert build_loss("single_label", np.array([0, 1, 2]), 3, weighting="none").weight is None
    with pytest.raises(ValueError):
        build_loss("regression", np.array([0]), 1)
