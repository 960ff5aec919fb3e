"""Partial fine-tuning: train only the last ``k`` blocks of the backbone and the head.

Document 000 (section 3.4 and Tables 2-6) tunes "the number of unfrozen encoder blocks": 0-6 for
DINOv2 ViT-S/14, DINO ViT-S/16 and ConvNeXt-V2 atto ("only up to half of the convolution and
transformer blocks"), 0-4 for SwAV ResNet-50 and CheXNet DenseNet-121. The blocks counted are the
registry's ``blocks`` (see :mod:`cxrlib.models.registry`):

* ViT: the 12 transformer blocks (the final ``norm`` trains with the last one);
* ConvNeXt-V2 atto: its 12 ConvNeXt blocks, 2+2+6+2 over four stages (a stage's downsampling layer
  trains with that stage's first block; ``head.norm`` with the last block);
* ResNet: the four stages ``layer1``..``layer4``;
* DenseNet-121: the four dense blocks, each with the transition after it (``norm5`` after the last).

``k = 0`` trains the head only. The stem (patch embedding and position embedding, or the first
convolution) trains only with ``unfrozen_blocks="all"``, the full fine-tuning of documents 001 and 004.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .heads import BackboneClassifier
from .paths import expand_groups, parameters_under
from .registry import BackboneSpec, get_spec

ALL = "all"


@dataclass(frozen=True)
class Block:
    """One unit of unfreezing: a label, the module paths it spans, and their parameter names."""

    label: str
    paths: tuple[str, ...]
    parameters: tuple[str, ...]


@dataclass(frozen=True)
class FreezeReport:
    """What trains after :func:`unfreeze_last`."""

    backbone_key: str
    unfrozen_blocks: int | str
    n_blocks: int
    trainable_blocks: tuple[str, ...]
    trainable_parameters: tuple[str, ...]
    n_trainable: int
    n_total: int

    def summary(self) -> str:
        which = "all layers" if self.unfrozen_blocks == ALL else (
            f"last {self.unfrozen_blocks} of {self.n_blocks} blocks + head" if self.unfrozen_blocks else "head only"
        )
        return (
            f"{self.backbone_key}: {which} train "
            f"({self.n_trainable / 1e6:.2f} M of {self.n_total / 1e6:.2f} M parameters)"
        )


def backbone_blocks(backbone: nn.Module, key: str | BackboneSpec) -> list[Block]:
    """The ordered blocks of a timm backbone as the registry row ``key`` counts them."""
    spec = get_spec(key)
    groups = [list(g) for g in expand_groups(backbone, spec.blocks)]
    if not groups:
        raise ValueError(f"{spec.key}: the block patterns {spec.blocks} match no module")
    groups[-1].extend(spec.block_tail)
    blocks = []
    for paths in groups:
        names = tuple(n for path in paths for n in parameters_under(backbone, path))
        blocks.append(Block(label="+".join(paths), paths=tuple(paths), parameters=names))
    return blocks


def stem_parameters(backbone: nn.Module, key: str | BackboneSpec) -> list[str]:
    """Parameters before the first block (never unfrozen by a block count)."""
    return [n for path in get_spec(key).stem for n in parameters_under(backbone, path)]


def unfreeze_last(
    model: BackboneClassifier | nn.Module, k: int | str, *, key: str | BackboneSpec | None = None
) -> FreezeReport:
    """Freeze the backbone except its last ``k`` blocks; the head (if any) always trains.

    ``model`` is a :class:`BackboneClassifier` or a bare timm backbone (then pass ``key``).
    ``k="all"`` makes every parameter trainable. Returns what trains.
    """
    if isinstance(model, BackboneClassifier):
        spec, backbone, head = model.spec, model.backbone, model.head
    else:
        if key is None:
            raise ValueError("pass key=... to unfreeze a bare backbone")
        spec, backbone, head = get_spec(key), model, None
    blocks = backbone_blocks(backbone, spec)
    if k == ALL:
        chosen = blocks
        for p in model.parameters():
            p.requires_grad_(True)
    else:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(blocks):
            raise ValueError(f"{spec.key}: unfrozen blocks must be 0..{len(blocks)} or 'all', got {k!r}")
        chosen = blocks[len(blocks) - k:] if k else []
        trainable = {n for b in chosen for n in b.parameters}
        for name, p in backbone.named_parameters():
            p.requires_grad_(name in trainable)
        if head is not None:
            for p in head.parameters():
                p.requires_grad_(True)
    if isinstance(model, BackboneClassifier):
        model.train(model.training)  # re-apply frozen-BatchNorm handling to the new split
    names = tuple(n for n, p in model.named_parameters() if p.requires_grad)
    return FreezeReport(
        backbone_key=spec.key,
        unfrozen_blocks=k,
        n_blocks=len(blocks),
        trainable_blocks=tuple(b.label for b in chosen),
        trainable_parameters=names,
        n_trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        n_total=sum(p.numel() for p in model.parameters()),
    )
