"""Download the BIOSCAN archives and extract them into the official layout.

A mirror (``mirror=`` or ``BIOSCAN_H5_MIRROR``, a URL or folder, optionally with its own
``manifest.json``) replaces the public URLs. :func:`download` fetches only what the splits need.
"""

from __future__ import annotations

from .api import download
from .extract import safe_extract
from .network import MIRROR_ENV
from .table import MANIFEST_NAME as MANIFEST_NAME
from .table import Archive, load_archive_table, resolve_mirror, select_archives
from .transfer import PART_SUFFIX as PART_SUFFIX

__all__ = [
    "MIRROR_ENV",
    "Archive",
    "download",
    "load_archive_table",
    "resolve_mirror",
    "safe_extract",
    "select_archives",
]
