"""The backbone registry, heads and partial unfreezing of cxrlib.models (weights: test_model_weights.py)."""
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

timm = pytest.importorskip("timm")

from cxrlib.models import (  # noqa: E402
    REGISTRY,
    BackboneClassifier,
    backbone_blocks,
    build_classifier,
    create_backbone,
    d000_head,
    gradcam_target_layer,
    pooled_width,
    registry_rows,
    stem_parameters,
    unfreeze_last,
)
from cxrlib.models.__main__ import main as cli_main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ROWS = sorted(REGISTRY)

# Independent statement of document 000's block counting per family: the number of blocks and the
# parameter-name prefixes that train for k = 1 and k = n_blocks ("all blocks", stem still frozen).
FAMILY_BLOCKS = {
    "vit": {
        "n_blocks": 12,
        1: ("blocks.11.", "norm."),
        "six": ("blocks.6.", "blocks.7.", "blocks.8.", "blocks.9.", "blocks.10.", "blocks.11.", "norm."),
        "frozen_at_max": ("cls_token", "pos_embed", "patch_embed."),
    },
    "convnext": {
        "n_blocks": 12,
        1: ("stages.3.blocks.1.", "head.norm."),
        "six": (
            "stages.2.blocks.2.", "stages.2.blocks.3.", "stages.2.blocks.4.", "stages.2.blocks.5.",
            "stages.3.downsample.", "stages.3.blocks.0.", "stages.3.blocks.1.", "head.norm.",
        ),
        "frozen_at_max": ("stem.",),
    },
    "resnet": {
        "n_blocks": 4,
        1: ("layer4.",),
        "frozen_at_max": ("conv1.", "bn1."),
    },
    # document 003's VGGs: conv stages 2-5, then fc6+fc7 (timm's pre_logits); conv stage 1 is the stem
    # (one conv + norm in VGG-11, two in VGG-16: timm's features hold conv, norm, ReLU per conv, then a pool)
    "vgg11_bn": {"n_blocks": 5, 1: ("pre_logits.",), "frozen_at_max": ("features.0.", "features.1.")},
    "vgg16_bn": {"n_blocks": 5, 1: ("pre_logits.",),
                 "frozen_at_max": ("features.0.", "features.1.", "features.3.", "features.4.")},
    "densenet": {
        "n_blocks": 4,
        1: ("features.denseblock4.", "features.norm5."),
        "frozen_at_max": ("features.conv0.", "features.norm0."),
    },
    "xception": {
        "n_blocks": 12,
        1: ("block12.", "conv3.", "bn3.", "conv4.", "bn4."),
        "frozen_at_max": ("conv1.", "bn1.", "conv2.", "bn2."),
    },
}


def expected_blocks(key):
    """The statement above for a row: by key where the family's rows differ (VGG), else by family."""
    return FAMILY_BLOCKS.get(key) or FAMILY_BLOCKS[REGISTRY[key].family]


@pytest.fixture(scope="module")
def backbones():
    """One randomly initialised backbone per row, built once (the large ones take a second or two)."""
    return {key: create_backbone(key, "none")[0] for key in ROWS}


def classifier_on(backbone, key, n_classes=15):
    return BackboneClassifier(backbone, d000_head(pooled_width(backbone), n_classes), REGISTRY[key])


# ------------------------------------------------------------------------------------------------
# registry


def test_registry_rows_are_keyed_by_their_own_key_and_cover_every_parameter_file():
    assert all(spec.key == key for key, spec in REGISTRY.items())
    # every backbone a parameter file names is a row (a renamed or dropped row breaks a notebook run)
    params = {path: yaml.safe_load(path.read_text()) or {} for path in sorted(REPO.glob("params/*/*.yaml"))}
    named = {path.name: values["backbone"] for path, values in params.items() if "backbone" in values}
    assert len(named) >= 2
    assert {file: key for file, key in named.items() if key not in REGISTRY} == {}
    assert [row["key"] for row in registry_rows()] == list(REGISTRY)
    assert {REGISTRY[k].paper_max_unfrozen for k in ("dinov2_vits14", "dino_vits16", "convnextv2_atto")} == {6}
    assert {REGISTRY[k].paper_max_unfrozen for k in ("swav_resnet50", "chexnet_densenet121")} == {4}


