"""Fetching one remote file: HTTP with resume, retries and timeouts, checksum verification, the lock file.

A file is fetched into a ``.part`` file; an interrupted transfer is resumed with an HTTP ``Range`` request
(a server that ignores ``Range`` answers 200 and the file restarts from byte 0). Every request has two
timeouts: ``connect_timeout`` (default 10 s, ``$CXRLIB_CONNECT_TIMEOUT``) to open the connection and
``timeout`` (default 20 s, ``$CXRLIB_DOWNLOAD_TIMEOUT``, ``cxrlib download --timeout``) for the longest
silence while waiting for the answer or the next bytes. A host that trickles fails too: its answer (status
line and headers) must be complete within ``connect_timeout + timeout`` of the start of the request, and
the body must arrive at :data:`MIN_RATE_BYTES_S` or faster, measured over every ``timeout`` seconds. A host
that stays silent or trickles is not retried: an unreachable, unresponsive or trickling host fails within
30 s by default (the bytes received are kept and resumed next time). A transfer that stops after making
progress is resumed up to ``retries`` times. The finished file is checked against the checksum its publisher lists, else against the sha256
recorded in the lock file ``<root>/.cxrlib-download.lock.json`` at the first download (trust on first use).
The standard library (urllib) does the HTTP work; tqdm draws the byte progress bars.
"""
from __future__ import annotations

import datetime
import hashlib
import http.client
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from cxrlib.core.io import write_text_atomic
from cxrlib.data.download.errors import ChecksumError, DownloadError
from cxrlib.data.recipe_types import RemoteFile

#: The file below the data root that records each downloaded file's SHA-256 (trust on first use).
LOCK_NAME = ".cxrlib-download.lock.json"
USER_AGENT = "cxrlib-download/0.1 (+https://github.com/; urllib)"
CHUNK = 1 << 20
"""Bytes read and written per step, over the network and out of archives."""
DEFAULT_TIMEOUT_S = 20.0
"""Read timeout: the longest silence of the server (waiting for the answer, or for the next bytes)."""
DEFAULT_CONNECT_TIMEOUT_S = 10.0
"""Connect timeout: the longest wait to open the connection (TCP and TLS)."""
TIMEOUT_ENV = "CXRLIB_DOWNLOAD_TIMEOUT"
CONNECT_TIMEOUT_ENV = "CXRLIB_CONNECT_TIMEOUT"
#: How often a transfer that stopped after making progress is resumed (a silent host is not retried).
DEFAULT_RETRIES = 3
MIN_RATE_BYTES_S = 1024
"""The slowest transfer that is not a trickle: bytes per second, averaged over each ``timeout`` seconds."""


def _seconds(name: str, value, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r} ({where})")
    return seconds


def timeout_from_env(default: float = DEFAULT_TIMEOUT_S) -> float:
    """The read timeout: ``$CXRLIB_DOWNLOAD_TIMEOUT`` when set, else ``default``."""
    value = os.environ.get(TIMEOUT_ENV)
    return default if value in (None, "") else _seconds("the read timeout", value, f"${TIMEOUT_ENV}")


def connect_timeout_from_env(default: float = DEFAULT_CONNECT_TIMEOUT_S) -> float:
    """The connect timeout: ``$CXRLIB_CONNECT_TIMEOUT`` when set, else ``default``."""
    value = os.environ.get(CONNECT_TIMEOUT_ENV)
    return default if value in (None, "") else _seconds("the connect timeout", value, f"${CONNECT_TIMEOUT_ENV}")


def check_timeouts(timeout, connect_timeout) -> tuple[float, float]:
    """(read, connect) timeouts as positive floats; ``None`` takes the environment or the default."""
    read = timeout_from_env() if timeout is None else _seconds("timeout", timeout, "--timeout")
    connect = connect_timeout_from_env() if connect_timeout is None else _seconds(
        "connect_timeout", connect_timeout, "--connect-timeout")
    return read, connect

Log = Callable[[str], None]
"""Where the download steps report: one message per call."""


class _Interrupted(Exception):
    """The transfer stopped before the announced length: resume it."""


class _TooSlow(Exception):
    """The host sends, but too slowly (a trickle): give up, as for a silent host."""


