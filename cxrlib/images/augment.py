"""The documents' training augmentations as named policies (data), built with torchvision v2.

A policy is an ordered list of :class:`AugmentStep` rows; :func:`build_augmentation` turns it into
one callable that takes a grey ``uint8`` tensor of shape ``(1, H, W)`` (the cached output of
:mod:`cxrlib.images.preprocess`) and returns one of the same shape. Augmenting in ``uint8`` before the
float stage means that the area a rotation uncovers is filled with 0 (black), like the zero padding
of document 004, and the float stage (scaling, ImageNet standardisation) is unchanged.

Policies (:data:`POLICIES`)
---------------------------
* ``"d000"``: document 000, section 3.4: "random horizontal flip and random rotation from -60 to 60
  degrees were randomly applied on the input images during training". The flip probability is not
  stated: 0.5 (torchvision's default).
* ``"d001"``: document 001, Methods, "SL Training Configuration": "random rotation within the range of
  [0, 8] degrees and random flipping". Read literally, the angle is drawn from [0, 8] degrees; the
  flip is horizontal with probability 0.5 (not stated). The authors' public code
  (github.com/tayebiarasteh/vit-med, ``data/data_provider.py``) uses ``RandomRotation(degrees=7)``,
  i.e. +-7 degrees, and ``RandomHorizontalFlip(p=0.5)``; we follow the paper's text.
* ``"d004"``: document 004, section 4.3.1, downstream task: square zero padding and resize to 224
  (deterministic: the ``"d004"`` pipeline of :data:`cxrlib.images.preprocess.PIPELINES`, done once and
  cached), then random rotation in [-15, 15] degrees, random translation up to 5 % of the side along
  each axis, random scale in [0.95, 1.05], random horizontal flip with probability 0.5. Rotation,
  translation and scale are one :class:`~torchvision.transforms.v2.RandomAffine` (one resampling
  instead of three, the same distribution of geometric transforms).
* ``"none"``: no augmentation (validation and test, always).

Self-supervised *view* policies (two independent draws of one policy make a positive pair,
:mod:`cxrlib.training.ssl`):

* ``"d004_moco"``: document 004, section 4.3.2: MoCo v2 pre-training uses the downstream list
  (``"d004"``) unchanged, at training and validation time alike. The thesis argues (section 4.3) that
  blur, noise, scaling, translation and cropping "corrupt important parts" of a radiograph, so it keeps
  every transform mild.
* ``"d004_simclr"``: document 004, section 4.3.3: random resized crop of a *square* part back to the
  input size, random rotation +-20 degrees, random horizontal flip 0.5. The crop's area range is not
  stated; torchvision's default ``(0.08, 1.0)`` is used, i.e. a strong crop, which the thesis names as
  the likely cause of its SimCLR model doing worse than no pre-training (section 5.2.3).
* ``"mild_intensity"``: not a document's list; the book's classroom views. Document 004's mild geometry
  (``"d004_moco"``) plus brightness and contrast jitter (strength 0.3, probability 0.8): the grey levels
  of a radiograph vary with exposure and processing between machines, which views that differ only in
  geometry never teach the encoder to ignore. No crop and no blur: in exploratory runs on the classroom
  pool (one run each), crops (the two SimCLR lists) gave a lower linear-probe AUROC in notebook 06's
  protocol (``book/developers.md``, "The classroom pre-training").
* ``"d002_simclr"``: document 002, section III: "resized crop, horizontal flip, rotation, Gaussian blur
  and color-jitter". No parameter is stated; we take SimCLR's own (Chen et al. 2020, appendix A):
  crop area (0.08, 1) with aspect (3/4, 4/3), flip 0.5, blur with probability 0.5, sigma in
  [0.1, 2.0] and a kernel of 10 % of the side, colour jitter with probability 0.8 at strength 0.8
  (brightness and contrast only: saturation and hue do not exist in a grey image). The rotation range
  is not stated either: +-10 degrees (our choice).

The interpolation of rotations is not stated by any document; we use bilinear (torchvision's
default is nearest, which leaves jagged edges on fine lung structures).

Document 000's *oversampling* (section 3.2) uses fixed transforms, not random ones: the original,
its horizontal mirror and rotations by -40, -20, 20 and 40 degrees. They are the
:data:`IMAGE_VARIANTS` below, applied by :class:`cxrlib.images.tasks.CxrDataset` to the copies that
:mod:`cxrlib.images.sampling` makes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from cxrlib.core.config import lookup
from cxrlib.images.sampling import D000_OVERSAMPLE_VARIANTS

Transform = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AugmentStep:
    """One random transform: a name in :data:`STEP_BUILDERS` and its keyword arguments."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AugmentPolicy:
    """A named, ordered list of random transforms and where it comes from."""

    name: str
    steps: tuple[AugmentStep, ...]
    reference: str
    preprocess: str | None = None  # the deterministic pipeline the document applies before (cxrlib.images.preprocess)

    def describe(self) -> str:
        """One line for captions and parameter tables."""
        if not self.steps:
            return f"{self.name}: no augmentation"
        parts = [f"{s.name}({', '.join(f'{k}={v}' for k, v in s.options.items())})" for s in self.steps]
        return f"{self.name}: " + " -> ".join(parts)


