"""The PyTorch dataset of a task table.

:class:`CxrDataset` reads each image through a :class:`~cxrlib.images.preprocess.PreprocessCache` (uint8),
applies the row's fixed ``variant`` (document 000's oversampling, :mod:`cxrlib.images.sampling`) and a random
augmentation (:mod:`cxrlib.images.augment`) in uint8, then the float stage
(:func:`~cxrlib.images.preprocess.to_model_input`). Items are ``(image, target, row index)``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from cxrlib.images.augment import apply_variant
from cxrlib.images.preprocess import PreprocessCache, to_model_input
from cxrlib.images.sampling import VARIANT_COLUMN
from cxrlib.images.tasks import TaskSpec, get_task


class CxrDataset(Dataset):
    """Images of a task table through the preprocessing cache, with variant and augmentation.

    ``augment`` is a callable on ``(1, H, W)`` uint8 tensors (:func:`cxrlib.images.augment.build_augmentation`)
    or ``None``. Returns ``(float32 image (C, H, W), target, row index)``; the target is an int64 class
    index or a float32 vector of 0/1 labels.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        task: str | TaskSpec,
        cache: PreprocessCache,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.task = get_task(task)
        self.cache = cache
        self.config = cache.config
        self.augment = augment
        self.paths = [str(p) for p in table["path"]]
        self.image_ids = table["image_id"].tolist()
        self.targets = self.task.targets(table)
        self.variants = table[VARIANT_COLUMN].tolist() if VARIANT_COLUMN in table.columns else None

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> torch.Tensor:
        """The uint8 ``(1, H, W)`` image after the fixed variant and the random augmentation."""
        image = torch.from_numpy(self.cache.get(self.paths[index])).unsqueeze(0)
        if self.variants is not None:
            image = apply_variant(image, self.variants[index])
        if self.augment is not None:
            image = self.augment(image)
        return image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        with single_thread_torch():
            grey = self.image(index)[0].numpy()
        x = torch.from_numpy(np.ascontiguousarray(to_model_input(grey, self.config)))
        return x, torch.as_tensor(self.targets[index]), index


@contextlib.contextmanager
def single_thread_torch() -> Iterator[None]:
    """Run torch on one thread inside the block.

    Per-image transforms gain nothing from intra-op threads, and on a busy 2-core machine the
    thread hand-off made a 64 px rotation 20-40 times slower (0.3 ms on one thread, 10 ms on two).
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
