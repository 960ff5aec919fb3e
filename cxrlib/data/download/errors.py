"""The errors of ``cxrlib download``."""
from __future__ import annotations


class DownloadError(RuntimeError):
    """An HTTP or network failure; the message names the data set and the URL."""


class ChecksumError(DownloadError):
    """A downloaded file does not match its published or recorded checksum (the file was deleted)."""
