"""Multi-scale attention over encoder stages and a hierarchical fusion of them (document 003, SemSSXL).

Document 003 (problem statement 1, "Designing a contrastive learning based robust multi-label chest
disease classification system") lists as research objectives "a novel attention mechanism that
dynamically focuses on multi-scale disease patterns" and "a hierarchical feature fusion strategy for
comprehensive disease representation", names an Xception encoder ("SemSSXL: Semi Self-Supervised
Xception Learner") and shows its architecture only as a picture without text. **Everything below is
OUR design**; the document gives no layer, size or equation:

* **Stages** (:class:`StageEncoder`): a registry backbone (:mod:`cxrlib.models.registry`, e.g.
  ``legacy_xception``) read through timm's ``forward_intermediates`` at the stage indices ``stages``
  (Xception: 0 stem, 1 block1, 2 block2, 3 block11, 4 final). Layers after the last requested stage are
  removed (``prune_intermediate_layers``), so a classroom run with the entry flow only is cheap.
* **Spatial pooling per stage** (rows of :data:`POOLS`): ``attention``: a 1x1 convolution scores every
  position, a softmax over the positions weights them (attention pooling); ``average``: global average
  pooling. Each pooled vector is projected to a common width ``dim`` (Linear + LayerNorm).
* **Hierarchical fusion** (:class:`HierarchicalFusion`): bottom-up, shallow to deep:
  ``h_1 = z_1``, ``h_s = LayerNorm(z_s + GELU(W_s [h_{s-1}; z_s]))``, so the level-s vector carries what
  the shallower levels saw. One stage: ``h_1 = z_1`` (nothing to fuse).
* **Attention over scales** (rows of :data:`SCALE_MIXERS`): ``attention``: a score
  ``v . tanh(U h_s)`` per level, softmax over the levels (the weights of an image sum to 1), output
  ``sum_s a_s h_s``; ``uniform``: every level weighs ``1 / S``. Both return the weights, so a chapter
  can show which scales an image used.

A neck is a row of :data:`NECKS` (pooling, mixer, which stages): the ablation variants of
:mod:`cxrlib.training.semssxl` name one each, and no code branches on a variant's name.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from cxrlib.core.config import lookup

from .registry import get_spec
from .weights import WeightsInfo, create_backbone

__all__ = [
    "NECKS", "POOLS", "SCALE_MIXERS", "AttentionPool2d", "AveragePool2d", "HierarchicalFusion", "MultiScaleNeck",
    "MultiScaleNet", "NeckSpec", "ScaleAttention", "StageEncoder", "UniformScales", "build_multiscale_net",
    "get_neck",
]


class StageEncoder(nn.Module):
    """A registry backbone that returns the feature maps of ``stages`` (timm ``forward_intermediates``)."""

    def __init__(self, backbone: nn.Module, stages: Sequence[int]) -> None:
        super().__init__()
        stages = tuple(int(s) for s in stages)
        if not stages or list(stages) != sorted(set(stages)):
            raise ValueError(f"stages must be increasing stage indices, got {stages}")
        n_taps = len(backbone.feature_info)
        if stages[-1] >= n_taps or stages[0] < 0:
            raise ValueError(f"stages {stages} out of range: the backbone has taps 0-{n_taps - 1}")
        self.channels = tuple(int(backbone.feature_info[s]["num_chs"]) for s in stages)
        self.reductions = tuple(int(backbone.feature_info[s]["reduction"]) for s in stages)
        backbone.prune_intermediate_layers(list(stages), prune_head=True)
        self.backbone = backbone
        self.stages = stages

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone.forward_intermediates(x, indices=list(self.stages), stop_early=True,
                                                   intermediates_only=True)


class AttentionPool2d(nn.Module):
    """Softmax-weighted average over positions; the weights come from a 1x1 convolution (ours)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.score = nn.Conv2d(channels, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(x).flatten(2), dim=-1)  # (B, 1, HW)
        return (x.flatten(2) * weights).sum(dim=-1)


