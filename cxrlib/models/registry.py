"""The backbone registry: one data row per backbone, nothing else.

Each :class:`BackboneSpec` row says which timm architecture to build, where its pre-trained weights
come from (:class:`WeightSource`, one per tag), how document 000 counts its blocks for partial
unfreezing, which layer Grad-CAM hooks, the input size and normalisation the weights expect, and what
the family implies for the input: the patch side of a ViT (``patch_size``; an input side must be a
multiple of it, checked with the parameters: :data:`cxrlib.core.params.COMMON_CHECKS`) and the timm
argument that sets the input size (``size_keyword``). Code elsewhere reads these rows; it never
branches on a backbone's name or family.

This module is pure data and deliberately imports neither torch nor timm, so the book can print the
table without loading a deep-learning stack.

Block paths are dotted module paths inside the timm backbone (created with ``num_classes=0``):

* ``"blocks.*"``: every child of ``blocks`` is one block, in order;
* ``"a+b"``: the modules ``a`` and ``b`` together form one block;
* ``block_tail`` paths join the *last* block (a final norm that sits between the last block and the
  head trains whenever the last block does);
* ``stem`` paths are never unfrozen by a block count (only ``unfrozen_blocks="all"`` trains them).

Sources: document 000 (Elwirehardja et al. 2025, section 3.3 and Tables 2-6: DINOv2 ViT-S/14,
ConvNeXt-V2 atto, SwAV ResNet-50, DINO ViT-S/16, CheXNet DenseNet-121; unfreeze sweeps 0-6 for the
ViTs and ConvNeXt, 0-4 for ResNet-50 and DenseNet-121), document 001 (Tayebi Arasteh et al.: ViT-B
from DINOv2 or ImageNet-21K), document 002 (Gazda et al.: "ResNet-50 Wide", SimCLR on CheXpert) and
document 004 (Kivotova: torchvision ResNet18 with ImageNet weights) and document 003 (Mohanty, research
plan: an Xception encoder, ImageNet weights of timm's ``legacy_xception``; VGG as a base model of the
dual-stream network, which VGG and which weights being our choice).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cxrlib.core.config import lookup
from cxrlib.images.preprocess import IMAGENET_MEAN, IMAGENET_STD

HALF_MEAN = (0.5, 0.5, 0.5)
HALF_STD = (0.5, 0.5, 0.5)

HF_HUB = "https://huggingface.co"
# timm's Hugging Face repositories store weights as model.safetensors (older ones also pytorch_model.bin).
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class WeightSource:
    """Where one set of pre-trained weights for a backbone comes from.

    Exactly one of ``timm_tag`` (weights on the Hugging Face hub under ``timm/<arch>.<tag>``) and
    ``url`` (a file outside timm, read through ``converter``) is set.
    """

    tag: str
    description: str
    citation: str
    timm_tag: str | None = None
    url: str | None = None
    converter: str | None = None
    # File name that torch.hub gives the download in its cache (checked offline); None: not checked.
    torch_hub_filename: str | None = None
    # Name of the file in the cxrlib weights folder; derived from the source when left empty.
    local_filename: str = ""

    def __post_init__(self) -> None:
        if (self.timm_tag is None) == (self.url is None):
            raise ValueError(f"weight source {self.tag!r}: set exactly one of timm_tag and url")

    def hub_id(self, timm_name: str) -> str | None:
        """Hugging Face repository of a timm-hosted source (``timm/<arch>.<tag>``), else None."""
        return None if self.timm_tag is None else f"timm/{timm_name}.{self.timm_tag}"

    def filename(self, timm_name: str) -> str:
        """File name this source has in the weights folder ``<weights_dir>/<backbone key>/``."""
        if self.local_filename:
            return self.local_filename
        if self.timm_tag is not None:
            return f"{timm_name}.{self.timm_tag}.safetensors"
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def download_url(self, timm_name: str) -> str:
        """A plain HTTPS address of the file (for curl, a browser, or an offline transfer)."""
        if self.url is not None:
            return self.url
        return f"{HF_HUB}/{self.hub_id(timm_name)}/resolve/main/{HF_WEIGHT_FILES[0]}"


@dataclass(frozen=True)
class BackboneSpec:
    """One row of the registry (see the module docstring for the path syntax).

    ``mean``/``std``: the per-channel statistics the row's weights were trained with. When the row and
    the weights disagree, the row wins: the code never reads normalisation from a weight file or from
    timm's ``pretrained_cfg``; ``tests/test_models.py`` checks the row against timm's configuration of
    every timm-hosted source (and a source whose statistics differ needs its own row). The model input
    itself is standardised by the preprocessing pipeline (:data:`cxrlib.images.preprocess.PIPELINES`,
    a document's protocol); a stream that needs the weights' statistics re-standardises from the
    pipeline's to the row's (:class:`cxrlib.models.dual_stream.TransferStream`).

    ``patch_size``: the side of a ViT's patches in pixels (None: a convolutional network takes any
    size). ``size_keyword``: the ``timm.create_model`` argument that sets the input size (ViTs build
    their position grid from it; None: no argument needed), see
    :func:`cxrlib.training.common.size_kwargs`.
    """

    key: str
    title: str
    family: str
    timm_name: str
    sources: tuple[WeightSource, ...]
    default_weights: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    feature_dim: int
    blocks: tuple[str, ...]
    stem: tuple[str, ...]
    gradcam_layer: str
    block_tail: tuple[str, ...] = ()
    patch_size: int | None = None
    size_keyword: str | None = None
    timm_kwargs: tuple[tuple[str, Any], ...] = ()
    paper_max_unfrozen: int | None = None
    documents: tuple[str, ...] = ()
    notes: str = ""
    source_tags: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        tags = tuple(s.tag for s in self.sources)
        if len(set(tags)) != len(tags):
            raise ValueError(f"{self.key}: duplicate weight tags {tags}")
        if self.default_weights not in tags:
            raise ValueError(f"{self.key}: default weights {self.default_weights!r} not among {tags}")
        reserved = {"none", "auto"} & set(tags)
        if reserved:
            raise ValueError(f"{self.key}: weight tags {reserved} are reserved words")
        object.__setattr__(self, "source_tags", tags)

    def source(self, tag: str) -> WeightSource:
        for src in self.sources:
            if src.tag == tag:
                return src
        raise KeyError(f"backbone {self.key!r} has no weights tagged {tag!r}; known: {', '.join(self.source_tags)}")

    @property
    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``timm.create_model`` beyond the architecture name."""
        return dict(self.timm_kwargs)


