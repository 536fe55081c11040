"""The network edge of the downloads: opening a URL (the one use of :mod:`urllib.request`), the
messages of network and HTTP failures, and the progress notes printed on stderr.
"""

from __future__ import annotations

import logging
import sys
import urllib.request
from typing import Any

from tqdm.auto import tqdm

from .. import __version__

__all__ = [
    "BYTE_BAR",
    "MIRROR_ENV",
    "RETRY_STATUSES",
    "TIMEOUT",
    "describe",
    "http_message",
    "network_message",
    "open_url",
    "retry_hint",
    "say",
]

#: The logger of every module of the download package.
logger = logging.getLogger("bioscan_h5.download")

#: Environment variable naming a mirror that replaces the public base URLs.
MIRROR_ENV = "BIOSCAN_H5_MIRROR"
#: Seconds a connection attempt or a single read may block before it counts as failed.
TIMEOUT = 60.0
#: HTTP statuses worth retrying.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_USER_AGENT = f"bioscan-h5/{__version__} (Python urllib)"
#: The arguments of a tqdm bar that counts bytes.
BYTE_BAR: dict[str, Any] = {"unit": "B", "unit_scale": True, "unit_divisor": 1024}


def open_url(url: str, *, headers: dict[str, str] | None = None, timeout: float | None = None):
    """Open ``url`` with urllib; ``timeout`` defaults to :data:`TIMEOUT`, read at call time."""
    request = urllib.request.Request(
        url, headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    )
    return urllib.request.urlopen(request, timeout=TIMEOUT if timeout is None else timeout)


def retry_hint(mirror: str | None, dest: str | None = None, md5: str | None = None) -> str:
    hint = " Run the download again to retry (an interrupted transfer resumes where it stopped)"
    if mirror:
        hint += (
            f"; check that the mirror {mirror} is up and serves the file, or drop the mirror (no mirror=,"
            f" {MIRROR_ENV} unset) to use the public URLs"
        )
    else:
        hint += f", or pass mirror=URL (or set {MIRROR_ENV}) to fetch the archives from another server"
    if dest:
        hint += f"; you may also fetch the file yourself and place it at {dest}"
        if md5:
            hint += f" (it is checked against MD5 {md5})"
    return hint + "."


def http_message(url: str, code: int, reason: Any, *, mirror: str | None, dest=None, md5=None) -> str:
    reason = f" {reason}" if reason else ""
    msg = f"Download of {url} failed: the server answered HTTP {code}{reason}."
    if code in (404, 410):
        msg += " The file is not at this address" + (" (the mirror lacks it)." if mirror else ".")
    elif code in (401, 403):
        msg += " Access was refused."
    elif code in RETRY_STATUSES:
        msg += " The server is busy or failing; try again later."
    return msg + retry_hint(mirror, dest, md5)


def network_message(url: str, error: Any, *, mirror: str | None, dest=None, md5=None) -> str:
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        what = f"no answer within {TIMEOUT:g} s ({error})"
    else:
        what = describe(error)
    return f"Download of {url} failed: network error, {what}." + retry_hint(mirror, dest, md5)


def describe(error: Any) -> str:
    """An exception as ``"Type: message"``; anything else as its text."""
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


def say(message: str, progress: bool) -> None:
    logger.info(message)
    if progress:
        tqdm.write(message, file=sys.stderr)