@pytest.mark.parametrize("key", ROWS)
def test_rows_agree_with_timm(key):
    spec = REGISTRY[key]
    assert spec.timm_name in timm.list_models()
    for src in spec.sources:
        if src.timm_tag is None:
            assert src.converter and src.url.startswith("https://")
            continue
        cfg = timm.models.get_pretrained_cfg(f"{spec.timm_name}.{src.timm_tag}")
        assert cfg is not None, src.timm_tag
        assert cfg.hf_hub_id == src.hub_id(spec.timm_name)
        assert (tuple(cfg.mean), tuple(cfg.std)) == (spec.mean, spec.std)
        timm_px = cfg.input_size[-1]
        assert spec.input_size == spec.create_kwargs.get("img_size", timm_px)
    # files outside timm (SwAV, CheXNet, Xception) were trained with the statistics of timm's default
    # configuration of the architecture; the row states them (and wins: nothing reads them from a file)
    default = timm.models.get_pretrained_cfg(spec.timm_name)
    if any(src.timm_tag is None for src in spec.sources):
        assert (tuple(default.mean), tuple(default.std)) == (spec.mean, spec.std)


@pytest.mark.parametrize("key", ROWS)
def test_the_family_of_a_row_is_in_its_fields(backbones, key):
    """Patch side and size keyword are the row's: the built model has the row's patches, and the row's
    size keyword gives it another input size (the patch check of cxrlib.core.params reads the same field)."""
    from cxrlib.training.common import size_kwargs

    spec, backbone = REGISTRY[key], backbones[key]
    patch = getattr(getattr(backbone, "patch_embed", None), "patch_size", None)
    assert (None if patch is None else tuple(patch)) == (None if spec.patch_size is None else (spec.patch_size,) * 2)
    assert (spec.size_keyword is None) == (spec.patch_size is None)
    if spec.size_keyword is None:
        assert size_kwargs(key, 40) == {}
        return
    size = 3 * spec.patch_size
    assert size_kwargs(key, size) == {spec.size_keyword: size}
    small, _ = create_backbone(key, "none", **size_kwargs(key, size))
    assert tuple(small.patch_embed.grid_size) == (3, 3)
    assert small(torch.zeros(1, 3, size, size)).shape == (1, spec.feature_dim)


def test_the_places_that_need_a_patch_read_the_row():
    from cxrlib.book.paper_smoke import fit_image_size
    from cxrlib.chapters.explain import registry_gradcam_table

    assert fit_image_size({"backbone": "dinov2_vits14", "image_size": 32})["image_size"] == 28
    assert fit_image_size({"backbone": "dino_vits16", "image_size": 32})["image_size"] == 32
    assert fit_image_size({"backbone": "resnet18", "image_size": 30})["image_size"] == 30
    table = registry_gradcam_table(["dinov2_vits14", "resnet18"], patches_per_side=2, cnn_size=32)
    assert table.set_index("backbone")["input"].to_dict() == {"dinov2_vits14": "28 px", "resnet18": "32 px"}


def test_cli_lists_registry(capsys):
    assert cli_main(["list"]) == 0
    assert "dinov2_vits14" in capsys.readouterr().out


@pytest.mark.parametrize("key", ROWS)
def test_blocks_partition_every_parameter(backbones, key):
    backbone, spec = backbones[key], REGISTRY[key]
    blocks = backbone_blocks(backbone, key)
    family = expected_blocks(key)
    assert len(blocks) == family["n_blocks"]
    assert pooled_width(backbone) == spec.feature_dim
    assigned = stem_parameters(backbone, key) + [n for b in blocks for n in b.parameters]
    assert sorted(assigned) == sorted(n for n, _ in backbone.named_parameters())  # each exactly once
    assert all(b.parameters for b in blocks)
    assert spec.paper_max_unfrozen is None or spec.paper_max_unfrozen <= len(blocks)
    assert isinstance(gradcam_target_layer(backbone, key), nn.Module)


