"""Figures shared by the notebooks (matplotlib only; no torch).

Each function returns a :class:`matplotlib.figure.Figure`; saving and captioning is the job of
:class:`cxrlib.book.artifacts.RunArtifacts`.
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


def roc_grid(curves: dict, aucs: dict | None = None, ncols: int = 5, reference: dict | None = None,
             reference_name: str = "baseline"):
    """One small ROC panel per label: ``curves`` maps label -> (fpr, tpr); optional second curve per label."""
    labels = list(curves)
    nrows = int(np.ceil(len(labels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 2.3, nrows * 2.4), squeeze=False, sharex=True, sharey=True)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, label in zip(axes.flat, labels):
        ax.set_visible(True)
        fpr, tpr = curves[label]
        ax.plot(fpr, tpr, lw=1.4, color="#1f77b4", label="model")
        if reference and label in reference:
            rfpr, rtpr = reference[label]
            ax.plot(rfpr, rtpr, lw=1.0, color="#ff7f0e", label=reference_name)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls=":")
        title = label.replace("_", " ")
        if aucs and label in aucs:
            title += f"\nAUC {aucs[label]:.3f}"
        ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("1 - specificity", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("sensitivity", fontsize=7)
    if reference:
        axes.flat[0].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


def forest_plot(table: pd.DataFrame, estimate: str = "auc", low: str = "boot_ci_low", high: str = "boot_ci_high",
                label_col: str = "label", published: str | None = None, xlabel: str = "AUROC (95% CI)"):
    """Point estimates with horizontal CI bars, one row per label (document 004, Fig. 5.1 style)."""
    labels = table[label_col].astype(str).str.replace("_", " ").tolist()
    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(6.5, 0.34 * len(labels) + 1.0))
    est = table[estimate].to_numpy(dtype=float)
    err = np.vstack([est - table[low].to_numpy(dtype=float), table[high].to_numpy(dtype=float) - est])
    ax.errorbar(est, y, xerr=err, fmt="o", color="#1f77b4", ms=4, capsize=2, label="ours")
    if published and published in table:
        ax.plot(table[published].to_numpy(dtype=float), y, "D", color="#d62728", ms=4, label="published")
        ax.legend(fontsize=8, loc="lower left")
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def replication_plot(results: Sequence, *, xlabel: str = "difference", title: str = ""):
    """Seed spread beside the test-set interval, one row per :class:`cxrlib.stats.Replicated`.

    Each training seed is a grey dot on the full test set; the black bar is the 95 % interval of the
    seed mean over test redraws, the black square the seed mean; the dashed line is the row's
    ``null`` (no effect, or chance). The row label ends with its verdict, so a reader sees at once
    which comparisons the book concludes from (both agree) and which it does not."""
    results = list(results)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(results) + 1.2))
    if not results:  # nothing passed to compare (e.g. no row whose every seed learned): say so, draw no axes
        ax.axis("off")
        ax.text(0.5, 0.5, "nothing to compare: no comparison whose models all learned", ha="center", va="center",
                transform=ax.transAxes, fontsize=9)
        if title:
            ax.set_title(title, fontsize=10)
        return fig
    for i, r in enumerate(results):
        ax.plot(r.values, np.full(r.n_seeds, i), "o", color="0.55", ms=5, alpha=0.8,
                label="one training seed" if i == 0 else None)
        if np.isfinite(r.ci_low):
            ax.plot([r.ci_low, r.ci_high], [i, i], "-", color="black", lw=2,
                    label="95 % CI of the seed mean (test redraws)" if i == 0 else None)
        ax.plot([r.mean], [i], "s", color="black", ms=6, label="seed mean" if i == 0 else None)
    nulls = sorted({r.null for r in results})
    for value in nulls:
        ax.axvline(value, color="#d62728", ls="--", lw=1)
    ax.set_yticks(range(len(results)), [f"{r.name}\n({r.verdict})" for r in results], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def loss_curves(frame: pd.DataFrame, group: str, x: str = "epoch", y: str = "loss",
                chance: float | dict | None = None, title: str = "", ylabel: str = "contrastive loss"):
    """One line per value of ``group`` (e.g. pool fraction or policy) and a dashed chance line: one grey
    line at ``chance`` (a number), or one per run in the run's colour (``chance``: group value -> level,
    e.g. from :func:`cxrlib.training.ssl.runs.run_chance_loss`, since SimCLR's level depends on the batch
    the run actually had)."""
    if isinstance(chance, dict) and len(set(chance.values())) == 1:
        chance = next(iter(chance.values()))  # every run had the same level: one grey line
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, part in frame.groupby(group, sort=False):
        line, = ax.plot(part[x], part[y], marker="o", markersize=3, label=str(name))
        if isinstance(chance, dict) and name in chance:
            level = chance[name]
            ax.axhline(level, color=line.get_color(), linestyle="--", linewidth=1,
                       label=f"{name}: no information ({level:.2f})")
    if chance is not None and not isinstance(chance, dict):
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"no information (log N = {chance:.2f})")
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def score_per_epoch(scores: pd.DataFrame, loss: pd.DataFrame | None = None, group: str = "task",
                    metrics: Sequence[str] = ("acc", "auc"), title: str = ""):
    """Document 002, Fig. 2: the pretext loss (left panel, if given) and downstream scores with their CIs
    per pretext epoch (one panel per metric, one line per ``group``)."""
    panels = ([loss] if loss is not None else []) + list(metrics)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.3), squeeze=False)
    axes = list(axes.flat)
    if loss is not None:
        axes[0].plot(loss["epoch"], loss["loss"], marker="o", markersize=3, color="black")
        axes[0].set_title("pretext loss", fontsize=9)
        axes[0].set_xlabel("pretext epoch")
        axes[0].grid(alpha=0.3)
    for ax, metric in zip(axes[len(panels) - len(metrics):], metrics):
        for name, part in scores.groupby(group, sort=False):
            part = part.sort_values("epoch")
            ax.plot(part["epoch"], part[metric], marker="o", markersize=3, label=str(name))
            if f"{metric}_ci_low" in part:
                ax.fill_between(part["epoch"], part[f"{metric}_ci_low"], part[f"{metric}_ci_high"], alpha=0.15)
        ax.set_title(f"downstream {metric.upper()} (test, 95% CI)", fontsize=9)
        ax.set_xlabel("pretext epoch")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def embedding_grid(panels: dict, class_names: Sequence[str], ncols: int | None = None):
    """Scatter plots of 2-D embeddings, one panel per key ``(row title, column title)`` -> ``(xy, labels)``
    (document 002, Fig. 3: t-SNE per checkpoint)."""
    rows = list(dict.fromkeys(r for r, _ in panels))
    cols = list(dict.fromkeys(c for _, c in panels))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.6 * len(cols), 2.6 * len(rows)), squeeze=False)
    colors = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
    for (r, c), (xy, labels) in panels.items():
        ax = axes[rows.index(r)][cols.index(c)]
        for k, name in enumerate(class_names):
            chosen = np.asarray(labels) == k
            ax.scatter(xy[chosen, 0], xy[chosen, 1], s=4, alpha=0.6, color=colors[k % len(colors)], label=name)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{r}\n{c}", fontsize=8)
    for ax in axes.flat:
        if not ax.has_data():
            ax.axis("off")
    axes[0][0].legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig
