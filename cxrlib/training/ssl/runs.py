"""Several pre-training runs of one notebook: the pretext fractions of document 002 and a policy comparison.

``pretrain_fractions`` runs one :func:`~cxrlib.training.ssl.loop.pretrain` per pool fraction into
``<out_dir>/pool_<percent>/`` and writes two index files into ``out_dir``:

* ``loss.csv``: every run's per-epoch loss, with ``run``, ``fraction`` and ``policy`` columns;
* ``checkpoints.csv``: ``run``, ``fraction``, ``epoch``, ``path`` (relative to ``out_dir``) of every
  checkpoint, which the linear-probe notebook reads, and the tags notebook 02 adds per run (``policy``, and
  ``compared_epoch``: the epoch whose checkpoint stands for the run in the comparison of the pools,
  :func:`compared_epochs`).
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cxrlib.core.runs import write_csv
from cxrlib.core.staging import staged_path
from cxrlib.models.weights import SSL_CHECKPOINT_INDEX, last_ssl_checkpoint
from cxrlib.stats import learning
from cxrlib.training.run_folder import write_learning
from cxrlib.training.ssl.loop import PretrainConfig, PretrainResult, checkpoint_epochs, pretrain
from cxrlib.training.ssl.methods import get_method
from cxrlib.training.ssl.views import pretext_pool

LOSS_INDEX = "loss.csv"


def fraction_label(fraction: float) -> str:
    """``0.01`` -> ``"1%"``, ``1.0`` -> ``"100%"``."""
    percent = 100 * float(fraction)
    return f"{percent:.0f}%" if math.isclose(percent, round(percent)) else f"{percent:g}%"


def fraction_run_name(fraction: float) -> str:
    """The sub-folder of a pool fraction's run: ``1.0`` -> ``"pool_100"``, ``0.25`` -> ``"pool_025"``."""
    return f"pool_{100 * float(fraction):03.0f}" if float(fraction) >= 0.01 else f"pool_{100 * float(fraction):g}"


def chance_loss(method: str, batch_size: int, queue_size: int = 0) -> float:
    """The loss of embeddings that carry no information (all similarities equal): ``log`` of the
    number of candidates: ``2B - 1`` for SimCLR, ``K + 1`` for MoCo."""
    spec = get_method(method)
    return float(np.log(queue_size + 1 if spec.momentum_encoder else 2 * batch_size - 1))


def effective_batch_size(batch_size: int, n_images: int) -> int:
    """The batch a run actually trains with: the loop batches ``min(batch_size, pool size)`` images
    (:func:`cxrlib.training.ssl.loop.pretrain`, ``drop_last=True``), so a pool smaller than the batch
    trains on one batch of the whole pool per epoch."""
    return min(int(batch_size), int(n_images))


def run_chance_loss(method: str, batch_size: int, n_images: int, queue_size: int = 0) -> float:
    """:func:`chance_loss` for the batch the run actually had (:func:`effective_batch_size`): SimCLR's
    chance level ``log(2B - 1)`` depends on B, so a 7-image pool with ``batch_size`` 32 has B = 7 and
    chance ``log 13``; MoCo's ``log(K + 1)`` does not depend on B."""
    return chance_loss(method, effective_batch_size(batch_size, n_images), queue_size)


def encoder_learning_check(result: PretrainResult) -> learning.LearningCheck:
    """Did the encoder learn anything? The last epoch's mean contrastive loss against
    :func:`run_chance_loss` (the loss of embeddings that carry no information, for the batch the run had;
    :func:`cxrlib.stats.learning.check_learning`). Pre-training has no validation metric of its own: the
    linear probe of notebook 06 is that check."""
    config = result.config
    chance = run_chance_loss(config.method, config.batch_size, len(result.pool), config.queue_size)
    return learning.check_learning(final_loss=float(result.loss["loss"].iloc[-1]), no_information=chance,
                                   what="SSL encoder")


