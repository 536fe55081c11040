"""Download the BIOSCAN-1M / BIOSCAN-5M archives and extract them into the official layout.

The archives, their public URLs and MD5 checksums are listed in the package data file
``archives.json`` (the same facts ``bioscan-dataset`` 1.3.0 uses). :func:`download` fetches only
the archives that the requested splits and image package need, into the download root::

    <root>/<archive file name>               the archive (deleted after extraction by default)
    <root>/<archive file name>.part          an unfinished transfer, resumed with HTTP Range
    <root>/bioscan5m/...                     the extracted files, laid out as bioscan-dataset
    <root>/<dataset>/.downloads/<file>.complete   written last, after a verified extraction

A mirror (``mirror=`` or the environment variable ``BIOSCAN_H5_MIRROR``) replaces the public base
URLs: an archive is then fetched from ``<mirror>/<file name>``. If the mirror serves
``<mirror>/manifest.json`` (the format of ``archives.json``), that table replaces the built-in one.
A mirror may also be a local folder or a ``file://`` URL.

The package's modules, each with one job: :mod:`~bioscan_h5.download.table` (the archive
table, mirror resolution, which archives are needed), :mod:`~bioscan_h5.download.network`
(opening URLs and the failure messages), :mod:`~bioscan_h5.download.transfer` (resumed,
retried, checksummed transfers), :mod:`~bioscan_h5.download.extract` (safe zip extraction),
:mod:`~bioscan_h5.download.markers` (completion markers and locks) and
:mod:`~bioscan_h5.download.api` (:func:`download`). The settings ``TIMEOUT`` (network) and
``RETRY_DELAYS`` (transfer) are read at call time from the module that owns them: change them
there, not here.
"""

from __future__ import annotations

from .api import download
from .extract import safe_extract
from .markers import COMPLETE_SUFFIX as COMPLETE_SUFFIX
from .markers import EXTRACTING_SUFFIX as EXTRACTING_SUFFIX
from .markers import MARKER_DIRNAME as MARKER_DIRNAME
from .network import MIRROR_ENV
from .network import RETRY_STATUSES as RETRY_STATUSES
from .network import TIMEOUT as TIMEOUT
from .network import logger as logger
from .table import MANIFEST_NAME as MANIFEST_NAME
from .table import TABLE_FORMAT as TABLE_FORMAT
from .table import Archive, load_archive_table, resolve_mirror, select_archives
from .transfer import CHUNK_SIZE as CHUNK_SIZE
from .transfer import PART_SUFFIX as PART_SUFFIX
from .transfer import RETRY_DELAYS as RETRY_DELAYS

__all__ = [
    "MIRROR_ENV",
    "Archive",
    "download",
    "load_archive_table",
    "resolve_mirror",
    "safe_extract",
    "select_archives",
]
