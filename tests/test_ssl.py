"""Self-supervised pre-training (cxrlib.training.ssl): losses, momentum encoder and queue, view policies, the
unlabeled pool, and the pre-training loop with its checkpoints and resume.

The losses are checked against numbers computed by hand (explicit loops, and closed forms); the
pre-training runs are tiny (32 px, <= 48 images of the real small data, batch 16, resnet18 from
random initialisation) and run on one torch thread, so that a resumed run can be compared exactly with
a run that never stopped.
"""
import importlib
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from lightly.loss import NTXentLoss
from torch import nn

from cxrlib.images.augment import (
    POLICIES,
    SSL_POLICIES,
    STEP_BUILDERS,
    GaussianBlurFraction,
    GaussianNoise,
    ResizedCropSameSize,
    build_augmentation,
    get_policy,
)
from cxrlib.data.pool import assert_disjoint_from, held_out_tables
from cxrlib.data.splits import LeakageError
from cxrlib.images.preprocess import preprocess_config
from cxrlib.images.dataset import single_thread_torch
from cxrlib.models import WeightsNotFoundError, create_backbone
from cxrlib.images.preprocess import PreprocessCache, to_model_input
from cxrlib.training.ssl import PROJECTION_HEADS, SSL_METHODS, TwoViewDataset, build_contrastive_model, checkpoint_epochs, pretrain, read_loss
from cxrlib.training.ssl import views as views_module
from cxrlib.training.ssl.loop import LOSS_COLUMNS
from cxrlib.training.ssl.runs import final_checkpoint
from cxrlib.training.ssl.views import cap_by_patient, pretext_pool

# the training-loop module
pretrain_module = importlib.import_module("cxrlib.training.ssl.loop")

SOURCES = ("kermany", "nih_sample", "covid")
POOL_IMAGES = 48  # 3 steps of 16 per epoch
SIMCLR_BACKBONE = "convnextv2_atto"  # small checkpoints: the runs below write ~15 of them


# ------------------------------------------------------------------------------------ hand-made losses


def _unit(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _cosine(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def nt_xent_by_hand(out0, out1, tau: float) -> float:
    """SimCLR's NT-Xent (document 002, eq. 4), one view at a time: views 0..B-1 are out0, B..2B-1 out1;
    the positive of view i is the other view of its image; the denominator runs over every k != i."""
    views = np.concatenate([np.asarray(out0, float), np.asarray(out1, float)])
    n, b = len(views), len(out0)
    total = 0.0
    for i in range(n):
        positive = (i + b) % n
        numerator = math.exp(_cosine(views[i], views[positive]) / tau)
        denominator = sum(math.exp(_cosine(views[i], views[k]) / tau) for k in range(n) if k != i)
        total += -math.log(numerator / denominator)
    return total / n


def info_nce_by_hand(queries, keys, queue, tau: float) -> float:
    """MoCo's InfoNCE (document 004, eq. 3.1) with L2-normalised q, k+ and queue entries k-."""
    queries, keys, queue = _unit(queries), _unit(keys), _unit(queue)
    total = 0.0
    for q, k in zip(queries, keys):
        positive = math.exp(float(q @ k) / tau)
        negatives = sum(math.exp(float(q @ k_neg) / tau) for k_neg in queue)
        total += -math.log(positive / (positive + negatives))
    return total / len(queries)


OUT0 = [[1.0, 2.0, 0.5], [-0.3, 1.0, 2.0], [0.7, -1.2, 0.1]]
OUT1 = [[0.9, 2.2, 0.0], [0.1, 0.8, 1.5], [1.0, -1.0, -0.4]]


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_nt_xent_matches_the_hand_computation(tau):
    expected = nt_xent_by_hand(OUT0, OUT1, tau)
    got = NTXentLoss(temperature=tau)(torch.tensor(OUT0, dtype=torch.float64), torch.tensor(OUT1, dtype=torch.float64))
    assert float(got) == pytest.approx(expected, abs=1e-6)


def test_simclr_model_uses_nt_xent_at_the_documents_temperature():
    backbone, _ = create_backbone("resnet18", "none")
    model = build_contrastive_model(backbone, "simclr")
    assert model.temperature == 0.5 == SSL_METHODS["simclr"].temperature  # document 002, section V
    got = model.criterion(torch.tensor(OUT0, dtype=torch.float64), torch.tensor(OUT1, dtype=torch.float64))
    assert float(got) == pytest.approx(nt_xent_by_hand(OUT0, OUT1, 0.5), abs=1e-6)


@pytest.mark.parametrize("batch,tau", [(2, 0.5), (3, 0.1), (4, 1.0)])
def test_nt_xent_closed_form_for_identical_views_of_orthogonal_images(batch, tau):
    # each view: similarity 1 with its positive, 0 with the 2B - 2 views of the other images, so
    # l = -log(e^(1/tau) / (e^(1/tau) + (2B - 2) e^0)) = log(1 + (2B - 2) e^(-1/tau)) for every view
    images = torch.eye(batch, dtype=torch.float64) * torch.arange(1, batch + 1, dtype=torch.float64)[:, None]
    expected = math.log(1 + (2 * batch - 2) * math.exp(-1 / tau))
    assert float(NTXentLoss(temperature=tau)(images, images.clone())) == pytest.approx(expected, abs=1e-9)
    assert nt_xent_by_hand(images.numpy(), images.numpy(), tau) == pytest.approx(expected, abs=1e-12)


def _criterion_with_queue(queue: np.ndarray, tau: float) -> NTXentLoss:
    criterion = NTXentLoss(temperature=tau, memory_bank_size=tuple(queue.shape))
    criterion.memory_bank.bank.copy_(torch.tensor(queue, dtype=torch.float32))
    return criterion


def test_info_nce_with_a_queue_matches_the_hand_computation():
    tau = 0.2
    queue = _unit([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, -1, 1]])
    queries = torch.tensor(OUT0[:2], requires_grad=True)
    keys = torch.tensor(OUT1[:2])
    criterion = _criterion_with_queue(queue, tau)
    loss = criterion(queries, keys)
    assert float(loss.detach()) == pytest.approx(info_nce_by_hand(OUT0[:2], OUT1[:2], queue, tau), abs=1e-6)
    loss.backward()
    assert queries.grad is not None and torch.isfinite(queries.grad).all()


@pytest.mark.parametrize("size,tau", [(4, 0.5), (6, 1.0)])
def test_info_nce_closed_forms(size, tau):
    q = torch.tensor([[0.0, 0.0, 0.0, 2.0]], requires_grad=True)
    # keys orthogonal to q: l = log(1 + K e^(-1/tau))
    orthogonal = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]] * 2, dtype=float)[:size]
    loss = _criterion_with_queue(orthogonal, tau)(q, q.detach() * 3)
    assert float(loss.detach()) == pytest.approx(math.log(1 + size * math.exp(-1 / tau)), abs=1e-6)
    # keys opposite to q: l = log(1 + K e^(-2/tau))
    opposite = np.tile([[0.0, 0.0, 0.0, -1.0]], (size, 1))
    loss = _criterion_with_queue(opposite, tau)(q, q.detach())
    assert float(loss.detach()) == pytest.approx(math.log1p(size * math.exp(-2 / tau)), abs=1e-6)


