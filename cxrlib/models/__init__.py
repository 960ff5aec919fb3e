"""Backbones for transfer learning: a registry of data rows, weights that say where they came from.

**The registry.** Every backbone the companion uses is one row of :data:`REGISTRY`
(:class:`BackboneSpec`): the timm architecture, the pre-trained weights it can start from (one
:class:`WeightSource` per tag, e.g. ``dinov2``, ``imagenet``, ``swav``), the ordered blocks that
partial fine-tuning unfreezes, the layer Grad-CAM hooks, and the input size and normalisation the
weights were trained with. Rows, by document:

=======================  ========================  ============================  ==========
key                      architecture (timm)       weights (default first)       documents
=======================  ========================  ============================  ==========
``dinov2_vits14``        vit_small_patch14_dinov2  dinov2 (LVD-142M)             000
``convnextv2_atto``      convnextv2_atto           fcmae, fcmae_ft_in1k          000
``swav_resnet50``        resnet50                  swav (torch.hub)              000
``dino_vits16``          vit_small_patch16_224     dino                          000
``chexnet_densenet121``  densenet121               chexnet (arnoweng), imagenet  000
``resnet18``             resnet18                  imagenet (torchvision)        004
``vitb14_dinov2``        vit_base_patch14_dinov2   dinov2                        001
``vitb16_in21k``         vit_base_patch16_224      imagenet21k, ..._augreg       001
``wide_resnet50``        wide_resnet50_2           imagenet (torchvision)        002
``legacy_xception``      legacy_xception           imagenet (tf_in1k)            003
``vgg16_bn``             vgg16_bn                  imagenet (torchvision)        003
``vgg11_bn``             vgg11_bn                  imagenet (torchvision)        003
=======================  ========================  ============================  ==========

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
it answers within seconds), then the book's own SSL checkpoint for that backbone (``ssl_dir``, a
``02_pretrain`` run folder; :data:`~cxrlib.models.weights.AUTO_STARTS`); if all fail it starts from random values, warns
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

Every name below is importable from the package and loaded on first use, so that
``cxrlib.models.registry`` (pure data) can be imported without torch or timm.
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "registry": ["REGISTRY", "BackboneSpec", "WeightSource", "get_spec", "registry_rows"],
    "weights": [
        "WeightsInfo", "WeightsNotFoundError", "RandomInitWarning", "SMOKE_WEIGHTS", "create_backbone",
        "new_backbone", "load_weights", "fetch_weights", "fetch_hint", "network_available", "offline_reason",
        "resolve_weights_dir", "read_checkpoint", "is_ssl_checkpoint", "save_ssl_checkpoint", "last_ssl_checkpoint",
        "load_state_dict_strict", "AUTO_STARTS", "own_ssl_checkpoint", "ssl_description",
    ],
    "converters": ["CONVERTERS", "WeightsFormatError", "unwrap_state_dict", "swav_to_timm", "chexnet_to_timm"],
    "heads": [
        "HEADS", "BackboneClassifier", "build_classifier", "d000_head", "linear_head", "pooled_width",
        "gradcam_target_layer",
    ],
    "freezing": ["Block", "FreezeReport", "backbone_blocks", "stem_parameters", "unfreeze_last"],
    "paths": ["get_module", "expand", "expand_groups", "parameters_under"],
    "multiscale": [
        "MultiScaleNet", "MultiScaleNeck", "NeckSpec", "StageEncoder", "AttentionPool2d", "AveragePool2d",
        "ScaleAttention", "UniformScales", "HierarchicalFusion", "get_neck", "build_multiscale_net",
    ],
    "dual_stream": [
        "DUAL_STREAM_VARIANTS", "FUSION_RULES", "DualStreamClassifier", "DualStreamVariant", "FusionRule",
        "ConvAutoencoder", "AutoencoderStream", "TransferStream", "ConcatFusion", "SingleStreamFusion", "GatedFusion",
        "transfer_stream", "get_dual_stream_variant",
    ],
    "fixtures": ["write_fake_weights", "seeded_model", "swav_checkpoint", "chexnet_checkpoint"],
})