def _source_imagenet_tv(note: str = "") -> WeightSource:
    return WeightSource(
        tag="imagenet",
        description="supervised ImageNet-1k, torchvision weights" + note,
        citation="He et al., 2016 (torchvision release)",
        timm_tag="tv_in1k",
    )


def _convnext_blocks(depths: tuple[int, ...]) -> tuple[str, ...]:
    """Every ConvNeXt block in order; a stage's downsampling layer belongs to the stage's first block,
    so that unfreezing across a stage boundary leaves no frozen layer between trainable ones."""
    out = []
    for stage, depth in enumerate(depths):
        for block in range(depth):
            path = f"stages.{stage}.blocks.{block}"
            if block == 0 and stage > 0:
                path = f"stages.{stage}.downsample+{path}"
            out.append(path)
    return tuple(out)


_VIT_STEM = ("cls_token", "pos_embed", "patch_embed")
_RESNET_BLOCKS = ("layer1", "layer2", "layer3", "layer4")
_RESNET_STEM = ("conv1", "bn1")
_DENSENET_BLOCKS = (
    "features.denseblock1+features.transition1",
    "features.denseblock2+features.transition2",
    "features.denseblock3+features.transition3",
    "features.denseblock4+features.norm5",
)
_DENSENET_STEM = ("features.conv0", "features.norm0")

def _vgg_layout(cfg: tuple) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """``(stem, blocks, gradcam_layer)`` of a timm VGG with batch norm built from ``cfg`` (timm's list of
    conv widths and ``"M"`` max-pools). timm's ``features`` holds Conv2d, BatchNorm2d, ReLU per width and one
    MaxPool2d per ``"M"``; a conv stage ends at its max-pool. The first stage is the stem, the other four
    stages are blocks, and the fully connected ``pre_logits`` (fc6, fc7 as convolutions) is the last block.
    Grad-CAM hooks the last ReLU before the final max-pool."""
    stages: list[list[str]] = [[]]
    index, last_relu = 0, 0
    for width in cfg:
        if width == "M":
            stages.append([])
            index += 1
            continue
        stages[-1] += [f"features.{index}", f"features.{index + 1}"]
        last_relu = index + 2
        index += 3
    stages = [stage for stage in stages if stage]
    blocks = tuple("+".join(stage) for stage in stages[1:]) + ("pre_logits",)
    return tuple(stages[0]), blocks, f"features.{last_relu}"


_VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

SWAV_URL = "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar"
CHEXNET_URL = "https://github.com/arnoweng/CheXNet/raw/master/model.pth.tar"
# timm's pretrained_cfg of legacy_xception.tf_in1k (timm 1.0.31) points here and names no hub repository.
XCEPTION_URL = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-cadene/xception-43020ad28.pth"

_ROWS = (
    BackboneSpec(
        key="dinov2_vits14",
        title="DINOv2 ViT-S/14",
        family="vit",
        timm_name="vit_small_patch14_dinov2",
        sources=(
            WeightSource(
                tag="dinov2",
                description="DINOv2 self-supervised on LVD-142M",
                citation="Oquab et al., 2023",
                timm_tag="lvd142m",
            ),
        ),
        default_weights="dinov2",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=384,
        blocks=("blocks.*",),
        block_tail=("norm",),
        stem=_VIT_STEM,
        patch_size=14,
        size_keyword="img_size",
        gradcam_layer="blocks.-1.norm1",
        # timm defaults to 518 px; at 224 px the 14-px patches give a 16x16 grid and loading resamples pos_embed.
        timm_kwargs=(("img_size", 224),),
        paper_max_unfrozen=6,
        documents=("000",),
    ),
    BackboneSpec(
        key="convnextv2_atto",
        title="ConvNeXt-V2 atto",
        family="convnext",
        timm_name="convnextv2_atto",
        sources=(
            WeightSource(
                tag="fcmae",
                description="FCMAE self-supervised (masked autoencoder) on ImageNet-1k",
                citation="Woo et al., 2023",
                timm_tag="fcmae",
            ),
            WeightSource(
                tag="fcmae_ft_in1k",
                description="FCMAE pre-training, then supervised ImageNet-1k fine-tuning",
                citation="Woo et al., 2023",
                timm_tag="fcmae_ft_in1k",
            ),
        ),
        default_weights="fcmae",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=320,
        blocks=_convnext_blocks((2, 2, 6, 2)),
        block_tail=("head.norm",),
        stem=("stem",),
        gradcam_layer="stages.-1",
        paper_max_unfrozen=6,
        documents=("000",),
    ),
    BackboneSpec(
        key="swav_resnet50",
        title="SwAV ResNet-50",
        family="resnet",
        timm_name="resnet50",
        sources=(
            WeightSource(
                tag="swav",
                description="SwAV self-supervised on ImageNet-1k, 800 epochs (torch.hub facebookresearch/swav)",
                citation="Caron et al., 2020",
                url=SWAV_URL,
                converter="swav",
                torch_hub_filename="swav_800ep_pretrain.pth.tar",
            ),
        ),
        default_weights="swav",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=2048,
        blocks=_RESNET_BLOCKS,
        stem=_RESNET_STEM,
        gradcam_layer="layer4",
        paper_max_unfrozen=4,
        documents=("000",),
    ),
    BackboneSpec(
        key="dino_vits16",
        title="DINO ViT-S/16",
        family="vit",
        timm_name="vit_small_patch16_224",
        sources=(
            WeightSource(
                tag="dino",
                description="DINO self-supervised on ImageNet-1k",
                citation="Caron et al., 2021",
                timm_tag="dino",
            ),
        ),
        default_weights="dino",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=384,
        blocks=("blocks.*",),
        block_tail=("norm",),
        stem=_VIT_STEM,
        patch_size=16,
        size_keyword="img_size",
        gradcam_layer="blocks.-1.norm1",
        paper_max_unfrozen=6,
        documents=("000",),
    ),
    BackboneSpec(
        key="chexnet_densenet121",
        title="CheXNet DenseNet-121",
        family="densenet",
        timm_name="densenet121",
        sources=(
            WeightSource(
                tag="chexnet",
                description="CheXNet: DenseNet-121 trained on ChestX-ray14 (14 findings), arnoweng reimplementation",
                citation="Rajpurkar et al., 2017; github.com/arnoweng/CheXNet",
                url=CHEXNET_URL,
                converter="chexnet",
                local_filename="chexnet_arnoweng_model.pth.tar",
            ),
            _source_imagenet_tv(),
        ),
        default_weights="chexnet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=1024,
        blocks=_DENSENET_BLOCKS,
        stem=_DENSENET_STEM,
        gradcam_layer="features.norm5",
        paper_max_unfrozen=4,
        documents=("000",),
    ),
    BackboneSpec(
        key="resnet18",
        title="ResNet-18",
        family="resnet",
        timm_name="resnet18",
        sources=(_source_imagenet_tv(),),
        default_weights="imagenet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=512,
        blocks=_RESNET_BLOCKS,
        stem=_RESNET_STEM,
        gradcam_layer="layer4",
        documents=("004",),
    ),
    BackboneSpec(
        key="vitb14_dinov2",
        title="DINOv2 ViT-B/14",
        family="vit",
        timm_name="vit_base_patch14_dinov2",
        sources=(
            WeightSource(
                tag="dinov2",
                description="DINOv2 self-supervised on LVD-142M",
                citation="Oquab et al., 2023",
                timm_tag="lvd142m",
            ),
        ),
        default_weights="dinov2",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=768,
        blocks=("blocks.*",),
        block_tail=("norm",),
        stem=_VIT_STEM,
        patch_size=14,
        size_keyword="img_size",
        gradcam_layer="blocks.-1.norm1",
        timm_kwargs=(("img_size", 224),),
        documents=("001",),
    ),
    BackboneSpec(
        key="vitb16_in21k",
        title="ViT-B/16 ImageNet-21K",
        family="vit",
        timm_name="vit_base_patch16_224",
        sources=(
            WeightSource(
                tag="imagenet21k",
                description="supervised ImageNet-21K, original ViT release (21,843 classes; head not kept)",
                citation="Dosovitskiy et al., 2021",
                timm_tag="orig_in21k",
            ),
            WeightSource(
                tag="imagenet21k_augreg",
                description="supervised ImageNet-21K, AugReg release",
                citation="Steiner et al., 2022",
                timm_tag="augreg_in21k",
            ),
        ),
        default_weights="imagenet21k",
        input_size=224,
        mean=HALF_MEAN,
        std=HALF_STD,
        feature_dim=768,
        blocks=("blocks.*",),
        block_tail=("norm",),
        stem=_VIT_STEM,
        patch_size=16,
        size_keyword="img_size",
        gradcam_layer="blocks.-1.norm1",
        documents=("001",),
    ),
    BackboneSpec(
        key="wide_resnet50",
        title="Wide ResNet-50-2",
        family="resnet",
        timm_name="wide_resnet50_2",
        sources=(_source_imagenet_tv(),),
        default_weights="imagenet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        feature_dim=2048,
        blocks=_RESNET_BLOCKS,
        stem=_RESNET_STEM,
        gradcam_layer="layer4",
        documents=("002",),
        notes=(
            "Document 002 pre-trains a 'ResNet-50 Wide' with SimCLR on CheXpert; torchvision's "
            "wide_resnet50_2 (bottleneck width x2) is the architecture used here."
        ),
    ),
    BackboneSpec(
        key="legacy_xception",
        title="Xception (Chollet 2017)",
        family="xception",
        timm_name="legacy_xception",
        sources=(
            WeightSource(
                tag="imagenet",
                description="supervised ImageNet-1k, the Keras/TensorFlow Xception weights ported by Cadene "
                "(timm's legacy_xception.tf_in1k; timm downloads them from its GitHub release, not the hub)",
                citation="Chollet, 2017 (document 003, reference [3])",
                url=XCEPTION_URL,
                converter="timm_release",
                torch_hub_filename="xception-43020ad28.pth",
            ),
        ),
        default_weights="imagenet",
        input_size=299,
        mean=HALF_MEAN,
        std=HALF_STD,
        feature_dim=2048,
        blocks=tuple(f"block{i}" for i in range(1, 13)),
        block_tail=("conv3", "bn3", "conv4", "bn4"),
        stem=("conv1", "bn1", "conv2", "bn2"),
        gradcam_layer="act4",
        documents=("003",),
        notes=(
            "Document 003 (problem statement 1, 'SemSSXL: Semi Self-Supervised Xception Learner') names an "
            "Xception encoder and cites Chollet 2017, nothing more. timm's legacy_xception is the original "
            "architecture (entry flow block1-3, middle flow block4-11, exit flow block12 + conv3/conv4); its "
            "forward_intermediates taps (stem, block1, block2, block11, final) are the stages that "
            "cxrlib.models.multiscale attends over."
        ),
    ),
    BackboneSpec(
        key="vgg16_bn",
        title="VGG-16 (batch norm)",
        family="vgg",
        timm_name="vgg16_bn",
        sources=(
            WeightSource(
                tag="imagenet",
                description="supervised ImageNet-1k, torchvision weights (fc6/fc7 kept as timm's pre_logits)",
                citation="Simonyan & Zisserman, 2015 (torchvision release)",
                timm_tag="tv_in1k",
            ),
        ),
        default_weights="imagenet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # timm's VGG returns the 4,096 outputs of fc7 (pre_logits), not the 512 conv channels (num_features).
        feature_dim=4096,
        stem=_vgg_layout(_VGG16)[0],
        blocks=_vgg_layout(_VGG16)[1],
        gradcam_layer=_vgg_layout(_VGG16)[2],
        documents=("003",),
        notes=(
            "Document 003 names VGG as a base model of its dual-stream network (problem statement 2) without "
            "saying which VGG or which weights; VGG-16 with batch norm and torchvision's ImageNet weights is our choice (paper parameters)."
        ),
    ),
    BackboneSpec(
        key="vgg11_bn",
        title="VGG-11 (batch norm)",
        family="vgg",
        timm_name="vgg11_bn",
        sources=(
            WeightSource(
                tag="imagenet",
                description="supervised ImageNet-1k, torchvision weights (fc6/fc7 kept as timm's pre_logits)",
                citation="Simonyan & Zisserman, 2015 (torchvision release)",
                timm_tag="tv_in1k",
            ),
        ),
        default_weights="imagenet",
        input_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # timm's VGG returns the 4,096 outputs of fc7 (pre_logits), not the 512 conv channels (num_features).
        feature_dim=4096,
        stem=_vgg_layout(_VGG11)[0],
        blocks=_vgg_layout(_VGG11)[1],
        gradcam_layer=_vgg_layout(_VGG11)[2],
        documents=("003",),
        notes=(
            "Document 003 names VGG as a base model of its dual-stream network (problem statement 2) without "
            "saying which VGG or which weights; VGG-11 with batch norm is a smaller VGG for notebook 10 with its ImageNet "
            "weights (the classroom run uses the ResNet-18 of the book's own SSL pre-training)."
        ),
    ),
)

