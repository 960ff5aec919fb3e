"""Document 003's dual-stream network (cxrlib.models.dual_stream, cxrlib.training.dual_stream, notebook 10):
fusion rules, ablation rows, the autoencoder, the transfer stream's weights, and a smoke run of the notebook."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file
from torch import nn

from cxrlib.models import WeightsNotFoundError, new_backbone
from cxrlib.models.dual_stream import (
    DUAL_STREAM_VARIANTS,
    FUSION_RULES,
    STREAM_NAMES,
    AutoencoderStream,
    ConcatFusion,
    ConvAutoencoder,
    DualStreamClassifier,
    GatedFusion,
    transfer_stream,
)
from cxrlib.training import dual_stream as train

REPO = Path(__file__).resolve().parents[1]


class Linear(nn.Module):
    """A stand-in stream: a fixed linear map of the flattened image (out_dim values)."""

    def __init__(self, in_features: int, out_dim: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.out_dim = out_dim
        self.map = nn.Linear(in_features, out_dim)

    def forward(self, x):
        return self.map(x.flatten(1))


def toy_streams(px=16):
    return {"transfer": Linear(3 * px * px, 12, seed=1), "autoencoder": AutoencoderStream(ConvAutoencoder(px, latent_dim=5))}


def blobs(n=48, px=16, seed=0):
    """Images with structure an autoencoder can learn: a bright disc at a random place on a dark field."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:px, :px]
    images = []
    for _ in range(n):
        cy, cx, r = rng.uniform(4, px - 4, 2).tolist() + [rng.uniform(2, 4)]
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.float32)
        images.append(np.repeat(disc[None], 3, axis=0) * 2 - 1)
    return torch.from_numpy(np.stack(images))


class Images(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x, self.image_ids = x, [f"img{i}" for i in range(len(x))]

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], torch.tensor(0), i


# ------------------------------------------------------------------------------------------ fusion rules
def test_concat_width_is_the_sum_of_the_stream_widths():
    fusion = ConcatFusion((7, 3))
    out = fusion([torch.randn(4, 7), torch.randn(4, 3)])
    assert fusion.out_dim == 10 and out.shape == (4, 10)
    model = DualStreamClassifier("dual_concat", toy_streams(), 2)
    assert model.fusion.out_dim == sum(model.widths.values()) == 12 + 5


def test_gates_lie_in_0_1_and_the_gated_output_interpolates_the_streams():
    torch.manual_seed(0)
    fusion = GatedFusion((9, 4), fused_dim=6)
    features = [torch.randn(20, 9) * 50, torch.randn(20, 4)]
    gates = fusion.gates(features)
    assert gates.shape == (20, 6) and gates.min() >= 0 and gates.max() <= 1
    a, b = fusion.project(features)
    out = fusion(features)
    assert torch.allclose(out, gates * a + (1 - gates) * b, atol=1e-6)
    low, high = torch.minimum(a, b), torch.maximum(a, b)
    assert bool(((out >= low - 1e-6) & (out <= high + 1e-6)).all())
    # a gate forced open or shut returns one stream exactly
    with torch.no_grad():
        fusion.gate.weight.zero_()
        fusion.gate.bias.fill_(40.0)
    assert torch.allclose(fusion(features), a, atol=1e-5)
    with torch.no_grad():
        fusion.gate.bias.fill_(-40.0)
    assert torch.allclose(fusion(features), b, atol=1e-5)


def test_rules_and_variants_are_consistent_rows():
    assert set(FUSION_RULES) >= {"concat", "gated"}
    assert set(DUAL_STREAM_VARIANTS) == {"dual_concat", "dual_gated", "transfer_only", "autoencoder_only"}
    for key, variant in DUAL_STREAM_VARIANTS.items():
        model = DualStreamClassifier(key, toy_streams(), 2)
        assert tuple(model.streams) == variant.streams
        assert model(torch.randn(3, 3, 16, 16)).shape == (3, 2)
        assert (model.gates(model.stream_features(torch.randn(3, 3, 16, 16))) is None) == (variant.fusion != "gated")
    with pytest.raises(ValueError, match="two streams"):
        GatedFusion((4,))


