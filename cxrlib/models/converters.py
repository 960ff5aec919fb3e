"""Converters from published checkpoint formats to timm parameter names.

Each converter takes what ``torch.load`` returns for the original file and gives a state dict with
timm's names, without the original pre-training head. They accept keys that are already clean, so a
file someone converted by hand loads too.

* SwAV (Caron et al., 2020; torch.hub ``facebookresearch/swav``, ``swav_800ep_pretrain.pth.tar``):
  torchvision ResNet-50 names behind a ``module.`` prefix (DistributedDataParallel), plus the
  pre-training ``projection_head.*`` and ``prototypes.*``, which are dropped. The training checkpoint
  (``{"epoch", "state_dict", "optimizer", ...}``) is unwrapped too.
* CheXNet (Rajpurkar et al., 2017; reimplementation github.com/arnoweng/CheXNet, ``model.pth.tar``):
  ``{"state_dict": ...}`` with keys ``module.densenet121.features...`` from a 2017 torchvision
  DenseNet, whose dense layers were named ``norm.1``/``conv.1``/``norm.2``/``conv.2`` (today
  ``norm1``/``conv1``/...), and a 14-way ``classifier.0`` (Linear, then Sigmoid) for the 14
  ChestX-ray14 findings. The classifier is dropped unless ``keep_classifier=True``, which maps it to
  timm's ``classifier`` (for a 14-class ``densenet121``).
* timm release files (``timm_release``): checkpoints that timm itself downloads from a GitHub release
  URL rather than the Hugging Face hub (timm 1.0.31 hosts ``legacy_xception.tf_in1k`` only as
  ``xception-43020ad28.pth``, Cadene's port of the Keras Xception weights). They already carry timm's
  names; the ImageNet classifier ``fc`` is dropped by the strict loader like every classifier.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from torch import Tensor


class WeightsFormatError(ValueError):
    """A weights file exists but does not hold what the backbone expects."""


def unwrap_state_dict(checkpoint: Mapping) -> dict[str, Tensor]:
    """The tensor dict inside a training checkpoint (``state_dict`` or ``model`` entry), or the dict itself."""
    for wrapper in ("state_dict", "model"):
        inner = checkpoint.get(wrapper) if isinstance(checkpoint, Mapping) else None
        if isinstance(inner, Mapping):
            return dict(inner)
    return dict(checkpoint)


def _strip_prefix(key: str, prefix: str) -> str:
    return key[len(prefix):] if key.startswith(prefix) else key


SWAV_PRETRAINING_HEADS = ("projection_head.", "prototypes.", "fc.")


def swav_to_timm(checkpoint: Mapping) -> dict[str, Tensor]:
    """SwAV ResNet-50 checkpoint -> timm ``resnet50`` backbone (no classifier)."""
    state = unwrap_state_dict(checkpoint)
    out = {}
    for key, value in state.items():
        key = _strip_prefix(key, "module.")
        if key.startswith(SWAV_PRETRAINING_HEADS):
            continue
        out[key] = value
    if not any(k.startswith("layer1.") for k in out):
        raise WeightsFormatError(
            "not a SwAV ResNet-50 checkpoint: no 'layer1.' parameters after removing 'module.' "
            f"(first keys: {list(state)[:5]})"
        )
    return out


_LEGACY_DENSE_LAYER = re.compile(r"^(.*\.denselayer\d+\.(?:norm|relu|conv))\.([12])\.(.+)$")


def chexnet_to_timm(checkpoint: Mapping, keep_classifier: bool = False) -> dict[str, Tensor]:
    """CheXNet (arnoweng) checkpoint -> timm ``densenet121`` (backbone only, or with its 14-way classifier)."""
    state = unwrap_state_dict(checkpoint)
    out = {}
    for key, value in state.items():
        key = _strip_prefix(_strip_prefix(key, "module."), "densenet121.")
        key = _LEGACY_DENSE_LAYER.sub(r"\1\2.\3", key)
        if key.startswith("classifier."):
            if not keep_classifier:
                continue
            # CheXNet's classifier is Sequential(Linear, Sigmoid); timm's is the Linear alone.
            key = _strip_prefix(key, "classifier.0.")
            key = key if key.startswith("classifier.") else "classifier." + key
        out[key] = value
    if not any(k.startswith("features.denseblock1.") for k in out):
        raise WeightsFormatError(
            "not a CheXNet DenseNet-121 checkpoint: no 'features.denseblock1.' parameters after removing "
            f"'module.densenet121.' (first keys: {list(state)[:5]})"
        )
    return out


#: Checkpoint format -> the function that turns such a state dict into timm's names (SwAV, CheXNet).
CONVERTERS: dict[str, Callable[[Mapping], dict[str, Tensor]]] = {
    "swav": swav_to_timm,
    "chexnet": chexnet_to_timm,
    "timm_release": unwrap_state_dict,
}
