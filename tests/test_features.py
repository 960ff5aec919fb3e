"""Frozen-feature extraction with its on-disk cache (cxrlib.training.features)."""
import json
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from cxrlib.training.features import (  # noqa: E402
    FeatureCacheWarning,
    extract_features,
    feature_cache_key,
    image_ids_digest,
)
from cxrlib.images.dataset import single_thread_torch  # noqa: E402
from cxrlib.models import create_backbone  # noqa: E402
from cxrlib.images.preprocess import PreprocessConfig  # noqa: E402

N_IMAGES = 10
SIZE = 32


class TinyImages(Dataset):
    """Random 3 x 32 x 32 images; items ``(x, target, index)`` like cxrlib.images.tasks.CxrDataset."""

    def __init__(self, n=N_IMAGES, seed=0, ids=None):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, SIZE, SIZE, generator=generator)
        self.targets = torch.arange(n) % 2
        self.image_ids = ids if ids is not None else [f"img_{i:03d}.png" for i in range(n)]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], self.targets[index], index


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny forward passes: on a busy 2-core machine two intra-op threads made them ~30x slower."""
    with single_thread_torch():
        yield


@pytest.fixture(scope="module")
def backbone():
    model, _ = create_backbone("resnet18", "none", seed=0)
    calls = []
    model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape[0]))
    model.calls = calls  # images seen by forward, one entry per batch
    return model


def _key(name="a"):
    return feature_cache_key(f"resnet18:none:{name}", TinyImages().image_ids, {"size": SIZE})


def test_key_is_stable_and_sensitive():
    ids = [f"img_{i}" for i in range(5)]
    key = feature_cache_key("w1", ids, {"size": 32, "norm": "imagenet"}, {"backbone": "resnet18"})
    assert key == feature_cache_key("w1", ids, {"norm": "imagenet", "size": 32},
                                    {"backbone": "resnet18"})
    assert re.fullmatch(r"[0-9a-f]{32}", key), key
    pre, extra = {"size": 32, "norm": "imagenet"}, {"backbone": "resnet18"}
    variants = [
        feature_cache_key("w2", ids, pre, extra),
        feature_cache_key("w1", ids[::-1], pre, extra),
        feature_cache_key("w1", ids, {**pre, "size": 64}, extra),
        feature_cache_key("w1", ids, pre),
    ]
    assert len({key, *variants}) == 5
    config = PreprocessConfig(size=32)
    assert feature_cache_key("w1", ids, config) == feature_cache_key("w1", ids, config.to_dict())
    assert image_ids_digest(ids) != image_ids_digest(ids[::-1])


def test_extract_then_read_from_cache(backbone, tmp_path):
    data = TinyImages()
    backbone.train()
    backbone.calls.clear()
    first = extract_features(backbone, data, cache_dir=tmp_path, key=_key(), batch_size=4,
                             progress=False)
    assert first.dtype == np.float32 and first.shape == (N_IMAGES, backbone.num_features)
    assert sum(backbone.calls) == N_IMAGES
    assert backbone.training  # training mode restored
    with torch.inference_mode():
        backbone.eval()
        direct = backbone(data.images).numpy()
        backbone.train()
    np.testing.assert_allclose(first, direct, rtol=1e-4, atol=1e-5)  # rows in dataset order
    meta = json.loads((tmp_path / f"{_key()}.json").read_text())
    assert (meta["n"], meta["dim"]) == (N_IMAGES, backbone.num_features)
    assert meta["image_ids_sha256"] == image_ids_digest(data.image_ids)

    backbone.calls.clear()
    second = extract_features(backbone, data, cache_dir=tmp_path, key=_key(), progress=False)
    assert backbone.calls == []  # no forward pass: read from the cache
    np.testing.assert_array_equal(first, second)
    assert not list(tmp_path.glob("*.tmp"))


def test_changed_key_recomputes(backbone, tmp_path):
    data = TinyImages()
    extract_features(backbone, data, cache_dir=tmp_path, key=_key("a"), progress=False)
    backbone.calls.clear()
    extract_features(backbone, data, cache_dir=tmp_path, key=_key("b"), progress=False)
    assert sum(backbone.calls) == N_IMAGES
    assert len(list(tmp_path.glob("*.npy"))) == 2


@pytest.mark.parametrize("damage", ["garbage_sidecar", "wrong_n", "truncated_array", "other_ids"])
def test_bad_entry_recomputes(backbone, tmp_path, damage):
    data = TinyImages()
    key = _key()
    good = extract_features(backbone, data, cache_dir=tmp_path, key=key, progress=False)
    sidecar, array = tmp_path / f"{key}.json", tmp_path / f"{key}.npy"
    if damage == "garbage_sidecar":
        sidecar.write_text("{not json")
    elif damage == "wrong_n":
        meta = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({**meta, "n": meta["n"] + 1}))
    elif damage == "truncated_array":
        array.write_bytes(array.read_bytes()[:100])
    else:  # same key, different images: the sidecar's image-id digest does not match
        data = TinyImages(ids=[f"other_{i}" for i in range(N_IMAGES)])
    backbone.calls.clear()
    with pytest.warns(FeatureCacheWarning, match="recomputing"):
        again = extract_features(backbone, data, cache_dir=tmp_path, key=key, progress=False)
    assert sum(backbone.calls) == N_IMAGES
    np.testing.assert_array_equal(again, good)
    backbone.calls.clear()
    extract_features(backbone, data, cache_dir=tmp_path, key=key, progress=False)
    assert backbone.calls == []  # the rewritten entry is valid


def test_rejects_unpooled_backbone_and_bad_ids(tmp_path):
    data = TinyImages(n=3)
    conv = torch.nn.Conv2d(3, 4, 3)  # returns (B, C, H, W), not pooled features
    with pytest.raises(ValueError, match="num_classes=0"):
        extract_features(conv, data, cache_dir=tmp_path, key="k1", progress=False)
    assert not list(tmp_path.iterdir())  # nothing cached
    with pytest.raises(ValueError, match="image ids"):
        extract_features(conv, data, cache_dir=tmp_path, key="k1", image_ids=["a"], progress=False)