# ------------------------------------------------------------------------------------------ ablation rows
@pytest.mark.parametrize("key", sorted(DUAL_STREAM_VARIANTS))
def test_each_row_holds_exactly_its_streams(key):
    """A removed stream is not in the model: perturbing its input or its weights changes nothing; perturbing
    a kept stream's input changes the output (so the check can fail)."""
    variant = DUAL_STREAM_VARIANTS[key]
    streams = toy_streams()
    model = DualStreamClassifier(key, streams, 2, seed=3).eval()
    x = torch.randn(5, 3, 16, 16)
    base = model({name: x for name in STREAM_NAMES})
    for name in STREAM_NAMES:
        perturbed = {other: x for other in STREAM_NAMES}
        perturbed[name] = x + torch.randn_like(x)
        changed = not torch.allclose(model(perturbed), base)
        assert changed == (name in variant.streams), (key, name)
    removed = set(STREAM_NAMES) - set(variant.streams)
    names = {n for n, _ in model.named_parameters()}
    for name in removed:
        assert not any(n.startswith(f"streams.{name}.") for n in names)
        with torch.no_grad():
            for p in streams[name].parameters():
                p.add_(1.0)
        assert torch.allclose(model(x), base)


# ------------------------------------------------------------------------------------------ autoencoder
def test_autoencoder_reconstruction_loss_decreases_on_a_tiny_run():
    data = Images(blobs())
    ae = ConvAutoencoder(16, widths=(8, 16), latent_dim=8)
    before = train.reconstruction_errors(ae, data, device="cpu").mean()
    history = train.train_autoencoder(ae, data, train.StepConfig(epochs=15, lr=3e-3, batch_size=16, device="cpu"),
                                      val_set=data, progress=False)
    after = train.reconstruction_errors(ae, data, device="cpu").mean()
    assert list(history["epoch"]) == list(range(1, 16))
    assert history["train_mse"].iloc[-1] < 0.7 * history["train_mse"].iloc[0]
    assert after < 0.7 * before and np.isclose(history["val_mse"].iloc[-1], after, rtol=1e-4)
    again = ConvAutoencoder(16, widths=(8, 16), latent_dim=8)
    assert train.train_autoencoder(again, data, train.StepConfig(epochs=15, lr=3e-3, batch_size=16, device="cpu"),
                                   val_set=data, progress=False).equals(history)  # seeded


def test_autoencoder_takes_sizes_that_are_not_a_power_of_two():
    ae = ConvAutoencoder(30, widths=(8, 16, 16), latent_dim=4)
    x = torch.randn(2, 3, 30, 30)
    assert ae(x).shape == x.shape and ae.encode(x).shape == (2, 4)


# ------------------------------------------------------------------------------------------ training
def test_head_on_cached_features_is_the_model_on_images_and_fit_keeps_the_best_epoch(tmp_path):
    torch.manual_seed(0)
    x = blobs(64, seed=1)
    y = (x.mean(dim=(1, 2, 3)) > x.mean()).long().numpy()  # bigger disc: class 1
    streams = toy_streams()
    data = Images(x)
    feats = {name: train.stream_features(s, data, weights_id=f"test-{name}", cache_dir=tmp_path, preprocess={},
                                         device="cpu", progress=False) for name, s in streams.items()}
    model = DualStreamClassifier("dual_gated", streams, 2, fused_dim=8, seed=0)
    result = train.fit_head(model, feats, y, feats, y, train.StepConfig(epochs=6, lr=1e-2, batch_size=16, device="cpu"))
    assert result.best_val_auroc == result.history["val_auroc"].max()
    assert result.history.loc[result.best_epoch - 1, "val_auroc"] == result.best_val_auroc
    probs = train.predict_head(model, feats, device="cpu")
    with torch.no_grad():
        direct = torch.softmax(model.eval()(x), dim=1).numpy()
    assert np.allclose(probs, direct, atol=1e-5)
    gates = train.head_gates(model, feats, device="cpu")
    assert gates.shape == (64, 8) and (gates >= 0).all() and (gates <= 1).all()
    assert train.head_gates(DualStreamClassifier("dual_concat", streams, 2), feats, device="cpu") is None


