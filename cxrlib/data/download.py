"""``cxrlib download``: fetch the classroom data sets from their original public locations.

Protocol (one :class:`Recipe` row per data set, in :data:`RECIPES`):

1. each remote file is fetched into ``<root>/.cxrlib-downloads/<recipe>/<name>.part``; an interrupted
   transfer is resumed with an HTTP ``Range`` request (a server that ignores ``Range`` answers 200 and the
   file restarts from byte 0); every request has a timeout;
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
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import fnmatch
import hashlib
import http.client
import json
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from cxrlib.data.root import SOURCES, data_root, how_to_get, missing_markers

LOCK_NAME = ".cxrlib-download.lock.json"
CACHE_NAME = ".cxrlib-downloads"
USER_AGENT = "cxrlib-download/0.1 (+https://github.com/; urllib)"
CHUNK = 1 << 20
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3

Log = Callable[[str], None]


class DownloadError(RuntimeError):
    """An HTTP or network failure; the message names the data set and the URL."""


class ChecksumError(DownloadError):
    """A downloaded file does not match its published or recorded checksum (the file was deleted)."""


class _Interrupted(Exception):
    """The transfer stopped before the announced length: resume it."""


# ----------------------------------------------------------------------------------------------------
# Recipes as data
# ----------------------------------------------------------------------------------------------------


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
    """How to obtain data set ``source_key`` (a key of :data:`cxrlib.data.root.SOURCES`)."""

    key: str
    source_key: str
    files: tuple[RemoteFile, ...]
    notes: str
    post: str | None = None
    post_options: dict = field(default_factory=dict)
    markers: tuple[str, ...] | None = None  # defaults to the source's markers
    title: str | None = None  # defaults to the source's title

    @property
    def manual(self) -> bool:
        return not self.files

    def marker_list(self) -> tuple[str, ...]:
        return self.markers if self.markers is not None else SOURCES[self.source_key].markers

    def display_title(self) -> str:
        return self.title or SOURCES[self.source_key].title


_NIH_BOX = "https://nihcc.box.com/shared/static/"
_NIH_MD5_SOURCE = "NIH Clinical Center, FAQ_CHESTXRAY.pdf (question Q07) in the ChestXray-NIHCC Box folder"
# (archive, Box static-link id from NIH's batch_download_zips.py, MD5 published in the NIH FAQ)
_NIH_ARCHIVES = (
    ("images_001.tar.gz", "vfk49d74nhbxq3nqjg0900w5nvkorp5c", "fe8ed0a6961412fddcbb3603c11b3698"),
    ("images_002.tar.gz", "i28rlmbvmfjbl8p2n3ril0pptcmcu9d1", "ab07a2d7cbe6f65ddd97b4ed7bde10bf"),
    ("images_003.tar.gz", "f1t00wrtdk94satdfb9olcolqx20z2jp", "2301d03bde4c246388bad3876965d574"),
    ("images_004.tar.gz", "0aowwzs5lhjrceb3qp67ahp0rd1l1etg", "9f1b7f5aae01b13f4bc8e2c44a4b8ef6"),
    ("images_005.tar.gz", "v5e3goj22zr6h8tzualxfsqlqaygfbsn", "1861f3cd0ef7734df8104f2b0309023b"),
    ("images_006.tar.gz", "asi7ikud9jwnkrnkj99jnpfkjdes7l6l", "456b53a8b351afd92a35bc41444c58c8"),
    ("images_007.tar.gz", "jn1b4mw4n6lnh74ovmcjb8y48h8xj07n", "1075121ea20a137b87f290d6a4a5965e"),
    ("images_008.tar.gz", "tvpxmn7qyrgl0w8wfh9kqfjskv6nmm1j", "b61f34cec3aa69f295fbb593cbd9d443"),
    ("images_009.tar.gz", "upyy3ml7qdumlgk2rfcvlb9k6gvqq2pj", "442a3caa61ae9b64e61c561294d1e183"),
    ("images_010.tar.gz", "l6nilvfa9cg3s28tqv1qc1olm3gnz54p", "09ec81c4c31e32858ad8cf965c494b74"),
    ("images_011.tar.gz", "hhq8fkdgvcari67vfhs7ppg2w6ni4jze", "499aefc67207a5a97692424cf5dbeed5"),
    ("images_012.tar.gz", "ioqwiy20ihqwyr8pf4c24eazhh281pbu", "dc9fda1757c2de0032b63347a7d2895c"),
)


def _nih_archive(name: str, box_id: str, md5: str, into: str) -> RemoteFile:
    return RemoteFile(
        url=f"{_NIH_BOX}{box_id}.gz",
        filename=name,
        unpack="tar",
        extract=(Extract("images/*.png", into, 1),),
        md5=md5,
        checksum_source=_NIH_MD5_SOURCE,
    )


# Pinned commits: the content of a raw file at a commit never changes, and a GitHub archive of a commit
# holds the same files whenever it is fetched.
_CHEXNET_COMMIT = "63c159f973ecaef5c6de85597de60d6729fc87b4"  # arnoweng/CheXNet, holds ChestX-ray14/labels/
_REPRODUCE_CHEXNET_COMMIT = "18c1b090810e794f1c19521d27bc42d7895ea9a0"  # jrzech/reproduce-chexnet, 2022 retrain
_COVID_COMMIT = "6a4242344473ccb5ed0d2148d8c7bfb1691e4ed8"  # ieee8023/covid-chestxray-dataset

RECIPES: dict[str, Recipe] = {
    r.key: r
    for r in [
        Recipe(
            key="nih-cxr14",
            source_key="nih-cxr14",
            files=(),
            notes=(
                "The official split lists train_val_list.txt and test_list.txt sit in the NIH Box folder, "
                "but NIH publishes no direct link for them (batch_download_zips.py lists only the 12 image "
                "archives), so they are downloaded by hand from the Box web page. The full image set: "
                "`cxrlib download nih-cxr14-images`."
            ),
        ),
        Recipe(
            key="nih-cxr14-images",
            source_key="nih-cxr14",
            files=tuple(_nih_archive(name, box, md5, "images") for name, box, md5 in _NIH_ARCHIVES),
            markers=("images/00000001_000.png", "images/00030805_000.png"),
            title="NIH ChestX-ray14, all 112,120 images (12 archives, about 45 GB)",
            notes=(
                "All 112,120 PNGs (about 45 GB) from the 12 archives of NIH's batch_download_zips.py, "
                "checked against the MD5s of the NIH FAQ. The Box static links could not be tried from the "
                "machine this recipe was written on. Each archive is deleted once unpacked."
            ),
        ),
        Recipe(
            key="nih-cxr14-sample",
            source_key="nih-cxr14-sample",
            files=(
                RemoteFile(
                    url=f"https://github.com/jrzech/reproduce-chexnet/archive/{_REPRODUCE_CHEXNET_COMMIT}.zip",
                    filename=f"reproduce-chexnet-{_REPRODUCE_CHEXNET_COMMIT[:12]}.zip",
                    unpack="zip",
                    extract=(Extract("*/starter_images/*.png", "originals", 2),),
                ),
            ),
            post="nih_png_sample",
            post_options={"from": "originals", "size": 256, "one_per_patient": True},
            notes=(
                "The 621 NIH images that the CheXNet reproduction (jrzech/reproduce-chexnet) ships in "
                "starter_images/, reduced to 8-bit greyscale 256x256 with Pillow (Lanczos): the same images "
                "as the classroom copy. No checksum is published (trust on first use). "
                "`cxrlib download nih-cxr14-sample-from-nih` builds a sample from NIH's first archive instead."
            ),
        ),
        Recipe(
            key="nih-cxr14-sample-from-nih",
            source_key="nih-cxr14-sample",
            files=(_nih_archive(*_NIH_ARCHIVES[0], "originals"),),
            title="NIH ChestX-ray14, 256 px sample made from NIH's first archive (one image per patient)",
            post="nih_png_sample",
            post_options={"from": "originals", "size": 256, "one_per_patient": True},
            notes=(
                "A 256 px sample from NIH's first archive images_001.tar.gz (about 2 GB, 4,999 PNGs): the "
                "first image of each patient, 8-bit greyscale 256x256 (Pillow, Lanczos)."
            ),
        ),
        Recipe(
            key="nih-chexnet-split",
            source_key="nih-chexnet-split",
            files=tuple(
                RemoteFile(
                    url=(
                        f"https://raw.githubusercontent.com/arnoweng/CheXNet/{_CHEXNET_COMMIT}"
                        f"/ChestX-ray14/labels/{name}"
                    ),
                    filename=name,
                    unpack="file",
                    dest=name,
                    size=size,
                )
                for name, size in (
                    ("train_list.txt", 3531060),
                    ("val_list.txt", 504854),
                    ("test_list.txt", 1009484),
                )
            ),
            notes="Raw files of arnoweng/CheXNet at a pinned commit; no checksum is published (trust on first use).",
        ),
        Recipe(
            key="chexnet-predictions",
            source_key="chexnet-predictions",
            files=(
                RemoteFile(
                    url=(
                        f"https://raw.githubusercontent.com/jrzech/reproduce-chexnet/{_REPRODUCE_CHEXNET_COMMIT}"
                        "/pretrained/preds.csv"
                    ),
                    fallback_urls=(
                        "https://raw.githubusercontent.com/jrzech/reproduce-chexnet/master/pretrained/preds.csv",
                    ),
                    filename="preds.csv",
                    unpack="file",
                    dest="preds.csv",
                ),
            ),
            notes=(
                "pretrained/preds.csv of jrzech/reproduce-chexnet (its README: 'individual probabilities for "
                "each finding in each test set image predicted by retrained model'). No checksum is published "
                "(trust on first use); the pinned commit could not be checked offline, the default branch is "
                "the fallback."
            ),
        ),
        Recipe(
            key="kermany-pneumonia",
            source_key="kermany-pneumonia",
            files=(
                RemoteFile(
                    url=(
                        "https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
                        "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded"
                    ),
                    filename="ChestXRay2017.zip",
                    unpack="zip",
                    extract=(
                        Extract("chest_xray/train/*", "train", 2),
                        Extract("chest_xray/test/*", "test", 2),
                    ),
                ),
            ),
            notes=(
                "ChestXRay2017.zip of Mendeley Data rscbjbr9sj version 2 (about 1.2 GB); the original JPEGs at "
                "full resolution (the classroom copy is resized to 224 px); the 16-image val folder is left "
                "out. Mendeley publishes no checksum (trust on first use). If Mendeley refuses scripted "
                "downloads, save the zip by hand into the download folder named in the error and re-run."
            ),
        ),
        Recipe(
            key="covid-chestxray",
            source_key="covid-chestxray",
            files=(
                RemoteFile(
                    url=f"https://github.com/ieee8023/covid-chestxray-dataset/archive/{_COVID_COMMIT}.zip",
                    filename=f"covid-chestxray-dataset-{_COVID_COMMIT[:12]}.zip",
                    unpack="zip",
                    extract=(Extract("*/metadata.csv", "", 1), Extract("*/images/*", "", 1)),
                ),
            ),
            post="covid_frontal_256",
            post_options={"size": 256, "modality": "X-ray", "frontal_views": ("PA", "AP")},
            notes=(
                "The repository at a pinned commit: metadata.csv and images/ as published, plus images-256/ "
                "(frontal X-rays, short side to 256 px, centre crop, greyscale PNG named by file stem). This "
                "commit's metadata is newer than the classroom copy (hierarchical 'finding' such as "
                "'Pneumonia/Viral/COVID-19', an RT_PCR_positive column). No checksum (trust on first use)."
            ),
        ),
        Recipe(
            key="chexpert-valid",
            source_key="chexpert-valid",
            files=(),
            notes="CheXpert needs a registration with Stanford (research use agreement).",
        ),
        Recipe(
            key="chexpert",
            source_key="chexpert",
            files=(),
            notes="CheXpert needs a registration with Stanford (research use agreement).",
        ),
        Recipe(
            key="pneumoniamnist",
            source_key="pneumoniamnist",
            files=(
                RemoteFile(
                    url="https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1",
                    filename="pneumoniamnist.npz",
                    unpack="file",
                    dest="pneumoniamnist.npz",
                    md5="28209eda62fecd6e6a2d98b1501bb15f",
                    checksum_source="MedMNIST v3.0.2, medmnist/info.py INFO['pneumoniamnist']['MD5']",
                ),
            ),
            notes="The 28x28 PneumoniaMNIST file of the MedMNIST v2 Zenodo record, checked against MedMNIST's MD5.",
        ),
    ]
}


# ----------------------------------------------------------------------------------------------------
# Post-steps: originals (unpacked into ``work``) -> classroom layout (written into ``staging``)
# ----------------------------------------------------------------------------------------------------


def _nih_png_sample(work: Path, staging: Path, log: Log, *, size: int, one_per_patient: bool, **options) -> int:
    """8-bit greyscale ``size``x``size`` PNGs (Pillow, Lanczos); optionally the first image per patient.

    NIH names are ``<patient>_<follow-up>.png``; "first" is the lowest follow-up number.
    """
    from PIL import Image

    sources = sorted((work / options["from"]).rglob("*.png"))
    if one_per_patient:
        first: dict[str, Path] = {}
        for path in sources:
            first.setdefault(path.name.split("_")[0], path)
        sources = sorted(first.values())
    if not sources:
        raise DownloadError(f"no PNG found under {work / options['from']} to make the sample from")
    staging.mkdir(parents=True, exist_ok=True)
    for path in tqdm(sources, desc="resize", unit="img", disable=not _progress_enabled()):
        with Image.open(path) as image:
            grey = image.convert("L")
            if grey.size != (size, size):
                grey = grey.resize((size, size), Image.Resampling.LANCZOS)
            grey.save(staging / path.name)
    log(f"  wrote {len(sources)} PNGs of {size}x{size}")
    return len(sources)


def _covid_frontal_256(
    work: Path, staging: Path, log: Log, *, size: int, modality: str, frontal_views: tuple[str, ...]
) -> int:
    """metadata.csv and images/ as published, plus images-256/<stem>.png for frontal X-rays.

    Frontal: the first word of ``view`` is one of ``frontal_views`` (PA, AP, AP Supine, AP semi erect ...).
    Each image: greyscale, shorter side scaled to ``size`` (Lanczos), centre crop to ``size``x``size``.
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
    "nih_png_sample": _nih_png_sample,
    "covid_frontal_256": _covid_frontal_256,
}