def test_queue_enqueues_normalised_keys_at_the_pointer_and_wraps_at_k():
    tau, k_size = 0.5, 5
    initial = _unit(np.arange(15, dtype=float).reshape(5, 3) + 1)
    criterion = _criterion_with_queue(initial, tau)
    bank = criterion.memory_bank
    batches = [torch.tensor(OUT1[:2]), torch.tensor(OUT1[1:]), torch.tensor(OUT0[:2])]
    queries = torch.tensor(OUT0[1:], requires_grad=True)

    with torch.no_grad():  # queries without grad (evaluation): the queue does not move
        criterion(queries.detach(), batches[0])
    assert int(bank.bank_ptr) == 0 and torch.equal(bank.bank, torch.tensor(initial, dtype=torch.float32))

    expected_queue = initial.copy()
    loss_1 = criterion(queries, batches[0])  # uses the queue *before* this batch's keys enter it
    assert float(loss_1.detach()) == pytest.approx(info_nce_by_hand(OUT0[1:], OUT1[:2], expected_queue, tau), abs=1e-6)
    expected_queue[0:2] = _unit(OUT1[:2])
    assert int(bank.bank_ptr) == 2
    np.testing.assert_allclose(bank.bank.numpy(), expected_queue, atol=1e-6)

    loss_2 = criterion(queries, batches[1])  # the negatives now include batch 1's keys
    assert float(loss_2.detach()) == pytest.approx(info_nce_by_hand(OUT0[1:], OUT1[1:], expected_queue, tau), abs=1e-6)
    expected_queue[2:4] = _unit(OUT1[1:])
    assert int(bank.bank_ptr) == 4

    criterion(queries, batches[2])  # 4 + 2 >= K: fills the last slot and the pointer wraps to 0
    expected_queue[4:5] = _unit(OUT0[:1])  # lightly drops the key that does not fit (K not a multiple of B)
    assert int(bank.bank_ptr) == 0
    np.testing.assert_allclose(bank.bank.numpy(), expected_queue, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(bank.bank.numpy(), axis=1), 1.0, atol=1e-6)
    assert bank.size == (k_size, 3)


# --------------------------------------------------------------------- models: heads, momentum, queue


def _tiny_backbone():
    backbone, info = create_backbone("resnet18", "none", seed=0)
    assert info.source == "none"
    return backbone


def _views(batch=4, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, 3, size, size)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


@pytest.fixture
def moco():
    with single_thread_torch():
        torch.manual_seed(0)
        yield build_contrastive_model(_tiny_backbone(), "moco_v2", queue_size=16, momentum=0.9)


def test_momentum_update_is_an_exponential_moving_average(moco):
    assert moco.momentum == 0.9 and moco.queue.shape == (16, 128)
    online = dict(moco.backbone.named_parameters()) | {
        f"head.{k}": v for k, v in moco.projection_head.named_parameters()}
    momentum = dict(moco.backbone_momentum.named_parameters()) | {
        f"head.{k}": v for k, v in moco.projection_head_momentum.named_parameters()}
    assert online.keys() == momentum.keys()
    assert all(p.requires_grad for p in online.values())
    assert not any(p.requires_grad for p in momentum.values())
    for name in online:  # a fresh model starts from a copy
        assert torch.equal(online[name], momentum[name])

    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in online.values():
            p.add_(torch.randn(p.shape, generator=generator))
    old = {name: p.detach().clone() for name, p in momentum.items()}
    moco.update_momentum_encoder()
    for name in ("conv1.weight", "layer4.1.bn2.bias", "head.layers.0.weight", "head.layers.0.bias"):
        torch.testing.assert_close(momentum[name], 0.9 * old[name] + 0.1 * online[name], rtol=0, atol=1e-6)
    assert all(torch.allclose(momentum[n], 0.9 * old[n] + 0.1 * online[n], atol=1e-6) for n in online)


