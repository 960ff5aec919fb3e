"""Unpacking a verified file into place, and the post-steps that make the classroom layout from the originals.

Archives are unpacked member by member (only the members an :class:`~cxrlib.data.recipe_types.Extract`
row names, never an absolute path, ``..``, ``__MACOSX`` or a hidden file) into a staging folder, which
:func:`merge` then moves into place. A post-step (a function of :data:`POST_STEPS`, named by a recipe's
``post``) turns the unpacked originals (``work``) into the classroom layout (written into ``staging``).
"""
from __future__ import annotations

import csv
import fnmatch
import os
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from cxrlib.data.download.errors import DownloadError
from cxrlib.data.download.http import CHUNK, Log
from cxrlib.data.recipe_types import Extract, RemoteFile

# ----------------------------------------------------------------------------------------------------
# Unpacking
# ----------------------------------------------------------------------------------------------------


def member_target(member: str, rules: Iterable[Extract]) -> PurePosixPath | None:
    """Where archive member ``member`` goes below the unpack folder (None: not wanted)."""
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or any(p == "__MACOSX" or p.startswith(".") for p in path.parts):
        return None
    for rule in rules:
        if fnmatch.fnmatchcase(member, rule.pattern) and len(path.parts) > rule.strip:
            return PurePosixPath(rule.into, *path.parts[rule.strip:])
    return None


def _archive_members(archive: Path, kind: str) -> Iterator[tuple[str, Callable]]:
    """(member name, opener) for every regular file of the archive, streaming where possible."""
    if kind == "zip":
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                if not info.is_dir():
                    yield info.filename, (lambda info=info: bundle.open(info))
    elif kind == "tar":
        with tarfile.open(archive, "r|*") as bundle:
            for member in bundle:
                if member.isfile():
                    yield member.name, (lambda member=member: bundle.extractfile(member))
    else:
        raise ValueError(f"unknown archive kind {kind!r}")


def unpack(archive: Path, remote: RemoteFile, into: Path) -> int:
    """Put the content of the verified file ``archive`` below ``into`` as ``remote`` says; returns the file count.

    ``unpack="file"`` moves the file itself to ``into/<dest>``; an archive contributes the members its
    ``extract`` rules select, and raises :class:`DownloadError` when none matches.
    """
    into.mkdir(parents=True, exist_ok=True)
    if remote.unpack == "file":
        destination = into / remote.dest
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(archive, destination)
        return 1
    count = 0
    for name, opener in _archive_members(archive, remote.unpack):
        relative = member_target(name, remote.extract)
        if relative is None:
            continue
        destination = into / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        with opener() as source, open(destination, "wb") as sink:
            shutil.copyfileobj(source, sink, CHUNK)
        count += 1
    if count == 0:
        raise DownloadError(
            f"{archive.name} holds no member matching {[r.pattern for r in remote.extract]}: "
            "the archive layout is not the one this recipe expects"
        )
    return count


def merge(source: Path, destination: Path) -> None:
    """Move every file below ``source`` to the same place below ``destination`` (same file system)."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    shutil.rmtree(source)


# ----------------------------------------------------------------------------------------------------
# Post-steps: originals (unpacked into ``work``) -> classroom layout (written into ``staging``)
# ----------------------------------------------------------------------------------------------------


def nih_png_sample(
    work: Path, staging: Path, log: Log, *, size: int, one_per_patient: bool, progress: bool = True, **options
) -> int:
    """8-bit greyscale ``size``x``size`` PNGs (Pillow, Lanczos); optionally the first image per patient.

    NIH names are ``<patient>_<follow-up>.png``; "first" is the lowest follow-up number. The originals are
    the PNGs below ``work/<options["from"]>``; ``progress`` draws a bar over the images.
    """
    from PIL import Image

    from cxrlib.data.nih import patient_of_image

    sources = sorted((work / options["from"]).rglob("*.png"))
    if one_per_patient:
        first: dict[str, Path] = {}
        for path in sources:
            first.setdefault(patient_of_image(path.name), path)
        sources = sorted(first.values())
    if not sources:
        raise DownloadError(f"no PNG found under {work / options['from']} to make the sample from")
    staging.mkdir(parents=True, exist_ok=True)
    for path in tqdm(sources, desc="resize", unit="img", disable=not progress):
        with Image.open(path) as image:
            grey = image.convert("L")
            if grey.size != (size, size):
                grey = grey.resize((size, size), Image.Resampling.LANCZOS)
            grey.save(staging / path.name)
    log(f"  wrote {len(sources)} PNGs of {size}x{size}")
    return len(sources)


def covid_frontal_256(
    work: Path, staging: Path, log: Log, *, size: int, modality: str, frontal_views: tuple[str, ...],
    progress: bool = True,
) -> int:
    """metadata.csv and images/ as published, plus images-256/<stem>.png for frontal X-rays.

    Frontal: the first word of ``view`` is one of ``frontal_views`` (PA, AP, AP Supine, AP semi erect ...).
    Each image: greyscale, shorter side scaled to ``size`` (Lanczos), centre crop to ``size``x``size``.
    ``progress`` is accepted like every post-step's; this one draws no bar.
    """
    from PIL import Image, UnidentifiedImageError

    metadata = work / "metadata.csv"
    if not metadata.exists():
        raise DownloadError(f"metadata.csv is missing from the unpacked repository under {work}")
    staging.mkdir(parents=True, exist_ok=True)
    shutil.move(str(metadata), staging / "metadata.csv")
    if (work / "images").is_dir():
        shutil.move(str(work / "images"), staging / "images")
    out = staging / "images-256"
    out.mkdir(exist_ok=True)
    written = skipped = 0
    with open(staging / "metadata.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        view = (row.get("view") or "").split()
        if row.get("modality") != modality or not view or view[0] not in frontal_views:
            continue
        source = staging / "images" / (row.get("filename") or "")
        if not source.is_file():
            skipped += 1
            continue
        try:
            with Image.open(source) as image:
                grey = image.convert("L")
        except (UnidentifiedImageError, OSError):
            skipped += 1
            continue
        scale = size / min(grey.size)
        width, height = max(size, round(grey.width * scale)), max(size, round(grey.height * scale))
        grey = grey.resize((width, height), Image.Resampling.LANCZOS)
        left, top = (width - size) // 2, (height - size) // 2
        grey.crop((left, top, left + size, top + size)).save(out / f"{Path(source.name).stem}.png")
        written += 1
    log(f"  wrote {written} frontal X-rays of {size}x{size} to images-256/ ({skipped} listed but unreadable or absent)")
    return written


POST_STEPS: dict[str, Callable[..., int]] = {
    "nih_png_sample": nih_png_sample,
    "covid_frontal_256": covid_frontal_256,
}
"""Post-steps by the name a recipe's ``post`` gives: ``(work, staging, log, progress=..., **post_options)``."""