_PROGRESS = [True]


def _progress_enabled() -> bool:
    return _PROGRESS[0]


# ----------------------------------------------------------------------------------------------------
# Lock file (trust on first use and finished steps)
# ----------------------------------------------------------------------------------------------------


class _Lock:
    """``<root>/.cxrlib-download.lock.json``: observed hashes and finished steps, written atomically."""

    def __init__(self, root: Path):
        self.path = root / LOCK_NAME
        self.data = {"version": 1, "files": {}, "datasets": {}}
        if self.path.exists():
            self.data.update(json.loads(self.path.read_text()))

    def file(self, recipe: str, filename: str) -> dict:
        return self.data["files"].get(f"{recipe}/{filename}", {})

    def set_file(self, recipe: str, filename: str, **values) -> None:
        self.data["files"].setdefault(f"{recipe}/{filename}", {}).update(values)
        self._save()

    def set_dataset(self, recipe: str, **values) -> None:
        self.data["datasets"].setdefault(recipe, {}).update(values)
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------------
# HTTP with resume
# ----------------------------------------------------------------------------------------------------


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes a-b/total`` -> (a, total); ``bytes */total`` -> (None, total)."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    start = None if span == "*" else int(span.split("-")[0])
    return start, (None if total in ("", "*") else int(total))


