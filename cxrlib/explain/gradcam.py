"""Grad-CAM (Selvaraju et al., ICCV 2017) for every backbone family of the registry, batched.

For a class score :math:`y^c` (the logit, before softmax or sigmoid) and the feature maps
:math:`A^k` (``k`` channels, an ``H x W`` grid) of a target layer,

.. math::  \\alpha_k^c = \\frac{1}{HW} \\sum_{i,j} \\frac{\\partial y^c}{\\partial A^k_{ij}}, \\qquad
           L^c = \\mathrm{ReLU}\\Big(\\sum_k \\alpha_k^c A^k\\Big),

upsampled (bilinear) to the input size. The default target layer is the registry row's ``gradcam_layer``
(:func:`target_layer`): ``layer4`` of a ResNet, ``stages.-1`` of a ConvNeXt, ``features.norm5`` of a
DenseNet, ``blocks.-1.norm1`` of a ViT.

**A grid fine enough to point.** The last stage of a CNN has stride 32: at the classroom's 64 px it is a
2 x 2 grid, and a 2 x 2 map upsampled to the image can only say "this quadrant" (its rank correlations
with another map swing between -1 and 1). :func:`choose_layer` applies one rule to every registry row at
the run's image size: among the registry's Grad-CAM layer and the outputs of the row's blocks (the ones
:mod:`cxrlib.models.freezing` counts), from the deepest down, the first whose map is at least
``min_grid`` cells a side (default 8); if none is, the one with the largest grid. Grid sizes are measured
with one forward pass of the model itself, never assumed from a family. A ViT's grid is its patch grid
at every depth, so it keeps the registry's layer.

**ViTs.** A transformer layer outputs tokens ``(B, N, C)``, not a grid: the first
``num_prefix_tokens`` are the class token (and register tokens, in DINOv2 variants with registers),
the rest are the patches in row-major order. :func:`tokens_to_grid` drops the model's own prefix
tokens and reshapes the rest to its own ``patch_embed.grid_size`` (16 x 16 for a /14 model at 224
px, 14 x 14 for a /16 model). grad-cam 1.5.7's ``vit_reshape_transform`` hard-codes one prefix token
and a 14 x 14 grid, which is wrong for DINOv2 at 224 px.

**One pass per batch.** The scores of the batch are summed and differentiated once: image ``i``'s
score depends only on image ``i`` (models in eval mode; no batch statistics), so the gradient of the
sum with respect to image ``i``'s activations is the gradient of its own score.

:func:`input_gradient` (the plain saliency map, Simonyan et al. 2014) is the second method the
sanity check of :mod:`cxrlib.explain.sanity` compares with.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cxrlib.core.config import lookup
from cxrlib.models.heads import BackboneClassifier
from cxrlib.models.paths import get_module


class GradCamLayerError(ValueError):
    """The Grad-CAM layer a registry row names is not in the model, or its output is not a grid or tokens."""


def target_layer(model: nn.Module, path: str | None = None) -> nn.Module:
    """The module Grad-CAM hooks: ``path`` inside ``model``, or the registry row's ``gradcam_layer`` inside
    the backbone of a :class:`~cxrlib.models.heads.BackboneClassifier`; a clear error when it is missing."""
    if path is None:
        if not isinstance(model, BackboneClassifier):
            raise GradCamLayerError("give the layer path for a model that is not a registry BackboneClassifier")
        root, path, where = model.backbone, model.spec.gradcam_layer, f"backbone {model.spec.key!r}"
    else:
        root, where = model, type(model).__name__
    try:
        return get_module(root, path)
    except KeyError as error:
        raise GradCamLayerError(
            f"{where}: the Grad-CAM layer {path!r} is not in the model ({error.args[0]}); fix the registry "
            "row's gradcam_layer (cxrlib/models/registry.py) or pass the layer path") from None


def prefix_and_grid(vit: nn.Module) -> tuple[int, tuple[int, int]]:
    """``(num_prefix_tokens, (rows, cols))`` of a timm VisionTransformer, read from the model itself."""
    patch_embed = getattr(vit, "patch_embed", None)
    grid = getattr(patch_embed, "grid_size", None)
    if grid is None:
        raise GradCamLayerError(f"{type(vit).__name__} has no patch_embed.grid_size: not a ViT")
    prefix = getattr(vit, "num_prefix_tokens", None)
    if prefix is None:
        prefix = int(getattr(vit, "cls_token", None) is not None) + int(getattr(vit, "num_reg_tokens", 0) or 0)
    return int(prefix), (int(grid[0]), int(grid[1]))


def tokens_to_grid(tokens: torch.Tensor, num_prefix_tokens: int, grid_size: Sequence[int]) -> torch.Tensor:
    """``(B, N, C)`` tokens -> ``(B, C, rows, cols)``: drop the prefix tokens, patches in row-major order."""
    if tokens.ndim != 3:
        raise GradCamLayerError(f"tokens have shape {tuple(tokens.shape)}, expected (batch, tokens, channels)")
    rows, cols = (int(v) for v in grid_size)
    patches = tokens[:, num_prefix_tokens:, :]
    if patches.shape[1] != rows * cols:
        raise GradCamLayerError(
            f"{tokens.shape[1]} tokens minus {num_prefix_tokens} prefix tokens = {patches.shape[1]} patches, "
            f"but the grid is {rows} x {cols}: the model was built for another image size")
    return patches.reshape(patches.shape[0], rows, cols, patches.shape[2]).permute(0, 3, 1, 2)


def reshape_for(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The transform from the target layer's output to ``(B, C, H, W)``: identity for CNNs, the model's
    own token-to-grid reshape for ViTs (usable as pytorch-grad-cam's ``reshape_transform`` too)."""
    backbone = model.backbone if isinstance(model, BackboneClassifier) else model
    if getattr(backbone, "patch_embed", None) is not None and hasattr(backbone, "blocks"):
        prefix, grid = prefix_and_grid(backbone)
        return lambda tokens: tokens_to_grid(tokens, prefix, grid)
    return lambda maps: maps


@dataclass(frozen=True)
class LayerChoice:
    """The Grad-CAM layer :func:`choose_layer` picked: its ``path`` inside the classifier, its ``grid``
    (rows, cols) at ``image_size``, the ``min_grid`` asked for and every candidate's grid, in rule order."""

    path: str
    grid: tuple[int, int]
    image_size: int
    min_grid: int
    candidates: tuple[tuple[str, tuple[int, int]], ...]

    @property
    def meets_min(self) -> bool:
        return min(self.grid) >= self.min_grid

    def text(self) -> str:
        """``"backbone.layer2 (8 x 8 grid at 64 px)"``, saying so when no layer reaches ``min_grid``."""
        grid = f"{self.grid[0]} x {self.grid[1]} grid at {self.image_size} px"
        if self.meets_min:
            return f"{self.path} ({grid})"
        return (f"{self.path} ({grid}: no layer reaches {self.min_grid} x {self.min_grid} at this size, so the "
                "map can only locate coarsely)")


def layer_candidates(model: nn.Module) -> list[str]:
    """Grad-CAM candidates of a registry :class:`~cxrlib.models.heads.BackboneClassifier`, as paths inside it:
    the row's ``gradcam_layer``, then the last module of each of the row's blocks from the deepest down."""
    from cxrlib.models.paths import expand_groups

    if not isinstance(model, BackboneClassifier):
        raise GradCamLayerError("layer candidates come from the registry row of a BackboneClassifier")
    groups = expand_groups(model.backbone, model.spec.blocks)
    paths = [model.spec.gradcam_layer] + [group[-1] for group in reversed(groups)]
    return list(dict.fromkeys(f"backbone.{p}" for p in paths))


def choose_layer(model: nn.Module, image_size: int, *, min_grid: int = 8) -> LayerChoice:
    """The Grad-CAM layer of ``model`` at ``image_size`` px by the rule of the module docstring: the first
    of :func:`layer_candidates` whose grid is at least ``min_grid`` a side, else the first with the largest
    grid. One forward pass of a blank image measures every candidate's output."""
    if min_grid < 1:
        raise ValueError(f"min_grid must be >= 1, got {min_grid}")
    paths = layer_candidates(model)
    reshape = reshape_for(model)
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [target_layer(model, p).register_forward_hook(
        lambda m, i, o, p=p: shapes.__setitem__(p, tuple(o.shape)) if isinstance(o, torch.Tensor) else None)
        for p in paths]
    try:
        parameter = next(model.parameters())
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size, device=parameter.device, dtype=parameter.dtype))
        model.train(was_training)
    finally:
        for handle in handles:
            handle.remove()
    grids = []
    for p in paths:
        shape = shapes.get(p, ())
        if len(shape) == 3:
            shape = tuple(reshape(torch.zeros(shape, device="meta")).shape)
        if len(shape) == 4:
            grids.append((p, (int(shape[2]), int(shape[3]))))
    if not grids:
        raise GradCamLayerError(f"no Grad-CAM candidate of {model.spec.key} returns a grid or tokens at {image_size} px")
    fine = [g for g in grids if min(g[1]) >= min_grid]
    path, grid = fine[0] if fine else max(grids, key=lambda g: min(g[1]))  # max keeps the first of equals
    return LayerChoice(path, grid, int(image_size), int(min_grid), tuple(grids))


