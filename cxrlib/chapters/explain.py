"""Notebook 05 (explanations): confusion matrices, t-SNE maps, Grad-CAM overlays, the sanity check and
localisation against the NIH boxes, as tables and figures.

The engine is :mod:`cxrlib.explain` (run folders, Grad-CAM, model randomisation, boxes) and
:mod:`cxrlib.stats.localisation` (scores); this module loads images, chooses what to draw and draws it.
matplotlib is imported lazily.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from cxrlib.explain.runs import FinetuneRun
from cxrlib.images.preprocess import PreprocessCache, preprocess_config, to_model_input

D000_FIG3_MODELS = {"dinov2_vits14": "DINOv2 ViT-S/14", "chexnet_densenet121": "CheXNet"}
"""Our registry key -> the model's name in document 000's Fig. 3."""


# ------------------------------------------------------------------------------------------- runs


def run_summary(runs: Sequence[FinetuneRun]) -> pd.DataFrame:
    """One row per fine-tuning run read: folder, backbone, task, image size, weights, test images."""
    return pd.DataFrame([{
        "run": r.name, "folder": str(r.folder), "backbone": r.backbone, "task": r.task.name,
        "image_size": r.image_size, "preprocess": r.params.get("preprocess"), "weights": r.weights_label,
        "unfrozen_blocks": r.params.get("unfrozen_blocks"), "checkpoint": r.checkpoint.name,
        "test_images": len(r.predictions["test"]), "profile": r.params.get("profile"), "seed": r.params.get("seed"),
        "learned": r.learning.label if r.learning else "not checked (no learning.json)",
    } for r in runs])


def run_learned(run: FinetuneRun) -> bool:
    """Whether the run passed its "did it learn?" check (a run without the check counts as not checked)."""
    return bool(run.learning and run.learning.learned)


def learning_text(runs: Sequence[FinetuneRun]) -> str:
    """The "did it learn?" verdict of every run explained, from its ``learning.json``: a plain sentence when
    it learned, a warning (its explanations are a pipeline demo) when it did not or was not checked."""
    parts = []
    for r in runs:
        if r.learning is None:
            parts.append(f":::{{warning}}\n**{r.name}**: its run folder has no \"did it learn?\" check (learning.json); "
                         "its explanations below are a pipeline demo, not a reading of a model that learned.\n:::")
        else:  # the name goes inside a warning's fence (a fence must open its line)
            text = r.learning.markdown()
            fence = ":::{warning}\n"
            parts.append(fence + f"**{r.name}**: " + text.removeprefix(fence) if text.startswith(fence)
                         else f"**{r.name}**: " + text)
    return "\n\n".join(parts)


def demo_prefix(run: FinetuneRun) -> str:
    """``""`` for a run that learned; otherwise the words that make a generated reading a pipeline demo."""
    return "" if run_learned(run) else (f"Pipeline demo ({run.name} did not pass its \"did it learn?\" check, so nothing "
                                    "below is read as a property of a trained model): ")


def run_test_images(run: FinetuneRun, data_root=None) -> pd.DataFrame:
    """The run's test predictions with each image's ``path`` (from the run's task table)."""
    params = run.params
    table = run.task.load_table(data_root or params.get("data_root"), seed=params.get("seed", 0),
                                val_fraction=params.get("val_fraction"), **(params.get("task_options") or {}))
    paths = table[["image_id", "path"]].drop_duplicates("image_id")
    merged = run.predictions["test"].merge(paths, on="image_id", how="left")
    if merged["path"].isna().any():
        missing = merged.loc[merged["path"].isna(), "image_id"].head(3).tolist()
        raise FileNotFoundError(f"{int(merged['path'].isna().sum())} test images of {run.folder} are not in the "
                                f"task table (e.g. {missing}): is data_root the one the run used?")
    return merged


def record_checkpoints(artifacts, runs: Sequence[FinetuneRun]) -> dict[str, str]:
    """Record every run's checkpoint as an input of the notebook (``RunArtifacts.record_data``, which hashes it) and
    return its SHA-256 by run name: the weights id of the feature cache. Each file is hashed once."""
    ids = {}
    for r in runs:
        fingerprint = artifacts.record_data(f"checkpoint {r.name}", r.checkpoint)
        ids[r.name] = fingerprint.partition(":")[2]  # a file's fingerprint is "sha256:<hex>"
    return ids


def feature_sources(runs: Sequence[FinetuneRun], models: Mapping[str, torch.nn.Module],
                    checkpoint_ids: Mapping[str, str], pretrain_dir=None, *, seed: int = 0) -> list[tuple]:
    """The backbones whose test features the t-SNE figure shows, as ``(title, backbone, weights id, preprocess,
    image size)``: each fine-tuned run's, then (with ``pretrain_dir``) the final self-supervised checkpoint of notebook
    02 (:func:`cxrlib.training.ssl.runs.final_checkpoint`) and the same backbone from random weights (seeded)."""
    from cxrlib.models import create_backbone
    from cxrlib.training.common import size_kwargs
    from cxrlib.training.ssl.runs import final_checkpoint

    sources = [(f"fine-tuned {r.name}", models[r.name].backbone, checkpoint_ids[r.name], r.params["preprocess"],
                r.image_size) for r in runs]
    if pretrain_dir:
        final = final_checkpoint(pretrain_dir)
        pre = final.params
        for title, weights in ((f"SSL {pre['method']} {pre['backbone']}, epoch {final.epoch}", final.path),
                               (f"random {pre['backbone']}", "none")):
            backbone, info = create_backbone(pre["backbone"], weights, seed=seed,
                                             **size_kwargs(pre["backbone"], pre["image_size"]))
            sources.append((title, backbone, info.sha256 or f"random:{info.timm_name}:{seed}", pre["preprocess"],
                            pre["image_size"]))
    return sources


def load_inputs(paths: Sequence[str], preprocess: str, image_size: int, cache_dir=None) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Model inputs ``(N, 3, S, S)`` and the preprocessed uint8 images (for overlays) of ``paths``."""
    config = preprocess_config(preprocess, image_size)
    cache = PreprocessCache(cache_dir, config)
    grey = [cache.get(p) for p in paths]
    x = np.stack([to_model_input(g, config) for g in grey]) if grey else np.zeros((0, 3, image_size, image_size))
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), grey


# -------------------------------------------------------------------------------------- confusion


def confusion_long(matrices: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``run``, ``true``, ``predicted``, ``count``, ``row_share`` of each run's confusion matrix."""
    rows = []
    for name, matrix in matrices.items():
        counts = matrix.to_numpy()
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        for i, true in enumerate(matrix.index):
            for j, pred in enumerate(matrix.columns):
                rows.append({"run": name, "true": true, "predicted": pred, "count": int(counts[i, j]),
                             "row_share": float(share[i, j])})
    return pd.DataFrame(rows)


def _matrix_panel(ax, counts: np.ndarray, names: Sequence[str], normalised: bool, title: str) -> None:
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    small = len(names) > 6
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            text = f"{100 * share[i, j]:.0f}" if normalised else str(int(counts[i, j]))
            ax.text(j, i, text, ha="center", va="center", fontsize=5 if small else 8,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(names)), names, rotation=90 if small else 45, ha="center" if small else "right",
                  fontsize=5 if small else 8)
    ax.set_yticks(range(len(names)), names, fontsize=5 if small else 8)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    ax.set_title(title, fontsize=8)


