"""Document 004 (Kivotova, BSc thesis, Innopolis 2021), section 3.4.2: CheXpert positive counts with
uncertain labels counted positive, and the CheXpert-Rare subset.

The definition, as the document states it:

1. Count the positive samples of each of the 14 CheXpert classes separately, uncertain (-1) counted as
   positive, blank as negative (policy ``U-Ones``) -> Figure 3.1.
2. Classes under :data:`RARE_THRESHOLD` positives are rare: :data:`RARE_CLASSES`. Pleural Other is under
   the threshold too but is not kept as a class (:data:`OMITTED_CLASSES`); No Finding is added
   (:data:`ADDED_CLASSES`).
3. CheXpert-Rare = the frontal images with at least one positive among the six classes of
   :data:`SELECTION_CLASSES` (published: 82,942 images, ``d004_section3_4`` in :mod:`cxrlib.published`).
4. A seventh label, Other, is positive when any of the remaining eight classes (:data:`OTHER_SOURCES`)
   is positive -> Figure 3.2 (:func:`rare_distribution`).

What the document leaves open, and what the metadata says about it:

* All images or frontal only for step 1? Both give the same split at 25,000 (:func:`threshold_check`),
  so the threshold cannot tell; the text counts "in CheXpert dataset" and brings in the frontal filter
  only when forming the subset, so :func:`class_frequency_table` counts all images by default. Uncertain as
  positive is confirmed: with certain positives only, Consolidation (and, on frontal images,
  Cardiomegaly) would fall under the threshold too.
* Train only or train + validation? Section 4.2.1 keeps the official validation set as the test set,
  so the subset is built from the train file (:func:`chexpert_rare`); :func:`rare_variants` shows the
  size of this and of the other plausible readings beside the published 82,942.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from cxrlib.core.config import lookup
from cxrlib.data import chexpert
from cxrlib.published import load as load_published

TABLE_ID = "d004_section3_4"

RARE_THRESHOLD = 25_000
"""Section 3.4.2: classes with fewer positive samples than this are rare."""
RARE_CLASSES: tuple[str, ...] = ("Enlarged Cardiomediastinum", "Lung Lesion", "Pneumonia", "Pneumothorax", "Fracture")
ADDED_CLASSES: tuple[str, ...] = ("No Finding",)
OMITTED_CLASSES: tuple[str, ...] = ("Pleural Other",)
SELECTION_CLASSES: tuple[str, ...] = RARE_CLASSES + ADDED_CLASSES
OTHER = "Other"
OTHER_SOURCES: tuple[str, ...] = tuple(c for c in chexpert.LABELS if c not in SELECTION_CLASSES)
RARE_LABELS: tuple[str, ...] = SELECTION_CLASSES + (OTHER,)
"""The seven labels of CheXpert-Rare (section 3.5: seven outputs)."""

ROLES: dict[str, str] = {
    **dict.fromkeys(RARE_CLASSES, "rare"),
    **dict.fromkeys(ADDED_CLASSES, "added"),
    **dict.fromkeys(OMITTED_CLASSES, "omitted (in Other)"),
    **{c: "Other" for c in OTHER_SOURCES if c not in OMITTED_CLASSES},
}
"""Each CheXpert class's place in CheXpert-Rare."""


def published_size() -> int:
    """The published size of CheXpert-Rare (82,942), read from the published numbers of document 004."""
    frame = load_published(TABLE_ID).frame.set_index("quantity")
    return int(frame.loc["chexpert_rare_images", "value"])


# -------------------------------------------------------------------------------- Figure 3.1


def class_frequency_table(
    table: pd.DataFrame | None = None, policy: str = "U-Ones", frontal_only: bool = False,
    threshold: int = RARE_THRESHOLD,
) -> pd.DataFrame:
    """Positive samples per CheXpert class (Figure 3.1), most frequent first.

    ``table`` is a normalised CheXpert table (default: the shipped train file). Columns: ``positives``,
    ``below_threshold`` and ``role`` (:data:`ROLES`). ``attrs`` records the policy, the view filter and
    the number of images counted.
    """
    table = chexpert.load_train() if table is None else table
    images = chexpert.frontal(table) if frontal_only else table
    counts = chexpert.positive_counts(images, policy).sort_values(ascending=False, kind="stable")
    frame = pd.DataFrame({"positives": counts, "below_threshold": counts < threshold})
    frame["role"] = frame.index.map(ROLES)
    frame.index.name = "class"
    frame.attrs.update(policy=policy, frontal_only=frontal_only, images=len(images), threshold=threshold)
    return frame


