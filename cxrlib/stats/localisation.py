"""Does a heat map point at the radiologist's box? Pointing game and energy in the box (numpy only).

A *heat map* is a non-negative 2-D array over the model's input pixels (a Grad-CAM map upsampled to
the input size); a *box* is ``(x, y, w, h)`` in the same pixels (:func:`rescale_box` turns the NIH box
list's 1024-px coordinates into them). Two scores per (map, box):

* **pointing game** (Zhang et al., ECCV 2016): a hit when the map's maximum lies inside the box,
  enlarged by ``tolerance`` pixels on every side (Zhang et al. use 15 px at the original
  resolution; default 0 here). Chance level is about the box's share of the image.
* **energy in the box** (Wang et al., Score-CAM, CVPR-W 2020, "energy-based pointing game"): the
  share of the map's total mass that falls inside the box. A uniform map scores the box's share of
  the image, which :func:`localisation_scores` reports beside it as the chance level.

A map with no positive value (nothing highlighted) counts as a miss with zero energy: a method that
points at nothing did not find the finding. Summaries over images come with intervals: exact binomial
(Clopper-Pearson) for the hit rate, a proportion (:func:`cxrlib.stats.proportion.binomial_ci`), percentile
bootstrap CIs from :func:`cxrlib.stats.bootstrap_ci` (images or patients resampled) for the means.

No torch: the explanation engine (:mod:`cxrlib.explain`) makes the maps, this module scores them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxrlib.stats.bootstrap import bootstrap_ci
from cxrlib.stats.proportion import binomial_ci

NIH_BOX_SPACE = (1024, 1024)
"""Width and height of the pixel space of the NIH box list (the released 1024 x 1024 PNGs)."""


def rescale_box(box: Sequence[float], source_size: Sequence[int] = NIH_BOX_SPACE, image_size: int = 224,
                pad_square: bool = True) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of a box drawn on a ``source_size = (width, height)`` image, in the pixels of the
    ``image_size`` x ``image_size`` model input made by (optional zero padding to a square, content
    centred, as :func:`cxrlib.images.preprocess.pad_square`) and a resize. NIH images are square, so
    the padding changes nothing there: the box is scaled by ``image_size / 1024``."""
    x, y, w, h = (float(v) for v in box)
    width, height = (int(v) for v in source_size)
    if width <= 0 or height <= 0 or image_size <= 0:
        raise ValueError(f"sizes must be positive: source {source_size}, image {image_size}")
    if w < 0 or h < 0:
        raise ValueError(f"a box has a non-negative width and height, got {box}")
    if pad_square:
        side = max(width, height)
        left, top = (side - width) // 2, (side - height) // 2
        sx = sy = image_size / side
    else:  # a plain resize to a square: each axis scaled on its own
        left = top = 0
        sx, sy = image_size / width, image_size / height
    return ((x + left) * sx, (y + top) * sy, w * sx, h * sy)


def box_mask(box: Sequence[float], shape: Sequence[int]) -> np.ndarray:
    """Boolean ``shape = (height, width)`` mask of the pixels whose centre lies in ``box = (x, y, w, h)``
    (pixel ``(r, c)`` covers ``[c, c+1) x [r, r+1)``). A box too small to hold a pixel centre keeps the
    pixel under its centre, so no box is empty; a box outside the image is an error."""
    height, width = (int(v) for v in shape)
    x, y, w, h = (float(v) for v in box)
    cols, rows = np.arange(width) + 0.5, np.arange(height) + 0.5
    inside = ((rows >= y) & (rows <= y + h))[:, None] & ((cols >= x) & (cols <= x + w))[None, :]
    if not inside.any():
        cx, cy = int(np.floor(x + w / 2)), int(np.floor(y + h / 2))
        if not (0 <= cx < width and 0 <= cy < height):
            raise ValueError(f"box {tuple(box)} lies outside the {height} x {width} map")
        inside[cy, cx] = True
    return inside