def _fetch_once(url: str, part: Path, *, timeout: float, desc: str, size: int | None) -> None:
    """One HTTP request that continues ``part`` where it stops; raises :class:`_Interrupted` when cut short."""
    start = part.stat().st_size if part.exists() else 0
    if size is not None and start > size:
        part.unlink()
        start = 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:
            _, total = _content_range(error.headers.get("Content-Range"))
            if total == start:
                return  # the partial file was already complete
            part.unlink()
            raise _Interrupted("range not satisfiable; restarting from the beginning") from None
        raise
    with response:
        total: int | None
        if start and response.status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != start:
                part.unlink()
                raise _Interrupted("server resumed at the wrong offset; restarting")
            mode = "ab"
        else:
            start = 0  # a 200 answer to a Range request: the server ignores Range, start again
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else size
            mode = "wb"
        received = start
        with open(part, mode) as sink, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
            disable=not _progress_enabled(), leave=False,
        ) as bar:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                sink.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received < total:
            raise _Interrupted(f"connection closed after {received} of {total} bytes")


_RESUMABLE = (_Interrupted, ConnectionError, TimeoutError, http.client.IncompleteRead, http.client.RemoteDisconnected)


def _fetch(
    remote: RemoteFile, part: Path, *, dataset: str, timeout: float, retries: int, retry_wait: float, log: Log
) -> str:
    """Fetch ``remote`` into ``part`` (resuming); returns the URL that served it."""
    urls = (remote.url, *remote.fallback_urls)
    for index, url in enumerate(urls):
        attempt = 0
        while True:
            try:
                _fetch_once(url, part, timeout=timeout, desc=remote.filename, size=remote.size)
                return url
            except urllib.error.HTTPError as error:
                if error.code == 404 and index + 1 < len(urls):
                    log(f"  {url} answered 404; trying {urls[index + 1]}")
                    break
                raise DownloadError(
                    f"{dataset}: HTTP {error.code} {error.reason} while downloading {remote.filename} from {url}"
                ) from None
            except urllib.error.URLError as error:
                if not isinstance(error.reason, (TimeoutError, ConnectionError)) or attempt >= retries:
                    raise DownloadError(
                        f"{dataset}: could not reach {url} ({error.reason}); check the network and re-run "
                        "(a partial file is resumed)"
                    ) from None
                reason = str(error.reason)
            except _RESUMABLE as error:
                if attempt >= retries:
                    have = part.stat().st_size if part.exists() else 0
                    raise DownloadError(
                        f"{dataset}: the download of {remote.filename} from {url} was interrupted ({error}); "
                        f"{have} bytes are kept in {part}; run the same command again to resume"
                    ) from None
                reason = str(error) or type(error).__name__
            attempt += 1
            have = part.stat().st_size if part.exists() else 0
            log(f"  {remote.filename}: {reason}; resuming at byte {have} (retry {attempt} of {retries})")
            time.sleep(retry_wait * attempt)
    raise AssertionError("unreachable")


