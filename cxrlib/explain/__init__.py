"""What a network looks at, and whether the pictures can be trusted (notebook 05).

* :mod:`cxrlib.explain.runs`: read a fine-tuning run folder (model, task, predictions, weights) with
  one clear error for each way it can be incomplete;
* :mod:`cxrlib.explain.gradcam`: Grad-CAM for every registry family, one forward and one backward
  pass per batch; the ViT token-to-grid reshape follows the model's own ``num_prefix_tokens`` and
  ``patch_embed.grid_size``; the input gradient (saliency) as a second method;
* :mod:`cxrlib.explain.sanity`: the model-randomisation test of Adebayo et al. (2018);
* :mod:`cxrlib.explain.boxes`: the radiologists' boxes of the NIH box list (no torch);
* :mod:`cxrlib.stats.localisation`: pointing game and energy in the box (numpy only).

The package ``__init__`` imports nothing, so ``cxrlib.explain.boxes`` loads without torch.
"""
