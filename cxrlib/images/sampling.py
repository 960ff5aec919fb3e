"""Document 000's resampling of the training set, as an expansion of the metadata table.

Document 000, section 3.2 and equation 1: the class weight ``W_c = n / (c * n_c)`` of each class on
the *original* training set decides its fate (:data:`cxrlib.data.balance.RESAMPLE_RULE`):

* ``W_c >= 2``: oversampled to six images per image, "the original, horizontal flipping and rotations
  of -40, -20, 20 and 40 degrees" (fixed transforms: :data:`cxrlib.images.augment.D000_OVERSAMPLE_VARIANTS`);
* ``W_c < 0.1``: random undersampling, 60 % of the images removed (40 % kept);
* otherwise the class is kept as it is.

Validation and test sets are never resampled. :func:`resample_table` returns the training table with
one row per training example and a ``variant`` column naming the fixed transform of that copy; the
dataset (:class:`cxrlib.images.tasks.CxrDataset`) applies it before the random augmentation. The row
counts per class equal :func:`cxrlib.data.balance.resampled_counts` (rounded half up), so Table 1's
"resampled" column is what the training loop sees. The loss weights are then computed on the
resampled table (document 000: after resampling the weights range from 0.298 to 4.275, Hernia 15.456).

This module does not import torch.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from cxrlib.data import balance

VARIANT_COLUMN = "variant"
ORIGINAL = "original"
D000_OVERSAMPLE_VARIANTS: tuple[str, ...] = ("original", "hflip", "rotate_-40", "rotate_-20", "rotate_20", "rotate_40")
"""The six versions of an oversampled image (same names as :data:`cxrlib.images.augment.IMAGE_VARIANTS`)."""


def resample_plan(
    class_counts: pd.Series, rule: Iterable[Sequence] = balance.RESAMPLE_RULE
) -> pd.DataFrame:
    """Per class: ``count``, ``class_weight`` (equation 1), ``factor`` (the rule) and ``resampled``."""
    counts = pd.Series(class_counts, dtype=float)
    weights = balance.class_weights(counts)
    factors = balance.resample_factors(weights, rule)
    resampled = balance.resampled_counts(counts, weights, rule)
    return pd.DataFrame(
        {"count": counts.astype(int), "class_weight": weights, "factor": factors, "resampled": resampled}
    )


def resample_table(
    train: pd.DataFrame,
    label_col: str,
    classes: Sequence,
    *,
    seed: int,
    rule: Iterable[Sequence] = balance.RESAMPLE_RULE,
    variants: Sequence[str] = D000_OVERSAMPLE_VARIANTS,
) -> pd.DataFrame:
    """The training table resampled by ``rule``: copies with a ``variant`` column, undersampled classes drawn.

    ``label_col`` holds one class per row (values in ``classes``, every class present). A whole factor
    ``k >= 1`` gives every image of the class ``k`` rows, with the first ``k`` of ``variants``; a factor
    below 1 keeps ``floor(n * factor + 0.5)`` images drawn at random with ``seed`` (one draw, as
    document 000's random undersampling). Other factors raise ``ValueError``. Rows keep the input's
    columns, order by class then original order; the index is reset. ``attrs["resample_plan"]``
    holds :func:`resample_plan`.
    """
    if VARIANT_COLUMN in train.columns:
        raise ValueError(f"the table already has a {VARIANT_COLUMN!r} column: resample only once")
    counts = train[label_col].value_counts().reindex(list(classes)).fillna(0)
    unknown = set(train[label_col].unique()) - set(classes)
    if unknown:
        raise ValueError(f"labels {sorted(map(str, unknown))} are not among the classes {list(classes)}")
    plan = resample_plan(counts, rule)
    rng = np.random.default_rng(seed)
    parts = []
    for cls, row in plan.iterrows():
        members = train[train[label_col] == cls]
        factor = float(row["factor"])
        if factor >= 1:
            if not float(factor).is_integer():
                raise ValueError(f"class {cls!r}: oversampling factor {factor} is not a whole number")
            k = int(factor)
            if k > len(variants):
                raise ValueError(f"class {cls!r}: factor {k} needs {k} image variants, only {len(variants)} given")
            for variant in variants[:k]:
                parts.append(members.assign(**{VARIANT_COLUMN: variant}))
        else:
            keep = int(math.floor(len(members) * factor + 0.5))
            chosen = np.sort(rng.choice(len(members), size=keep, replace=False))
            parts.append(members.iloc[chosen].assign(**{VARIANT_COLUMN: ORIGINAL}))
    out = pd.concat(parts, ignore_index=True)
    out.attrs = {**train.attrs, "resample_plan": plan}
    return out


RESAMPLERS = {"d000": resample_table}
"""Resampling rules by name (a training parameter picks one; ``None`` keeps the training set as is)."""