def test_timm_layouts_the_rows_rely_on(backbones):
    # ../shared/TOOLCHAIN.md: ConvNeXt-V2 atto depths 2,2,6,2; DenseNet features.denseblock1..4 + norm5
    assert [len(stage.blocks) for stage in backbones["convnextv2_atto"].stages] == [2, 2, 6, 2]
    features = dict(backbones["chexnet_densenet121"].features.named_children())
    assert {f"denseblock{i}" for i in range(1, 5)} | {f"transition{i}" for i in range(1, 4)} | {"norm5"} <= set(features)
    assert backbones["dinov2_vits14"].patch_embed.grid_size == (16, 16)  # 224 px / 14 px patches


def test_vgg_rows_return_the_fc7_width_at_small_inputs(backbones):
    """timm's VGG pools fc7 (4,096), not its 512 conv channels; inputs below 224 px still work (its
    pre_logits pads the feature map to 7x7), which the classroom dual-stream run relies on."""
    for key in ("vgg11_bn", "vgg16_bn"):
        backbone = backbones[key].eval()
        assert backbone.num_features == 512 and pooled_width(backbone) == REGISTRY[key].feature_dim == 4096
        with torch.no_grad():
            assert backbone(torch.zeros(2, 3, 32, 32)).shape == (2, 4096)
        assert isinstance(gradcam_target_layer(backbone, key), nn.ReLU)


def test_gradcam_layers_follow_toolchain():
    # ../shared/TOOLCHAIN.md: ConvNeXt stages[-1]; ViT blocks[-1].norm1
    assert REGISTRY["convnextv2_atto"].gradcam_layer == "stages.-1"
    assert all(REGISTRY[k].gradcam_layer == "blocks.-1.norm1" for k in ROWS if REGISTRY[k].family == "vit")


# ------------------------------------------------------------------------------------------------
# unfreezing