def test_moco_forward_uses_online_queries_momentum_keys_and_the_queue(moco):
    moco.train()
    view_1, view_2 = _views()
    with single_thread_torch():
        queue_before = moco.queue.clone()
        with torch.no_grad():  # make the momentum encoder differ from the online one
            for p in moco.projection_head.parameters():
                p.mul_(1.5)
        head_before = moco.projection_head_momentum.layers[0].weight.clone()
        loss = moco(view_1, view_2)
        # the forward moved the momentum encoder first (theta_m <- 0.9 theta_m + 0.1 theta)
        torch.testing.assert_close(moco.projection_head_momentum.layers[0].weight,
                                   0.9 * head_before + 0.1 * moco.projection_head.layers[0].weight)
        keys = moco.project_momentum(view_2)
        queries = moco.project(view_1)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad
    assert not keys.requires_grad
    expected = info_nce_by_hand(queries.detach().double().numpy(), keys.double().numpy(),
                                queue_before.double().numpy(), moco.temperature)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    # the batch's keys (normalised) entered the queue at the pointer
    assert int(moco.criterion.memory_bank.bank_ptr) == 4
    torch.testing.assert_close(moco.queue[:4], nn.functional.normalize(keys, dim=1), atol=1e-5, rtol=0)
    torch.testing.assert_close(moco.queue[4:], queue_before[4:])
    loss.backward()
    assert moco.backbone.conv1.weight.grad is not None
    assert moco.backbone_momentum.conv1.weight.grad is None


def test_simclr_model_has_no_momentum_encoder_and_no_queue():
    model = build_contrastive_model(_tiny_backbone(), "simclr")
    assert not hasattr(model, "backbone_momentum") and not hasattr(model, "projection_head_momentum")
    assert model.queue is None and model.criterion.memory_bank.size == (0,)
    assert model.head_name == "d002" and model.out_dim == 128  # the loss itself: the per-row tests below
    with pytest.raises(ValueError, match="queue"):
        build_contrastive_model(_tiny_backbone(), "moco_v2", queue_size=0)
    with pytest.raises(KeyError, match="unknown SSL method"):
        build_contrastive_model(_tiny_backbone(), "byol")
    with pytest.raises(KeyError, match="unknown projection head"):
        build_contrastive_model(_tiny_backbone(), "simclr", head="nope")


@pytest.mark.parametrize("name", sorted(PROJECTION_HEADS))
def test_heads_project_to_128(name):
    head = PROJECTION_HEADS[name](64)
    head.train()
    assert head(torch.randn(4, 64)).shape == (4, 128)


def test_head_layouts_follow_the_documents():
    # document 002, Table I: Dense 2048 (bias) -> BatchNorm + ReLU -> Dense 128 (no bias)
    layers = list(PROJECTION_HEADS["d002"](512).layers)
    assert [type(m) for m in layers] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert (layers[0].in_features, layers[0].out_features, layers[0].bias is not None) == (512, 2048, True)
    assert layers[1].num_features == 2048
    assert (layers[3].in_features, layers[3].out_features, layers[3].bias is None) == (2048, 128, True)
    # document 004, Fig. 3.3: SimCLR Dense width -> BN -> ReLU -> Dense 128; MoCo one 128-way linear layer
    layers = list(PROJECTION_HEADS["d004_simclr"](512).layers)
    assert [type(m) for m in layers] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert (layers[0].out_features, layers[3].out_features) == (512, 128)
    layers = list(PROJECTION_HEADS["d004_moco"](512).layers)
    assert len(layers) == 1 and (layers[0].in_features, layers[0].out_features) == (512, 128)
    # building a model leaves the head's BatchNorm statistics untouched
    model = build_contrastive_model(_tiny_backbone(), "simclr")
    assert int(model.projection_head.layers[1].num_batches_tracked) == 0


def test_methods_name_existing_policies_and_heads():
    for spec in SSL_METHODS.values():
        assert spec.policy in SSL_POLICIES and spec.head in PROJECTION_HEADS and spec.reference
    assert SSL_METHODS["moco_v2"].momentum_encoder and not SSL_METHODS["simclr"].momentum_encoder


# ------------------------------------------------------- every method and head row, on a tiny backbone

ROW_BACKBONE = "convnextv2_atto"  # the smallest registry backbone (3.7 M parameters)


def _row_model(method, head=None, seed=0):
    spec = SSL_METHODS[method]
    torch.manual_seed(seed)
    backbone, _ = create_backbone(ROW_BACKBONE, "none", seed=seed)
    queue = {"queue_size": 16, "momentum": 0.9} if spec.momentum_encoder else {}
    return build_contrastive_model(backbone, method, head=head, **queue)


def _declared_dim(head, width):
    """The output width of a head as built on its own: the out_features of its last linear layer."""
    return [m for m in PROJECTION_HEADS[head](width).modules() if isinstance(m, nn.Linear)][-1].out_features