def threshold_check(table: pd.DataFrame | None = None, threshold: int = RARE_THRESHOLD) -> pd.DataFrame:
    """Does the threshold split the classes as the document says, for each reading of step 1?

    One row per (policy, views) reading: the classes under the threshold, whether they are exactly the
    rare plus omitted classes (No Finding aside, which the document adds anyway), and the margin: the
    largest count under and the smallest count over the threshold.
    """
    table = chexpert.load_train() if table is None else table
    expected = set(RARE_CLASSES) | set(OMITTED_CLASSES)
    rows = []
    for policy in ("U-Ones", "U-Zeros"):
        for frontal_only in (False, True):
            counts = class_frequency_table(table, policy, frontal_only, threshold)["positives"].drop(list(ADDED_CLASSES))
            below = counts[counts < threshold]
            above = counts[counts >= threshold]
            rows.append({
                "policy": policy,
                "views": "frontal" if frontal_only else "all",
                "below_threshold": tuple(below.index),
                "matches_document": set(below.index) == expected,
                "largest_below": int(below.max()) if len(below) else None,
                "smallest_above": int(above.min()) if len(above) else None,
            })
    return pd.DataFrame(rows)


# -------------------------------------------------------------------------------- CheXpert-Rare


def rare_targets(
    table: pd.DataFrame, policy: str = "U-Ones", classes: tuple[str, ...] = SELECTION_CLASSES
) -> pd.DataFrame:
    """The seven CheXpert-Rare targets (0/1 floats) for every row of ``table``: ``classes`` + Other."""
    targets = chexpert.apply_uncertainty(table, policy, classes)
    others = chexpert.apply_uncertainty(table, policy, [c for c in chexpert.LABELS if c not in classes])
    targets[OTHER] = others.eq(chexpert.POSITIVE).any(axis=1).astype(float)
    return targets


def chexpert_rare(
    table: pd.DataFrame | None = None, policy: str = "U-Ones", frontal_only: bool = True,
    classes: tuple[str, ...] = SELECTION_CLASSES,
) -> pd.DataFrame:
    """CheXpert-Rare: the (frontal) images with at least one positive among ``classes``.

    ``table`` defaults to the shipped train file. Columns: ``image_id``, ``patient_id``, ``study``,
    ``split``, then the seven labels of :data:`RARE_LABELS` (0/1 floats); the index of ``table`` is kept.
    """
    table = chexpert.load_train() if table is None else table
    images = chexpert.frontal(table) if frontal_only else table
    targets = rare_targets(images, policy, classes)
    keep = targets[list(classes)].eq(chexpert.POSITIVE).any(axis=1)
    ids = images.loc[keep, ["image_id", "patient_id", "study", "split"]]
    return pd.concat([ids, targets.loc[keep]], axis=1)


def rare_distribution(rare: pd.DataFrame) -> pd.Series:
    """Positive samples per CheXpert-Rare label (Figure 3.2), in the order of :data:`RARE_LABELS`."""
    labels = [c for c in RARE_LABELS if c in rare.columns]
    return rare[labels].eq(chexpert.POSITIVE).sum().astype(int).rename("positives")


# ------------------------------------------------------------------------------------- variants

FRONTAL_RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "Frontal/Lateral column": lambda t: t["frontal"],
    "AP/PA column is AP or PA": lambda t: t["view"].isin(["AP", "PA"]),
    "file name viewN_frontal": lambda t: t["image_id"].str.contains("_frontal", regex=False),
    "all views": lambda t: pd.Series(True, index=t.index),
}