def plot_confusions(matrices: Mapping[str, pd.DataFrame]):
    """One row per matrix (ours, and the published ones beside them): counts, then row percentages
    (document 000, Fig. 3 prints counts with ground truth as rows)."""
    import matplotlib.pyplot as plt

    k = max(len(m) for m in matrices.values())
    cell = 2.6 + 0.28 * k
    fig, axes = plt.subplots(len(matrices), 2, figsize=(2 * cell, cell * len(matrices)), squeeze=False)
    for row, (name, matrix) in zip(axes, matrices.items()):
        names = [str(c) for c in matrix.columns]
        _matrix_panel(row[0], matrix.to_numpy(), names, False, f"{name}: counts")
        _matrix_panel(row[1], matrix.to_numpy(), names, True, f"{name}: % of the true class")
    fig.tight_layout()
    return fig


def published_fig3(model: str) -> pd.DataFrame:
    """Document 000's Fig. 3 counts of ``model`` ("DINOv2 ViT-S/14" or "CheXNet") as a square matrix."""
    from cxrlib import published

    frame = published.load("d000_fig3").frame
    part = frame[frame["model"] == model].set_index("true").drop(columns="model")
    if part.empty:
        raise KeyError(f"document 000's Fig. 3 has no model {model!r}; it has {sorted(frame['model'].unique())}")
    part.index.name, part.columns.name = "true", "predicted"
    return part.astype(int)