class ResizedCropSameSize(torch.nn.Module):
    """Random resized crop back to the input's own size (the cached images already have the model size)."""

    def __init__(self, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation: str = "bilinear") -> None:
        super().__init__()
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.interpolation = InterpolationMode(interpolation)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        top, left, height, width = v2.RandomResizedCrop.get_params(image, list(self.scale), list(self.ratio))
        return F.resized_crop(image, top, left, height, width, list(image.shape[-2:]),
                              interpolation=self.interpolation, antialias=True)


class GaussianBlurFraction(torch.nn.Module):
    """Gaussian blur with probability ``p``, kernel ``kernel_fraction`` of the side (odd), sigma drawn in ``sigma``."""

    def __init__(self, p: float = 0.5, kernel_fraction: float = 0.1, sigma=(0.1, 2.0)) -> None:
        super().__init__()
        self.p, self.kernel_fraction, self.sigma = p, kernel_fraction, tuple(sigma)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return image
        kernel = max(3, int(self.kernel_fraction * image.shape[-1]) // 2 * 2 + 1)
        sigma = float(torch.empty(()).uniform_(*self.sigma))
        return F.gaussian_blur(image, [kernel, kernel], [sigma, sigma])


class GaussianNoise(torch.nn.Module):
    """Additive Gaussian noise (standard deviation ``std`` in grey levels of 255) with probability ``p``."""

    def __init__(self, p: float = 0.5, std: float = 10.0) -> None:
        super().__init__()
        self.p, self.std = p, std

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return image
        noisy = image.float() + torch.randn(image.shape) * self.std
        return noisy.round().clamp(0, 255).to(image.dtype)


STEP_BUILDERS: dict[str, Callable[..., Transform]] = {
    "horizontal_flip": lambda p=0.5: v2.RandomHorizontalFlip(p=p),
    "rotation": lambda degrees, interpolation="bilinear", fill=0: v2.RandomRotation(
        degrees=degrees, interpolation=InterpolationMode(interpolation), fill=fill
    ),
    "affine": lambda degrees=0, translate=None, scale=None, interpolation="bilinear", fill=0: v2.RandomAffine(
        degrees=degrees, translate=translate, scale=scale, interpolation=InterpolationMode(interpolation), fill=fill
    ),
    "resized_crop": ResizedCropSameSize,
    "gaussian_blur": GaussianBlurFraction,
    "gaussian_noise": GaussianNoise,
    # colour jitter of a grey image: brightness and contrast (saturation and hue have no meaning)
    "brightness_contrast": lambda brightness=0.8, contrast=0.8, p=0.8: v2.RandomApply(
        [v2.ColorJitter(brightness=brightness, contrast=contrast)], p=p
    ),
}
"""Step name -> builder of a torchvision v2 transform (keyword arguments from :class:`AugmentStep`)."""

POLICIES: dict[str, AugmentPolicy] = {
    p.name: p
    for p in (
        AugmentPolicy("none", (), "no augmentation (validation and test sets, and runs without augmentation)"),
        AugmentPolicy(
            "d000",
            (
                AugmentStep("horizontal_flip", {"p": 0.5}),
                AugmentStep("rotation", {"degrees": (-60.0, 60.0)}),
            ),
            "document 000, section 3.4: random horizontal flip, random rotation from -60 to 60 degrees "
            "(flip probability not stated: 0.5)",
            preprocess="d000",
        ),
        AugmentPolicy(
            "d001",
            (
                AugmentStep("rotation", {"degrees": (0.0, 8.0)}),
                AugmentStep("horizontal_flip", {"p": 0.5}),
            ),
            "document 001, Methods: random rotation within [0, 8] degrees and random flipping "
            "(flip direction and probability not stated: horizontal, 0.5)",
            preprocess="d001",
        ),
        AugmentPolicy(
            "d004",
            (
                AugmentStep("affine", {"degrees": (-15.0, 15.0), "translate": (0.05, 0.05), "scale": (0.95, 1.05)}),
                AugmentStep("horizontal_flip", {"p": 0.5}),
            ),
            "document 004, section 4.3.1: (square zero padding, resize 224: cached pipeline 'd004'), random "
            "rotation +-15 degrees, random translation 5 %, random scale 0.95-1.05, random horizontal flip 0.5",
            preprocess="d004",
        ),
        AugmentPolicy(
            "d004_moco",
            (
                AugmentStep("affine", {"degrees": (-15.0, 15.0), "translate": (0.05, 0.05), "scale": (0.95, 1.05)}),
                AugmentStep("horizontal_flip", {"p": 0.5}),
            ),
            "document 004, section 4.3.2: MoCo v2 views use the downstream list unchanged (rotation +-15, "
            "translation 5 %, scale 0.95-1.05, horizontal flip 0.5), also at validation",
            preprocess="d004",
        ),
        AugmentPolicy(
            "d004_simclr",
            (
                AugmentStep("resized_crop", {"scale": (0.08, 1.0), "ratio": (1.0, 1.0)}),
                AugmentStep("rotation", {"degrees": (-20.0, 20.0)}),
                AugmentStep("horizontal_flip", {"p": 0.5}),
            ),
            "document 004, section 4.3.3: random resized square crop (area range not stated: torchvision's "
            "0.08-1), rotation +-20, horizontal flip 0.5",
            preprocess="d004",
        ),
        AugmentPolicy(
            "mild_intensity",
            (
                AugmentStep("affine", {"degrees": (-15.0, 15.0), "translate": (0.05, 0.05), "scale": (0.95, 1.05)}),
                AugmentStep("horizontal_flip", {"p": 0.5}),
                AugmentStep("brightness_contrast", {"brightness": 0.3, "contrast": 0.3, "p": 0.8}),
            ),
            "the book's classroom views (no document's list): document 004's mild geometry (d004_moco) plus "
            "brightness and contrast jitter of strength 0.3 with probability 0.8 (document 002's colour jitter, "
            "milder); no crop and no blur",
        ),
        AugmentPolicy(
            "d002_simclr",
            (
                AugmentStep("resized_crop", {"scale": (0.08, 1.0), "ratio": (3 / 4, 4 / 3)}),
                AugmentStep("horizontal_flip", {"p": 0.5}),
                AugmentStep("rotation", {"degrees": (-10.0, 10.0)}),
                AugmentStep("gaussian_blur", {"p": 0.5, "kernel_fraction": 0.1, "sigma": (0.1, 2.0)}),
                AugmentStep("brightness_contrast", {"brightness": 0.8, "contrast": 0.8, "p": 0.8}),
            ),
            "document 002, section III: resized crop, horizontal flip, rotation, Gaussian blur, colour jitter "
            "(no parameters stated: SimCLR's defaults; rotation +-10 our choice)",
        ),
    )
}

SSL_POLICIES = ("d004_moco", "d004_simclr", "d002_simclr", "mild_intensity")
"""Policies written for self-supervised views (any policy can be used): the documents' three and the book's
classroom views (``mild_intensity``)."""


def get_policy(policy: str | AugmentPolicy) -> AugmentPolicy:
    """The policy named ``policy`` (a policy passes through)."""
    return lookup(POLICIES, policy, what="augmentation policy", row_type=AugmentPolicy)


def build_augmentation(policy: str | AugmentPolicy) -> Transform | None:
    """The policy as one callable on ``(1, H, W)`` uint8 tensors, or ``None`` for ``"none"``."""
    policy = get_policy(policy)
    if not policy.steps:
        return None
    transforms = []
    for step in policy.steps:
        transforms.append(lookup(STEP_BUILDERS, step.name, what="augmentation step")(**dict(step.options)))
    return v2.Compose(transforms)


def _rotate(angle: float) -> Transform:
    return lambda image: F.rotate(image, angle, interpolation=InterpolationMode.BILINEAR, fill=0)


IMAGE_VARIANTS: dict[str, Transform | None] = {
    "original": None,
    "hflip": F.horizontal_flip,
    "rotate_-40": _rotate(-40.0),
    "rotate_-20": _rotate(-20.0),
    "rotate_20": _rotate(20.0),
    "rotate_40": _rotate(40.0),
}
"""Fixed transforms by name (document 000, section 3.2: the six versions of an oversampled image,
:data:`cxrlib.images.sampling.D000_OVERSAMPLE_VARIANTS`)."""

if set(D000_OVERSAMPLE_VARIANTS) - set(IMAGE_VARIANTS):  # the sampler names copies; this module draws them
    raise ImportError(f"variants {set(D000_OVERSAMPLE_VARIANTS) - set(IMAGE_VARIANTS)} have no transform")


def apply_variant(image: torch.Tensor, variant: str | None) -> torch.Tensor:
    """Apply the fixed transform ``variant`` (a key of :data:`IMAGE_VARIANTS`; ``None``/``"original"``: as is)."""
    if variant is None:
        return image
    transform = lookup(IMAGE_VARIANTS, variant, what="image variant")
    return image if transform is None else transform(image)
