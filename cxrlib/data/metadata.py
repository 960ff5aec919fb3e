"""Metadata files that ship inside the ``torchxrayvision`` wheel, read without importing torch.

The wheel carries the full metadata of several public CXR data sets under ``torchxrayvision/data/``.
We locate that folder with :func:`importlib.util.find_spec`, which does not execute the package (and so
does not import torch), and read the CSVs with pandas.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Callable

import pandas as pd

from cxrlib.core.config import lookup

SHIPPED = {
    "nih": "Data_Entry_2017_v2020.csv.gz",
    "nih_bbox": "BBox_List_2017.csv.gz",
    "nih_google_relabels": "google2019_nih-chest-xray-labels.csv.gz",
    "chexpert_train": "chexpert_train.csv.gz",
    "padchest": "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz",
    "vindr_train": "vinbigdata-train.csv.gz",
}


class MetadataNotFoundError(FileNotFoundError):
    """The shipped metadata file (or the torchxrayvision wheel) is missing."""


def shipped_dir() -> Path:
    """The ``torchxrayvision/data`` folder of the installed wheel."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise MetadataNotFoundError(
            "torchxrayvision is not installed; its wheel ships the NIH, CheXpert, PadChest and VinDr metadata. "
            "Install the project (pip install -e .) or pass the metadata file explicitly."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def shipped_path(name: str) -> Path:
    """Path of a shipped metadata file by short name (see :data:`SHIPPED`)."""
    path = shipped_dir() / lookup(SHIPPED, name, what="shipped metadata")
    if not path.exists():
        raise MetadataNotFoundError(f"{path} is missing from the torchxrayvision wheel (expected version 1.5.7).")
    return path


def read_csv(path_or_name: str | Path, **kwargs) -> pd.DataFrame:
    """Read a metadata CSV given a shipped short name or a path (a user's own copy)."""
    path = Path(path_or_name) if str(path_or_name) not in SHIPPED else shipped_path(str(path_or_name))
    if not path.exists():
        raise MetadataNotFoundError(f"metadata file {path} does not exist")
    return pd.read_csv(path, **kwargs)


def parsed_once(path: Path, parse: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """``parse(path)``, computed once per process for each file state (path, size, modification time) and
    ``parse`` function; every call gets its own copy. Raises :class:`MetadataNotFoundError` for a missing file.
    For tables that notebooks and loaders read again and again in one kernel (NIH, CheXpert train)."""
    path = Path(path)
    if not path.exists():
        raise MetadataNotFoundError(f"metadata file {path} does not exist")
    stat = path.stat()
    return _parsed(str(path), stat.st_size, stat.st_mtime_ns, parse).copy()


@functools.lru_cache(maxsize=4)
def _parsed(path: str, size: int, mtime_ns: int, parse: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    return parse(Path(path))