def fig3_recall_table(ours: pd.DataFrame | None = None, our_name: str = "ours") -> pd.DataFrame:
    """Per class of document 000's Fig. 3: test images and true positives with recall (diagonal / row sum)
    for both published models, and ours beside them when ``ours`` is a matrix over the same classes."""
    rows = {}
    for model in ("DINOv2 ViT-S/14", "CheXNet"):
        matrix = published_fig3(model)
        counts = matrix.to_numpy()
        rows[model] = (matrix.index.tolist(), counts.sum(axis=1), np.diag(counts))
    classes, totals, _ = rows["DINOv2 ViT-S/14"]
    table = pd.DataFrame({"class": classes, "test images (doc 000)": totals})
    for model, (_, total, tp) in rows.items():
        table[f"{model} TP"] = tp
        table[f"{model} recall"] = tp / np.maximum(total, 1)
    if ours is not None and list(ours.index) == classes:
        counts = ours.to_numpy()
        table[f"{our_name} test images"] = counts.sum(axis=1)
        table[f"{our_name} TP"] = np.diag(counts)
        table[f"{our_name} recall"] = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
    return table


def fig3_reading() -> str:
    """Document 000's Fig. 3 in words, every number read from the transcribed counts
    (``cxrlib/published/d000_fig3.csv``): which model finds more true positives of which class, Cardiomegaly
    as the example, and where DINOv2 sends the No Finding test images."""
    dino, chexnet = published_fig3("DINOv2 ViT-S/14"), published_fig3("CheXNet")
    tp_dino, tp_chex = pd.Series(np.diag(dino), dino.index), pd.Series(np.diag(chexnet), chexnet.index)
    more_dino = [c for c in dino.index if tp_dino[c] > tp_chex[c]]
    more_chex = [c for c in dino.index if tp_chex[c] > tp_dino[c]]
    card = "Cardiomegaly"
    normal = "No Finding"
    row = dino.loc[normal].drop(normal).sort_values(ascending=False)
    n_normal = int(dino.loc[normal].sum())

    def listing(names):
        return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)

    return (f"In the published counts, DINOv2 ViT-S/14 finds more true {listing(more_dino)} images; CheXNet more of "
            f"{len(more_chex)} of the other {len(dino.index) - len(more_dino)} classes ({card} {tp_chex[card]:,} of {int(chexnet.loc[card].sum()):,} against "
            f"{tp_dino[card]:,}). Both spread the {n_normal:,} {normal} test images over the findings: DINOv2 calls "
            f"{tp_dino[normal]:,} of them {normal} and sends {row.iloc[0]:,} to {row.index[0]} and {row.iloc[1]:,} to "
            f"{row.index[1]}; CheXNet calls {tp_chex[normal]:,} of them {normal}. The document reads this as a sign that "
            "the class is hard to tell apart, or wrongly labelled.")


# ------------------------------------------------------------------------------------------ t-SNE


def stratified_sample(frame: pd.DataFrame, n: int, seed: int = 0, by: str = "label") -> pd.DataFrame:
    """At most ``n`` rows, each class in proportion (at least one of each), seeded; original order kept."""
    if len(frame) <= n:
        return frame
    rng = np.random.default_rng(seed)
    keep = []
    for _, group in frame.groupby(by, sort=True):
        k = max(1, int(round(n * len(group) / len(frame))))
        keep.extend(rng.choice(group.index.to_numpy(), size=min(k, len(group)), replace=False).tolist())
    return frame.loc[sorted(keep)]


def backbone_features(backbone: torch.nn.Module, x: torch.Tensor, *, cache_dir, weights_id: str,
                      image_ids: Sequence[str], preprocess: str, image_size: int, device: str = "cpu") -> np.ndarray:
    """Pooled features of the frozen backbone, through the feature cache of :mod:`cxrlib.training.features`."""
    from torch.utils.data import TensorDataset

    from cxrlib.training.features import extract_features, feature_cache_key

    key = feature_cache_key(weights_id, list(image_ids), preprocess_config(preprocess, image_size),
                            extra={"image_size": image_size, "use": "05_explain"})
    dataset = TensorDataset(x, torch.zeros(len(x)), torch.arange(len(x)))
    return extract_features(backbone, dataset, cache_dir=cache_dir, key=key, image_ids=list(image_ids),
                            progress=False, device=device)