# ------------------------------------------------------------------------------------------ transfer stream
def test_transfer_stream_loads_weights_through_the_real_loader(tmp_path):
    """The family is a parameter: a ResNet-18 row here (a VGG file would be half a gigabyte)."""
    reference = new_backbone("resnet18", seed=7)
    path = tmp_path / "resnet18" / "resnet18.tv_in1k.safetensors"
    path.parent.mkdir()
    save_file(reference.state_dict(), str(path))
    stream = transfer_stream("resnet18", "imagenet", weights_dir=tmp_path, seed=0)
    assert not stream.info.random and stream.info.file == str(path) and stream.out_dim == 512
    for name, tensor in reference.state_dict().items():
        assert torch.equal(stream.backbone.state_dict()[name], tensor), name
    model = DualStreamClassifier("transfer_only", {"transfer": stream}, 2).eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 2)


def test_transfer_stream_auto_starts_from_the_books_ssl_checkpoint_in_ssl_dir(tmp_path, monkeypatch):
    """weights="auto" without published weights: the 02_pretrain folder named by ssl_dir, same backbone."""
    import huggingface_hub.constants

    from cxrlib.chapters.dual_stream import transfer_start
    from cxrlib.models import save_ssl_checkpoint

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))  # no published file here
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    reference = new_backbone("resnet18", seed=5)
    path = save_ssl_checkpoint(tmp_path / "02_pretrain" / "checkpoints" / "epoch_0003.pt", reference, "resnet18",
                               meta={"method": "SimCLR", "epoch": 3, "image_size": 64,
                                     "pool": {"sources": ["kermany"], "images": 500}})
    stream = transfer_stream("resnet18", "auto", weights_dir=tmp_path / "weights", allow_download=False,
                             ssl_dir=tmp_path / "02_pretrain")
    assert (stream.info.random, stream.info.source, stream.info.origin, stream.info.file) == (False, "ssl", "ssl_dir", str(path))
    for name, tensor in reference.state_dict().items():
        assert torch.equal(stream.backbone.state_dict()[name], tensor), name
    assert "the book's own self-supervised checkpoint" in transfer_start(stream.info, "resnet18")


def weights_info(**fields):
    from cxrlib.models import WeightsInfo

    base = dict(backbone_key="resnet18", timm_name="resnet18", requested="auto", random=False, source="ssl",
                origin="ssl_dir", description="ssl: the book's own SimCLR pre-training of resnet18 (notebook 02; 9,000 "
                "unlabeled images of kermany, nih_sample; 64 px; epoch 20; epoch_0020.pt), not published weights",
                file="/x/epoch_0020.pt", sha256="ab" * 32, reason="weights folder: /w/resnet18.tv_in1k.safetensors")
    return WeightsInfo(**{**base, **fields})


def test_transfer_start_says_plainly_which_weights_started_the_stream():
    from cxrlib.chapters.dual_stream import transfer_start

    own = transfer_start(weights_info(), "resnet18")
    assert own.startswith("The transfer stream (resnet18) starts from the book's own self-supervised checkpoint, "
                          "not from published weights (none were on this machine): ")
    assert "SimCLR pre-training of resnet18 (notebook 02; 9,000 unlabeled images" in own and "64 px; epoch 20" in own
    assert own.endswith("that pre-training saw no labels and no test image.") and "ssl:" not in own
    named = transfer_start(weights_info(requested="/x/epoch_0020.pt", origin="file", reason=None), "resnet18")
    assert "the book's own self-supervised checkpoint, not from published weights: " in named  # asked for: no "why"
    published = transfer_start(weights_info(source="imagenet", origin="weights_dir", reason=None,
                                            description="imagenet: supervised ImageNet-1k (torchvision)"), "resnet18")
    assert published == "The transfer stream (resnet18) starts from imagenet: supervised ImageNet-1k (torchvision)."
    for random in (weights_info(random=True, source="random", origin="none"),
                   weights_info(random=True, source="none", origin="none", requested="none")):
        text = transfer_start(random, "resnet18")
        assert "starts from random values" in text and "not transfer learning" in text and "self-supervised" not in text


