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
"""
from cxrlib.training.ssl.loop import (
    PretrainConfig,
    PretrainResult,
    checkpoint_epochs,
    checkpoint_path,
    list_checkpoints,
    pretrain,
    read_loss,
)
from cxrlib.training.ssl.methods import (
    PROJECTION_HEADS,
    SSL_METHODS,
    ContrastiveModel,
    MethodSpec,
    build_contrastive_model,
    get_method,
)
from cxrlib.training.ssl.runs import (
    chance_loss,
    compare_policies,
    fraction_label,
    pretrain_fractions,
    read_checkpoint_index,
)
from cxrlib.training.ssl.views import TwoViewDataset, pretext_pool, sample_views

__all__ = [
    "PROJECTION_HEADS", "SSL_METHODS", "ContrastiveModel", "MethodSpec", "PretrainConfig", "PretrainResult", "TwoViewDataset",
    "build_contrastive_model", "checkpoint_epochs", "checkpoint_path", "get_method", "list_checkpoints", "pretext_pool",
    "pretrain", "read_loss", "chance_loss", "compare_policies", "fraction_label", "pretrain_fractions",
    "read_checkpoint_index", "sample_views",
]
