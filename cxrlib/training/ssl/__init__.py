"""Self-supervised contrastive pre-training on unlabeled chest X-rays (documents 002 and 004).

* :mod:`cxrlib.training.ssl.methods`: SimCLR (NT-Xent over the other 2B - 2 views of a batch) and MoCo v2
  (InfoNCE against a queue of keys from a momentum encoder), as rows of :data:`SSL_METHODS` built on
  lightly's losses, heads, memory bank and momentum update, on any backbone of the registry.
* :mod:`cxrlib.training.ssl.views`: the unlabeled pool of a run (patients drawn per pretext fraction, test
  data never included) and the two-view dataset.
* :mod:`cxrlib.training.ssl.runs`: the runs of one notebook (pretext fractions, a policy comparison) and the
  index of their checkpoints.
* :mod:`cxrlib.training.ssl.loop`: the training loop: checkpoints every N epochs in the format that
  :func:`cxrlib.models.create_backbone` reads, a per-epoch ``loss.csv``, resume after a kill.

The augmentation policies that make the views are rows of :data:`cxrlib.images.augment.POLICIES`
(``d002_simclr``, ``d004_simclr``, ``d004_moco``).

Every name below is importable from the package and loaded on first use.
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "loop": [
        "PretrainConfig", "PretrainResult", "pretrain", "checkpoint_epochs", "checkpoint_path", "list_checkpoints",
        "read_loss",
    ],
    "methods": [
        "SSL_METHODS", "PROJECTION_HEADS", "MethodSpec", "ContrastiveModel", "get_method", "build_contrastive_model",
    ],
    "runs": [
        "FinalCheckpoint", "final_checkpoint", "read_checkpoint_index", "pretrain_fractions", "compare_policies",
        "index_runs", "fraction_label", "fraction_run_name", "chance_loss", "run_chance_loss", "effective_batch_size",
        "steps_per_epoch", "epochs_for_steps",
    ],
    "views": ["TwoViewDataset", "pretext_pool", "sample_views", "cap_by_patient"],
})
