"""Weight resolution, loading and converters of cxrlib.models.

No weight file can be downloaded here: every test writes a checkpoint in the original format
(timm's Hugging Face files, SwAV's torch.hub file, CheXNet's 2017 file, our SSL format) from a
randomly initialised model into tmp_path, loads it through the public API and compares tensors.
"""
import hashlib
import os
import threading
import warnings

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

timm = pytest.importorskip("timm")

from cxrlib.models import (  # noqa: E402
    REGISTRY,
    RandomInitWarning,
    WeightsFormatError,
    WeightsNotFoundError,
    build_classifier,
    chexnet_to_timm,
    create_backbone,
    load_weights,
    network_available,
    save_ssl_checkpoint,
    swav_to_timm,
)
from cxrlib.models import weights as weights_module  # noqa: E402
from cxrlib.models.fixtures import chexnet_checkpoint, swav_checkpoint  # noqa: E402


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty, private weights folder, Hugging Face cache and torch hub cache; offline."""
    import huggingface_hub.constants

    hf = tmp_path / "hf"
    hf.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hf))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CXRLIB_WEIGHTS", raising=False)
    folder = tmp_path / "weights"
    folder.mkdir()
    return {"weights": folder, "hf": hf, "torch_hub": tmp_path / "torch" / "hub" / "checkpoints"}


def seeded(name, seed=1, **kwargs):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(name, pretrained=False, **kwargs)


def assert_backbone_equals(model, expected, skip=()):
    own = model.state_dict()
    compared = 0
    for key, value in own.items():
        if key in skip or key.endswith("num_batches_tracked"):
            continue
        assert torch.equal(value, expected[key]), key
        compared += 1
    assert compared > 0


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_hf_snapshot(hf_root, repo_id, state_dict, filename="model.safetensors"):
    """Lay out a file the way huggingface_hub caches it (refs/main -> snapshots/<revision>/)."""
    repo = hf_root / ("models--" + repo_id.replace("/", "--"))
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    save_file(state_dict, str(snapshot / filename))
    return snapshot / filename


# ------------------------------------------------------------------------------------------------
# timm-hosted weights


def test_tag_loads_from_weights_folder_with_provenance(caches):
    reference = seeded("resnet18", num_classes=1000)  # the tv_in1k file keeps its ImageNet classifier
    path = caches["weights"] / "resnet18" / "resnet18.tv_in1k.safetensors"
    path.parent.mkdir()
    save_file(reference.state_dict(), str(path))

    model, info = create_backbone("resnet18", "imagenet", weights_dir=caches["weights"])

    assert_backbone_equals(model, reference.state_dict())
    assert (info.random, info.source, info.origin, info.file) == (False, "imagenet", "weights_dir", str(path))
    assert info.sha256 == sha256(path)
    assert info.sha256[:12] in info.caption() and "RANDOM" not in info.caption()
    assert info.provenance()["sha256"] == info.sha256


def test_auto_reads_weights_folder_from_environment(caches, monkeypatch):
    reference = seeded("resnet18", num_classes=1000)
    path = caches["weights"] / "resnet18" / "resnet18.tv_in1k.safetensors"
    path.parent.mkdir()
    save_file(reference.state_dict(), str(path))
    monkeypatch.setenv("CXRLIB_WEIGHTS", str(caches["weights"]))

    model, info = create_backbone("resnet18", "auto")

    assert not info.random and info.origin == "weights_dir"
    assert_backbone_equals(model, reference.state_dict())


def test_dinov2_checkpoint_at_518px_loads_into_224px_model(caches):
    reference = seeded("vit_small_patch14_dinov2")  # timm's default 518 px: pos_embed 1 x 1370 x 384
    state = reference.state_dict()
    assert state["pos_embed"].shape == (1, 1 + 37 * 37, 384)
    path = caches["weights"] / "dinov2_vits14" / "vit_small_patch14_dinov2.lvd142m.safetensors"
    path.parent.mkdir()
    save_file(state, str(path))

    model, info = create_backbone("dinov2_vits14", "dinov2", weights_dir=caches["weights"])

    assert model.patch_embed.grid_size == (16, 16)
    expected_pos = timm.layers.resample_abs_pos_embed(state["pos_embed"], (16, 16), num_prefix_tokens=1)
    assert torch.allclose(model.pos_embed, expected_pos)
    assert_backbone_equals(model, state, skip={"pos_embed"})
    assert info.source == "dinov2" and not info.random


def test_auto_finds_original_dinov2_file_in_torch_hub_cache(caches):
    # torch.hub.load("facebookresearch/dinov2", "dinov2_vits14") caches dinov2_vits14_pretrain.pth, whose
    # keys are timm's plus a mask_token; timm's checkpoint filter drops it.
    reference = seeded("vit_small_patch14_dinov2", img_size=224)
    original = dict(reference.state_dict(), mask_token=torch.zeros(1, 384))
    caches["torch_hub"].mkdir(parents=True)
    torch.save(original, caches["torch_hub"] / "dinov2_vits14_pretrain.pth")

    model, info = create_backbone("dinov2_vits14", "auto", weights_dir=caches["weights"])

    assert (info.random, info.source, info.origin) == (False, "dinov2", "torch_hub_cache")
    assert_backbone_equals(model, reference.state_dict())


def test_auto_finds_hugging_face_cache(caches):
    reference = seeded("convnextv2_atto", num_classes=0)  # the fcmae file has no classifier
    cached = write_hf_snapshot(caches["hf"], "timm/convnextv2_atto.fcmae", reference.state_dict())

    model, info = create_backbone("convnextv2_atto", "auto", weights_dir=caches["weights"])

    assert (info.random, info.source, info.origin, info.file) == (False, "fcmae", "hf_cache", str(cached))
    assert_backbone_equals(model, reference.state_dict())


# ------------------------------------------------------------------------------------------------
# SwAV (torch.hub facebookresearch/swav)


swav_original = swav_checkpoint  # the library writes the SwAV format for the smoke harness too


def test_swav_converter_strips_prefix_and_pretraining_heads():
    clean, original = swav_original()
    converted = swav_to_timm(original)
    assert set(converted) == set(clean)
    assert all(torch.equal(converted[k], clean[k]) for k in clean)
    # the training checkpoint wraps the same dict; already-clean keys pass through
    assert set(swav_to_timm({"epoch": 800, "state_dict": original})) == set(clean)
    assert set(swav_to_timm(clean)) == set(clean)
    with pytest.raises(WeightsFormatError, match="SwAV"):
        swav_to_timm({"module.features.conv0.weight": torch.zeros(1)})


def test_swav_loads_from_file_tag_and_torch_hub_cache(caches):
    clean, original = swav_original()
    # 1) a file given by path
    path = caches["weights"] / "somewhere" / "swav_800ep_pretrain.pth.tar"
    path.parent.mkdir()
    torch.save(original, path)
    model, info = create_backbone("swav_resnet50", path)
    assert_backbone_equals(model, clean)
    assert (info.source, info.converter, info.sha256) == ("file", "swav", sha256(path))
    # 2) the tag, from the torch.hub cache where torch.hub.load("facebookresearch/swav:main", "resnet50") puts it
    caches["torch_hub"].mkdir(parents=True)
    os.replace(path, caches["torch_hub"] / "swav_800ep_pretrain.pth.tar")
    model, info = create_backbone("swav_resnet50", "auto", weights_dir=caches["weights"])
    assert (info.random, info.source, info.origin) == (False, "swav", "torch_hub_cache")
    assert_backbone_equals(model, clean)


# ------------------------------------------------------------------------------------------------
# CheXNet (github.com/arnoweng/CheXNet, model.pth.tar)


chexnet_original = chexnet_checkpoint


def test_chexnet_converter_maps_legacy_names():
    state, original = chexnet_original()
    assert "module.densenet121.features.denseblock1.denselayer1.norm.1.weight" in original["state_dict"]
    assert "module.densenet121.classifier.0.weight" in original["state_dict"]
    backbone_only = chexnet_to_timm(original)
    assert not any(k.startswith("classifier") for k in backbone_only)
    assert "features.denseblock1.denselayer1.norm1.weight" in backbone_only
    # keep_classifier: the 14-way CheXNet output layer goes to timm's classifier
    model14 = timm.create_model("densenet121", pretrained=False, num_classes=14)
    model14.load_state_dict(chexnet_to_timm(original, keep_classifier=True), strict=False)
    assert torch.equal(model14.classifier.weight, state["classifier.weight"])
    assert_backbone_equals(model14, state)
    with pytest.raises(WeightsFormatError, match="CheXNet"):
        chexnet_to_timm({"module.layer1.0.conv1.weight": torch.zeros(1)})


def test_chexnet_loads_from_weights_folder_legacy_serialisation(caches):
    state, original = chexnet_original()
    path = caches["weights"] / "chexnet_densenet121" / "chexnet_arnoweng_model.pth.tar"
    path.parent.mkdir()
    torch.save(original, path, _use_new_zipfile_serialization=False)  # pre-1.6 file layout, as in 2018

    model, info = create_backbone("chexnet_densenet121", "chexnet", weights_dir=caches["weights"])

    assert_backbone_equals(model, state)
    assert (info.source, info.converter, info.origin) == ("chexnet", "chexnet", "weights_dir")
    assert "Rajpurkar" in info.description


# ------------------------------------------------------------------------------------------------
# our SSL checkpoints


def test_ssl_checkpoint_roundtrip(tmp_path):
    trained, _ = create_backbone("resnet18", "none", seed=7)
    path = save_ssl_checkpoint(tmp_path / "run" / "ssl.pt", trained, "resnet18", meta={"method": "moco_v2", "epochs": 3})

    model = build_classifier("resnet18", 7, head="linear", weights=path)

    assert_backbone_equals(model.backbone, trained.state_dict())
    info = model.weights_info
    assert (info.source, info.meta["method"], info.meta["epochs"]) == ("ssl", "moco_v2", 3)
    assert "moco_v2" in info.caption()
    with pytest.raises(WeightsFormatError, match="resnet18"):
        create_backbone("wide_resnet50", path)


# ------------------------------------------------------------------------------------------------
# failures are loud and say what to do


def test_file_for_another_architecture_is_rejected(caches):
    path = caches["weights"] / "chexnet_densenet121" / "densenet121.tv_in1k.safetensors"
    path.parent.mkdir()
    save_file(seeded("resnet18", num_classes=1000).state_dict(), str(path))
    with pytest.raises(WeightsFormatError, match="does not fit backbone chexnet_densenet121"):
        create_backbone("chexnet_densenet121", "imagenet", weights_dir=caches["weights"])
    junk = caches["weights"] / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsFormatError, match="could not be read"):
        create_backbone("resnet18", junk)


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_requested_weights_missing_raise_with_instructions(caches, key):
    spec = REGISTRY[key]
    src = spec.source(spec.default_weights)
    with pytest.raises(WeightsNotFoundError) as caught:
        load_weights(nn.Identity(), key, src.tag, weights_dir=caches["weights"])  # fails before touching the model
    message = str(caught.value)
    expected_file = caches["weights"] / key / src.filename(spec.timm_name)
    assert str(expected_file) in message
    assert src.download_url(spec.timm_name) in message
    assert f"python -m cxrlib.models fetch {key}" in message
    assert "HF_HUB_OFFLINE" in message  # says why no download was tried


def test_missing_file_and_unknown_tag(caches):
    with pytest.raises(WeightsNotFoundError, match="does not exist"):
        load_weights(nn.Identity(), "resnet18", caches["weights"] / "nope.pth")
    with pytest.raises(ValueError, match="unknown weights 'dinov2'.*'imagenet'"):
        load_weights(nn.Identity(), "resnet18", "dinov2")


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_auto_offline_falls_back_without_touching_the_network_and_says_so(caches, key, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"offline, yet the network was tried: {args}")

    monkeypatch.setattr(weights_module, "network_available", no_network)
    monkeypatch.setattr(weights_module.socket, "create_connection", no_network)
    with pytest.warns(RandomInitWarning, match="RANDOM INITIALISATION") as caught:
        info = load_weights(nn.Identity(), key, "auto", weights_dir=caches["weights"])
    assert any("not attempted" in str(w.message) and "HF_HUB_OFFLINE" in str(w.message) for w in caught)
    assert info.random and info.source == "random"
    assert info.hint.startswith(f"python -m cxrlib.models fetch {key}")
    assert "RANDOM INITIALISATION" in info.caption() and info.hint in info.caption()
    assert info.provenance()["random"] is True and info.expected_file.startswith(str(caches["weights"]))


def test_auto_without_offline_flag_probes_network_once(caches, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("CXRLIB_OFFLINE", raising=False)
    probed = []
    monkeypatch.setattr(weights_module, "network_available", lambda host, **kw: probed.append(host) or False)
    with pytest.warns(RandomInitWarning, match="did not answer"):
        info = load_weights(nn.Identity(), "swav_resnet50", "auto", weights_dir=caches["weights"])
    assert probed == ["dl.fbaipublicfiles.com"] and info.random
    with pytest.warns(RandomInitWarning, match="allow_download=False"):
        load_weights(nn.Identity(), "resnet18", "auto", weights_dir=caches["weights"], allow_download=False)
    assert probed == ["dl.fbaipublicfiles.com"]


def test_network_probe_gives_up_while_the_connection_still_hangs(monkeypatch):
    """A name lookup or connect that never returns must not block the caller past ``timeout``."""
    started, release, calls = threading.Event(), threading.Event(), []

    def hanging(address, timeout=None):
        calls.append((address, timeout))
        started.set()
        release.wait()  # blocks until the test lets go, long after network_available returned
        raise OSError("released by the test")

    monkeypatch.setattr(weights_module.socket, "create_connection", hanging)
    try:
        assert network_available("192.0.2.1", timeout=0.05) is False
        assert started.wait(30) and calls == [(("192.0.2.1", 443), 0.05)]  # the timeout reaches the socket
        assert not release.is_set()  # returned while the connection attempt was still blocked
    finally:
        release.set()


def test_network_probe_reports_what_the_socket_says(monkeypatch):
    class Connection:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(weights_module.socket, "create_connection", lambda address, timeout=None: Connection())
    assert network_available("example.org", timeout=5) is True

    def refused(address, timeout=None):
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(weights_module.socket, "create_connection", refused)
    assert network_available("example.org", timeout=5) is False


def test_weights_none_is_silent_random_init():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model, info = create_backbone("resnet18", "none")
    assert info.random and info.source == "none" and info.hint is None
    assert "weights='none'" in info.caption()


def test_a_pretraining_run_folder_loads_the_last_checkpoint_of_its_largest_pool(tmp_path):
    """A paper file names a 02_pretrain run folder (``weights: book/_generated/02_pretrain--d004_moco``); its
    checkpoints sit in one sub-folder per pool, listed in checkpoints.csv."""
    run = tmp_path / "02_pretrain--x"
    states = {}
    for pool, fraction in (("pool_100", 1.0), ("pool_025", 0.25)):
        for epoch in (0, 2):
            model, _ = create_backbone("resnet18", "none", seed=epoch * 10 + int(fraction * 4))
            save_ssl_checkpoint(run / pool / "checkpoints" / f"epoch_{epoch:04d}.pt", model, "resnet18")
            states[(pool, epoch)] = model.state_dict()
    (run / "checkpoints.csv").write_text(
        "run,fraction,policy,epoch,path\n" + "".join(
            f"{p},{f},d004_moco,{e},{p}/checkpoints/epoch_{e:04d}.pt\n" for p, f in (("pool_100", 1.0), ("pool_025", 0.25))
            for e in (0, 2)))
    model, info = create_backbone("resnet18", str(run))
    assert info.file == str(run / "pool_100" / "checkpoints" / "epoch_0002.pt") and info.source == "ssl"
    assert_backbone_equals(model, states[("pool_100", 2)])


# ------------------------------------------------------------------------------------------------
# "auto": published weights, then the book's own SSL checkpoint for that backbone, then random


def write_pretrain_folder(root, key, seed=3):
    """A 02_pretrain run folder as the notebook writes it: one pool, two epochs, checkpoints.csv."""
    states = {}
    for epoch in (0, 2):
        model, _ = create_backbone(key, "none", seed=seed + epoch)
        save_ssl_checkpoint(root / "pool_100" / "checkpoints" / f"epoch_{epoch:04d}.pt", model, key,
                            meta={"method": "SimCLR", "epoch": epoch, "image_size": 64,
                                  "pool": {"sources": ["kermany", "nih_sample"], "images": 1000}})
        states[epoch] = model.state_dict()
    (root / "checkpoints.csv").write_text("run,fraction,policy,epoch,path\n" + "".join(
        f"pool_100,1.0,d004_moco,{e},pool_100/checkpoints/epoch_{e:04d}.pt\n" for e in (0, 2)))
    return states


def test_auto_without_published_weights_starts_from_the_books_ssl_checkpoint(caches, tmp_path):
    states = write_pretrain_folder(tmp_path / "02_pretrain", "resnet18")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomInitWarning)  # no random start, so no warning
        model, info = create_backbone("resnet18", "auto", weights_dir=caches["weights"], ssl_dir=tmp_path / "02_pretrain")
    assert_backbone_equals(model, states[2])
    assert (info.random, info.source, info.origin) == (False, "ssl", "ssl_dir")
    assert info.file == str(tmp_path / "02_pretrain" / "pool_100" / "checkpoints" / "epoch_0002.pt")
    caption = info.caption()
    assert "the book's own SimCLR pre-training of resnet18" in caption and "not published weights" in caption
    assert "1,000 unlabeled images of kermany, nih_sample" in caption and "epoch 2" in caption
    assert "weights folder" in info.reason and info.hint.startswith("python -m cxrlib.models fetch resnet18")


def test_auto_prefers_published_weights_over_the_ssl_checkpoint(caches, tmp_path):
    write_pretrain_folder(tmp_path / "02_pretrain", "resnet18")
    reference = seeded("resnet18", num_classes=1000)
    target = caches["weights"] / "resnet18" / "resnet18.tv_in1k.safetensors"
    target.parent.mkdir(parents=True)
    save_file(reference.state_dict(), str(target))
    model, info = create_backbone("resnet18", "auto", weights_dir=caches["weights"], ssl_dir=tmp_path / "02_pretrain")
    assert (info.source, info.origin) == ("imagenet", "weights_dir")
    assert_backbone_equals(model, reference.state_dict())


def test_auto_ignores_an_ssl_checkpoint_of_another_backbone_and_says_random(caches, tmp_path):
    write_pretrain_folder(tmp_path / "02_pretrain", "resnet18")
    with pytest.warns(RandomInitWarning, match="holds a resnet18 backbone, not convnextv2_atto"):
        _, info = create_backbone("convnextv2_atto", "auto", weights_dir=caches["weights"],
                                  ssl_dir=tmp_path / "02_pretrain")
    assert (info.random, info.source) == (True, "random") and "RANDOM INITIALISATION" in info.caption()


@pytest.mark.parametrize("ssl_dir", [None, "missing", "empty"])
def test_auto_without_an_ssl_checkpoint_says_random_and_why(caches, tmp_path, ssl_dir):
    folder = {None: None, "missing": tmp_path / "nope", "empty": tmp_path / "empty"}[ssl_dir]
    if ssl_dir == "empty":
        folder.mkdir()
    why = {None: "none asked for", "missing": "does not exist", "empty": "holds no checkpoint"}[ssl_dir]
    with pytest.warns(RandomInitWarning, match=why):
        _, info = create_backbone("resnet18", "auto", weights_dir=caches["weights"], ssl_dir=folder)
    assert info.random and info.source == "random" and why in info.reason