def _derived_no_finding(table: pd.DataFrame) -> pd.Series:
    """No Finding = 1 when none of the 12 pathologies is positive or uncertain (Support Devices ignored)."""
    pathologies = [c for c in chexpert.LABELS if c not in ("No Finding", "Support Devices")]
    clear = ~table[pathologies].isin([chexpert.POSITIVE, chexpert.UNCERTAIN]).any(axis=1)
    return clear.astype(float).where(clear, np.nan)


NO_FINDING_RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "as in the file": lambda t: t["No Finding"],
    "derived from the other labels": _derived_no_finding,
}


class RareVariant(NamedTuple):
    """One reading of the CheXpert-Rare definition."""

    name: str
    include_valid: bool = False
    frontal: str = "Frontal/Lateral column"
    policy: str = "U-Ones"
    classes: tuple[str, ...] = SELECTION_CLASSES
    uncertain_negative_in: tuple[str, ...] = ()
    one_image_per_study: bool = False
    no_finding: str = "as in the file"


RARE_VARIANTS: tuple[RareVariant, ...] = (
    RareVariant("as written: train, frontal, uncertain positive, six classes"),
    RareVariant("train + validation images", include_valid=True),
    RareVariant("frontal = AP/PA column is AP or PA", frontal="AP/PA column is AP or PA"),
    RareVariant("frontal = file name", frontal="file name viewN_frontal"),
    RareVariant("all views (no frontal filter)", frontal="all views"),
    RareVariant("uncertain negative (U-Zeros)", policy="U-Zeros"),
    RareVariant("five rare classes, without No Finding", classes=RARE_CLASSES),
    RareVariant("one frontal image per study (lowest view number)", one_image_per_study=True),
    RareVariant("No Finding derived from the other labels", no_finding="derived from the other labels"),
    *(RareVariant(f"uncertain {c} counted negative", uncertain_negative_in=(c,)) for c in RARE_CLASSES),
)
"""The readings :func:`rare_variants` tries (the first is the definition as written)."""


def variant_images(train: pd.DataFrame, valid: pd.DataFrame | None, variant: RareVariant) -> pd.DataFrame:
    """The CheXpert-Rare images under one reading (same columns as :func:`chexpert_rare`)."""
    if variant.include_valid and valid is None:
        raise ValueError(f"variant {variant.name!r} needs the validation table (chexpert.load_valid())")
    table = pd.concat([train, valid], ignore_index=True) if variant.include_valid else train
    table = table[lookup(FRONTAL_RULES, variant.frontal, what="frontal rule")(table)]
    if variant.one_image_per_study:
        table = table.sort_values(["study", "view_number"], kind="stable").drop_duplicates("study")
    table = table.assign(**{"No Finding": lookup(NO_FINDING_RULES, variant.no_finding, what="No Finding rule")(table)})
    if variant.uncertain_negative_in:
        columns = list(variant.uncertain_negative_in)
        table = table.assign(**{c: table[c].replace(chexpert.UNCERTAIN, chexpert.NEGATIVE) for c in columns})
    return chexpert_rare(table, variant.policy, frontal_only=False, classes=variant.classes)


def rare_variants(
    train: pd.DataFrame | None = None, valid: pd.DataFrame | None = None,
    variants: tuple[RareVariant, ...] = RARE_VARIANTS, published: int | None = None,
) -> pd.DataFrame:
    """Size of CheXpert-Rare under each reading, beside the published size.

    ``train`` defaults to the shipped train file; ``valid`` is read from the data root only when a
    variant needs it. Columns: ``variant``, ``images``, ``published``, ``difference`` (images - published).
    """
    train = chexpert.load_train() if train is None else train
    if valid is None and any(v.include_valid for v in variants):
        valid = chexpert.load_valid()
    from cxrlib.published import align

    published = published_size() if published is None else published
    rows = [{"variant": v.name, "images": len(variant_images(train, valid, v))} for v in variants]
    frame = pd.DataFrame(rows)
    size = pd.DataFrame({"variant": frame["variant"], "images": published})  # one published size for every reading
    return align.beside(size, frame, keys="variant", values="images", rows="ours", published_name="published",
                        difference_name="difference")