@pytest.mark.parametrize("method", SSL_METHODS)
def test_every_method_row_learns_on_a_fixed_batch(method):
    """One model per row of SSL_METHODS: the projections have the head's width, a step gives finite
    gradients to every trainable parameter (none to a momentum copy), and a few Adam steps on one fixed
    batch (and, for a queue, the same negatives every step) lower the loss step after step."""
    spec = SSL_METHODS[method]
    with single_thread_torch():
        model = _row_model(method)
        model.train()
        view_1, view_2 = _views(batch=2, size=32, seed=3)
        dim = _declared_dim(spec.head, int(model.backbone.num_features))
        assert model.out_dim == dim and model.project(view_1).shape == (2, dim)
        if spec.momentum_encoder:
            assert model.project_momentum(view_2).shape == (2, dim) and model.queue.shape == (16, dim)
        else:
            assert model.queue is None
        view_1, view_2 = _views(batch=4, size=32, seed=3)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=1e-4)
        negatives = None if model.queue is None else model.queue.clone()
        losses = []
        for step in range(5):
            if negatives is not None:  # a fixed problem: the queue the first step saw
                model.criterion.memory_bank.bank.copy_(negatives)
                model.criterion.memory_bank.bank_ptr.zero_()
            loss = model(view_1, view_2)
            optimizer.zero_grad()
            loss.backward()
            if step == 0:
                assert loss.ndim == 0 and torch.isfinite(loss)
                assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable)
                assert any(float(p.grad.abs().sum()) > 0 for p in model.projection_head.parameters())
                frozen = [p for n, p in model.named_parameters() if "momentum" in n]
                assert bool(frozen) == spec.momentum_encoder and all(p.grad is None for p in frozen)
            optimizer.step()
            losses.append(float(loss.detach()))
    assert all(np.isfinite(losses))
    assert all(b < a for a, b in itertools.pairwise(losses)), losses
    assert losses[-1] < losses[0] / 2, losses


@pytest.mark.parametrize("head", PROJECTION_HEADS)
def test_every_projection_head_row_in_a_model(head):
    """Each head of PROJECTION_HEADS on a real backbone: output width = the head's declared width (128,
    the width of every document's head), and the loss reaches every head parameter."""
    with single_thread_torch():
        model = _row_model("simclr", head=head)
        model.train()
        width = int(model.backbone.num_features)
        view_1, view_2 = _views(batch=4, size=32, seed=4)
        z = model.project(view_1)
        assert z.shape == (4, _declared_dim(head, width)) == (4, model.out_dim) == (4, 128)
        assert model.head_name == head
        loss = model(view_1, view_2)
        loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.projection_head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0, name


# ------------------------------------------------------------------------------------ view policies