def tsne(features: np.ndarray, seed: int = 0, perplexity: float = 30.0) -> tuple[np.ndarray, float]:
    """2-D t-SNE of standardised features (PCA to at most 50 dimensions first); returns the map and the
    perplexity used (capped at (n - 1) / 3 for small samples)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(features)
    x = PCA(n_components=min(50, x.shape[1], x.shape[0] - 1), random_state=seed).fit_transform(x)
    used = float(min(perplexity, (len(x) - 1) / 3))
    xy = TSNE(n_components=2, perplexity=used, init="pca", random_state=seed).fit_transform(x)
    return xy, used


def plot_tsne(panels: Mapping[tuple[str, str], tuple[np.ndarray, np.ndarray, Sequence[str]]]):
    """Scatter plots, one per ``(row, column)`` key -> ``(xy, labels, class names)``; a legend per row."""
    import matplotlib.pyplot as plt

    rows = list(dict.fromkeys(r for r, _ in panels))
    cols = list(dict.fromkeys(c for _, c in panels))
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.7 * len(cols) + 1.6, 2.7 * len(rows)), squeeze=False)
    cmap = plt.get_cmap("tab20" if max(len(v[2]) for v in panels.values()) > 10 else "tab10")
    for (r, c), (xy, labels, names) in panels.items():
        ax = axes[rows.index(r)][cols.index(c)]
        labels = np.asarray(labels)
        for k, name in enumerate(names):
            chosen = labels == k
            if chosen.any():
                ax.scatter(xy[chosen, 0], xy[chosen, 1], s=6, alpha=0.7, color=cmap(k % cmap.N), label=name)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{c}\n{r}", fontsize=7)
    for i, row in enumerate(axes):
        handles, labels = row[-1].get_legend_handles_labels()
        if handles:
            row[-1].legend(handles, labels, fontsize=6, markerscale=2, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------- overlays


def plot_overlays(images: Sequence[np.ndarray], maps: Mapping[str, np.ndarray], titles: Sequence[str],
                  boxes: Sequence[Sequence[float] | None] | None = None, alpha: float = 0.45):
    """Radiographs with heat maps on top: one row per method or run (``maps`` name -> (N, H, W) normalised
    maps), one column per image; optional boxes ``(x, y, w, h)`` in map pixels drawn in green."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(images)
    fig, axes = plt.subplots(len(maps) + 1, max(n, 1), figsize=(1.9 * max(n, 1), 2.05 * (len(maps) + 1)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    if n == 0:
        axes[0][0].text(0.5, 0.5, "no images", ha="center", va="center")
        return fig
    for j, (image, title) in enumerate(zip(images, titles)):
        axes[0][j].imshow(image, cmap="gray", vmin=0, vmax=255)
        axes[0][j].set_title(title, fontsize=6)
        for i, (name, stack) in enumerate(maps.items(), start=1):
            ax = axes[i][j]
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            ax.imshow(stack[j], cmap="jet", alpha=alpha, vmin=0, vmax=1,
                      extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5))
            if j == 0:
                ax.text(-0.08, 0.5, name, transform=ax.transAxes, rotation=90, ha="right", va="center", fontsize=7)
        if boxes is not None and boxes[j] is not None:
            for i in range(len(maps) + 1):
                x, y, w, h = boxes[j]
                axes[i][j].add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="#00ff00", lw=1))
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------- sanity check


