"""Fake weight files in the published formats, for the tests and the paper smoke harness.

No pretrained weight file can be downloaded on the development machines. To run the real loading
code (file lookup, converters, timm's checkpoint filter, the strict shape check) anyway, these
functions write, from a **randomly initialised** model of the same architecture, a file in the
format of each published source:

* a timm-hosted source (``timm_tag``): the backbone's state dict as ``safetensors``, named as
  :meth:`WeightSource.filename` says (``<timm name>.<tag>.safetensors``);
* SwAV (``converter="swav"``): torchvision ResNet-50 names behind ``module.``, plus the pre-training
  ``projection_head.*`` and ``prototypes.*`` (:func:`swav_checkpoint`);
* CheXNet (``converter="chexnet"``): ``{"state_dict": ...}`` with 2017 DenseNet names
  (``norm.1``, ``conv.2``) behind ``module.densenet121.`` and the 14-way ``classifier.0``
  (:func:`chexnet_checkpoint`);
* a timm release file (``converter="timm_release"``, e.g. ``xception-43020ad28.pth``): timm's own names,
  with the 1000-way ImageNet classifier ``fc`` the release carries, saved with ``torch.save``.

:func:`write_fake_weights` puts the file where :func:`cxrlib.models.weights.load_weights` looks for
a tag (``<weights_dir>/<backbone key>/<file>``) and a sidecar ``<file>.smoke.json`` beside it; a
file with a matching sidecar is reported by the loader as :data:`~cxrlib.models.weights.SMOKE_WEIGHTS`
(every caption then says that these are not the published weights).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import torch

from cxrlib.core.config import lookup
from cxrlib.core.io import file_sha256

from .registry import BackboneSpec, WeightSource, get_spec
from .weights import SMOKE_SIDECAR, SMOKE_WEIGHTS, resolve_weights_dir

__all__ = ["FORMAT_WRITERS", "chexnet_checkpoint", "seeded_model", "swav_checkpoint", "write_fake_weights"]


def seeded_model(timm_name: str, seed: int = 1, **kwargs) -> torch.nn.Module:
    """``timm.create_model(timm_name, pretrained=False, **kwargs)`` drawn from ``seed`` (global RNG untouched)."""
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(timm_name, pretrained=False, **kwargs)


def swav_checkpoint(seed: int = 1) -> tuple[dict, dict]:
    """(timm ``resnet50`` backbone state dict, the same weights as ``swav_800ep_pretrain.pth.tar`` holds
    them: ``module.`` prefix, projection head and prototypes, no ``fc``)."""
    resnet = seeded_model("resnet50", seed=seed, num_classes=0)
    state = {f"module.{k}": v for k, v in resnet.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    for name, shape in (("projection_head.0.weight", (2048, 2048)), ("projection_head.0.bias", (2048,)),
                        ("projection_head.1.weight", (2048,)), ("projection_head.1.bias", (2048,)),
                        ("projection_head.1.running_mean", (2048,)), ("projection_head.1.running_var", (2048,)),
                        ("projection_head.3.weight", (128, 2048)), ("projection_head.3.bias", (128,)),
                        ("prototypes.weight", (3000, 128))):
        state[f"module.{name}"] = torch.rand(shape, generator=generator) if name.endswith("running_var") \
            else torch.randn(shape, generator=generator)
    return resnet.state_dict(), state


def _legacy_densenet(key: str) -> str:
    """timm/torchvision >= 0.3 DenseNet name -> the 2017 name (denselayerN.norm1 -> denselayerN.norm.1)."""
    return re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", key)


def chexnet_checkpoint(seed: int = 1) -> tuple[dict, dict]:
    """(timm ``densenet121`` state dict with a 14-way classifier, the same weights as the arnoweng
    ``model.pth.tar`` holds them: ``{"epoch", "arch", "best_loss", "state_dict"}`` with 2017 names)."""
    densenet = seeded_model("densenet121", seed=seed, num_classes=14)
    state = densenet.state_dict()
    legacy = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue  # 2017 BatchNorm had no step counter
        if key.startswith("classifier."):
            key = key.replace("classifier.", "classifier.0.")  # Sequential(Linear, Sigmoid)
        legacy["module.densenet121." + _legacy_densenet(key)] = value
    return state, {"epoch": 1, "arch": "densenet121", "best_loss": 0.1, "state_dict": legacy}


def _write_timm(spec: BackboneSpec, src: WeightSource, path: Path, seed: int) -> None:
    from safetensors.torch import save_file

    model = seeded_model(spec.timm_name, seed=seed, **{**spec.create_kwargs, "num_classes": 0})
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def _write_swav(spec: BackboneSpec, src: WeightSource, path: Path, seed: int) -> None:
    torch.save(swav_checkpoint(seed)[1], path)


def _write_chexnet(spec: BackboneSpec, src: WeightSource, path: Path, seed: int) -> None:
    torch.save(chexnet_checkpoint(seed)[1], path)


def _write_timm_release(spec: BackboneSpec, src: WeightSource, path: Path, seed: int) -> None:
    model = seeded_model(spec.timm_name, seed=seed, **{**spec.create_kwargs, "num_classes": 1000})
    torch.save(model.state_dict(), path)


FORMAT_WRITERS: dict[str | None, Callable[[BackboneSpec, WeightSource, Path, int], None]] = {
    None: _write_timm,
    "swav": _write_swav,
    "chexnet": _write_chexnet,
    "timm_release": _write_timm_release,
}
"""A source's converter (None: a timm-hosted file) -> the writer of a fake file in that format."""


def write_fake_weights(key: str | BackboneSpec, tag: str | None = None, weights_dir=None, *, seed: int = 1) -> Path:
    """Write random weights for source ``tag`` (default: the row's default) of backbone ``key`` in the
    source's published format where the loader looks for it, with the smoke sidecar; returns the path."""
    spec = get_spec(key)
    src = spec.source(tag or spec.default_weights)
    write = lookup(FORMAT_WRITERS, src.converter, what="fake-file writer (FORMAT_WRITERS) for converter")
    path = resolve_weights_dir(weights_dir) / spec.key / src.filename(spec.timm_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(spec, src, path, seed)
    sidecar = path.with_name(path.name + SMOKE_SIDECAR)
    sidecar.write_text(json.dumps({"label": SMOKE_WEIGHTS, "backbone": spec.key, "tag": src.tag, "seed": seed,
                                   "sha256": file_sha256(path)}, indent=1))
    return path