def _as_targets(targets, n: int, device) -> torch.Tensor:
    t = torch.as_tensor(targets, dtype=torch.long, device=device).reshape(-1)
    if t.numel() == 1 and n > 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"{t.numel()} target classes for a batch of {n} images")
    return t


def _upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def gradcam(model: nn.Module, x: torch.Tensor, targets, layer: nn.Module | str | None = None,
            reshape: Callable[[torch.Tensor], torch.Tensor] | None = None, upsample: bool = True) -> np.ndarray:
    """Grad-CAM maps ``(B, H, W)`` (float32, non-negative, not normalised) of class ``targets`` (one index
    per image, or one for all) for the batch ``x``: one forward and one backward pass. ``layer``: a module,
    a path inside ``model`` (e.g. :attr:`LayerChoice.path`), or None for the registry row's layer."""
    model.eval()
    layer = target_layer(model, layer) if layer is None or isinstance(layer, str) else layer
    reshape = reshape_for(model) if reshape is None else reshape
    captured: dict[str, torch.Tensor] = {}
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.__setitem__("a", output))
    try:
        with torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)  # so frozen layers still carry a gradient
            logits = model(x)
            t = _as_targets(targets, x.shape[0], logits.device)
            score = logits.gather(1, t[:, None]).sum()
            activation = captured.get("a")
            if not isinstance(activation, torch.Tensor):
                raise GradCamLayerError(f"the target layer {type(layer).__name__} returned {type(activation).__name__}")
            (gradient,) = torch.autograd.grad(score, activation)
    finally:
        handle.remove()
    with torch.no_grad():
        a, g = activation.detach(), gradient.detach()
        if a.ndim == 3:
            a, g = reshape(a), reshape(g)
        if a.ndim != 4:
            raise GradCamLayerError(f"the target layer's output has shape {tuple(a.shape)}: not a feature grid")
        weights = g.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * a).sum(dim=1))
        if upsample:
            cam = _upsample(cam, x.shape[-2:])
    return cam.float().cpu().numpy()


def input_gradient(model: nn.Module, x: torch.Tensor, targets, layer=None) -> np.ndarray:
    """Saliency ``(B, H, W)``: the largest absolute gradient of the class score over the input channels.
    ``layer`` is not used (the gradient is taken at the input); it is there so that every method of
    :data:`EXPLANATION_METHODS` is called alike."""
    model.eval()
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        logits = model(x)
        t = _as_targets(targets, x.shape[0], logits.device)
        (gradient,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), x)
    return gradient.abs().amax(dim=1).float().cpu().numpy()


EXPLANATION_METHODS: dict[str, Callable[..., np.ndarray]] = {"Grad-CAM": gradcam, "input gradient": input_gradient}
"""Explanation methods by name: ``method(model, x, targets, layer=None) -> (B, H, W)`` maps."""


def explain_batches(model: nn.Module, images: torch.Tensor, targets, method: str = "Grad-CAM",
                    batch_size: int = 32, layer: str | None = None) -> np.ndarray:
    """``EXPLANATION_METHODS[method]`` over ``images`` in batches (one forward/backward per batch);
    ``layer``: Grad-CAM's layer path (:attr:`LayerChoice.path`; None: the registry row's)."""
    explain = lookup(EXPLANATION_METHODS, method, what="explanation method")
    t = torch.as_tensor(targets, dtype=torch.long).reshape(-1)
    if t.numel() == 1:
        t = t.expand(images.shape[0])
    out = [explain(model, images[i:i + batch_size], t[i:i + batch_size], layer=layer)
           for i in range(0, images.shape[0], batch_size)]
    return np.concatenate(out) if out else np.zeros((0, *images.shape[-2:]), dtype=np.float32)


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """Each map divided by its maximum (all-zero maps stay zero), for display."""
    maps = np.asarray(maps, dtype=np.float32)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, *([1] * (maps.ndim - 1)))
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