@pytest.mark.parametrize("backbone", ["vgg11_bn", "vgg16_bn"])
def test_missing_transfer_weights_raise_the_clear_error(tmp_path, backbone):
    with pytest.raises(WeightsNotFoundError) as caught:
        transfer_stream(backbone, "imagenet", weights_dir=tmp_path)
    message = str(caught.value)
    assert f"python -m cxrlib.models fetch {backbone}" in message
    assert str(tmp_path / backbone / f"{backbone}.tv_in1k.safetensors") in message


# ------------------------------------------------------------------------------------------ parameter files
def test_paper_parameter_files_name_registry_rows_and_their_weights():
    from cxrlib.models import REGISTRY

    files = {p.stem.split("--")[1]: yaml.safe_load(p.read_text()) for p in REPO.glob("params/paper/10_dual_stream--*.yaml")}
    assert set(files) == {"d003_vgg", "d003_xception"}
    for variant, values in files.items():
        assert values["backbone"] in REGISTRY, f"{variant}: backbone {values['backbone']!r} is not a registry row"
        # paper runs name their weights: a missing file fails loudly, and the book's SSL folder is not read
        assert values["weights"] in REGISTRY[values["backbone"]].source_tags, variant
        assert "ssl_dir" in values and values["ssl_dir"] is None, variant


def test_the_classroom_run_reads_the_pretraining_run_and_the_paper_runs_do_not():
    """The classroom transfer stream starts from 02_pretrain's checkpoint (ssl_dir), so a rebuilt 02 re-runs 10;
    the paper runs name published weights and depend on no other run."""
    from cxrlib.book.build import discover_runs, upstream_runs

    (classroom,) = discover_runs("classroom", only=["10_dual_stream"])
    assert classroom.params["backbone"] == "resnet18" and classroom.params["weights"] == "auto"
    assert upstream_runs(classroom) == ["02_pretrain"]
    for run in discover_runs("paper", only=["10_dual_stream"]):
        assert upstream_runs(run) == [], run.name


# ------------------------------------------------------------------------------------------ notebook
@pytest.mark.slow
def test_notebook_runs_at_smoke_size_through_the_book_build(tmp_path):
    from cxrlib.book import build

    tree = build.stage_tree(REPO, tmp_path / "tree")
    runs = build.discover_runs("classroom", repo=tree, only=["10_dual_stream"], smoke=True)
    outcome = build.execute_all(runs, "classroom", repo=tree)
    assert outcome.ok, outcome.summary(tree)
    out = tree / runs[0].out_dir
    for artifact in ("ds_variants", "ds_vs_single", "ds_ablation", "ds_gates", "ds_reconstruction"):
        assert (out / f"{artifact}.md").exists(), artifact
    ablation = (out / "ds_ablation.csv").read_text()
    assert "gated fusion instead of concatenation" in ablation


def test_transfer_stream_restandardises_the_shared_input_to_its_rows_statistics():
    stream = transfer_stream("resnet18", "none", input_mean=(0.5, 0.5, 0.5), input_std=(0.5, 0.5, 0.5)).eval()
    same = transfer_stream("resnet18", "none").eval()  # input standardised as the row expects: identity
    x = torch.randn(2, 3, 32, 32)
    mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(stream(x), stream.backbone((x * 0.5 + 0.5 - mean) / std), atol=1e-5)
        assert torch.allclose(same(x), same.backbone(x))


