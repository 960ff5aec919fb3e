"""What a network looks at, and whether the pictures can be trusted (notebook 05).

* :mod:`cxrlib.explain.runs`: read a fine-tuning run folder (model, task, predictions, weights) with
  one clear error for each way it can be incomplete;
* :mod:`cxrlib.explain.gradcam`: Grad-CAM for every registry family, one forward and one backward
  pass per batch; the ViT token-to-grid reshape follows the model's own ``num_prefix_tokens`` and
  ``patch_embed.grid_size``; the input gradient (saliency) as a second method;
* :mod:`cxrlib.explain.sanity`: the model-randomisation test of Adebayo et al. (2018);
* :mod:`cxrlib.explain.boxes`: the radiologists' boxes of the NIH box list (no torch);
* :mod:`cxrlib.stats.localisation`: pointing game and energy in the box (numpy only).

Every name below is importable from the package and loaded on first use, so ``cxrlib.explain.boxes`` loads
without torch. Grad-CAM itself is ``cxrlib.explain.gradcam.gradcam`` (the name of its module).
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "runs": ["FinetuneRun", "RunFolderError", "read_run", "resolve_class", "decisions", "confusion", "choose_cases"],
    "gradcam": [
        "GradCamLayerError", "LayerChoice", "layer_candidates", "choose_layer", "target_layer", "prefix_and_grid", "tokens_to_grid", "reshape_for", "input_gradient",
        "explain_batches", "normalise_maps",
    ],
    "sanity": [
        "Level", "classifier_levels", "randomise", "spearman_matrix", "spearman_rows", "cascading_randomisation", "sanity_summary",
    ],
    "boxes": ["read_nih_boxes", "class_for_finding", "boxes_for_classes"],
})