def trainable_backbone(model):
    return {n[len("backbone."):] for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.")}


@pytest.mark.parametrize("key", ROWS)
def test_unfreeze_head_only_last_one_and_max(backbones, key):
    family = expected_blocks(key)
    model = classifier_on(backbones[key], key)
    all_backbone = {n for n, _ in model.backbone.named_parameters()}
    head = {n for n, _ in model.named_parameters() if n.startswith("head.")}

    report = unfreeze_last(model, 0)
    assert trainable_backbone(model) == set()
    assert set(report.trainable_parameters) == head and report.trainable_blocks == ()
    assert "head only" in report.summary()

    report = unfreeze_last(model, 1)
    assert trainable_backbone(model) == {n for n in all_backbone if n.startswith(family[1])}
    assert len(report.trainable_blocks) == 1
    assert all(p.requires_grad for p in model.head.parameters())

    n_blocks = family["n_blocks"]
    report = unfreeze_last(model, n_blocks)
    assert trainable_backbone(model) == {n for n in all_backbone if not n.startswith(family["frozen_at_max"])}
    assert report.n_blocks == n_blocks == len(report.trainable_blocks)

    if "six" in family:  # document 000's largest sweep value for ViT-S and ConvNeXt-V2 atto
        unfreeze_last(model, 6)
        assert trainable_backbone(model) == {n for n in all_backbone if n.startswith(family["six"])}

    report = unfreeze_last(model, "all")
    assert trainable_backbone(model) == all_backbone and report.n_trainable == report.n_total

    for bad in (-1, n_blocks + 1, 1.5, True):
        with pytest.raises(ValueError):
            unfreeze_last(model, bad)


def test_unfreeze_bare_backbone_needs_key(backbones):
    with pytest.raises(ValueError, match="key"):
        unfreeze_last(backbones["resnet18"], 1)
    report = unfreeze_last(backbones["resnet18"], 1, key="resnet18")
    assert report.trainable_blocks == ("layer4",)
    assert all(n.startswith("layer4.") for n in report.trainable_parameters)
    unfreeze_last(backbones["resnet18"], "all", key="resnet18")


@pytest.mark.parametrize("key,timm_kwargs,px", [("resnet18", {}, 64), ("dinov2_vits14", {"img_size": 56}, 56)])
def test_only_unfrozen_parameters_get_gradients(key, timm_kwargs, px):
    model = build_classifier(key, 15, head="d000", dropout=0.2, **timm_kwargs)
    unfreeze_last(model, 1)
    model.train()
    logits = model(torch.randn(2, 3, px, px))
    assert logits.shape == (2, 15)
    logits.sum().backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == {n for n, p in model.named_parameters() if p.requires_grad}


def test_frozen_batchnorm_statistics_stay_put():
    model = build_classifier("resnet18", 3, head="linear")
    x = torch.randn(4, 3, 64, 64)
    unfreeze_last(model, 0)
    model.train()
    before = model.backbone.bn1.running_mean.clone(), model.backbone.layer4[1].bn2.running_mean.clone()
    model(x)
    assert torch.equal(model.backbone.bn1.running_mean, before[0])
    assert torch.equal(model.backbone.layer4[1].bn2.running_mean, before[1])
    unfreeze_last(model, 1)  # layer4 trains, so its statistics update; the stem's do not
    model(x)
    assert torch.equal(model.backbone.bn1.running_mean, before[0])
    assert not torch.equal(model.backbone.layer4[1].bn2.running_mean, before[1])


# ------------------------------------------------------------------------------------------------
# heads and determinism


def test_document_000_head_layout():
    head = d000_head(384, 15, dropout=0.4)
    kinds = [type(m) for m in head]
    assert kinds == [nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert (head[0].p, head[3].p) == (0.4, 0.4)
    assert (head[1].in_features, head[1].out_features, head[4].out_features) == (384, 128, 15)


def test_heads_by_name():
    model = build_classifier("convnextv2_atto", 14, head="linear")
    assert isinstance(model.head, nn.Linear) and model.head.in_features == 320
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 14)
    with pytest.raises(ValueError, match="dropout"):
        build_classifier("resnet18", 2, head="linear", dropout=0.2)
    with pytest.raises(KeyError, match="d000"):
        build_classifier("resnet18", 2, head="mlp")


def test_seeded_and_side_effect_free():
    state = torch.get_rng_state()
    a = build_classifier("resnet18", 4, seed=3).state_dict()
    b = build_classifier("resnet18", 4, seed=3).state_dict()
    c = build_classifier("resnet18", 4, seed=4).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["head.1.weight"], c["head.1.weight"])


@pytest.mark.parametrize("key", ROWS)
def test_gradcam_layer_rule_gives_every_row_an_eight_by_eight_grid(backbones, key):
    """Notebook 05's rule (cxrlib.explain.gradcam.choose_layer) on every row: at the row's input size and, for a
    CNN, at the classroom's 64 px, the chosen layer's map has at least 8 x 8 cells, every candidate tried before it
    fewer, and Grad-CAM on it returns that grid."""
    from cxrlib.explain import gradcam

    spec = REGISTRY[key]
    model = classifier_on(backbones[key], key, 2).eval()
    for size in [spec.input_size] if spec.patch_size else [64, spec.input_size]:
        choice = gradcam.choose_layer(model, size)
        assert choice.meets_min and min(choice.grid) >= 8, (size, choice)
        tried = [grid for path, grid in choice.candidates[:[p for p, _ in choice.candidates].index(choice.path)]]
        assert all(min(grid) < 8 for grid in tried)
        maps = gradcam.gradcam(model, torch.randn(1, 3, size, size), 1, layer=choice.path, upsample=False)
        assert maps.shape[1:] == choice.grid
