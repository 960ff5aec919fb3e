"""Backbones for transfer learning: a registry of data rows, weights that say where they came from.

**The registry.** Every backbone the companion uses is one row of :data:`REGISTRY`
(:class:`BackboneSpec`): the timm architecture, the pre-trained weights it can start from (one
:class:`WeightSource` per tag, e.g. ``dinov2``, ``imagenet``, ``swav``), the ordered blocks that
partial fine-tuning unfreezes, the layer Grad-CAM hooks, and the input size and normalisation the
weights were trained with. Rows, by document:

======================  ===========================  ===========================  ==========
key                     architecture (timm)          weights (default first)      documents
======================  ===========================  ===========================  ==========
``dinov2_vits14``       vit_small_patch14_dinov2     dinov2 (LVD-142M)            000
``convnextv2_atto``     convnextv2_atto              fcmae, fcmae_ft_in1k         000
``swav_resnet50``       resnet50                     swav (torch.hub)             000
``dino_vits16``         vit_small_patch16_224        dino                         000
``chexnet_densenet121`` densenet121                  chexnet (arnoweng), imagenet 000
``resnet18``            resnet18                     imagenet (torchvision)       004
``vitb14_dinov2``       vit_base_patch14_dinov2      dinov2                       001
``vitb16_in21k``        vit_base_patch16_224         imagenet21k, ..._augreg      001
``wide_resnet50``       wide_resnet50_2              imagenet (torchvision)       002
``legacy_xception``     legacy_xception              imagenet (tf_in1k)           003
``vgg16_bn``            vgg16_bn                     imagenet (torchvision)       003
``vgg11_bn``            vgg11_bn                     imagenet (torchvision)       003
======================  ===========================  ===========================  ==========

The DINOv2 ViTs run at 224 px (timm's default is 518 px; loading resamples the position embedding
to the 16x16 patch grid). Adding a backbone means adding a row, not code.

**Weights, honestly.** ``create_backbone(key, weights)`` returns the model *and* a
:class:`WeightsInfo`: the tag or file loaded, where it was found, its SHA-256, or that the model
is randomly initialised. ``weights`` is ``"none"``, a tag, a file (original format or our own SSL
checkpoint), or ``"auto"``. A tag or file that cannot be loaded raises
:class:`WeightsNotFoundError` naming the file, its address and the folder to put it in; parameter
files of the paper profile always name their weights, so they fail loudly. ``"auto"`` (the
notebooks' default) looks in the weights folder (``$CXRLIB_WEIGHTS``, default
``~/.cache/cxrlib/weights/<key>/``), the Hugging Face and torch.hub caches, then the network (only if
it answers within seconds); if all fail it starts from random values, warns
(:class:`RandomInitWarning`), and its ``WeightsInfo.caption()`` says so together with the command that
fetches the weights: ``python -m cxrlib.models fetch <key>``.

Published checkpoints that timm does not host are read by converters: SwAV's
(``module.`` prefix, projection head and prototypes dropped) and CheXNet's (2017 DenseNet names such
as ``norm.1``, the ``module.densenet121.`` prefix, the 14-way classifier).

**Document 003's dual-stream network** (:mod:`cxrlib.models.dual_stream`): a transfer stream (any
registry row, e.g. ``vgg16_bn``), an autoencoder stream (:class:`ConvAutoencoder`), fusion rules
(:data:`FUSION_RULES`: concatenation, gated) and the ablation variants (:data:`DUAL_STREAM_VARIANTS`) as
rows; :class:`DualStreamClassifier` holds only the streams of its variant.

**Fine-tuning.** ``build_classifier(key, n_classes, head="d000"|"linear", ...)`` puts document 000's
head (Dropout, Linear 128, ReLU, Dropout, Linear) or a plain linear head on the backbone;
``unfreeze_last(model, k)`` leaves the last ``k`` blocks and the head trainable (``k=0``: head only;
``"all"``: everything) and reports what trains.
"""
import importlib

# Submodule of each public name. Loaded on first use, so that ``cxrlib.models.registry`` (pure data)
# can be imported without torch or timm.
_EXPORTS = {
    "CONVERTERS": "converters",
    "WeightsFormatError": "converters",
    "chexnet_to_timm": "converters",
    "swav_to_timm": "converters",
    "DUAL_STREAM_VARIANTS": "dual_stream",
    "FUSION_RULES": "dual_stream",
    "AutoencoderStream": "dual_stream",
    "ConvAutoencoder": "dual_stream",
    "DualStreamClassifier": "dual_stream",
    "TransferStream": "dual_stream",
    "get_dual_stream_variant": "dual_stream",
    "transfer_stream": "dual_stream",
    "Block": "freezing",
    "FreezeReport": "freezing",
    "backbone_blocks": "freezing",
    "stem_parameters": "freezing",
    "unfreeze_last": "freezing",
    "HEADS": "heads",
    "BackboneClassifier": "heads",
    "build_classifier": "heads",
    "d000_head": "heads",
    "gradcam_target_layer": "heads",
    "linear_head": "heads",
    "pooled_width": "heads",
    "REGISTRY": "registry",
    "BackboneSpec": "registry",
    "WeightSource": "registry",
    "get_spec": "registry",
    "registry_rows": "registry",
    "RandomInitWarning": "weights",
    "SMOKE_WEIGHTS": "weights",
    "write_fake_weights": "fixtures",
    "WeightsInfo": "weights",
    "WeightsNotFoundError": "weights",
    "create_backbone": "weights",
    "fetch_weights": "weights",
    "load_weights": "weights",
    "network_available": "weights",
    "new_backbone": "weights",
    "read_checkpoint": "weights",
    "resolve_weights_dir": "weights",
    "save_ssl_checkpoint": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
