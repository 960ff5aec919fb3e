"""Chest X-ray preprocessing: deterministic uint8 pipelines, float model inputs, an on-disk cache.

Two stages, kept apart on purpose:

1. **Cached stage** (uint8 -> uint8, one 2-D grey image): decode, then the ordered ``steps`` of a
   :class:`PreprocessConfig` (square padding, resize, min-max stretch, CLAHE, histogram
   equalisation). Its output is what :class:`PreprocessCache` stores, one ``.npy`` per image, so an
   epoch reads small arrays instead of decoding PNG/JPEG files again.
2. **Float stage** (numpy, cheap, run every time by a Dataset): scale to [0, 1] (divide by 255 or
   per-image min-max), replicate grey into 3 channels, standardise with ImageNet mean/std.

The order of the cached steps is data (``PreprocessConfig.steps``) and follows each document:

* document 000 (Elwirehardja et al., Sec. 3.2 "Data Pre-processing" and Fig. 1): images "resized to
  224 x 224" and then CLAHE "applied to all subsets"; later in Sec. 3.2 they are "normalized to the
  range of 0-1 and standardized using ImageNet's mean and standard deviation values, which are
  [0.485, 0.456, 0.406] and [0.229, 0.224, 0.225]". The CLAHE clip limit and tile grid are NOT
  stated in document 000; ``clahe_clip_limit=2.0`` and ``clahe_tile_grid=(8, 8)`` are our choice
  (8 x 8 is OpenCV's default grid; OpenCV's default clip limit of 40 barely limits anything), and
  both are parameters.
* document 001 (Tayebi Arasteh et al., Methods, "Standardized Image Pre-Processing"): "resizing all
  images to a consistent dimension of 224x224 pixels. Subsequently, min-max feature scaling [...]
  Finally, [...] histogram equalization". Grey radiographs "were replicated across three channels"
  (Methods, network architecture). No mean/std standardisation is stated, so the d001 pipeline has
  ``normalization="none"``.
* document 004 (Kivotova, Sec. 4.3 and 4.3.1): grey images turned into RGB "by stacking a given
  channel with its two copies", then "Square Padding [...] with zeros", "Resize [...] to 224x224",
  (random augmentations, which live in ``cxrlib.images.augment``), and "Normalisation" to ImageNet mean and
  standard deviation "according to torchvision guidelines". Stacking channels first or last gives
  the same result because every step treats channels identically; we stack last.

None of the documents states the resize interpolation; ``interpolation="auto"`` uses area averaging
when shrinking (close to torchvision's antialiased resize) and bilinear when enlarging.

This module depends on numpy, OpenCV and tqdm only and must never import torch (``cxrlib.data``
Datasets call :func:`to_model_input` and convert to tensors themselves).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cxrlib.core.config import ParamsMixin, lookup
from cxrlib.core.io import atomic_write
from cxrlib.core.params import check_config

__all__ = [
    "CACHE_FORMAT_VERSION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INTERPOLATIONS",
    "INTERPOLATION_NAMES",
    "NORMALIZATIONS",
    "PIPELINES",
    "STEPS",
    "UNIT_SCALINGS",
    "CacheStats",
    "ImageDecodeError",
    "PreprocessCache",
    "PreprocessConfig",
    "apply_clahe",
    "apply_steps",
    "decode_image",
    "default_cache_dir",
    "equalize_histogram",
    "grey_to_channels",
    "load_preprocessed",
    "min_max_scale",
    "min_max_stretch",
    "normalize_channels",
    "pad_square",
    "resize_square",
    "scale_to_unit",
    "to_model_input",
]

# Bump when the meaning of a cached array changes without any config field changing.
CACHE_FORMAT_VERSION = 1

# Document 000, Sec. 3.2 (and the torchvision convention that document 004, Sec. 4.3.1, follows).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageDecodeError(ValueError):
    """A file exists but is not a readable 8/16-bit PNG or JPEG image."""


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def decode_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG/JPEG file as a 2-D uint8 grey image.

    Grey, RGB and RGBA files are all accepted (colour -> grey with OpenCV's BT.601 weights, which
    leaves R=G=B images unchanged; alpha is dropped: some images of the original NIH ChestX-ray14
    release are RGBA). Images with more than 8 bits per sample (e.g. 16-bit PNGs) are min-max
    scaled per image to 0..255.

    Raises ``FileNotFoundError`` (missing file) or :class:`ImageDecodeError` (unreadable content),
    both naming the path.
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except (IsADirectoryError, PermissionError) as error:
        raise ImageDecodeError(f"cannot read image file {path}: {error}") from error
    if data.size == 0:
        raise ImageDecodeError(f"cannot decode image {path}: the file is empty")
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
    if image is None:
        raise ImageDecodeError(
            f"cannot decode image {path}: not a readable PNG/JPEG file (corrupt or other format)"
        )
    if image.dtype != np.uint8:
        image = min_max_stretch(image)
    return image


# --------------------------------------------------------------------------------------------
# Cached-stage steps (2-D uint8 in, 2-D uint8 out)
# --------------------------------------------------------------------------------------------

INTERPOLATIONS: Mapping[str, int] = {
    "area": cv2.INTER_AREA,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "lanczos": cv2.INTER_LANCZOS4,
    "nearest": cv2.INTER_NEAREST,
}
_AUTO_SHRINK, _AUTO_ENLARGE = cv2.INTER_AREA, cv2.INTER_LINEAR
INTERPOLATION_NAMES = ("auto", *INTERPOLATIONS)
"""What ``interpolation`` accepts: ``"auto"`` (area when shrinking, bilinear when enlarging) or a key of
:data:`INTERPOLATIONS`."""


def pad_square(image: np.ndarray, value: int = 0) -> np.ndarray:
    """Pad to a square with a constant (zeros in document 004, Sec. 4.3.1), content centred.

    When the difference is odd, the extra row/column goes to the bottom/right.
    """
    height, width = image.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    if side == height == width:
        return image
    return cv2.copyMakeBorder(
        image, top, side - height - top, left, side - width - left, cv2.BORDER_CONSTANT, value=value
    )


def resize_square(image: np.ndarray, size: int, interpolation: str = "auto") -> np.ndarray:
    """Resize to ``size x size`` (aspect ratio not kept, as "resized to 224 x 224" in documents
    000 and 001; pad first to keep it, as document 004 does)."""
    height, width = image.shape[:2]
    if height == width == size:
        return image
    if interpolation == "auto":
        flag = _AUTO_SHRINK if size < max(height, width) else _AUTO_ENLARGE
    else:
        flag = lookup(INTERPOLATIONS, interpolation, what="interpolation")
    return cv2.resize(image, (size, size), interpolation=flag)


def min_max_stretch(image: np.ndarray) -> np.ndarray:
    """Per-image min-max scaling to the full uint8 range 0..255 (document 001, Methods; kept in
    uint8 so that it can be cached). A constant image maps to zeros."""
    lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.zeros(image.shape, dtype=np.uint8)
    scaled = (image.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.rint(scaled).astype(np.uint8)


def apply_clahe(image: np.ndarray, clip_limit: float, tile_grid: tuple[int, int]) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (document 000, Sec. 3.2) with OpenCV.

    ``tile_grid`` is (columns, rows) as in ``cv2.createCLAHE(tileGridSize=...)``.
    """
    # A fresh CLAHE object per call: cheap, and safe when DataLoader/threads run in parallel.
    clahe = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tuple(tile_grid))
    return clahe.apply(image)