def index_runs(out_dir: str | os.PathLike, results: dict[str, PretrainResult], extra: dict[str, dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``loss.csv`` and ``checkpoints.csv`` of ``results`` (run name -> result) into ``out_dir``, and each
    run's ``learning.json`` (:func:`encoder_learning_check`) into its own folder."""
    out = staged_path(out_dir)  # inside a notebook run: its staging folder, where the runs wrote
    losses, checkpoints = [], []
    for name, result in results.items():
        tags = {"run": name, **extra.get(name, {})}
        losses.append(result.loss.assign(**tags))
        if len(result.loss):
            write_learning(result.out_dir, encoder_learning_check(result))
        for epoch, path in result.checkpoints.items():
            checkpoints.append({**tags, "epoch": epoch, "path": str(Path(path).relative_to(out))})
    loss, index = pd.concat(losses, ignore_index=True), pd.DataFrame(checkpoints)
    write_csv(out / LOSS_INDEX, loss)
    write_csv(out / SSL_CHECKPOINT_INDEX, index)
    return loss, index


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Optimisation steps of one epoch over ``n_images``: whole batches of :func:`effective_batch_size` images
    (the loop drops the last, incomplete batch)."""
    return int(n_images) // effective_batch_size(batch_size, n_images) if n_images else 0


def epochs_for_steps(steps: int, n_images: int, batch_size: int) -> int:
    """The fewest epochs over ``n_images`` that take at least ``steps`` optimisation steps (0 for 0 steps)."""
    per_epoch = steps_per_epoch(n_images, batch_size)
    if per_epoch < 1:
        raise ValueError(f"a pool of {n_images} image(s) gives no whole batch")
    return -(-int(steps) // per_epoch)


def pretrain_fractions(config: PretrainConfig, fractions: Iterable[float], *, equal_steps: bool = True,
                       compare_epoch: int | None = None) -> dict[float, PretrainResult]:
    """One run per pool fraction (largest first), each in ``<config.out_dir>/pool_<percent>``; the largest
    keeps a checkpoint every ``checkpoint_every`` epochs (document 002's per-epoch figures), the others
    the first and the last.

    The largest pool trains ``config.epochs`` epochs; the pools are compared at its checkpoint of epoch
    ``compare_epoch`` (``None``: its last epoch). With ``equal_steps`` (the default) every smaller pool
    trains as many epochs as it needs for at least the optimisation steps of the largest pool's first
    ``compare_epoch`` epochs (:func:`epochs_for_steps`; it overshoots by less than one of its epochs), so that
    the pool fraction is not confounded with the length of training; with ``equal_steps=False`` every pool
    trains ``compare_epoch`` epochs (document 002's protocol: a smaller pool then also takes fewer steps).
    A ``compare_epoch`` below ``config.epochs`` lets the largest pool train on (the encoder the later chapters
    start from) while the comparison costs only the steps it compares; it must be an epoch the largest pool
    keeps a checkpoint of (:func:`~cxrlib.training.ssl.loop.checkpoint_epochs`)."""
    compared = config.epochs if compare_epoch is None else int(compare_epoch)
    if compared not in checkpoint_epochs(config.epochs, config.checkpoint_every) or compared < 1:
        raise ValueError(
            f"compare_epoch={compare_epoch}: the largest pool keeps checkpoints of epochs "
            f"{checkpoint_epochs(config.epochs, config.checkpoint_every)[1:]} (epochs={config.epochs}, "
            f"checkpoint_every={config.checkpoint_every}); compare at one of them")
    results: dict[float, PretrainResult] = {}
    ordered = sorted({float(f) for f in fractions}, reverse=True)
    target = None
    for fraction in ordered:
        run_dir = Path(config.out_dir) / fraction_run_name(fraction)
        epochs = config.epochs if target is None else compared
        if equal_steps and target is not None:
            n_images = len(pretext_pool(config.pool_sources, fraction, config.seed, config.data_root,
                                        config.pool_max_images))
            epochs = epochs_for_steps(target, n_images, config.batch_size)
        print(f"--- pool {fraction_label(fraction)} -> {run_dir} ({epochs} epochs)", flush=True)
        every = config.checkpoint_every if fraction == ordered[0] else max(1, epochs)  # others: first and last
        results[fraction] = pretrain(dataclasses.replace(config, out_dir=str(run_dir), pool_fraction=fraction,
                                                         epochs=epochs, checkpoint_every=every))
        if target is None:
            target = compared * steps_per_epoch(len(results[fraction].pool), config.batch_size)
    return results


def compared_epochs(results: dict[float, PretrainResult], compare_epoch: int | None = None) -> dict[float, int]:
    """Fraction -> the epoch whose checkpoint stands for that pool in the comparison of :func:`pretrain_fractions`
    (the same ``compare_epoch``): ``compare_epoch`` of the largest pool (``None``: its last), the last of the others."""
    largest = max(results)
    return {f: int(compare_epoch) if f == largest and compare_epoch is not None else max(r.checkpoints)
            for f, r in results.items()}


def compare_policies(config: PretrainConfig, policies: Iterable[str], epochs: int, max_images: int,
                     folder: str = "policies") -> dict[str, PretrainResult]:
    """Short runs that differ only in the augmentation policy (``<out_dir>/<folder>/<policy>``)."""
    results = {}
    for policy in dict.fromkeys(policies):
        run_dir = Path(config.out_dir) / folder / policy
        print(f"--- policy {policy} -> {run_dir}", flush=True)
        results[policy] = pretrain(dataclasses.replace(
            config, out_dir=str(run_dir), policy=policy, epochs=epochs, pool_fraction=1.0,
            pool_max_images=max_images, save_checkpoints=False))
    return results


def read_checkpoint_index(pretrain_dir: str | os.PathLike) -> pd.DataFrame:
    """``checkpoints.csv`` of a ``02_pretrain`` output folder with absolute paths; a clear error if absent."""
    folder = Path(pretrain_dir)
    path = folder / SSL_CHECKPOINT_INDEX
    if not path.exists():
        raise FileNotFoundError(
            f"no pre-training checkpoints in {folder} ({SSL_CHECKPOINT_INDEX} missing). Run the pre-training first, "
            f"e.g. papermill notebooks/02_pretrain.ipynb out.ipynb -p out_dir {folder}, or build the book "
            "(bash scripts/book.sh), which writes book/_generated/02_pretrain."
        )
    index = pd.read_csv(path)
    index["path"] = [str(folder / p) for p in index["path"]]
    return index


@dataclasses.dataclass(frozen=True)
class FinalCheckpoint:
    """The checkpoint a downstream notebook starts from: ``path``, its ``epoch`` and pool ``fraction``, the folder
    ``run_dir`` of the run that wrote it and that run's ``params`` (its ``params.yaml``, the
    :class:`~cxrlib.training.ssl.loop.PretrainConfig`)."""

    path: str
    epoch: int
    fraction: float
    run_dir: Path
    params: dict


def final_checkpoint(pretrain_dir: str | os.PathLike) -> FinalCheckpoint:
    """The last checkpoint of the largest pool fraction of a ``02_pretrain`` output folder, with its run's
    parameters (notebooks 05, 06 and 11 read it); a clear error when the folder holds no checkpoints. The choice is
    :func:`cxrlib.models.weights.last_ssl_checkpoint`'s, the checkpoint ``create_backbone(key, pretrain_dir)`` loads."""
    index = read_checkpoint_index(pretrain_dir)
    path = str(last_ssl_checkpoint(Path(pretrain_dir)))
    row = index[index["path"] == path].iloc[0]
    run_dir = Path(pretrain_dir) / str(row["run"])
    params = yaml.safe_load((run_dir / "params.yaml").read_text())  # the run's PretrainConfig
    return FinalCheckpoint(path, int(row["epoch"]), float(row["fraction"]), run_dir, params)