def plot_sanity_curve(summary: pd.DataFrame, title: str = ""):
    """Mean Spearman correlation (band: min-max over images) with the trained network's maps, per level of
    the cascade (left: trained; right: everything re-initialised); dotted, per method: the mean correlation
    with *other* images' trained maps, the level of maps that changed completely."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for method, part in summary.groupby("method", sort=False):
        x = np.concatenate([[0], part["depth"].to_numpy()])
        mean = np.concatenate([[1.0], part["mean"].to_numpy()])
        line, = ax.plot(x, mean, "o-", ms=3, label=method)
        ax.fill_between(part["depth"], part["min"], part["max"], alpha=0.15, color=line.get_color())
        if "unrelated" in part:
            ax.plot(part["depth"], part["unrelated"], ":", color=line.get_color(), lw=1.2,
                    label=f"{method}: other images' trained maps")
    levels = ["trained", *summary.drop_duplicates("depth")["level"].tolist()]
    ax.set_xticks(range(len(levels)), levels, rotation=60, ha="right", fontsize=7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("Spearman with trained maps")
    ax.set_xlabel("re-initialised down to (cumulative, from the head)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def sanity_reading(summary: pd.DataFrame, run: FinetuneRun, *, alpha: float) -> str:
    """The randomisation check in words, one sentence per method, from :func:`cxrlib.explain.sanity.sanity_summary`:
    the verdict with every layer random, the first level after which the maps are no closer to the same image's
    trained map than to other images' (p > ``alpha``), and the later levels where they are closer again."""
    lines = []
    for method, part in summary.groupby("method", sort=False):
        part = part.sort_values("depth")
        changed = part["p_value"] > alpha
        if part["verdict"].iloc[-1].startswith("cannot tell"):  # no level could have stood out
            lines.append(f"- **{method}**: {part['verdict'].iloc[-1]}.")
            continue
        if changed.any():
            first = int(np.argmax(changed.to_numpy()))
            again = part.iloc[first:].loc[~changed.iloc[first:], "level"].tolist()
            where = (f"its maps are first no closer to the same image's trained map than to other images' after "
                     f"re-initialising down to '{part['level'].iloc[first]}'")
            if again:
                where += f", but closer again after {', '.join(repr(a) for a in again)}"
        else:
            where = "at no level are its maps as far from the same image's trained map as from other images'"
        lines.append(f"- **{method}**: {part['verdict'].iloc[-1]}. Along the cascade, {where} "
                     f"(one-sided permutation test at {alpha:g}).")
    return demo_prefix(run) + f"Model randomisation of {run.name}:\n\n" + "\n".join(lines)


def plot_sanity_maps(image: np.ndarray, maps: Mapping[str, list[np.ndarray]], labels: Sequence[str], index: int = 0,
                     show: int = 6):
    """One image's maps at a few levels of the cascade (rows: methods), each normalised to its maximum."""
    import matplotlib.pyplot as plt

    n_levels = len(labels)
    picks = sorted(set(np.linspace(0, n_levels - 1, min(show, n_levels)).round().astype(int).tolist()))
    fig, axes = plt.subplots(len(maps), len(picks), figsize=(1.8 * len(picks), 1.9 * len(maps)), squeeze=False)
    for i, (method, stack) in enumerate(maps.items()):
        for j, level in enumerate(picks):
            heat = stack[level][index]
            heat = heat / heat.max() if heat.max() > 0 else heat
            ax = axes[i][j]
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
            ax.axis("off")
            ax.set_title(f"{method}\n{labels[level]}", fontsize=6)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------- localisation


def known_answer_cases(size: int = 64) -> tuple[pd.DataFrame, list[np.ndarray], list[tuple[float, ...]]]:
    """Constructed maps whose scores are known: a map that is one bump inside the box, the same bump
    outside it, a uniform map and an empty map, all with the same box. Returns the case names, maps, boxes."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    box = (size * 0.125, size * 0.25, size * 0.25, size * 0.25)
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2

    def bump(x0, y0):
        return np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * (size / 40) ** 2))

    cases = {"bump in the box": bump(cx, cy), "bump outside the box": bump(size * 0.75, size * 0.75),
             "uniform map": np.ones((size, size)), "empty map": np.zeros((size, size))}
    return pd.DataFrame({"case": list(cases)}), list(cases.values()), [box] * len(cases)


def localisation_reading(local: pd.DataFrame, run: FinetuneRun, *, source: str, in_domain: bool) -> str:
    """The pointing game of ``run`` in words from the localisation table: hits of n, the exact interval and how
    much of the range it spans, the chance level, and whether the source is the run's own domain."""
    rows = local[local["run"] == run.name].set_index("metric")
    hit, chance = rows.loc["pointing game hit rate"], rows.loc["chance (box share of image)"]
    n = int(hit["n"])
    if n == 0:
        return f"{run.name}: no boxed image of its classes was scored ({source}), so there is no localisation result."
    width = hit["ci_high"] - hit["ci_low"]
    covers = hit["ci_low"] <= chance["estimate"] <= hit["ci_high"]
    text = (f"{run.name}: the Grad-CAM maximum fell inside the radiologist's box on {int(round(hit['estimate'] * n))} "
            f"of {n} boxed images (hit rate {hit['estimate']:.2f}, 95 % exact binomial CI {hit['ci_low']:.2f} to "
            f"{hit['ci_high']:.2f}, an interval spanning {width:.0%} of the possible range; chance, the boxes' mean "
            f"share of the image: {chance['estimate']:.2f}). ")
    if not in_domain:
        text += (f"The images are {source}: a demonstration of the method, not a finding about the model. ")
    text += ("The interval includes the chance level: these boxes cannot tell the maps from a uniform guess."
             if covers else "The interval excludes the chance level.")
    return demo_prefix(run) + text


