"""Document 003's dual-stream network (problem statement 2), built: a transfer-learning stream and an
autoencoder stream whose features are fused before the classifier.

**What document 003 says** (slides "Problem Statement-2", "Primary Objective", "Secondary Objective"):
"develop a novel dual-stream architecture combining feature optimization mechanisms with transfer
learning"; "design an effective feature fusion strategy for various base models such as VGG, Xception,
etc. and autoencoder streams"; "evaluate the contribution of each architectural component"; compare
"dual-stream" with "single-stream approaches". It asks "what is the optimal way to fuse features from
transfer learning and encoder streams?". **It gives no architecture, no layer sizes, no fusion rule, no
training protocol and no numbers.** Everything concrete below is OUR design choice:

* **Transfer stream** (:class:`TransferStream`): a registry backbone (:mod:`cxrlib.models.registry`;
  the family is a parameter: ``vgg11_bn``, ``vgg16_bn``, or any other row, e.g. an Xception row) with
  the weights :func:`cxrlib.models.create_backbone` loads (a tag, a file, ``"auto"``, or ``"none"``; with
  ``"auto"`` and no published weights, the book's own SSL checkpoint of that backbone in ``ssl_dir``), its
  pooled output as the stream's features (4,096 values for timm's VGG: fc7; 512 for ResNet-18).
* **Autoencoder stream** (:class:`ConvAutoencoder`, :class:`AutoencoderStream`): a small convolutional
  autoencoder (stride-2 convolutions with ReLU, a fully connected bottleneck of ``latent_dim`` values,
  the mirror image with transposed convolutions) trained for reconstruction (mean squared error); its
  bottleneck is the stream's features.
* **Fusion rules** (rows of :data:`FUSION_RULES`): every stream's features are layer-normalised first
  (the two streams' scales differ by orders of magnitude). ``concat`` concatenates them (width = sum of
  the streams' widths). ``gated`` projects each of the two streams to ``fused_dim`` values and mixes
  them with a per-dimension gate ``g = sigmoid(W [a; b] + c)`` computed from both:
  ``fused = g * a' + (1 - g) * b'`` (``g`` near 1: the transfer stream; near 0: the autoencoder).
  ``single`` passes one stream through (the ablations).
* **Variants** (rows of :data:`DUAL_STREAM_VARIANTS`): ``dual_concat``, ``dual_gated``,
  ``transfer_only``, ``autoencoder_only``. A variant's model holds only the streams of its row: a
  removed stream is not part of the model at all.
* **Classifier**: dropout and one linear layer on the fused features.

The training protocol (autoencoder first, then the fusion head on frozen streams) is in
:mod:`cxrlib.training.dual_stream`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from cxrlib.core.config import lookup

from .heads import pooled_width
from .registry import get_spec
from .weights import WeightsInfo, create_backbone

TRANSFER, AUTOENCODER = "transfer", "autoencoder"
STREAM_NAMES = (TRANSFER, AUTOENCODER)


# ----------------------------------------------------------------------------------------------- streams
class ConvAutoencoder(nn.Module):
    """A small convolutional autoencoder (OUR design; document 003 names an "autoencoder stream" only).

    Encoder: one ``Conv2d(3x3, stride 2) + ReLU`` per entry of ``widths``, then a linear layer to
    ``latent_dim`` values (the code). Decoder: a linear layer back to the last feature map, then one
    ``ConvTranspose2d(4x4, stride 2) + ReLU`` per width in reverse, the last one to ``in_channels``
    without activation (the input is standardised, not in [0, 1]). An input size that is not a multiple
    of ``2 ** len(widths)`` is reconstructed at the decoder's size and resized to the input's. The
    initial weights are drawn from ``seed``.
    """

    def __init__(self, image_size: int, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64),
                 latent_dim: int = 64, *, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the random initialisation is drawn from seed, not the global generator
            self._build(int(image_size), in_channels, widths, latent_dim)

    def _build(self, image_size: int, in_channels: int, widths: Sequence[int], latent_dim: int) -> None:
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1 or latent_dim < 1:
            raise ValueError(f"widths must be positive and non-empty and latent_dim >= 1; got {widths}, {latent_dim}")
        self.image_size, self.in_channels, self.widths, self.latent_dim = image_size, in_channels, widths, latent_dim
        layers: list[nn.Module] = []
        previous = in_channels
        for width in widths:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            previous = width
        self.encoder = nn.Sequential(*layers)
        with torch.no_grad():
            shape = self.encoder(torch.zeros(1, in_channels, self.image_size, self.image_size)).shape[1:]
        self.code_shape = tuple(int(s) for s in shape)
        flat = int(torch.tensor(self.code_shape).prod())
        self.to_code = nn.Linear(flat, latent_dim)
        self.from_code = nn.Linear(latent_dim, flat)
        pairs = list(zip(widths[::-1], (*widths[::-1][1:], in_channels)))
        layers = []
        for width, out in pairs[:-1]:
            layers += [nn.ConvTranspose2d(width, out, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.ConvTranspose2d(*pairs[-1], 4, stride=2, padding=1))  # linear reconstruction
        self.decoder = nn.Sequential(*layers)

    @property
    def out_dim(self) -> int:
        return self.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code (B, latent_dim): the autoencoder stream's features."""
        return self.to_code(self.encoder(x).flatten(1))

    def decode(self, code: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        out = self.decoder(F.relu(self.from_code(code)).view(-1, *self.code_shape))
        size = size or (self.image_size, self.image_size)
        return out if tuple(out.shape[-2:]) == tuple(size) else F.interpolate(out, size=size, mode="bilinear",
                                                                              align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``x`` (same shape)."""
        return self.decode(self.encode(x), tuple(x.shape[-2:]))


class AutoencoderStream(nn.Module):
    """The autoencoder stream: the code of a (trained) :class:`ConvAutoencoder`."""

    def __init__(self, autoencoder: ConvAutoencoder) -> None:
        super().__init__()
        self.autoencoder = autoencoder
        self.out_dim = autoencoder.out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(x)


class TransferStream(nn.Module):
    """The transfer-learning stream: a registry backbone's pooled features; ``info`` says which weights.

    Both streams read the same model input. ``input_mean``/``input_std`` are the per-channel statistics
    that input was standardised with; the stream re-standardises it to the row's own ``mean``/``std``
    (an identity for ImageNet input and ImageNet weights; 0.5/0.5 weights such as Xception's differ).
    """

    def __init__(self, backbone: nn.Module, info: WeightsInfo, *, mean: Sequence[float] = (0.0, 0.0, 0.0),
                 std: Sequence[float] = (1.0, 1.0, 1.0), input_mean: Sequence[float] = (0.0, 0.0, 0.0),
                 input_std: Sequence[float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__()
        self.backbone, self.info = backbone, info
        self.out_dim = pooled_width(backbone)
        def column(values: Sequence[float]) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)

        # x_row = (x * input_std + input_mean - mean) / std
        self.register_buffer("scale", column(input_std) / column(std))
        self.register_buffer("shift", (column(input_mean) - column(mean)) / column(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x * self.scale + self.shift)


def transfer_stream(backbone: str, weights: str | os.PathLike = "auto", *,
                    input_mean: Sequence[float] | None = None, input_std: Sequence[float] | None = None,
                    weights_dir: str | os.PathLike | None = None, seed: int = 0, allow_download: bool = True,
                    ssl_dir: str | os.PathLike | None = None, **timm_kwargs: Any) -> TransferStream:
    """The transfer stream of registry row ``backbone`` with ``weights`` through the project's loader
    (:func:`cxrlib.models.create_backbone`): a named tag or file that is missing raises
    :class:`cxrlib.models.WeightsNotFoundError` saying what to download and where to put it.
    ``weights="auto"`` starts from the row's published weights when they are on the machine; else from
    the book's own SSL checkpoint of the same backbone in ``ssl_dir`` (a ``02_pretrain`` run folder,
    pre-trained on the unlabeled pool, never on test images; ``info.source == "ssl"``); else from random
    values with a :class:`cxrlib.models.RandomInitWarning` (``ssl_dir=None``: no SSL start is looked for).
    ``input_mean``/``input_std``: how the model input is standardised (default: as the row expects)."""
    spec = get_spec(backbone)
    model, info = create_backbone(spec, weights, weights_dir=weights_dir, seed=seed,
                                  allow_download=allow_download, ssl_dir=ssl_dir, **timm_kwargs)
    return TransferStream(model, info, mean=spec.mean, std=spec.std,
                          input_mean=spec.mean if input_mean is None else input_mean,
                          input_std=spec.std if input_std is None else input_std)


# ----------------------------------------------------------------------------------------------- fusion
class ConcatFusion(nn.Module):
    """Layer-normalise each stream and concatenate: width = sum of the streams' widths."""

    def __init__(self, widths: Sequence[int], fused_dim: int = 0) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(int(w)) for w in widths)
        self.out_dim = int(sum(widths))

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat([norm(f) for norm, f in zip(self.norms, features)], dim=1)

    def gates(self, features: Sequence[torch.Tensor]) -> None:
        return None


class SingleStreamFusion(ConcatFusion):
    """One stream, layer-normalised (the single-stream ablations)."""

    def __init__(self, widths: Sequence[int], fused_dim: int = 0) -> None:
        if len(widths) != 1:
            raise ValueError(f"the single-stream rule takes one stream, got {len(widths)}")
        super().__init__(widths, fused_dim)


class GatedFusion(nn.Module):
    """Gated fusion of two streams (OUR design): each stream is layer-normalised and projected to
    ``fused_dim`` values (``a'``, ``b'``); a gate ``g = sigmoid(W [a'; b'] + c)`` in [0, 1] per dimension
    and image mixes them: ``g * a' + (1 - g) * b'``. The first stream is the transfer stream, so ``g``
    is the weight the transfer stream gets."""

    def __init__(self, widths: Sequence[int], fused_dim: int = 128) -> None:
        super().__init__()
        if len(widths) != 2:
            raise ValueError(f"gated fusion mixes two streams, got {len(widths)}")
        self.norms = nn.ModuleList(nn.LayerNorm(int(w)) for w in widths)
        self.projections = nn.ModuleList(nn.Linear(int(w), fused_dim) for w in widths)
        self.gate = nn.Linear(2 * fused_dim, fused_dim)
        self.out_dim = int(fused_dim)

    def project(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = (proj(norm(f)) for proj, norm, f in zip(self.projections, self.norms, features))
        return a, b

    def gates(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """The gate values (B, fused_dim), each in [0, 1]."""
        a, b = self.project(features)
        return torch.sigmoid(self.gate(torch.cat([a, b], dim=1)))

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        a, b = self.project(features)
        g = torch.sigmoid(self.gate(torch.cat([a, b], dim=1)))
        return g * a + (1 - g) * b


@dataclass(frozen=True)
class FusionRule:
    """One fusion rule: how many streams it takes and the module that fuses them."""

    key: str
    title: str
    n_streams: int
    build: Callable[[Sequence[int], int], nn.Module]
    description: str


#: Fusion rules of document 003's dual-stream network, as rows (key -> :class:`FusionRule`).
FUSION_RULES: dict[str, FusionRule] = {r.key: r for r in (
    FusionRule("concat", "concatenation", 2, ConcatFusion,
               "layer-normalise each stream, concatenate (width: sum of the streams' widths)"),
    FusionRule("gated", "gated mixture", 2, GatedFusion,
               "layer-normalise, project both streams to fused_dim, mix with a per-dimension sigmoid gate"),
    FusionRule("single", "one stream", 1, SingleStreamFusion, "layer-normalise the one stream (ablation)"),
)}


# ----------------------------------------------------------------------------------------------- variants
@dataclass(frozen=True)
class DualStreamVariant:
    """One row of the comparison: which streams the model holds and which rule fuses them."""

    key: str
    title: str
    streams: tuple[str, ...]
    fusion: str
    removes: str  # the component this row removes from the full dual-stream model ("" for none)

    def __post_init__(self) -> None:
        unknown = set(self.streams) - set(STREAM_NAMES)
        if unknown or not self.streams:
            raise ValueError(f"variant {self.key}: streams must be among {STREAM_NAMES}, got {self.streams}")
        fusion = lookup(FUSION_RULES, self.fusion, what="fusion rule")
        if fusion.n_streams != len(self.streams):
            raise ValueError(f"variant {self.key}: fusion {self.fusion!r} takes "
                             f"{fusion.n_streams} streams, not {len(self.streams)}")


#: The ablation variants of the dual-stream network, as rows (key -> :class:`DualStreamVariant`).
DUAL_STREAM_VARIANTS: dict[str, DualStreamVariant] = {v.key: v for v in (
    DualStreamVariant("dual_concat", "dual stream, concatenation", (TRANSFER, AUTOENCODER), "concat", ""),
    DualStreamVariant("dual_gated", "dual stream, gated fusion", (TRANSFER, AUTOENCODER), "gated", ""),
    DualStreamVariant("transfer_only", "transfer stream only", (TRANSFER,), "single", "the autoencoder stream"),
    DualStreamVariant("autoencoder_only", "autoencoder stream only", (AUTOENCODER,), "single",
                      "the transfer stream"),
)}


def get_dual_stream_variant(key: str | DualStreamVariant) -> DualStreamVariant:
    """The row of :data:`DUAL_STREAM_VARIANTS` named ``key`` (a row passes through)."""
    return lookup(DUAL_STREAM_VARIANTS, key, what="dual-stream variant", row_type=DualStreamVariant)


class DualStreamClassifier(nn.Module):
    """The streams of a variant, its fusion rule and a classifier (dropout + linear).

    ``forward(x)`` takes one image batch for every stream, or a mapping ``{stream name: batch}``
    (streams the variant does not hold are ignored: they are not part of the model). :meth:`head` runs
    fusion and classifier on precomputed stream features, which is what training on frozen streams
    uses (:mod:`cxrlib.training.dual_stream`).
    """

    def __init__(self, variant: str | DualStreamVariant, streams: Mapping[str, nn.Module], n_outputs: int, *,
                 fused_dim: int = 128, dropout: float = 0.2, seed: int = 0) -> None:
        super().__init__()
        self.variant = get_dual_stream_variant(variant)
        missing = [name for name in self.variant.streams if name not in streams]
        if missing:
            raise ValueError(f"variant {self.variant.key} needs the stream(s) {missing}")
        self.streams = nn.ModuleDict({name: streams[name] for name in self.variant.streams})
        widths = tuple(int(self.streams[name].out_dim) for name in self.variant.streams)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.fusion = lookup(FUSION_RULES, self.variant.fusion, what="fusion rule").build(widths, fused_dim)
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.fusion.out_dim, n_outputs))

    @property
    def widths(self) -> dict[str, int]:
        return {name: int(self.streams[name].out_dim) for name in self.variant.streams}

    def stream_features(self, x: torch.Tensor | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = x if isinstance(x, Mapping) else {name: x for name in self.variant.streams}
        return {name: self.streams[name](inputs[name]) for name in self.variant.streams}

    def _ordered(self, features: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        return [features[name] for name in self.variant.streams]

    def head(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits from the streams' features (fusion, then classifier)."""
        return self.classifier(self.fusion(self._ordered(features)))

    def gates(self, features: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        """The gated rule's gate values (B, fused_dim), else None."""
        return self.fusion.gates(self._ordered(features))

    def head_parameters(self) -> list[nn.Parameter]:
        """What trains on frozen streams: the fusion rule and the classifier."""
        return [*self.fusion.parameters(), *self.classifier.parameters()]

    def forward(self, x: torch.Tensor | Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.stream_features(x))