#: Every backbone the companion uses, as rows: registry key -> :class:`BackboneSpec`.
REGISTRY: dict[str, BackboneSpec] = {row.key: row for row in _ROWS}


def get_spec(key: str | BackboneSpec) -> BackboneSpec:
    """The registry row of ``key`` (a row passes through unchanged)."""
    return lookup(REGISTRY, key, what="backbone", row_type=BackboneSpec)


def registry_rows() -> list[dict[str, Any]]:
    """The registry as plain rows (one dict per backbone) for tables in the book."""
    rows = []
    for spec in REGISTRY.values():
        rows.append(
            {
                "key": spec.key,
                "title": spec.title,
                "timm architecture": spec.timm_name,
                "weights (tags)": ", ".join(spec.source_tags),
                "default weights": spec.default_weights,
                "input px": spec.input_size,
                "feature dim": spec.feature_dim,
                "blocks": "; ".join(spec.blocks)
                + (f" (last block + {', '.join(spec.block_tail)})" if spec.block_tail else ""),
                "Grad-CAM layer": spec.gradcam_layer,
                "unfrozen sweep (document 000)": (
                    "" if spec.paper_max_unfrozen is None else f"0-{spec.paper_max_unfrozen}"
                ),
                "documents": ", ".join(spec.documents),
            }
        )
    return rows
