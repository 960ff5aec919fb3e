"""The radiologists' boxes of NIH ChestX-ray14 (``BBox_List_2017.csv``), matched to a task's classes.

The box list ships in the torchxrayvision wheel (:mod:`cxrlib.data.metadata`): 984 boxes on 880
images of the official test list, for 8 findings, ``(x, y, w, h)`` in the pixels of the released
1024 x 1024 PNGs (:data:`cxrlib.stats.localisation.NIH_BOX_SPACE`). The list spells one finding
"Infiltrate" where the labels say "Infiltration"; :data:`BOX_FINDINGS` maps box names to the class
names of our tasks (compared without case, spaces or underscores, so Kermany's ``pneumonia`` is the
box list's ``Pneumonia``).

No torch.
"""
from __future__ import annotations

import os

import pandas as pd

from cxrlib.data.metadata import read_csv

BOX_FINDINGS: dict[str, str] = {
    "Atelectasis": "Atelectasis", "Cardiomegaly": "Cardiomegaly", "Effusion": "Effusion",
    "Infiltrate": "Infiltration", "Mass": "Mass", "Nodule": "Nodule", "Pneumonia": "Pneumonia",
    "Pneumothorax": "Pneumothorax",
}
"""Finding name in the box list -> class name in the NIH labels."""


def _norm(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def read_nih_boxes(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The box list as ``image_id``, ``finding`` (label spelling), ``x``, ``y``, ``w``, ``h`` (1024-px space)."""
    raw = read_csv("nih_bbox" if path is None else path)
    if raw.shape[1] < 6:
        raise ValueError(f"the box list has {raw.shape[1]} columns; expected Image Index, Finding Label, x, y, w, h")
    boxes = pd.DataFrame({
        "image_id": raw.iloc[:, 0].astype(str),
        "finding": raw.iloc[:, 1].astype(str).map(lambda f: BOX_FINDINGS.get(f, f)),
        "x": raw.iloc[:, 2].astype(float), "y": raw.iloc[:, 3].astype(float),
        "w": raw.iloc[:, 4].astype(float), "h": raw.iloc[:, 5].astype(float),
    })
    return boxes


def class_for_finding(finding: str, classes) -> str | None:
    """The task class that names box finding ``finding`` (``None`` if the task has no such class)."""
    wanted = _norm(BOX_FINDINGS.get(finding, finding))
    for cls in classes:
        if _norm(cls) == wanted:
            return cls
    return None


def boxes_for_classes(boxes: pd.DataFrame, classes, image_ids=None) -> pd.DataFrame:
    """The boxes whose finding is one of ``classes`` (a ``class`` column holds the task's spelling),
    restricted to ``image_ids`` when given."""
    cls = boxes["finding"].map(lambda f: class_for_finding(f, classes))
    out = boxes.assign(**{"class": cls})[cls.notna()]
    if image_ids is not None:
        out = out[out["image_id"].isin(set(map(str, image_ids)))]
    return out.reset_index(drop=True)