class _ConnectTimeouts:
    """An HTTP(S) connection that connects within ``connect_timeout``, then reads with ``timeout``, and
    whose answer (status line and headers) is complete within ``connect_timeout + timeout`` of the start
    (a watchdog shuts the socket down otherwise: a server that trickles its headers byte by byte never
    leaves ``timeout`` seconds of silence)."""

    def __init__(self, *args, connect_timeout: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._connect_timeout = connect_timeout
        self._started: float | None = None
        self._expired = False

    def getresponse(self):
        budget = (self._connect_timeout or 0) + (self.timeout or 0)
        if not budget or self._started is None:
            return super().getresponse()
        watchdog = threading.Timer(max(self._started + budget - time.monotonic(), 0.01), self._expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            return super().getresponse()
        except Exception:
            if self._expired:
                raise _TooSlow(f"no complete answer within {budget:g} s") from None
            raise
        finally:
            watchdog.cancel()

    def _expire(self) -> None:
        self._expired = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass

    def connect(self):
        self._started = time.monotonic()
        read_timeout = self.timeout
        if self._connect_timeout is not None:
            self.timeout = self._connect_timeout
        try:
            super().connect()
        except TimeoutError as error:
            raise _ConnectTimeout(f"no connection within {self.timeout:g} s") from error
        finally:
            self.timeout = read_timeout
        self.sock.settimeout(read_timeout)


class _ConnectTimeout(TimeoutError):
    """Opening the connection took longer than the connect timeout."""


class _HTTPConnection(_ConnectTimeouts, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_ConnectTimeouts, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, connect_timeout: float):
        super().__init__()
        self.connect_timeout = connect_timeout

    def http_open(self, req):
        return self.do_open(_HTTPConnection, req, connect_timeout=self.connect_timeout)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, connect_timeout: float):
        super().__init__()
        self.connect_timeout = connect_timeout

    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context, connect_timeout=self.connect_timeout)


def open_url(request: urllib.request.Request, *, timeout: float, connect_timeout: float):
    """``urllib.request.urlopen`` with separate connect and read timeouts (proxies as urllib's)."""
    opener = urllib.request.build_opener(_HTTPHandler(connect_timeout), _HTTPSHandler(connect_timeout))
    return opener.open(request, timeout=timeout)


# ----------------------------------------------------------------------------------------------------
# Lock file (trust on first use and finished steps)
# ----------------------------------------------------------------------------------------------------


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second, as the lock file records it."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class Lock:
    """``<root>/.cxrlib-download.lock.json``: observed hashes and finished steps, written atomically.

    ``files`` is keyed ``<recipe key>/<file name>`` (url, sha256, md5, size, verified, recorded, unpacked);
    ``datasets`` is keyed by recipe key (completed, folder). Every change is saved at once.
    """

    def __init__(self, root: Path):
        self.path = root / LOCK_NAME
        self.data = {"version": 1, "files": {}, "datasets": {}}
        if self.path.exists():
            self.data.update(json.loads(self.path.read_text()))

    def file(self, recipe: str, filename: str) -> dict:
        """What is recorded about ``filename`` of recipe ``recipe`` (empty when nothing is)."""
        return self.data["files"].get(f"{recipe}/{filename}", {})

    def set_file(self, recipe: str, filename: str, **values) -> None:
        """Record ``values`` for ``filename`` of recipe ``recipe`` and save."""
        self.data["files"].setdefault(f"{recipe}/{filename}", {}).update(values)
        self._save()

    def set_dataset(self, recipe: str, **values) -> None:
        """Record ``values`` for the data set filled by recipe ``recipe`` and save."""
        self.data["datasets"].setdefault(recipe, {}).update(values)
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")


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


def _fetch_once(url: str, part: Path, *, timeout: float, connect_timeout: float, desc: str, size: int | None,
                progress: bool) -> None:
    """One HTTP request that continues ``part`` where it stops; raises :class:`_Interrupted` when cut short."""
    start = part.stat().st_size if part.exists() else 0
    if size is not None and start > size:
        part.unlink()
        start = 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = open_url(urllib.request.Request(url, headers=headers), timeout=timeout,
                            connect_timeout=connect_timeout)
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
        window_start, window_bytes = time.monotonic(), 0  # the rate is measured over every `timeout` seconds
        with open(part, mode) as sink, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
            disable=not progress, leave=False,
        ) as bar:
            while True:
                chunk = response.read1(CHUNK)  # what has arrived (read() would wait for CHUNK bytes)
                if not chunk:
                    break
                sink.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                window_bytes += len(chunk)
                if (elapsed := time.monotonic() - window_start) >= timeout:
                    if window_bytes < MIN_RATE_BYTES_S * elapsed:
                        raise _TooSlow(f"{window_bytes} bytes in {elapsed:.1f} s, below {MIN_RATE_BYTES_S} bytes/s")
                    window_start, window_bytes = time.monotonic(), 0
        if total is not None and received < total:
            raise _Interrupted(f"connection closed after {received} of {total} bytes")


_RESUMABLE = (_Interrupted, ConnectionError, TimeoutError, http.client.IncompleteRead, http.client.RemoteDisconnected)


def _size(part: Path) -> int:
    return part.stat().st_size if part.exists() else 0


