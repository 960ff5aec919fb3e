"""Frozen-backbone features for the linear probe, with an on-disk cache.

Document 002 (Gazda et al., section V-B) uses the self-supervised network "as a fixed feature
extractor": every image goes once through the frozen backbone, and the logistic regression of
:mod:`cxrlib.training.probe` is fitted on the pooled features. Feature extraction is the expensive step, so
its result is cached:

- :func:`feature_cache_key` hashes what determines the features: the weights (an id such as a
  :class:`cxrlib.models.WeightsInfo` SHA-256 or a checkpoint path with its hash), the ordered image
  ids, the preprocessing (a mapping, or a :class:`cxrlib.images.preprocess.PreprocessConfig`) and anything
  else the caller names (``extra``: image size, backbone key, augmentation off, ...). Choosing what
  goes into the key is the caller's job: the cache trusts it.
- :func:`extract_features` stores ``<cache_dir>/<key>.npy`` (float32, N x D) with a JSON sidecar
  ``<key>.json`` (n, dim, SHA-256 of the image ids, format version). A cache entry is used only if
  the sidecar parses and agrees with the request and the array; otherwise the features are
  recomputed (with a :class:`FeatureCacheWarning`) and the entry rewritten. Writes go to a temporary
  file first and are renamed into place, so an interrupted run never leaves a half-written entry.

The backbone is a timm model created with ``num_classes=0`` (e.g.
``cxrlib.models.create_backbone(key, weights)``), so ``backbone(x)`` returns pooled ``(B, D)``
features. It runs in eval mode (batch norm with running statistics, no dropout) under
``torch.inference_mode``; its training mode and device are restored afterwards.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from cxrlib.core.io import atomic_write, jsonable
from cxrlib.training.common import resolve_device

__all__ = [
    "FEATURE_CACHE_VERSION",
    "FeatureCacheWarning",
    "feature_cache_key",
    "image_ids_digest",
    "extract_features",
]

FEATURE_CACHE_VERSION = 1  # bump when a cached array's meaning changes
_KEY_LENGTH = 32  # hex characters of the SHA-256 kept in the key (128 bits)


class FeatureCacheWarning(UserWarning):
    """A feature cache entry was unreadable or did not match the request: recomputed."""


def _canonical_json(value: Any) -> str:
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def image_ids_digest(image_ids: Sequence[str]) -> str:
    """SHA-256 (hex) of the ordered image ids (order matters: row i of the features is image i)."""
    return hashlib.sha256(_canonical_json([str(i) for i in image_ids]).encode("utf-8")).hexdigest()


def _preprocess_fields(preprocess: Mapping | Any) -> Mapping:
    if isinstance(preprocess, Mapping):
        return preprocess
    to_dict = getattr(preprocess, "to_dict", None)  # cxrlib.images.preprocess.PreprocessConfig
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"preprocess must be a mapping or have to_dict(), got {type(preprocess)}")


def feature_cache_key(weights_id: str, image_ids: Sequence[str], preprocess: Mapping | Any,
                      extra: Mapping | None = None) -> str:
    """Stable hex key (SHA-256 prefix of a canonical JSON) of everything that determines features.

    The same inputs give the same key in every process; key order inside mappings does not
    matter, the order of ``image_ids`` does.
    """
    payload = {
        "format": FEATURE_CACHE_VERSION,
        "weights": str(weights_id),
        "n_images": len(image_ids),
        "image_ids_sha256": image_ids_digest(image_ids),
        "preprocess": _preprocess_fields(preprocess),
        "extra": dict(extra or {}),
    }
    return hashlib.sha256(_canonical_json(payload).encode("utf-8")).hexdigest()[:_KEY_LENGTH]


# ----------------------------------------------------------------------------------------------
# cache entries
# ----------------------------------------------------------------------------------------------
def _paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    if not key or any(ch in key for ch in "/\\") or key.startswith("."):
        raise ValueError(f"invalid cache key {key!r}: use feature_cache_key(...)")
    return cache_dir / f"{key}.npy", cache_dir / f"{key}.json"


def _read_entry(array_path: Path, sidecar_path: Path, key: str, n: int,
                ids_digest: str | None) -> np.ndarray | None:
    """The cached array, or None (with a warning if an entry existed but could not be used)."""
    if not (array_path.exists() and sidecar_path.exists()):
        return None
    try:
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
        expected = {"format": FEATURE_CACHE_VERSION, "key": key, "n": n,
                    "image_ids_sha256": ids_digest, "dtype": "float32"}
        wrong = [f"{k}={meta.get(k)!r} (expected {v!r})" for k, v in expected.items()
                 if meta.get(k) != v]
        if wrong:
            raise ValueError("sidecar disagrees with the request: " + ", ".join(wrong))
        features = np.load(array_path, allow_pickle=False)
        if features.dtype != np.float32 or features.shape != (n, int(meta["dim"])):
            raise ValueError(f"array is {features.dtype} {features.shape}, sidecar says float32 "
                             f"({n}, {meta['dim']})")
        return features
    except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
        warnings.warn(f"feature cache entry {array_path.name} not used ({error}); recomputing",
                      FeatureCacheWarning, stacklevel=3)
        return None


def _write_entry(array_path: Path, sidecar_path: Path, features: np.ndarray, meta: dict) -> None:
    sidecar_path.unlink(missing_ok=True)  # no sidecar may describe an array being replaced
    atomic_write(array_path, lambda handle: np.save(handle, features, allow_pickle=False))
    text = json.dumps(jsonable(meta), indent=1, sort_keys=True).encode("utf-8")
    atomic_write(sidecar_path, lambda handle: handle.write(text))


# ----------------------------------------------------------------------------------------------
# extraction
# ----------------------------------------------------------------------------------------------
def _model_device(backbone: torch.nn.Module) -> torch.device | None:
    for tensor in backbone.parameters():
        return tensor.device
    for tensor in backbone.buffers():
        return tensor.device
    return None


def _run_backbone(backbone: torch.nn.Module, dataset, batch_size: int, num_workers: int,
                  progress: bool, device: torch.device, desc: str) -> np.ndarray:
    from tqdm.auto import tqdm

    n = len(dataset)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    features: np.ndarray | None = None
    filled = np.zeros(n, dtype=bool)
    start = 0
    with torch.inference_mode():
        for batch in tqdm(loader, total=len(loader), desc=desc, unit="batch", disable=not progress):
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            out = backbone(x.to(device))
            if out.ndim != 2:
                raise ValueError(f"the backbone returned shape {tuple(out.shape)}, not pooled "
                                 "(B, D) features: create it with num_classes=0 "
                                 "(cxrlib.models.create_backbone)")
            if isinstance(batch, (list, tuple)) and len(batch) >= 3:
                rows = torch.as_tensor(batch[2]).cpu().numpy().astype(np.int64)  # item's own index
            else:
                rows = np.arange(start, start + out.shape[0])
            start += out.shape[0]
            if features is None:
                features = np.empty((n, out.shape[1]), dtype=np.float32)
            features[rows] = out.float().cpu().numpy()
            filled[rows] = True
    if features is None:
        raise ValueError("the dataset is empty")
    if not filled.all():
        raise ValueError(f"{int((~filled).sum())} rows were never returned by the dataset "
                         "(its third item must be the row index)")
    return features


def extract_features(backbone: torch.nn.Module, dataset, *, cache_dir: str | os.PathLike, key: str,
                     image_ids: Sequence[str] | None = None, batch_size: int = 64,
                     num_workers: int = 0, progress: bool = True,
                     device: str | torch.device = "cpu") -> np.ndarray:
    """Pooled features (float32, N x D) of every item of ``dataset``, from the cache when valid.

    ``dataset`` items are ``(x, target, index)`` like :class:`cxrlib.images.tasks.CxrDataset`; row
    ``index`` of the result belongs to that item. ``key``: from :func:`feature_cache_key`.
    ``image_ids`` (default ``dataset.image_ids`` if it exists) are recorded in the sidecar and must
    match on reading. The dataset should not augment: features of a frozen backbone are computed
    once.
    """
    n = len(dataset)
    if image_ids is None:
        image_ids = getattr(dataset, "image_ids", None)
    if image_ids is not None and len(image_ids) != n:
        raise ValueError(f"{len(image_ids)} image ids for a dataset of {n} items")
    ids_digest = None if image_ids is None else image_ids_digest(image_ids)
    cache = Path(cache_dir)
    array_path, sidecar_path = _paths(cache, key)
    cached = _read_entry(array_path, sidecar_path, key, n, ids_digest)
    if cached is not None:
        return cached

    target = resolve_device(device)
    was_training = backbone.training
    original_device = _model_device(backbone)
    started = time.perf_counter()
    try:
        backbone.eval()
        backbone.to(target)
        features = _run_backbone(backbone, dataset, batch_size, num_workers, progress, target,
                                 desc=f"features {key[:8]}")
    finally:
        backbone.train(was_training)
        if original_device is not None:
            backbone.to(original_device)
    if not np.isfinite(features).all():
        raise ValueError("the backbone produced NaN or infinite features; nothing was cached")
    cache.mkdir(parents=True, exist_ok=True)
    meta = {"format": FEATURE_CACHE_VERSION, "key": key, "n": n, "dim": int(features.shape[1]),
            "dtype": "float32", "image_ids_sha256": ids_digest,
            "backbone": type(backbone).__name__, "torch": torch.__version__,
            "seconds": round(time.perf_counter() - started, 3)}
    _write_entry(array_path, sidecar_path, features, meta)
    return features
