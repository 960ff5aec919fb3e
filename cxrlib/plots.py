"""Figures shared by the notebooks (matplotlib only; no torch).

Each function returns a :class:`matplotlib.figure.Figure`; saving and captioning is the job of
:class:`cxrlib.artifacts.RunArtifacts`.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    ncols: int = 6,
    cell_inches: float = 1.9,
    suptitle: str | None = None,
):
    """Greyscale images in a grid, one small title (label, licence...) under each."""
    nrows = max(1, int(np.ceil(len(images) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell_inches, nrows * (cell_inches + 0.45)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def sample_rows(table: pd.DataFrame, by: str, per_group: int, seed: int = 0) -> pd.DataFrame:
    """Up to ``per_group`` random rows of each value of ``by`` (seeded), in group order."""
    parts = [group.sample(min(per_group, len(group)), random_state=seed) for _, group in table.groupby(by, sort=True)]
    return pd.concat(parts) if parts else table.head(0)


def paired_bars(
    frame: pd.DataFrame,
    label_col: str,
    value_cols: Sequence[str],
    title: str = "",
    xlabel: str = "images",
    log: bool = False,
    colors: Sequence[str] = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"),
):
    """Horizontal bars, one group per label and one bar per value column (e.g. ours vs published)."""
    labels = frame[label_col].astype(str).tolist()
    y = np.arange(len(labels))
    height = 0.8 / len(value_cols)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(labels) * max(1, len(value_cols) * 0.7) + 1.2))
    for i, (column, color) in enumerate(zip(value_cols, colors)):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        ax.barh(y + (i - (len(value_cols) - 1) / 2) * height, values, height=height, label=column, color=color)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if log:
        ax.set_xscale("log")
    if len(value_cols) > 1:
        ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
