"""Running recipes: fetch, verify, unpack, post-step and record each data set below the data root."""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from cxrlib.core.config import lookup
from cxrlib.data.download.errors import DownloadError
from cxrlib.data.download.http import (
    DEFAULT_RETRIES,
    Lock,
    Log,
    check_timeouts,
    fetch,
    utc_now,
    verify_download,
)
from cxrlib.data.download.recipes import (
    RECIPES,
    classroom_keys,
    display_title,
    is_present,
    marker_list,
    source_of,
    with_base_url,
)
from cxrlib.data.download.unpack import POST_STEPS, merge, unpack
from cxrlib.data.recipe_types import Recipe
from cxrlib.data.root import data_root, how_to_get, missing_markers

#: The folder below the data root that holds partial and finished downloads.
CACHE_NAME = ".cxrlib-downloads"


def log_to_stderr(message: str) -> None:
    """The default :data:`~cxrlib.data.download.http.Log`: print ``message`` to stderr at once."""
    print(message, file=sys.stderr, flush=True)


def _restart(recipe: Recipe, lock: Lock, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    for remote in recipe.files:
        if lock.file(recipe.key, remote.filename):
            lock.set_file(recipe.key, remote.filename, unpacked=False)
    lock.set_dataset(recipe.key, completed=None)


def _run_recipe(
    recipe: Recipe, root: Path, *, force: bool, timeout: float, retries: int, retry_wait: float,
    keep_downloads: bool, progress: bool, log: Log, connect_timeout: float,
) -> Path | None:
    source = source_of(recipe.key)
    folder = source.path(root)
    if recipe.manual:
        log(f"{recipe.key}: no automatic download. {recipe.notes}\n{how_to_get(source.key, root)}")
        return None
    if not force and is_present(recipe, root):
        log(f"{recipe.key}: already present in {folder}; nothing to do (--force downloads it again)")
        return None

    log(f"{recipe.key}: {display_title(recipe)}\n  from {recipe.files[0].url}{' (and more)' if len(recipe.files) > 1 else ''}")
    cache = root / CACHE_NAME / recipe.key
    work = cache / "work"  # originals waiting for the post-step
    cache.mkdir(parents=True, exist_ok=True)
    lock = Lock(root)
    if force or lock.data["datasets"].get(recipe.key, {}).get("completed"):
        _restart(recipe, lock, work)  # forced, or finished once and removed since: every step again
    for remote in recipe.files:
        done = lock.file(recipe.key, remote.filename)
        if done.get("unpacked") and done.get("sha256") and (recipe.post is None or work.exists()):
            log(f"  {remote.filename}: already downloaded and unpacked")
            continue
        final = cache / remote.filename
        part = cache / f"{remote.filename}.part"
        if force and final.exists():
            final.unlink()
        if final.exists():
            url = done.get("url", remote.url)
            log(f"  {remote.filename}: found in {cache}, verifying")
            verify_download(final, remote, recipe.key, lock, url=url, log=log)
        else:
            url = fetch(remote, part, dataset=recipe.key, timeout=timeout, retries=retries,
                        retry_wait=retry_wait, log=log, progress=progress, connect_timeout=connect_timeout)
            verify_download(part, remote, recipe.key, lock, url=url, log=log)
            os.replace(part, final)
        staging = cache / f"unpack-{remote.filename}"
        if staging.exists():
            shutil.rmtree(staging)
        count = unpack(final, remote, staging)
        merge(staging, work if recipe.post else folder)
        lock.set_file(recipe.key, remote.filename, unpacked=True)
        log(f"  {remote.filename}: unpacked {count} file(s)")
        if final.exists() and not keep_downloads:
            final.unlink()
    if recipe.post:
        staging = cache / "post"
        if staging.exists():
            shutil.rmtree(staging)
        log(f"  post-step {recipe.post}")
        lookup(POST_STEPS, recipe.post, what="post-step")(work, staging, log, progress=progress, **recipe.post_options)
        merge(staging, folder)
        shutil.rmtree(work, ignore_errors=True)
    if not is_present(recipe, root):
        missing = [m for m in marker_list(recipe) if not (folder / m).exists()]
        raise DownloadError(f"{recipe.key}: unpacked, but {missing} are still missing below {folder}")
    lock.set_dataset(recipe.key, completed=utc_now(), folder=str(folder))
    for empty in (cache, cache.parent):
        if empty.is_dir() and not any(empty.iterdir()):
            empty.rmdir()
    log(f"{recipe.key}: ready in {folder}")
    return folder


def download(
    keys: Iterable[str],
    root: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    *,
    recipes: Mapping[str, Recipe] | None = None,
    base_url: str | None = None,
    keep_downloads: bool = False,
    timeout: float | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_wait: float = 1.0,
    log: Log = log_to_stderr,
    connect_timeout: float | None = None,
) -> list[Path]:
    """Fetch, verify and unpack the data sets ``keys`` (keys of :data:`RECIPES`) below the data root.

    Returns the data-set folders filled by this call; data sets already present (their markers exist) are
    skipped unless ``force``; data sets without a public download (CheXpert) print how to get them.
    ``recipes`` replaces the recipe table (each recipe still fills the folder of the data set whose row
    holds the recipe of that key) and ``base_url`` points every file at ``<base_url>/<filename>``
    (a mirror, or a test server). ``timeout`` (read) and ``connect_timeout``: seconds, ``None`` for
    ``$CXRLIB_DOWNLOAD_TIMEOUT``/``$CXRLIB_CONNECT_TIMEOUT`` or 20 s/10 s (see :mod:`~cxrlib.data.download.http`).
    """
    timeout, connect_timeout = check_timeouts(timeout, connect_timeout)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0 (resumptions after a dropped connection), got {retries!r}")
    table = RECIPES if recipes is None else recipes
    unknown = [k for k in keys if k not in table]
    if unknown:
        raise KeyError(f"unknown data set(s) {unknown}; known: {', '.join(sorted(table))}")
    base = data_root(root)
    done: list[Path] = []
    for key in dict.fromkeys(keys):
        recipe = table[key] if base_url is None else with_base_url(table[key], base_url)
        folder = _run_recipe(recipe, base, force=force, timeout=timeout, retries=retries, retry_wait=retry_wait,
                             keep_downloads=keep_downloads, progress=progress, log=log,
                             connect_timeout=connect_timeout)
        if folder is not None:
            done.append(folder)
    return done


def download_missing_classroom(root: str | os.PathLike | None = None, progress: bool = True, **options) -> list[Path]:
    """Fetch only the classroom data sets whose markers are missing; touches nothing when all are present.

    Data sets without a public download are reported with their instructions (the caller that needs them
    then fails with :class:`~cxrlib.data.root.DataNotFoundError`).
    """
    missing = [key for key in classroom_keys() if missing_markers(key, root)]
    if not missing:
        return []
    return download(missing, root=root, progress=progress, **options)
