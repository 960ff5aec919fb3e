"""The expert re-read of NIH ChestX-ray14 images (Majkowska et al., Radiology 2020;294:421-431) as a table.

``google2019_nih-chest-xray-labels.csv.gz``, shipped in the torchxrayvision wheel
(:func:`cxrlib.data.metadata.shipped_path` ``("nih_google_relabels")``): 4,376 NIH images re-read by
radiologists for four findings (:data:`EXPERT_FINDINGS`). One row per image, one adjudicated ``YES``/``NO`` per
finding (the file has no per-reader columns; :func:`load_relabels` checks both). ``Set Id`` is ``test``
(1,962 images) or ``val`` (2,414 images). The file repeats NIH columns; its ``Finding Labels`` equal the v2020
ones, its ages and follow-up numbers are those of an older release, so :func:`join_metadata` takes age and
follow-up from :func:`cxrlib.data.nih.load_metadata`'s table.

Notebook 07 (:mod:`cxrlib.chapters.label_noise`) measures the NIH labels against these.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxrlib.core.io import PathLike
from cxrlib.data import metadata as shipped
from cxrlib.data import nih


#: The four findings of the expert re-read, spelled as the relabel file's columns.
EXPERT_FINDINGS: tuple[str, ...] = ("Pneumothorax", "Nodule or mass", "Airspace opacity", "Fracture")

#: Columns of the relabel file kept by :func:`load_relabels`, and their names in its table.
RELABEL_COLUMNS: dict[str, str] = {
    "Image Index": "image_id",
    "Patient ID": "patient_id",
    "Set Id": "set_id",
    "Finding Labels": "relabel_finding_labels",
}
#: How the relabel file spells a label, and its 0/1 code.
YES_NO: dict[str, int] = {"YES": 1, "NO": 0}

#: The NIH metadata columns :func:`join_metadata` puts beside the expert labels.
META_COLUMNS = ["patient_id", "finding_labels", *nih.CHEXNET_ORDER, nih.NO_FINDING.nih, "age", "sex", "view",
                "follow_up"]


def expert_column(finding: str) -> str:
    """Column of the expert label of ``finding`` in the joined table."""
    return f"expert: {finding}"


def load_relabels(path: PathLike | None = None) -> pd.DataFrame:
    """The expert labels, one row per image.

    ``path`` defaults to the file shipped with torchxrayvision; a modified copy (``.csv`` or
    ``.csv.gz``, same columns) gives the same table. Columns: ``image_id``, ``patient_id``,
    ``set_id``, ``relabel_finding_labels`` (the NIH labels the file repeats) and one 0/1 column
    ``expert: <finding>`` per :data:`EXPERT_FINDINGS`. ``attrs["source"]`` records the file.

    Raises ``ValueError`` naming the problem when a column is missing, a label is not ``YES``/``NO``
    (case and surrounding blanks are ignored) or an image appears twice (the file holds one
    adjudicated label per image and finding, not one row per reader).
    """
    source = shipped.shipped_path("nih_google_relabels") if path is None else Path(path)
    raw = shipped.read_csv(source)
    required = [*RELABEL_COLUMNS, *EXPERT_FINDINGS]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise ValueError(
            f"relabel file {source} lacks the column(s) {missing}; expected the layout of "
            f"google2019_nih-chest-xray-labels.csv with at least {required} (found {list(raw.columns)})"
        )
    repeated = raw["Image Index"][raw["Image Index"].duplicated()]
    if len(repeated):
        raise ValueError(
            f"relabel file {source}: {len(repeated)} images appear more than once (e.g. {list(repeated[:5])}); "
            "expected one adjudicated row per image"
        )
    table = raw[list(RELABEL_COLUMNS)].rename(columns=RELABEL_COLUMNS)
    table["set_id"] = table["set_id"].astype(str).str.strip()
    for finding in EXPERT_FINDINGS:
        coded = raw[finding].astype(str).str.strip().str.upper()
        bad = ~coded.isin(list(YES_NO))
        if bad.any():
            raise ValueError(
                f"relabel file {source}, column {finding!r}: values {sorted(set(raw.loc[bad, finding].astype(str)))[:5]} "
                f"are not YES/NO (images {list(raw.loc[bad, 'Image Index'][:5])})"
            )
        table[expert_column(finding)] = coded.map(YES_NO).astype("int8")
    table.attrs["source"] = str(source)
    return table


def join_metadata(relabels: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """The expert labels beside the NIH labels and demographics of the same images.

    ``meta`` is :func:`cxrlib.data.nih.load_metadata`'s table. Every re-read image must be in it, with
    the same patient id (``ValueError`` otherwise). ``attrs["label_string_differences"]`` counts images
    whose NIH labels in the relabel file differ from ``meta`` (0 for the v2020 metadata).
    """
    missing_cols = [c for c in ["image_id", *META_COLUMNS] if c not in meta.columns]
    if missing_cols:
        raise ValueError(f"join_metadata needs nih.load_metadata()'s table; missing column(s) {missing_cols}")
    joined = relabels.merge(meta[["image_id", *META_COLUMNS]], on="image_id", how="left",
                            suffixes=("", "_nih"), validate="one_to_one", indicator=True)
    orphans = joined.loc[joined["_merge"] == "left_only", "image_id"]
    if len(orphans):
        raise ValueError(
            f"{len(orphans)} re-read images are not in the NIH metadata {meta.attrs.get('source', '')} "
            f"(e.g. {list(orphans[:5])})"
        )
    other_patient = joined["patient_id"] != joined["patient_id_nih"]
    if other_patient.any():
        raise ValueError(
            f"{int(other_patient.sum())} re-read images have another patient id in the NIH metadata "
            f"(e.g. {list(joined.loc[other_patient, 'image_id'][:5])})"
        )
    joined = joined.drop(columns=["_merge", "patient_id_nih"])
    joined.attrs = {
        "relabel_source": relabels.attrs.get("source", ""),
        "metadata_source": meta.attrs.get("source", ""),
        "label_string_differences": int((joined["relabel_finding_labels"] != joined["finding_labels"]).sum()),
    }
    return joined