class AveragePool2d(nn.Module):
    """Global average pooling (the no-attention ablation)."""

    def __init__(self, channels: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class ScaleAttention(nn.Module):
    """Additive attention over levels: ``a = softmax_s(v . tanh(U h_s))``, output ``sum_s a_s h_s``."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or max(8, dim // 2)
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False))

    def forward(self, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.score(levels).squeeze(-1), dim=1)  # (B, S)
        return (levels * weights.unsqueeze(-1)).sum(dim=1), weights


class UniformScales(nn.Module):
    """Every level weighs ``1 / S`` (the no-attention ablation)."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()

    def forward(self, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = levels.new_full(levels.shape[:2], 1.0 / levels.shape[1])
        return levels.mean(dim=1), weights


POOLS: dict[str, Callable[[int], nn.Module]] = {"attention": AttentionPool2d, "average": AveragePool2d}
"""Spatial pooling of one stage: name -> builder taking the stage's channels."""

SCALE_MIXERS: dict[str, Callable[[int], nn.Module]] = {"attention": ScaleAttention, "uniform": UniformScales}
"""Combination of the levels: name -> builder taking the common width."""


class HierarchicalFusion(nn.Module):
    """Bottom-up fusion: ``h_1 = z_1``, ``h_s = LayerNorm(z_s + GELU(W_s [h_{s-1}; z_s]))``."""

    def __init__(self, n_levels: int, dim: int) -> None:
        super().__init__()
        self.mix = nn.ModuleList(nn.Linear(2 * dim, dim) for _ in range(n_levels - 1))
        self.norm = nn.ModuleList(nn.LayerNorm(dim) for _ in range(n_levels - 1))

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        out = [levels[0]]
        for z, mix, norm in zip(levels[1:], self.mix, self.norm):
            out.append(norm(z + nn.functional.gelu(mix(torch.cat([out[-1], z], dim=-1)))))
        return torch.stack(out, dim=1)  # (B, S, dim)


@dataclass(frozen=True)
class NeckSpec:
    """How the stage maps become one vector: spatial pooling, level mixer, and which stages are used."""

    name: str
    pool: str
    mixer: str
    last_stage_only: bool
    description: str


NECKS: dict[str, NeckSpec] = {
    n.name: n
    for n in (
        NeckSpec("multiscale_attention", "attention", "attention", False,
                 "attention pooling per stage, hierarchical fusion, attention over the stages (ours)"),
        NeckSpec("multiscale_average", "average", "uniform", False,
                 "average pooling per stage, hierarchical fusion, equal weights over the stages (no attention)"),
        NeckSpec("single_scale_attention", "attention", "attention", True,
                 "the last stage only, attention pooling (single scale: no fusion, its one weight is 1)"),
        NeckSpec("single_scale_average", "average", "uniform", True,
                 "the last stage only, global average pooling + projection: a plain encoder"),
    )
}


def get_neck(name: str | NeckSpec) -> NeckSpec:
    """The row of :data:`NECKS` named ``name`` (a row passes through)."""
    return lookup(NECKS, name, what="neck", row_type=NeckSpec)


class MultiScaleNeck(nn.Module):
    """Stage maps -> (embedding ``(B, dim)``, scale weights ``(B, S)``) by one :class:`NeckSpec`."""

    def __init__(self, channels: Sequence[int], dim: int, spec: NeckSpec) -> None:
        super().__init__()
        self.spec = spec
        pool = lookup(POOLS, spec.pool, what="pool")
        self.pools = nn.ModuleList(pool(c) for c in channels)
        self.project = nn.ModuleList(nn.Sequential(nn.Linear(c, dim), nn.LayerNorm(dim)) for c in channels)
        self.fusion = HierarchicalFusion(len(channels), dim)
        self.mixer = lookup(SCALE_MIXERS, spec.mixer, what="scale mixer")(dim)

    def forward(self, maps: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        levels = [proj(pool(m)) for m, pool, proj in zip(maps, self.pools, self.project)]
        return self.mixer(self.fusion(levels))


class MultiScaleNet(nn.Module):
    """Encoder stages + neck: ``forward(x)`` is the ``(B, dim)`` embedding; ``num_features = dim`` (so a
    :class:`cxrlib.training.ssl.ContrastiveModel` can put its projection head on it)."""

    def __init__(self, encoder: StageEncoder, neck: MultiScaleNeck) -> None:
        super().__init__()
        self.encoder, self.neck = encoder, neck
        self.num_features = int(neck.project[0][0].out_features)

    @property
    def stages(self) -> tuple[int, ...]:
        return self.encoder.stages

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedding and the per-image weights over the stages used."""
        return self.neck(self.encoder(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)[0]


def build_multiscale_net(backbone: str, weights: str, stages: Sequence[int], neck: str | NeckSpec, dim: int,
                         *, seed: int = 0, weights_dir=None) -> tuple[MultiScaleNet, WeightsInfo]:
    """A :class:`MultiScaleNet` on registry row ``backbone``; ``stages`` are the candidate stages and a
    single-scale neck keeps only the last of them. Weights as in :func:`cxrlib.models.create_backbone`
    (loaded into the whole backbone, then the unused tail is removed)."""
    spec = get_neck(neck)
    used = tuple(stages)[-1:] if spec.last_stage_only else tuple(stages)
    model, info = create_backbone(get_spec(backbone).key, weights, seed=seed, weights_dir=weights_dir)
    encoder = StageEncoder(model, used)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        net = MultiScaleNet(encoder, MultiScaleNeck(encoder.channels, dim, spec))
    return net, info