def box_counts(all_boxes: pd.DataFrame, test_ids, scored: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Per finding of the box list: boxes in the list, on the run's test images, scored here, and the run's
    class that names the finding (``–``: none)."""
    from cxrlib.explain.boxes import class_for_finding

    table = pd.DataFrame({"finding": sorted(all_boxes["finding"].unique())})
    on_test = all_boxes[all_boxes["image_id"].isin(set(test_ids))]
    for column, frame in (("boxes in the list", all_boxes), ("on the run's test images", on_test), ("scored here", scored)):
        table[column] = table["finding"].map(frame["finding"].value_counts() if len(frame) else {}).fillna(0).astype(int)
    table["class of the run"] = table["finding"].map(lambda f: class_for_finding(f, classes) or "–")
    return table


def registry_gradcam_table(keys: Sequence[str] | None = None, seed: int = 0, cnn_size: int = 64,
                           patches_per_side: int = 4, min_grid: int = 8) -> pd.DataFrame:
    """The registry rows ``keys`` (None: every row) built with random weights at a small size (CNNs ``cnn_size`` px, ViTs
    ``patches_per_side`` patches a side), one Grad-CAM batch of two random images on the layer the rule of
    :func:`cxrlib.explain.gradcam.choose_layer` picks at that size: the registry's layer, the chosen one, its output,
    the map, and what pytorch-grad-cam's default ViT reshape (drop 1 token, 14 x 14 grid) would do at the row's native
    input size."""
    import time

    from cxrlib.explain import gradcam
    from cxrlib.models import build_classifier
    from cxrlib.models import get_spec
    from cxrlib.models.registry import REGISTRY
    from cxrlib.training.common import size_kwargs

    rows = []
    generator = torch.Generator().manual_seed(seed)
    for spec in [get_spec(k) for k in keys] if keys is not None else list(REGISTRY.values()):
        started = time.perf_counter()
        patch = spec.patch_size
        size = cnn_size if patch is None else patch * patches_per_side
        model = build_classifier(spec.key, 2, weights="none", seed=seed, **size_kwargs(spec.key, size)).eval()
        choice = gradcam.choose_layer(model, size, min_grid=min_grid)
        layer = gradcam.target_layer(model, choice.path)
        captured = {}
        handle = layer.register_forward_hook(lambda m, i, o: captured.__setitem__("shape", tuple(o.shape)))
        x = torch.randn(2, 3, size, size, generator=generator)
        try:
            maps = gradcam.gradcam(model, x, 1, layer=choice.path, upsample=False)
        finally:
            handle.remove()
        if patch is not None:
            prefix, grid = gradcam.prefix_and_grid(model.backbone)
            tokens_native = (spec.input_size // patch) ** 2 + prefix
            default = ("fits" if tokens_native - 1 == 14 * 14 else
                       f"wrong: {tokens_native} tokens - 1 = {tokens_native - 1}, not 14 x 14 = 196")
            how = f"drop {prefix} prefix token(s), {grid[0]} x {grid[1]} grid"
        else:
            default, how = "not needed (CNN grid)", "already a grid"
        rows.append({"backbone": spec.key, "family": spec.family, "registry layer": spec.gradcam_layer,
                     "input": f"{size} px", "layer (rule)": choice.path.removeprefix("backbone."),
                     "layer output": " x ".join(map(str, captured["shape"])),
                     "to grid": how, "map": " x ".join(map(str, maps.shape[1:])),
                     f"map >= {min_grid} x {min_grid}": "yes" if choice.meets_min else "no (largest grid there is)",
                     "grad-cam 1.5.7 default at 224 px": default,
                     "seconds": round(time.perf_counter() - started, 2)})
        del model
    return pd.DataFrame(rows)