def _silent(dataset: str, remote: RemoteFile, url: str, part: Path, error: BaseException, timeout: float,
            connect_timeout: float) -> DownloadError:
    have = _size(part)
    if isinstance(error, _ConnectTimeout) or isinstance(getattr(error, "reason", None), _ConnectTimeout):
        what = f"could not connect to {url} within {connect_timeout:g} s"
        knob = f"--connect-timeout or ${CONNECT_TIMEOUT_ENV}"
    else:
        what = f"{url} sent nothing for {timeout:g} s"
        knob = f"--timeout or ${TIMEOUT_ENV}"
    kept = f"; {have} bytes are kept in {part} and resumed next time" if have else ""
    return DownloadError(f"{dataset}: {what} while downloading {remote.filename} (the host does not answer; "
                         f"check the network or the mirror, or allow longer with {knob}){kept}")


def _trickle(dataset: str, remote: RemoteFile, url: str, part: Path, error: _TooSlow) -> DownloadError:
    have = _size(part)
    kept = f"; {have} bytes are kept in {part} and resumed next time" if have else ""
    return DownloadError(f"{dataset}: {url} is too slow while downloading {remote.filename} ({error}; the host "
                         f"trickles: check the network or the mirror, or allow longer with --timeout or "
                         f"${TIMEOUT_ENV}){kept}")


def fetch(
    remote: RemoteFile, part: Path, *, dataset: str, timeout: float | None = None, retries: int = DEFAULT_RETRIES,
    retry_wait: float = 1.0, log: Log = print, progress: bool = True, connect_timeout: float | None = None,
) -> str:
    """Fetch ``remote`` into ``part`` (resuming); returns the URL that served it.

    A transfer that stops after making progress is resumed up to ``retries`` times (waiting ``retry_wait``
    seconds times the attempt); a host that stays silent (no connection within ``connect_timeout``, or no
    bytes within ``timeout``) or trickles (module docstring) fails at once; a 404 moves on to the next of ``remote.fallback_urls``; any
    other failure raises :class:`DownloadError` naming ``dataset`` and the URL, keeping ``part`` for the
    next run. ``None`` timeouts come from the environment or the defaults (:func:`check_timeouts`).
    """
    timeout, connect_timeout = check_timeouts(timeout, connect_timeout)
    urls = (remote.url, *remote.fallback_urls)
    for index, url in enumerate(urls):
        attempt = 0
        while True:
            before = _size(part)
            try:
                _fetch_once(url, part, timeout=timeout, connect_timeout=connect_timeout, desc=remote.filename,
                            size=remote.size, progress=progress)
                return url
            except _TooSlow as error:
                raise _trickle(dataset, remote, url, part, error) from None
            except urllib.error.HTTPError as error:
                if error.code == 404 and index + 1 < len(urls):
                    log(f"  {url} answered 404; trying {urls[index + 1]}")
                    break
                raise DownloadError(
                    f"{dataset}: HTTP {error.code} {error.reason} while downloading {remote.filename} from {url}"
                ) from None
            except urllib.error.URLError as error:
                if isinstance(error.reason, TimeoutError):
                    raise _silent(dataset, remote, url, part, error, timeout, connect_timeout) from None
                if not isinstance(error.reason, ConnectionError) or attempt >= retries:
                    raise DownloadError(
                        f"{dataset}: could not reach {url} ({error.reason}); check the network and re-run "
                        "(a partial file is resumed)"
                    ) from None
                reason = str(error.reason)
            except _RESUMABLE as error:
                if isinstance(error, TimeoutError) and _size(part) == before:
                    raise _silent(dataset, remote, url, part, error, timeout, connect_timeout) from None
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


# ----------------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------------


def _hashes(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def verify_download(path: Path, remote: RemoteFile, dataset: str, lock: Lock, *, url: str, log: Log) -> None:
    """Check ``path`` against the published checksum, else the recorded one (TOFU); delete it on mismatch.

    ``dataset`` is the recipe key the lock entry is filed under; a mismatch raises :class:`ChecksumError`.
    The observed hashes are recorded in ``lock`` (``unpacked=False``).
    """

    def fail(what: str) -> None:
        path.unlink(missing_ok=True)
        raise ChecksumError(
            f"{dataset}: {remote.filename} from {url} failed verification: {what}. "
            f"The file was deleted; run the command again to download it afresh."
        )

    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        fail(f"expected {remote.size} bytes, got {size}")
    sha256, md5 = _hashes(path)
    recorded = lock.file(dataset, remote.filename)
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
                f"purpose, delete the entry '{dataset}/{remote.filename}' from that file"
            )
        verified = recorded.get("verified", "trust on first use")
        log(f"  {remote.filename}: sha256 matches the one recorded at the first download")
    else:
        verified = "trust on first use"
        log(
            f"  NOTE {remote.filename} was NOT verified against a published checksum (its publisher lists none). "
            f"Its sha256 {sha256} is recorded in {lock.path}; later downloads are checked against it."
        )
    lock.set_file(dataset, remote.filename, url=url, sha256=sha256, md5=md5, size=size,
                  verified=verified, recorded=recorded.get("recorded") or utc_now(), unpacked=False)
