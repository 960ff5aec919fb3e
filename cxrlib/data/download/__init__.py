"""``cxrlib download``: fetch the classroom data sets from their original public locations.

Protocol (one :class:`Recipe` per data set, carried by its row of :data:`cxrlib.data.root.SOURCES` and
indexed by key in :data:`RECIPES`):

1. each remote file is fetched into ``<root>/.cxrlib-downloads/<recipe>/<name>.part``; an interrupted
   transfer is resumed with an HTTP ``Range`` request (a server that ignores ``Range`` answers 200 and the
   file restarts from byte 0); every request has a connect timeout (10 s) and a read timeout (20 s of
   silence; ``--timeout``/``$CXRLIB_DOWNLOAD_TIMEOUT``) with a minimum rate (1 KiB/s over each such period,
   the headers within both timeouts), and a silent or trickling host is not retried, so an unresponsive
   host fails within 30 s;
2. the finished file is verified: against the checksum its publisher lists where one exists
   (``md5``/``sha256`` of the row, with ``checksum_source`` saying where it is published), otherwise
   against the sha256 recorded in ``<root>/.cxrlib-download.lock.json`` on the first download (trust on
   first use, announced as such). A mismatch deletes the file and stops. Only then is ``.part`` renamed;
3. archives are unpacked member by member (only the members an :class:`Extract` row names) into a
   temporary folder next to the target, then moved into place, so a half-unpacked data set is never left
   in the data-set folder;
4. an optional post-step (a named function in :data:`POST_STEPS`) turns the unpacked originals into the
   classroom layout (the 256 px NIH sample, the COVID ``images-256`` folder);
5. a re-run skips what is finished: a data set whose marker files exist is not touched, and a file whose
   hash is recorded and which was already unpacked is not fetched again.

Checksums that are not published are never invented: such rows say ``sha256=None`` and rely on step 2's
lock file. The standard library (urllib) does the HTTP work; tqdm draws the byte progress bars.
Data sets behind a registration (CheXpert) have no files: the command prints how to get them.

Modules: :mod:`~cxrlib.data.download.recipes` (the recipe index derived from ``SOURCES``),
:mod:`~cxrlib.data.download.http` (fetch with resume, verification, lock file),
:mod:`~cxrlib.data.download.unpack` (archives and post-steps), :mod:`~cxrlib.data.download.runner`
(running recipes), :mod:`~cxrlib.data.download.cli` (the command line),
:mod:`~cxrlib.data.download.errors`. The recipe data types are in :mod:`cxrlib.data.recipe_types` (exported
by :mod:`cxrlib.data`).
"""
from __future__ import annotations

from cxrlib.data.download.cli import add_arguments, main, run
from cxrlib.data.download.errors import ChecksumError, DownloadError
from cxrlib.data.download.http import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    LOCK_NAME,
)
from cxrlib.data.download.recipes import RECIPES, classroom_keys, source_of
from cxrlib.data.download.runner import CACHE_NAME, download, download_missing_classroom
from cxrlib.data.download.unpack import POST_STEPS, member_target
from cxrlib.data.recipe_types import Extract, Recipe, RemoteFile

__all__ = [
    "CACHE_NAME",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "LOCK_NAME",
    "POST_STEPS",
    "RECIPES",
    "ChecksumError",
    "DownloadError",
    "add_arguments",
    "classroom_keys",
    "download",
    "download_missing_classroom",
    "main",
    "member_target",
    "run",
    "source_of",
]