# ------------------------------------------------------------------------------- did it learn? / replication
def test_mean_image_error_is_the_variance_around_the_training_mean():
    x = blobs(32, px=8)
    errors = train.mean_image_errors(Images(x), Images(x))
    expected = ((x - x.mean(dim=0)) ** 2).flatten(1).mean(dim=1).numpy()
    assert np.allclose(errors, expected, atol=1e-6)
    assert errors.mean() <= train.mean_image_errors(Images(x[:4]), Images(x)).mean() + 1e-9  # the own mean is best


def test_autoencoder_check_fails_at_the_mean_image_level_and_passes_below_it():
    import pandas as pd

    from cxrlib.chapters.dual_stream import autoencoder_check

    assert not autoencoder_check(pd.DataFrame({"train_mse": [1.2, 0.99]}), 1.0).learned
    assert autoencoder_check(pd.DataFrame({"train_mse": [1.2, 0.4]}), 1.0).learned


def test_reconstruction_sentence_follows_the_measured_error_against_the_mean_image():
    from cxrlib.chapters.dual_stream import reconstruction_sentence

    assert "no better than the mean training image" in reconstruction_sentence(0.60, 0.61)
    assert "only part" in reconstruction_sentence(0.60, 0.90)
    assert "reproduce 80 %" in reconstruction_sentence(0.2, 1.0)


def test_head_check_reads_the_validation_auroc_and_the_weighted_no_information_loss():
    import pandas as pd

    from cxrlib.chapters.dual_stream import head_check
    from cxrlib.training.dual_stream import HeadResult

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    good = HeadResult(pd.DataFrame({"train_loss": [0.7, 0.3]}), 2, 0.9, no_information_loss=float(np.log(2)))
    assert head_check(good, y, y + rng.normal(0, 0.5, y.size), np.arange(y.size), n_boot=200, seed=0).learned
    flat = HeadResult(pd.DataFrame({"train_loss": [0.7, 0.69]}), 2, 0.5, no_information_loss=float(np.log(2)))
    check = head_check(flat, y, rng.random(y.size), np.arange(y.size), n_boot=200, seed=0)
    assert not check.learned and len(check.reasons) == 2


def test_fit_head_records_the_no_information_loss_of_its_class_weighted_loss():
    rng = np.random.default_rng(0)
    model = DualStreamClassifier("transfer_only", {"transfer": Linear(4, 3, seed=0)}, 2, seed=0)
    feats = {"transfer": rng.normal(size=(40, 3)).astype(np.float32)}
    y = np.array([0] * 30 + [1] * 10)
    head = train.fit_head(model, feats, y, feats, y, train.StepConfig(epochs=2, lr=1e-2, device="cpu"))
    assert head.no_information_loss == pytest.approx(np.log(2))  # inverse-frequency weights: ln C


def test_replicated_contrasts_and_sentences_conclude_only_from_learned_parts():
    from cxrlib.chapters.dual_stream import CONTRASTS, replicated_contrasts, dual_stream_verdicts

    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 80)
    noise = {"dual_concat": 0.3, "dual_gated": 0.3, "transfer_only": 2.0, "autoencoder_only": 2.0}
    scores = {s: {k: y + rng.normal(0, sd, y.size) for k, sd in noise.items()} for s in (0, 1, 2)}
    results = replicated_contrasts(scores, y, np.arange(y.size), n_boot=200, seed=0)
    assert [r.name for r in results] == [f"AUROC({a}) - AUROC({b})" for _, a, b in CONTRASTS]
    ok = type("C", (), {"learned": True})()
    checks = {f"{v} seed {s}": ok for s in (0, 1, 2) for v in (*noise, "autoencoder")}
    text = dual_stream_verdicts(results, checks)
    assert "The autoencoder stream, added by concatenation raises the test AUROC here" in text
    checks["autoencoder seed 1"] = type("C", (), {"learned": False})()
    text = dual_stream_verdicts(results, checks)
    assert text.count("not interpreted") == len(CONTRASTS) and "raises" not in text