def _check_map(heat: np.ndarray) -> np.ndarray:
    heat = np.asarray(heat, dtype=float)
    if heat.ndim != 2:
        raise ValueError(f"a heat map is 2-D (height, width), got shape {heat.shape}")
    if not np.isfinite(heat).all():
        raise ValueError("the heat map holds NaN or infinite values")
    return np.clip(heat, 0.0, None)


def pointing_hit(heat: np.ndarray, box: Sequence[float], tolerance: float = 0.0) -> bool:
    """True when the map's maximum (the first, in row-major order, if several) lies in the box grown by
    ``tolerance`` pixels; False for a map without a positive value."""
    heat = _check_map(heat)
    if heat.max() <= 0:
        return False
    x, y, w, h = (float(v) for v in box)
    grown = (x - tolerance, y - tolerance, w + 2 * tolerance, h + 2 * tolerance)
    r, c = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return bool(box_mask(grown, heat.shape)[r, c])


def energy_in_box(heat: np.ndarray, box: Sequence[float]) -> float:
    """Share of the map's mass inside the box (0 for a map without a positive value)."""
    heat = _check_map(heat)
    total = heat.sum()
    if total <= 0:
        return 0.0
    return float(heat[box_mask(box, heat.shape)].sum() / total)


def localisation_scores(maps: np.ndarray | Sequence[np.ndarray], boxes: Sequence[Sequence[float]],
                        tolerance: float = 0.0) -> pd.DataFrame:
    """One row per (map, box): ``hit`` (pointing game), ``energy`` (in the box), ``box_share`` (the box's
    share of the map: the chance level of both scores) and ``empty_map``."""
    if len(maps) != len(boxes):
        raise ValueError(f"{len(maps)} maps for {len(boxes)} boxes")
    rows = []
    for heat, box in zip(maps, boxes):
        heat = _check_map(heat)
        rows.append({"hit": pointing_hit(heat, box, tolerance), "energy": energy_in_box(heat, box),
                     "box_share": float(box_mask(box, heat.shape).mean()), "empty_map": bool(heat.max() <= 0)})
    return pd.DataFrame(rows, columns=["hit", "energy", "box_share", "empty_map"])


def localisation_summary(scores: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0, groups=None,
                         alpha: float = 0.05) -> pd.DataFrame:
    """Pointing-game hit rate, mean energy in the box and the chance level (mean box share), each with its
    ``1 - alpha`` interval and how it was made (``interval``). The hit rate is a proportion of hits: its
    interval is the exact binomial (Clopper-Pearson) one of :func:`cxrlib.stats.proportion.binomial_ci`,
    which stays honest for a handful of boxes (0 hits of 3: 0 to 0.71, where a bootstrap says [0, 0]); it
    treats the boxes as independent trials. The means get a percentile bootstrap CI over the rows (or
    over ``groups``, e.g. patients). Empty ``scores``: one row per metric saying ``n = 0``."""
    rows = []
    unit = "patients" if groups is not None else "boxes"
    for metric, column in (("pointing game hit rate", "hit"), ("energy in box", "energy"),
                           ("chance (box share of image)", "box_share")):
        values = scores[column].to_numpy(dtype=float) if len(scores) else np.zeros(0)
        if column == "hit":
            exact = binomial_ci(int(values.sum()), len(values), alpha=alpha)
            rows.append({"metric": metric, "estimate": exact.estimate, "ci_low": exact.ci_low,
                         "ci_high": exact.ci_high, "n": exact.n, "interval": exact.method})
            continue
        if len(values) == 0:
            rows.append({"metric": metric, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0,
                         "interval": f"percentile bootstrap over {unit}"})
            continue
        result = bootstrap_ci(np.mean, values, n_boot=n_boot, seed=seed, groups=groups, alpha=alpha)
        rows.append({"metric": metric, "estimate": float(result.estimate), "ci_low": float(result.ci_low),
                     "ci_high": float(result.ci_high), "n": int(len(values)),
                     "interval": f"percentile bootstrap over {unit} ({n_boot} redraws)"})
    return pd.DataFrame(rows)
