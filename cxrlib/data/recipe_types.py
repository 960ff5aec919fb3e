"""The data types of a download recipe: plain frozen dataclasses, standard library only.

A :class:`Recipe` says how to fill a data set's folder from public files; it is carried by the data set's
:class:`~cxrlib.data.root.DatasetSource` row (``recipe``, ``alternatives``), so the data-root table is the
one table of data sets. This module imports nothing from cxrlib: :mod:`cxrlib.data.root` builds its rows
from it and :mod:`cxrlib.data.download` runs them, without either importing the other's way round.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Extract:
    """Archive members matching ``pattern`` (fnmatch on the member path) go to ``into``/<rest>.

    ``strip`` leading path components are removed from the member path before it is joined to ``into``
    (``chest_xray/train/NORMAL/a.jpeg`` with ``strip=2`` and ``into="train"`` -> ``train/NORMAL/a.jpeg``).
    """

    pattern: str
    into: str
    strip: int


@dataclass(frozen=True)
class RemoteFile:
    """One file at its public location, how to check it, and where its content goes."""

    url: str
    filename: str
    unpack: str  # "zip", "tar" (any compression tarfile detects) or "file" (placed as is at ``dest``)
    extract: tuple[Extract, ...] = ()
    dest: str = ""  # for unpack="file": path below the data-set folder
    sha256: str | None = None
    md5: str | None = None
    checksum_source: str = ""  # where the published checksum is listed (required when one is given)
    size: int | None = None  # bytes, only where known
    fallback_urls: tuple[str, ...] = ()  # tried in order when ``url`` answers 404


@dataclass(frozen=True)
class Recipe:
    """How to obtain the data set whose :class:`~cxrlib.data.root.DatasetSource` row carries this recipe.

    ``key`` names the recipe on the command line and in the lock file: the data set's own key for its
    ``recipe``, another key for each of its ``alternatives``. A recipe without ``files`` is manual: the
    command prints ``notes`` and the data set's "how to get it" text. ``post`` names a post-step of
    :data:`cxrlib.data.download.POST_STEPS`. ``markers`` and ``title`` default to the data set's.
    """

    key: str
    files: tuple[RemoteFile, ...]
    notes: str
    post: str | None = None
    post_options: dict = field(default_factory=dict)
    markers: tuple[str, ...] | None = None  # defaults to the data set's markers
    title: str | None = None  # defaults to the data set's title

    @property
    def manual(self) -> bool:
        return not self.files