def _hashes(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def _verify(path: Path, remote: RemoteFile, recipe: Recipe, lock: _Lock, *, url: str, log: Log) -> None:
    """Check ``path`` against the published checksum, else the recorded one (TOFU); delete it on mismatch."""

    def fail(what: str) -> None:
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{recipe.key}: {remote.filename} from {url} failed verification: {what}. "
            f"The file was deleted; run the command again to download it afresh."
        )

    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        fail(f"expected {remote.size} bytes, got {size}")
    sha256, md5 = _hashes(path)
    recorded = lock.file(recipe.key, remote.filename)
    if remote.sha256 or remote.md5:
        if remote.sha256 and sha256 != remote.sha256:
            fail(f"sha256 {sha256} differs from the published {remote.sha256} ({remote.checksum_source})")
        if remote.md5 and md5 != remote.md5:
            fail(f"md5 {md5} differs from the published {remote.md5} ({remote.checksum_source})")
        verified = f"published checksum ({remote.checksum_source})"
        log(f"  {remote.filename}: checksum matches the {verified}")
    elif recorded.get("sha256"):
        if sha256 != recorded["sha256"]:
            fail(
                f"sha256 {sha256} differs from {recorded['sha256']} recorded at the first download "
                f"({recorded.get('recorded', '?')}) in {lock.path}; if the publisher changed the file on "
                f"purpose, delete the entry '{recipe.key}/{remote.filename}' from that file"
            )
        verified = recorded.get("verified", "trust on first use")
        log(f"  {remote.filename}: sha256 matches the one recorded at the first download")
    else:
        verified = "trust on first use"
        log(
            f"  NOTE {remote.filename} was NOT verified against a published checksum (its publisher lists none). "
            f"Its sha256 {sha256} is recorded in {lock.path}; later downloads are checked against it."
        )
    lock.set_file(recipe.key, remote.filename, url=url, sha256=sha256, md5=md5, size=size,
                  verified=verified, recorded=recorded.get("recorded") or _now(), unpacked=False)