def equalize_histogram(image: np.ndarray) -> np.ndarray:
    """Global histogram equalisation (document 001, Methods); output spans 0..255 unless the
    image is constant."""
    return cv2.equalizeHist(image)


# Each step: (image, config) -> image. The order a pipeline applies them in is its ``steps``.
STEPS: Mapping[str, Callable[[np.ndarray, PreprocessConfig], np.ndarray]] = {
    "pad_square": lambda image, config: pad_square(image, config.pad_value),
    "resize": lambda image, config: resize_square(image, config.size, config.interpolation),
    "minmax": lambda image, config: min_max_stretch(image),
    "clahe": lambda image, config: apply_clahe(
        image, config.clahe_clip_limit, config.clahe_tile_grid
    ),
    "hist_eq": lambda image, config: equalize_histogram(image),
}


# --------------------------------------------------------------------------------------------
# Float stage (numpy; a torch Dataset calls these and converts the result to a tensor)
# --------------------------------------------------------------------------------------------


def scale_to_unit(image: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 0..1 (divide by 255, as torchvision's ``ToTensor``)."""
    return image.astype(np.float32) * np.float32(1.0 / 255.0)


def min_max_scale(image: np.ndarray) -> np.ndarray:
    """Per-image min-max scaling to float32 [0, 1] over the last two axes (one image or a batch
    of shape (..., H, W)). A constant image maps to zeros."""
    values = image.astype(np.float32)
    lo = values.min(axis=(-2, -1), keepdims=True)
    span = values.max(axis=(-2, -1), keepdims=True) - lo
    return np.divide(values - lo, span, out=np.zeros_like(values), where=span > 0)


def grey_to_channels(image: np.ndarray, channels: int = 3) -> np.ndarray:
    """(..., H, W) -> (..., C, H, W) by replicating the grey channel (documents 001 and 004)."""
    expanded = image[..., None, :, :]
    return np.repeat(expanded, channels, axis=-3)


def normalize_channels(
    image: np.ndarray, mean: Iterable[float], std: Iterable[float]
) -> np.ndarray:
    """Standardise channel-first float images (..., C, H, W): (x - mean[c]) / std[c]."""
    mean_arr = np.asarray(tuple(mean), dtype=np.float32)[:, None, None]
    std_arr = np.asarray(tuple(std), dtype=np.float32)[:, None, None]
    return ((image - mean_arr) / std_arr).astype(np.float32, copy=False)


UNIT_SCALINGS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    "divide255": scale_to_unit,
    "minmax": min_max_scale,
}

# name -> (mean, std) per channel, or None for no standardisation.
NORMALIZATIONS: Mapping[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "none": None,
}


def to_model_input(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Cached uint8 image(s) (..., H, W) -> float32 model input (..., C, H, W) per ``config``."""
    unit = lookup(UNIT_SCALINGS, config.unit_scaling, what="unit scaling")(image)
    stacked = grey_to_channels(unit, config.channels)
    stats = lookup(NORMALIZATIONS, config.normalization, what="normalization")
    if stats is None:
        return stacked
    mean, std = stats
    if config.channels != len(mean):
        raise ValueError(
            f"normalization {config.normalization!r} has {len(mean)} channels, "
            f"config asks for {config.channels}"
        )
    return normalize_channels(stacked, mean, std)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

# Fields that do not change the cached uint8 array: excluded from ``key()`` so that changing the
# normalisation (or a citation) reuses the cache.
_NOT_IN_KEY = frozenset({"unit_scaling", "normalization", "channels", "reference"})


_RULES = {
    "steps": f"nonempty in:{__name__}:STEPS", "size": "int >=1", "interpolation": f"in:{__name__}:INTERPOLATION_NAMES",
    "pad_value": "int >=0 <=255", "clahe_clip_limit": ">0", "clahe_tile_grid": ">=1",
    "unit_scaling": f"in:{__name__}:UNIT_SCALINGS", "normalization": f"in:{__name__}:NORMALIZATIONS", "channels": ">=1",
}
_CHECKS = (
    "'resize' in steps",  # every image gets the same shape
    "len(set(steps)) == len(steps)",  # no step twice
    "len(clahe_tile_grid) == 2",
)


@dataclasses.dataclass(frozen=True)
class PreprocessConfig(ParamsMixin):
    """One preprocessing pipeline as data.

    ``steps`` is the ordered list of cached-stage steps (names in :data:`STEPS`); the other fields
    parametrise them. ``unit_scaling``, ``normalization`` and ``channels`` describe the float stage
    (:func:`to_model_input`). ``reference`` says where the pipeline comes from. The fields are checked
    with the rule vocabulary of :mod:`cxrlib.core.params` (``_RULES``, ``_CHECKS``, :func:`cxrlib.core.params.check_config`).
    """

    steps: tuple[str, ...] = ("resize",)
    size: int = 224
    interpolation: str = "auto"
    pad_value: int = 0
    clahe_clip_limit: float = 2.0
    clahe_tile_grid: tuple[int, int] = (8, 8)
    unit_scaling: str = "divide255"
    normalization: str = "imagenet"
    channels: int = 3
    reference: str = ""

    def __post_init__(self) -> None:
        # Accept lists (from YAML/JSON) and store tuples so the dataclass stays hashable.
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "clahe_tile_grid", tuple(int(v) for v in self.clahe_tile_grid))
        check_config(self, _RULES, _CHECKS)

    def to_dict(self) -> dict[str, Any]:
        return {
            field.name: list(value) if isinstance(value, tuple) else value
            for field in dataclasses.fields(self)
            for value in [getattr(self, field.name)]
        }

    def cache_fields(self) -> dict[str, Any]:
        """The fields that determine the cached uint8 array, plus format and OpenCV versions
        (resize/CLAHE output may change between OpenCV releases)."""
        fields = {k: v for k, v in self.to_dict().items() if k not in _NOT_IN_KEY}
        fields["cache_format_version"] = CACHE_FORMAT_VERSION
        fields["opencv_version"] = cv2.__version__
        return fields

    def key(self) -> str:
        """Stable hex digest (same across processes and runs) of :meth:`cache_fields`."""
        payload = json.dumps(self.cache_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


PIPELINES: Mapping[str, PreprocessConfig] = {
    "d000": PreprocessConfig(
        steps=("resize", "clahe"),
        size=224,
        unit_scaling="divide255",
        normalization="imagenet",
        reference="document 000 (Elwirehardja et al.), Sec. 3.2 and Fig. 1: resize 224, CLAHE, "
        "0-1 range, ImageNet mean/std; CLAHE clip limit and grid not stated (ours: 2.0, 8x8)",
    ),
    "d001": PreprocessConfig(
        steps=("resize", "minmax", "hist_eq"),
        size=224,
        unit_scaling="minmax",
        normalization="none",
        reference="document 001 (Tayebi Arasteh et al.), Methods, Standardized Image "
        "Pre-Processing: resize 224, min-max scaling, histogram equalisation; grey replicated "
        "to 3 channels; no mean/std standardisation stated",
    ),
    "d004": PreprocessConfig(
        steps=("pad_square", "resize"),
        size=224,
        pad_value=0,
        unit_scaling="divide255",
        normalization="imagenet",
        reference="document 004 (Kivotova), Sec. 4.3-4.3.1: grey stacked to RGB, zero square "
        "padding, resize 224, ImageNet normalisation (random augmentations: cxrlib.images.augment)",
    ),
    "classroom": PreprocessConfig(
        steps=("pad_square", "resize", "clahe"),
        size=128,
        unit_scaling="divide255",
        normalization="imagenet",
        reference="classroom profile: document 000's steps at 128 px for CPU budgets, with "
        "document 004's zero square padding first so non-square sources keep their aspect ratio",
    ),
}


def apply_steps(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Run the cached stage of ``config`` on a 2-D uint8 image; returns ``size x size`` uint8."""
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 grey image, got {image.dtype} {image.shape}")
    for step in config.steps:
        image = lookup(STEPS, step, what="preprocessing step")(image, config)
    return np.ascontiguousarray(image)


def load_preprocessed(path: str | os.PathLike[str], config: PreprocessConfig) -> np.ndarray:
    """Decode ``path`` and run the cached stage, without any cache."""
    return apply_steps(decode_image(path), config)


# --------------------------------------------------------------------------------------------
# On-disk cache
# --------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$CXRLIB_CACHE`` if set, else ``~/.cache/cxrlib/preprocessed``."""
    env = os.environ.get("CXRLIB_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "cxrlib" / "preprocessed"


@dataclasses.dataclass
class CacheStats:
    """Counts for one process (each DataLoader worker has its own)."""

    hits: int = 0
    misses: int = 0  # decoded and preprocessed, then written
    rebuilt: int = 0  # an unreadable/mismatched cache file was replaced (also counted in misses)


_KEY_MODES = ("stat", "content")


class PreprocessCache:
    """Preprocessed uint8 arrays on disk, one ``.npy`` per (source image, config).

    Layout: ``<cache_dir>/<config.key()>/<2 hex>/<source key>.npy`` plus a ``config.json`` beside
    the shards describing the pipeline. The source key hashes the absolute path, size and
    modification time (``key_by="stat"``: no read of the source on a hit) or the file's bytes
    (``key_by="content"``: survives moves and touches, costs one read per lookup).

    One file per image (rather than one memory-mapped pack per data set) because it needs no index
    and no coordination: any number of DataLoader workers or processes can fill the cache at once.
    Writes go to a temporary file in the same folder and are renamed into place (atomic on POSIX
    and Windows), so a reader sees either nothing or a complete file; two workers that miss the
    same image both compute it and the last rename wins with identical bytes. A 224 x 224 entry is
    50 KB and loads in tens of microseconds.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None,
        config: PreprocessConfig,
        *,
        key_by: str = "stat",
    ) -> None:
        if key_by not in _KEY_MODES:
            raise ValueError(f"key_by must be one of {_KEY_MODES}, got {key_by!r}")
        self.config = config
        self.key_by = key_by
        self.root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.directory = self.root / config.key()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._expected_shape = (config.size, config.size)
        manifest = self.directory / "config.json"
        if not manifest.exists():
            text = json.dumps(
                {"cache_fields": config.cache_fields(), "config": config.to_dict()}, indent=2
            )
            atomic_write(manifest, lambda handle: handle.write(text.encode("utf-8")))

    def source_key(self, path: str | os.PathLike[str]) -> str:
        """Hex key of the source image (see the class docstring); raises ``FileNotFoundError``
        naming the path when it does not exist."""
        absolute = os.path.abspath(os.fspath(path))
        try:
            if self.key_by == "content":
                with open(absolute, "rb") as handle:
                    return hashlib.sha256(handle.read()).hexdigest()[:32]
            info = os.stat(absolute)
        except FileNotFoundError:
            raise FileNotFoundError(f"image file not found: {absolute}") from None
        identity = f"{absolute}\0{info.st_size}\0{info.st_mtime_ns}"
        return hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]

    def entry_path(self, path: str | os.PathLike[str]) -> Path:
        """Where the cached array for ``path`` lives (whether or not it exists yet)."""
        key = self.source_key(path)
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, path: str | os.PathLike[str]) -> np.ndarray:
        """The preprocessed ``size x size`` uint8 image for ``path``; decodes, preprocesses and
        stores it on a miss."""
        entry = self.entry_path(path)
        rebuilt = False
        try:
            cached = np.load(entry, allow_pickle=False)
        except FileNotFoundError:
            cached = None
        except (OSError, ValueError, EOFError):
            cached, rebuilt = None, True  # truncated or foreign file: replace it
        if cached is not None:
            if cached.dtype == np.uint8 and cached.shape == self._expected_shape:
                self._count(hits=1)
                return cached
            rebuilt = True
        image = load_preprocessed(path, self.config)
        entry.parent.mkdir(exist_ok=True)
        atomic_write(entry, lambda handle: np.save(handle, image, allow_pickle=False))
        self._count(misses=1, rebuilt=int(rebuilt))
        return image

    def __contains__(self, path: str | os.PathLike[str]) -> bool:
        return self.entry_path(path).exists()

    def warm(
        self,
        paths: Iterable[str | os.PathLike[str]],
        progress: bool = True,
        num_threads: int = 1,
    ) -> CacheStats:
        """Fill the cache for ``paths`` (with a tqdm bar when ``progress``); returns the counts
        for this call. OpenCV releases the GIL, so ``num_threads > 1`` uses several cores."""
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        paths = list(paths)
        before = dataclasses.replace(self.stats)
        bar = tqdm(total=len(paths), desc="preprocess cache", unit="img", disable=not progress)
        with bar:
            if num_threads <= 1:
                for path in paths:
                    self.get(path)
                    bar.update()
            else:
                with ThreadPoolExecutor(max_workers=num_threads) as pool:
                    for _ in pool.map(self.get, paths):
                        bar.update()
        return CacheStats(
            hits=self.stats.hits - before.hits,
            misses=self.stats.misses - before.misses,
            rebuilt=self.stats.rebuilt - before.rebuilt,
        )

    def _count(self, hits: int = 0, misses: int = 0, rebuilt: int = 0) -> None:
        with self._lock:
            self.stats.hits += hits
            self.stats.misses += misses
            self.stats.rebuilt += rebuilt

    def __repr__(self) -> str:
        return f"PreprocessCache({str(self.directory)!r}, key_by={self.key_by!r})"


def preprocess_config(pipeline: str | PreprocessConfig, image_size: int | None = None) -> PreprocessConfig:
    """A pipeline of :data:`cxrlib.images.preprocess.PIPELINES` (or a config), at ``image_size`` if given."""
    config = lookup(PIPELINES, pipeline, what="preprocessing pipeline", row_type=PreprocessConfig)
    return config if image_size is None else dataclasses.replace(config, size=int(image_size))
