"""The unlabeled images of a pre-training run and the two random views of each.

**The pool** (:func:`pretext_pool`) is :func:`cxrlib.data.pool.unlabeled_pool`: train parts of the
chosen sources, drawn by patient, never a test image or a test patient (checked there and again
here). Document 002 pre-trains on 1 %, 10 % and 100 % of CheXpert; ``fraction`` draws that share of
the *patients* of each source, nested (the 1 % pool lies inside the 10 % pool).

``max_images`` (classroom profile only) first shrinks the full pool to a seeded subset of whole
patients holding at most that many images, so that a laptop can pre-train in minutes; the fractions
are then drawn from that subset, which is what "100 %" means in such a run. Every caption that shows a
capped run says so.

**Views** (:class:`TwoViewDataset`): each item is the cached uint8 image (:mod:`cxrlib.images.preprocess`)
augmented twice, independently, by one policy of :data:`cxrlib.images.augment.POLICIES`, then turned into
float model inputs.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from cxrlib.core.io import PathLike
from cxrlib.data.pool import (
    assert_disjoint_from,
    draw_patients,
    held_out_tables,
    unlabeled_pool,
)
from cxrlib.images.preprocess import PreprocessCache, to_model_input
from cxrlib.images.dataset import single_thread_torch


def cap_by_patient(pool: pd.DataFrame, max_images: int, seed: int) -> pd.DataFrame:
    """Whole patients in a seeded order until ``max_images`` images (at least one patient)."""
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1, got {max_images}")
    if len(pool) <= max_images:
        return pool
    sizes = pool.groupby("patient_id").size()
    order = sizes.index.to_numpy()[np.random.default_rng([seed, 7919]).permutation(len(sizes))]
    running = sizes.loc[order].cumsum().to_numpy()
    keep = set(order[: max(1, int(np.searchsorted(running, max_images, side="right")))])
    return pool[pool["patient_id"].isin(keep)]


def pretext_pool(
    sources: Iterable[str] = ("kermany", "nih_sample", "covid"),
    fraction: float = 1.0,
    seed: int = 0,
    root: PathLike | None = None,
    max_images: int | None = None,
    options: Mapping[str, Mapping] | None = None,
) -> pd.DataFrame:
    """The images of one pre-training run (columns ``image_id``, ``patient_id``, ``path``, ``dataset``).

    ``attrs["protocol"]`` records sources, fraction, seed and cap; ``attrs["counts"]`` images and
    patients per source. Raises :class:`~cxrlib.data.splits.LeakageError` if a test image or patient
    of any source would enter the pool.
    """
    sources = tuple(sources)
    full = unlabeled_pool(sources, 1.0, seed, root, options=options)
    capped = full if max_images is None else cap_by_patient(full, int(max_images), seed)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    pieces = [draw_patients(part, fraction, seed, salt=name) for name, part in capped.groupby("dataset", sort=True)]
    pool = pd.concat(pieces).sort_values("image_id").reset_index(drop=True)
    assert_disjoint_from(pool, *held_out_tables(sources, root, options).values())
    pool.attrs["protocol"] = {**full.attrs["protocol"], "fraction": fraction, "max_images": max_images,
                              "full_pool_images": len(full), "capped_pool_images": len(capped)}
    pool.attrs["counts"] = {
        name: {"images": int(len(part)), "patients": int(part["patient_id"].nunique())}
        for name, part in pool.groupby("dataset", sort=True)
    }
    return pool


class TwoViewDataset(Dataset):
    """Two independently augmented views of each pool image: ``(view_1, view_2, index)``."""

    def __init__(self, paths: Iterable[PathLike], cache: PreprocessCache,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        self.paths = [str(p) for p in paths]
        self.cache = cache
        self.augment = augment

    def __len__(self) -> int:
        return len(self.paths)

    def view(self, image: torch.Tensor) -> torch.Tensor:
        augmented = image if self.augment is None else self.augment(image)
        return torch.from_numpy(np.ascontiguousarray(to_model_input(augmented[0].numpy(), self.cache.config)))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image = torch.from_numpy(self.cache.get(self.paths[index])).unsqueeze(0)
        with single_thread_torch():
            return self.view(image), self.view(image), index


def sample_views(image: np.ndarray, policy: str, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` random views (uint8, H x W) of one cached grey image under ``policy``, seeded."""
    from cxrlib.images.augment import build_augmentation

    augment = build_augmentation(policy)
    tensor = torch.from_numpy(np.ascontiguousarray(image)).unsqueeze(0)
    with torch.random.fork_rng(devices=[]), single_thread_torch():
        torch.manual_seed(seed)
        return [(tensor if augment is None else augment(tensor))[0].numpy() for _ in range(n)]