def _noise_image(size=32, seed=0):
    return torch.randint(0, 256, (1, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", SSL_POLICIES)
def test_ssl_policies_give_random_reproducible_views_of_the_same_shape(name):
    assert name in POLICIES and get_policy(name).reference
    transform = build_augmentation(name)
    image = _noise_image()
    with single_thread_torch():
        torch.manual_seed(5)
        first, second = transform(image), transform(image)
        torch.manual_seed(5)
        again = transform(image)
    assert first.shape == image.shape == (1, 32, 32) and first.dtype == torch.uint8
    assert not torch.equal(first, second)  # two views of one image differ
    assert torch.equal(first, again)  # and follow the seed


def test_ssl_policies_are_the_documents_lists():
    moco, d004 = get_policy("d004_moco"), get_policy("d004")
    assert moco.steps == d004.steps and moco.preprocess == d004.preprocess == "d004"  # document 004, 4.3.2
    simclr_004 = build_augmentation("d004_simclr").transforms
    assert isinstance(simclr_004[0], ResizedCropSameSize) and simclr_004[0].ratio == (1.0, 1.0)
    assert simclr_004[0].scale == (0.08, 1.0) and list(simclr_004[1].degrees) == [-20.0, 20.0]
    assert [s.name for s in get_policy("d002_simclr").steps] == [
        "resized_crop", "horizontal_flip", "rotation", "gaussian_blur", "brightness_contrast"]
    simclr_002 = build_augmentation("d002_simclr").transforms
    assert simclr_002[3].p == 0.5 and simclr_002[3].sigma == (0.1, 2.0) and simclr_002[4].p == 0.8


def test_resized_crop_keeps_the_size():
    image = torch.randint(0, 256, (1, 24, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    for _ in range(5):
        out = ResizedCropSameSize()(image)
        assert out.shape == image.shape and out.dtype == torch.uint8
    square = _noise_image()
    whole = ResizedCropSameSize(scale=(1.0, 1.0), ratio=(1.0, 1.0))(square)  # the crop is the whole image
    assert torch.equal(whole, square)
    zoomed = ResizedCropSameSize(scale=(0.1, 0.1), ratio=(1.0, 1.0))(square)  # ~10x10 pixels blown up
    assert zoomed.float().diff(dim=-1).abs().mean() < square.float().diff(dim=-1).abs().mean() / 2


def test_gaussian_blur_smooths_and_keeps_constants():
    image = _noise_image()
    torch.manual_seed(0)
    blurred = GaussianBlurFraction(p=1.0, sigma=(1.0, 2.0))(image)
    assert blurred.shape == image.shape and blurred.dtype == torch.uint8
    assert blurred.float().var() < image.float().var() / 2
    grey = torch.full((1, 32, 32), 77, dtype=torch.uint8)
    assert torch.equal(GaussianBlurFraction(p=1.0)(grey), grey)
    assert GaussianBlurFraction(p=0.0)(image) is image


def test_gaussian_noise_has_the_stated_spread_and_stays_in_uint8_range():
    torch.manual_seed(0)
    grey = torch.full((1, 64, 64), 128, dtype=torch.uint8)
    noisy = GaussianNoise(p=1.0, std=20.0)(grey)
    assert noisy.dtype == torch.uint8 and noisy.shape == grey.shape
    assert abs(float(noisy.float().mean()) - 128) < 2 and abs(float(noisy.float().std()) - 20) < 2
    white = torch.full((1, 64, 64), 255, dtype=torch.uint8)
    noisy = GaussianNoise(p=1.0, std=10.0)(white)
    assert int(noisy.max()) == 255 and int(noisy.min()) > 150  # clipped at 255, no wrap-around to 0
    assert GaussianNoise(p=0.0, std=50.0)(grey) is grey


def test_brightness_contrast_step():
    image = _noise_image()
    torch.manual_seed(0)
    jittered = STEP_BUILDERS["brightness_contrast"](p=1.0)(image)
    assert jittered.dtype == torch.uint8 and jittered.shape == image.shape and not torch.equal(jittered, image)
    assert torch.equal(STEP_BUILDERS["brightness_contrast"](p=0.0)(image), image)


# ----------------------------------------------------------------------------- the unlabeled pool


@pytest.fixture(scope="module")
def held_out(data_root):
    return pd.concat(held_out_tables(SOURCES, data_root).values(), ignore_index=True)


@pytest.fixture(scope="module")
def pools(data_root):
    return {f: pretext_pool(SOURCES, f, seed=0, root=data_root) for f in (0.01, 0.1, 1.0)}


def _ids(table, column):
    return set(table[column].astype(str))


def test_pool_never_holds_a_test_image_or_patient(pools, held_out):
    assert {"kermany", "nih", "covid"} == set(held_out["dataset"]) and len(held_out) > 100
    for pool in pools.values():
        for column in ("image_id", "path", "patient_id"):
            assert not _ids(pool, column) & _ids(held_out, column), column
        assert not pool["image_id"].duplicated().any()
        assert set(pool.columns) >= {"image_id", "patient_id", "path", "dataset"}
        assert "label" not in pool.columns


def test_pool_fractions_are_nested_by_patient(pools):
    small, medium, full = pools[0.01], pools[0.1], pools[1.0]
    assert _ids(small, "patient_id") < _ids(medium, "patient_id") < _ids(full, "patient_id")
    for pool in (small, medium):  # whole patients: every image of a drawn patient is there
        assert _ids(pool, "image_id") == _ids(full[full["patient_id"].isin(pool["patient_id"])], "image_id")
    for name, counts in full.attrs["counts"].items():  # per source, round(f * n) patients
        assert medium.attrs["counts"][name]["patients"] == max(1, round(0.1 * counts["patients"]))
    assert small.attrs["protocol"]["fraction"] == 0.01 and full.attrs["protocol"]["max_images"] is None


def test_cap_by_patient_keeps_whole_patients(pools):
    full = pools[1.0]
    capped = cap_by_patient(full, 40, seed=0)
    assert 30 <= len(capped) <= 40
    assert _ids(capped, "image_id") == _ids(full[full["patient_id"].isin(capped["patient_id"])], "image_id")
    assert capped.equals(cap_by_patient(full, 40, seed=0))
    assert _ids(capped, "patient_id") != _ids(cap_by_patient(full, 40, seed=1), "patient_id")
    assert cap_by_patient(full, 10**6, seed=0) is full
    with pytest.raises(ValueError):
        cap_by_patient(full, 0, seed=0)


def test_capped_pool_and_its_fractions(pools, data_root, held_out):
    capped = pretext_pool(SOURCES, 1.0, seed=0, root=data_root, max_images=64)
    half = pretext_pool(SOURCES, 0.5, seed=0, root=data_root, max_images=64)
    assert len(capped) <= 64 and _ids(capped, "image_id") <= _ids(pools[1.0], "image_id")
    assert _ids(half, "patient_id") < _ids(capped, "patient_id")
    assert not _ids(capped, "patient_id") & _ids(held_out, "patient_id")
    protocol = capped.attrs["protocol"]
    assert protocol["max_images"] == 64 and protocol["capped_pool_images"] == len(capped)


def test_leakage_is_caught(pools, held_out, data_root, monkeypatch):
    pool = pools[0.01]
    columns = ["image_id", "patient_id", "path", "dataset"]
    test_row = held_out[held_out["dataset"] == "kermany"].iloc[[0]][columns]
    with pytest.raises(LeakageError, match="shared images"):
        assert_disjoint_from(pd.concat([pool, test_row]), held_out)
    other_image_of_a_test_patient = test_row.assign(image_id="kermany:not-a-test-image", path="/elsewhere.png")
    with pytest.raises(LeakageError, match="shared patients"):
        assert_disjoint_from(pd.concat([pool, other_image_of_a_test_patient]), held_out)
    assert_disjoint_from(pool, held_out)  # the clean pool passes

    real = views_module.unlabeled_pool

    def leaky(*args, **kwargs):  # a pool source that lets a test image through
        clean = real(*args, **kwargs)
        leaked = pd.concat([clean, test_row], ignore_index=True)
        leaked.attrs = clean.attrs
        return leaked

    monkeypatch.setattr(views_module, "unlabeled_pool", leaky)
    with pytest.raises(LeakageError):
        pretext_pool(SOURCES, 1.0, seed=0, root=data_root, max_images=None)


def test_two_view_dataset(pools, tmp_path):
    cache = PreprocessCache(tmp_path / "cache", preprocess_config("classroom", 32))
    paths = pools[0.01]["path"].iloc[:2]
    torch.manual_seed(0)
    views = TwoViewDataset(paths, cache, build_augmentation("d002_simclr"))
    view_1, view_2, index = views[1]
    assert index == 1 and len(views) == 2
    assert view_1.dtype == torch.float32 and view_1.shape[-2:] == (32, 32) and view_1.shape == view_2.shape
    assert not torch.equal(view_1, view_2)
    plain_1, plain_2, _ = TwoViewDataset(paths, cache, None)[1]
    assert torch.equal(plain_1, plain_2)
    np.testing.assert_array_equal(plain_1.numpy(), to_model_input(cache.get(paths.iloc[1]), cache.config))


def test_final_checkpoint_is_the_last_epoch_of_the_largest_pool_with_its_runs_parameters(tmp_path):
    rows = [("pool_025", 0.25, 5), ("pool_100", 1.0, 0), ("pool_100", 1.0, 3), ("pool_100", 1.0, 1)]
    (tmp_path / "checkpoints.csv").write_text("run,fraction,policy,epoch,path\n" + "".join(
        f"{r},{f},d002_simclr,{e},{r}/checkpoints/epoch_{e:04d}.pt\n" for r, f, e in rows))
    for run, backbone in (("pool_025", "resnet18"), ("pool_100", "convnextv2_atto")):
        (tmp_path / run).mkdir()
        (tmp_path / run / "params.yaml").write_text(yaml.safe_dump({"backbone": backbone, "pool_fraction": 1.0}))
    final = final_checkpoint(tmp_path)
    assert final.path == str(tmp_path / "pool_100" / "checkpoints" / "epoch_0003.pt")
    assert (final.epoch, final.fraction, final.params["backbone"]) == (3, 1.0, "convnextv2_atto")
    assert final.run_dir == tmp_path / "pool_100"
    with pytest.raises(FileNotFoundError, match="checkpoints.csv"):
        final_checkpoint(tmp_path / "missing")


# ----------------------------------------------------------------------- pre-training and resume


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_root):
    """The parameters of a tiny SimCLR run, and the folder of the shared preprocessing cache."""
    folder = tmp_path_factory.mktemp("ssl_runs")
    base = dict(backbone=SIMCLR_BACKBONE, pool_max_images=POOL_IMAGES, image_size=32, batch_size=16, checkpoint_every=1,
                data_root=str(data_root), cache_dir=str(folder / "cache"), progress="none")
    return folder, base


def _pretrain(**params):
    with single_thread_torch():
        return pretrain(params)


@pytest.fixture(scope="module")
def two_epochs(runs):
    folder, base = runs
    return _pretrain(**base, out_dir=folder / "two", epochs=2)


@pytest.fixture(scope="module")
def three_epochs(runs):
    """A run that never stopped: what every resumed run must reproduce."""
    folder, base = runs
    return _pretrain(**base, out_dir=folder / "three", epochs=3)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _assert_same_run(resumed_dir, reference):
    loss, expected = read_loss(resumed_dir), reference.loss
    assert loss["epoch"].tolist() == expected["epoch"].tolist()
    np.testing.assert_allclose(loss["loss"], expected["loss"], rtol=0, atol=1e-5)
    last = max(reference.checkpoints)
    got = _weights(Path(resumed_dir) / "checkpoints" / f"epoch_{last:04d}.pt")
    want = _weights(reference.last_checkpoint)
    assert got.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-5, atol=1e-6, msg=name)


def test_pretrain_writes_the_run_folder(two_epochs, held_out):
    out = two_epochs.out_dir
    for name in ("loss.csv", "state.pt", "pool.csv", "params.yaml", "done.json"):
        assert (out / name).is_file(), name
    assert sorted(two_epochs.checkpoints) == [0, 1, 2] == checkpoint_epochs(2, 1)
    assert [p.name for p in two_epochs.checkpoints.values()] == ["epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]
    loss = read_loss(out)
    assert list(loss.columns) == list(LOSS_COLUMNS) and loss["epoch"].tolist() == [1, 2]
    assert np.isfinite(loss["loss"]).all() and (loss["loss"] > 0).all()
    assert loss["steps"].tolist() == [POOL_IMAGES // 16] * 2 and loss["images"].tolist() == [POOL_IMAGES] * 2
    params = yaml.safe_load((out / "params.yaml").read_text())
    assert params == two_epochs.config.to_dict()
    assert (params["method"], params["policy"], params["head"], params["temperature"]) == (
        "simclr", "d002_simclr", "d002", 0.5)
    pool = pd.read_csv(out / "pool.csv")
    assert len(pool) == len(two_epochs.pool) <= POOL_IMAGES and not _ids(pool, "image_id") & _ids(held_out, "image_id")
    assert two_epochs.resumed_from is None and two_epochs.weights.source == "none"
    state = torch.load(out / "state.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 2 and state["queue"] is None


def test_checkpoints_load_as_backbone_weights(two_epochs, tmp_path):
    last = two_epochs.checkpoints[2]
    from_file, info = create_backbone(SIMCLR_BACKBONE, str(last))
    from_folder, folder_info = create_backbone(SIMCLR_BACKBONE, str(two_epochs.out_dir))
    assert info.source == folder_info.source == "ssl" and not info.random
    assert Path(folder_info.file).name == "epoch_0002.pt"  # a run folder means its last checkpoint
    assert info.meta["epoch"] == folder_info.meta["epoch"] == 2
    assert info.meta["method_key"] == "simclr" and info.meta["pool"]["images"] == len(two_epochs.pool)
    assert info.meta["loss"] == pytest.approx(float(two_epochs.loss["loss"].iloc[-1]))
    saved = _weights(last)
    for name, tensor in from_folder.state_dict().items():
        assert torch.equal(tensor, saved[name]), name
    # epoch 0 is the initialisation (weights='none', seed 0), and training moved the weights
    initial, _ = create_backbone(SIMCLR_BACKBONE, "none", seed=0)
    start = _weights(two_epochs.checkpoints[0])
    assert all(torch.equal(v, start[k]) for k, v in initial.state_dict().items())
    assert not torch.equal(start["stem.0.weight"], saved["stem.0.weight"])
    with pytest.raises(WeightsNotFoundError, match="without pre-training checkpoints"):
        create_backbone(SIMCLR_BACKBONE, str(tmp_path))


def test_changing_a_parameter_of_an_existing_run_is_refused(two_epochs, runs):
    folder, base = runs
    before = (two_epochs.out_dir / "params.yaml").read_text()
    with pytest.raises(ValueError, match="lr"):
        _pretrain(**base, out_dir=two_epochs.out_dir, epochs=2, lr=1e-3)
    with pytest.raises(ValueError, match="pool_max_images"):
        _pretrain(**{**base, "pool_max_images": 40}, out_dir=two_epochs.out_dir, epochs=2)
    assert (two_epochs.out_dir / "params.yaml").read_text() == before


def test_more_epochs_continue_a_finished_run_exactly(two_epochs, three_epochs, tmp_path):
    # a copy of the 2-epoch run, asked for 3 epochs, equals the run that did 3 epochs at once
    folder = tmp_path / "continued"
    shutil.copytree(two_epochs.out_dir, folder)
    continued = _pretrain(**{**two_epochs.config.to_dict(), "out_dir": folder, "epochs": 3})
    assert continued.resumed_from == 2 and sorted(continued.checkpoints) == [0, 1, 2, 3]
    assert continued.loss["epoch"].tolist() == [1, 2, 3]
    _assert_same_run(folder, three_epochs)


def test_resume_when_killed_between_the_loss_row_and_the_state(two_epochs, three_epochs, tmp_path):
    # loss.csv already has epoch 3, state.pt still says epoch 2: the row is dropped and recomputed
    folder = tmp_path / "torn"
    shutil.copytree(three_epochs.out_dir, folder)
    shutil.copy(two_epochs.out_dir / "state.pt", folder / "state.pt")
    (folder / "done.json").unlink()
    resumed = _pretrain(**{**three_epochs.config.to_dict(), "out_dir": folder})
    assert resumed.resumed_from == 2 and resumed.loss["epoch"].tolist() == [1, 2, 3]
    _assert_same_run(folder, three_epochs)


KILLED_RUN = """
import json, sys, time
import torch
torch.set_num_threads(1)
from cxrlib.training.ssl import pretrain, views
slow = views.TwoViewDataset.__getitem__
def get(self, index):  # a slower disk, so that the kill lands inside an epoch
    time.sleep(0.02)
    return slow(self, index)
views.TwoViewDataset.__getitem__ = get
pretrain(json.loads(sys.argv[1]))
"""


def _finished_epoch(state_file: Path) -> int:
    try:
        return int(torch.load(state_file, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # not there yet
        return 0


def test_a_killed_pretraining_resumes_from_its_last_state(three_epochs, tmp_path):
    folder = tmp_path / "killed"
    params = {**three_epochs.config.to_dict(), "out_dir": str(folder)}
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, json.dumps(params)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    try:
        while process.poll() is None and time.time() < deadline:
            if _finished_epoch(folder / "state.pt") >= 1:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    killed = process.returncode == -signal.SIGKILL
    assert killed or process.returncode == 0, err.decode()[-2000:]
    stopped_after = _finished_epoch(folder / "state.pt")
    assert stopped_after >= 1
    if killed:
        assert stopped_after < 3 and not (folder / "done.json").exists()
    # without a kill (a very fast machine), resuming a finished run must still work: checked below too

    resumed = _pretrain(**params)
    assert resumed.resumed_from == stopped_after >= 1
    assert resumed.loss["epoch"].tolist() == [1, 2, 3] and (folder / "done.json").exists()
    _assert_same_run(folder, three_epochs)


# ---------------------------------------------------------------------------------------- MoCo


@pytest.fixture(scope="module")
def moco_runs(runs):
    folder, base = runs
    moco = dict(base, backbone="resnet18", method="moco_v2", queue_size=32)  # document 004's backbone
    one = _pretrain(**moco, out_dir=folder / "moco_one", epochs=1)
    fresh_two = _pretrain(**moco, out_dir=folder / "moco_two", epochs=2)
    return moco, one, fresh_two


def test_moco_pretraining_saves_its_queue(moco_runs):
    moco, one, _ = moco_runs
    assert one.config.policy == "d004_moco" and one.config.head == "d004_moco" and one.config.temperature == 0.07
    assert one.loss["epoch"].tolist() == [1] and np.isfinite(one.loss["loss"]).all()
    state = torch.load(one.out_dir / "state.pt", map_location="cpu", weights_only=True)
    queue, pointer = state["queue"]
    assert queue.shape == (32, 128) and int(pointer) == (3 * 16) % 32  # 3 steps of 16 keys in a queue of 32
    np.testing.assert_allclose(queue.norm(dim=1).numpy(), 1.0, atol=1e-5)
    info = create_backbone("resnet18", str(one.out_dir))[1]
    assert info.source == "ssl" and info.meta["method"] == "MoCo v2" and info.meta["queue_size"] == 32

    # the initial queue (random unit vectors, seeded as in pretrain) has been replaced row by row
    backbone = _tiny_backbone()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        initial = build_contrastive_model(backbone, "moco_v2", "d004_moco", 0.07, 32, 0.999)
    assert ((queue - initial.queue).abs().amax(dim=1) > 1e-3).all()

    # restoring the state puts back the queue and its pointer exactly
    restored = build_contrastive_model(_tiny_backbone(), "moco_v2", "d004_moco", 0.07, 32, 0.999)
    optimizer = torch.optim.Adam([p for p in restored.parameters() if p.requires_grad])
    assert pretrain_module._restore(restored, optimizer, state) == 1
    assert torch.equal(restored.queue, queue) and int(restored.criterion.memory_bank.bank_ptr) == int(pointer)
    assert torch.equal(restored.backbone_momentum.conv1.weight, state["model"]["backbone_momentum.conv1.weight"])


def test_resumed_moco_equals_an_uninterrupted_run(moco_runs, tmp_path):
    # epoch 2 uses the queue filled in epoch 1: equal losses mean the queue came back through state.pt
    moco, one, fresh_two = moco_runs
    folder = tmp_path / "moco_continued"
    shutil.copytree(one.out_dir, folder)
    continued = _pretrain(**moco, out_dir=folder, epochs=2)
    assert continued.resumed_from == 1
    _assert_same_run(folder, fresh_two)
    saved = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)["queue"]
    fresh = torch.load(fresh_two.out_dir / "state.pt", map_location="cpu", weights_only=True)["queue"]
    torch.testing.assert_close(saved[0], fresh[0], rtol=0, atol=1e-6)
    assert int(saved[1]) == int(fresh[1])


def test_indexed_runs_record_whether_the_encoder_learned(two_epochs, tmp_path):
    from cxrlib.stats.learning import read_learning_checks
    from cxrlib.training.ssl.runs import index_runs, run_chance_loss

    index_runs(two_epochs.out_dir.parent, {"two": two_epochs}, {})
    check = read_learning_checks(two_epochs.out_dir)["."]
    config = two_epochs.config
    assert check.no_information_loss == pytest.approx(
        run_chance_loss(config.method, config.batch_size, len(two_epochs.pool), config.queue_size))
    assert check.final_loss == pytest.approx(float(two_epochs.loss["loss"].iloc[-1]))
    assert check.learned == (check.final_loss < 0.95 * check.no_information_loss)
    assert check.what == "SSL encoder" and not check.metric_checked


# ----------------------------------------------------------------------- pool fractions: equal optimisation steps


@pytest.mark.parametrize("n_images, batch, steps, per_epoch, epochs", [
    (1000, 32, 186, 31, 6), (100, 32, 186, 3, 62), (10, 32, 186, 1, 186), (48, 16, 7, 3, 3), (40, 16, 0, 2, 0),
])
def test_epochs_for_steps_reaches_the_steps_with_whole_batches(n_images, batch, steps, per_epoch, epochs):
    from cxrlib.training.ssl.runs import epochs_for_steps, steps_per_epoch

    assert steps_per_epoch(n_images, batch) == per_epoch
    assert epochs_for_steps(steps, n_images, batch) == epochs
    assert epochs * per_epoch >= steps > (epochs - 1) * per_epoch or steps == epochs == 0


def test_every_pool_fraction_takes_the_steps_of_the_largest(runs, tmp_path):
    from cxrlib.training.ssl.runs import pretrain_fractions, steps_per_epoch
    from cxrlib.training.ssl.loop import PretrainConfig

    _, base = runs
    config = PretrainConfig(**{**base, "out_dir": str(tmp_path), "epochs": 2, "checkpoint_every": 2,
                               "keep_state": False})
    with single_thread_torch():
        results = pretrain_fractions(config, [0.25, 1.0])
    target = 2 * steps_per_epoch(len(results[1.0].pool), 16)
    small = results[0.25]
    per_epoch = steps_per_epoch(len(small.pool), 16)
    assert int(results[1.0].loss["steps"].sum()) == target
    assert len(small.pool) < len(results[1.0].pool) and per_epoch < target // 2
    assert target <= int(small.loss["steps"].sum()) < target + per_epoch  # more epochs, the same steps
    assert int(small.loss["epoch"].max()) > 2 and sorted(small.checkpoints) == [0, int(small.loss["epoch"].max())]
    same_epochs = pretrain_fractions(PretrainConfig(**{**config.to_dict(), "out_dir": str(tmp_path / "epochs")}),
                                     [0.25], equal_steps=False)
    assert int(same_epochs[0.25].loss["epoch"].max()) == 2


def test_pools_compared_at_an_earlier_epoch_match_its_steps_while_the_largest_trains_on(runs, tmp_path):
    from cxrlib.training.ssl.runs import compared_epochs, pretrain_fractions, steps_per_epoch
    from cxrlib.training.ssl.loop import PretrainConfig

    _, base = runs
    config = PretrainConfig(**{**base, "out_dir": str(tmp_path), "epochs": 2, "checkpoint_every": 1,
                               "keep_state": False})
    with single_thread_torch():
        results = pretrain_fractions(config, [0.25, 1.0], compare_epoch=1)
    largest, small = results[1.0], results[0.25]
    target = steps_per_epoch(len(largest.pool), 16)  # the steps of the largest pool's first epoch only
    assert int(largest.loss["epoch"].max()) == 2 and sorted(largest.checkpoints) == [0, 1, 2]
    per_epoch = steps_per_epoch(len(small.pool), 16)
    assert target <= int(small.loss["steps"].sum()) < target + per_epoch
    assert compared_epochs(results, 1) == {1.0: 1, 0.25: int(small.loss["epoch"].max())}
    assert compared_epochs(results) == {1.0: 2, 0.25: int(small.loss["epoch"].max())}
    with pytest.raises(ValueError, match="compare_epoch=2.*checkpoints of epochs \\[3\\]"):
        pretrain_fractions(PretrainConfig(**{**config.to_dict(), "epochs": 3, "checkpoint_every": 3}), [1.0],
                           compare_epoch=2)