# ----------------------------------------------------------------------------------------------------
# Unpacking
# ----------------------------------------------------------------------------------------------------


def _target(member: str, rules: Iterable[Extract]) -> PurePosixPath | None:
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


def _unpack(archive: Path, remote: RemoteFile, into: Path) -> int:
    into.mkdir(parents=True, exist_ok=True)
    if remote.unpack == "file":
        destination = into / remote.dest
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(archive, destination)
        return 1
    count = 0
    for name, opener in _archive_members(archive, remote.unpack):
        relative = _target(name, remote.extract)
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


def _merge(source: Path, destination: Path) -> None:
    """Move every file below ``source`` to the same place below ``destination`` (same file system)."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    shutil.rmtree(source)


# ----------------------------------------------------------------------------------------------------
# Running a recipe
# ----------------------------------------------------------------------------------------------------


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _with_base_url(recipe: Recipe, base_url: str) -> Recipe:
    base = base_url.rstrip("/")
    files = tuple(replace(f, url=f"{base}/{f.filename}", fallback_urls=()) for f in recipe.files)
    return replace(recipe, files=files)


def _is_present(recipe: Recipe, root: Path) -> bool:
    folder = SOURCES[recipe.source_key].path(root)
    return all((folder / marker).exists() for marker in recipe.marker_list())


def _restart(recipe: Recipe, lock: _Lock, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    for remote in recipe.files:
        if lock.file(recipe.key, remote.filename):
            lock.set_file(recipe.key, remote.filename, unpacked=False)
    lock.set_dataset(recipe.key, completed=None)


def _run_recipe(
    recipe: Recipe, root: Path, *, force: bool, timeout: float, retries: int, retry_wait: float,
    keep_downloads: bool, log: Log,
) -> Path | None:
    source = SOURCES[recipe.source_key]
    folder = source.path(root)
    if recipe.manual:
        log(f"{recipe.key}: no automatic download. {recipe.notes}\n{how_to_get(recipe.source_key, root)}")
        return None
    if not force and _is_present(recipe, root):
        log(f"{recipe.key}: already present in {folder}; nothing to do (--force downloads it again)")
        return None

    log(f"{recipe.key}: {recipe.display_title()}\n  from {recipe.files[0].url}{' (and more)' if len(recipe.files) > 1 else ''}")
    cache = root / CACHE_NAME / recipe.key
    work = cache / "work"  # originals waiting for the post-step
    cache.mkdir(parents=True, exist_ok=True)
    lock = _Lock(root)
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
            _verify(final, remote, recipe, lock, url=url, log=log)
        else:
            url = _fetch(remote, part, dataset=recipe.key, timeout=timeout, retries=retries,
                         retry_wait=retry_wait, log=log)
            _verify(part, remote, recipe, lock, url=url, log=log)
            os.replace(part, final)
        staging = cache / f"unpack-{remote.filename}"
        if staging.exists():
            shutil.rmtree(staging)
        count = _unpack(final, remote, staging)
        _merge(staging, work if recipe.post else folder)
        lock.set_file(recipe.key, remote.filename, unpacked=True)
        log(f"  {remote.filename}: unpacked {count} file(s)")
        if final.exists() and not keep_downloads:
            final.unlink()
    if recipe.post:
        staging = cache / "post"
        if staging.exists():
            shutil.rmtree(staging)
        log(f"  post-step {recipe.post}")
        POST_STEPS[recipe.post](work, staging, log, **recipe.post_options)
        _merge(staging, folder)
        shutil.rmtree(work, ignore_errors=True)
    if not _is_present(recipe, root):
        missing = [m for m in recipe.marker_list() if not (folder / m).exists()]
        raise DownloadError(f"{recipe.key}: unpacked, but {missing} are still missing below {folder}")
    lock.set_dataset(recipe.key, completed=_now(), folder=str(folder))
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
    recipes: dict[str, Recipe] | None = None,
    base_url: str | None = None,
    keep_downloads: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
    retry_wait: float = 1.0,
    log: Log = _stderr,
) -> list[Path]:
    """Fetch, verify and unpack the data sets ``keys`` (keys of :data:`RECIPES`) below the data root.

    Returns the data-set folders filled by this call; data sets already present (their markers exist) are
    skipped unless ``force``; data sets without a public download (CheXpert) print how to get them.
    ``recipes`` replaces the recipe table and ``base_url`` points every file at ``<base_url>/<filename>``
    (a mirror, or a test server).
    """
    table = RECIPES if recipes is None else recipes
    unknown = [k for k in keys if k not in table]
    if unknown:
        raise KeyError(f"unknown data set(s) {unknown}; known: {', '.join(sorted(table))}")
    base = data_root(root)
    _PROGRESS[0] = progress
    done: list[Path] = []
    for key in dict.fromkeys(keys):
        recipe = table[key] if base_url is None else _with_base_url(table[key], base_url)
        folder = _run_recipe(recipe, base, force=force, timeout=timeout, retries=retries, retry_wait=retry_wait,
                             keep_downloads=keep_downloads, log=log)
        if folder is not None:
            done.append(folder)
    return done


def classroom_keys() -> list[str]:
    """The classroom data sets (``SOURCES[k].classroom``), each fetched by the recipe of the same key."""
    return [key for key, source in SOURCES.items() if source.classroom]


def download_missing_classroom(root: str | os.PathLike | None = None, progress: bool = True, **options) -> list[Path]:
    """Fetch only the classroom data sets whose markers are missing; touches nothing when all are present.

    Data sets without a public download are reported with their instructions (the caller that needs them
    then fails with :class:`~cxrlib.data.root.DataNotFoundError`).
    """
    missing = [key for key in classroom_keys() if missing_markers(key, root)]
    if not missing:
        return []
    return download(missing, root=root, progress=progress, **options)


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``cxrlib download``."""
    parser.add_argument("keys", nargs="*", metavar="DATASET",
                        help="data sets to fetch (see --list); 'classroom' means every classroom data set")
    parser.add_argument("--root", default=None, help="data root (default: $CXRLIB_DATA, ../shared/data, ~/.local/share/cxrlib/data)")
    parser.add_argument("--missing", action="store_true", help="fetch only the classroom data sets that are missing")
    parser.add_argument("--list", action="store_true", help="list the data sets, their sources and state, then stop")
    parser.add_argument("--force", action="store_true", help="download again even when present")
    parser.add_argument("--keep-downloads", action="store_true", help="keep the archives after unpacking")
    parser.add_argument("--mirror", default=None, metavar="URL", help="fetch every file from URL/<file name> instead")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per network operation")
    parser.add_argument("--retries", type=int, default=DEFAULT_RETRIES, help="resumptions after a dropped connection")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _listing(root: Path) -> str:
    lines = [f"data root: {root}"]
    for recipe in RECIPES.values():
        state = "present" if _is_present(recipe, root) else ("manual" if recipe.manual else "missing")
        classroom = " (classroom)" if recipe.key == recipe.source_key and SOURCES[recipe.source_key].classroom else ""
        lines.append(f"  {recipe.key:28s} {state:8s}{classroom}  {recipe.display_title()}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Carry out parsed ``cxrlib download`` arguments; 0 when every requested data set is present after it."""
    root = data_root(args.root)
    if args.list:
        print(_listing(root))
        return 0
    options = dict(force=args.force, progress=not args.no_progress, keep_downloads=args.keep_downloads,
                   base_url=args.mirror, timeout=args.timeout, retries=args.retries)
    keys = [k for key in args.keys for k in (classroom_keys() if key == "classroom" else [key])]
    if args.missing:
        keys = [k for k in classroom_keys() if missing_markers(k, root)] + keys
        if not keys:
            print(f"every classroom data set is present under {root}; nothing to download")
            return 0
    if not keys:
        print(_listing(root))
        print("name the data sets to fetch, or use --missing")
        return 2
    try:
        download(keys, root=root, **options)
    except (DownloadError, KeyError) as error:
        _stderr(f"error: {error}")
        return 1
    absent = [k for k in dict.fromkeys(keys) if not _is_present(RECIPES[k], root)]
    if absent:
        _stderr(f"not present after this run: {', '.join(absent)} (see the instructions above)")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="cxrlib download", description=__doc__.splitlines()[0]))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
