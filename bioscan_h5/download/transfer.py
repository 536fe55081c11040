"""Bringing one archive file onto the disk: HTTP transfers with ``Range`` resume, retries, MD5.

The module-level settings (:data:`RETRY_DELAYS`, :data:`DEADLINE_BASE_S`, :data:`MIN_RATE`,
``TIMEOUT``) are read at call time, so tests may patch them.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
from typing import Any

from tqdm.auto import tqdm

from .._files import NO_SPACE_ERRNOS, require_free_space
from ..errors import DownloadChecksumError, DownloadError, InsufficientSpaceError
from .network import (
    BYTE_BAR,
    RETRY_STATUSES,
    describe,
    http_message,
    logger,
    network_message,
    open_url,
    retry_hint,
    say,
)
from .table import Archive

__all__ = ["CHUNK_SIZE", "PART_SUFFIX", "RETRY_DELAYS", "check_disk_space", "fetch_archive", "md5_file"]

#: Seconds to wait before each retry of a request that got nothing (errors, 5xx); one entry a retry.
RETRY_DELAYS: tuple[float, ...] = (2.0, 10.0, 30.0)
#: Bytes read or written at a time.
CHUNK_SIZE = 1 << 20
#: Suffix of an unfinished transfer, resumed with HTTP ``Range``.
PART_SUFFIX = ".part"
#: Seconds every archive may take, whatever its size (connection set-up, retries, small files).
DEADLINE_BASE_S = 600.0
#: Bytes per second below which a whole archive counts as stalled: its deadline adds one
#: second per this many bytes (39 GB at 100 kB/s: 4.5 days; a stalled server is cut off).
MIN_RATE = 100_000


class _Deadline:
    """One archive's deadline, shared by its attempts; it grows once its size is known."""

    def __init__(self, size: int | None) -> None:
        self.start = time.monotonic()
        self.size = size

    @property
    def budget(self) -> float:
        return DEADLINE_BASE_S + (self.size or 0) / MIN_RATE

    def left(self) -> float:
        return self.start + self.budget - time.monotonic()


def md5_file(path: str, progress: bool = False, desc: str | None = None, hasher=None):
    hasher = hasher if hasher is not None else hashlib.md5(usedforsecurity=False)
    size = os.path.getsize(path)
    with (
        open(path, "rb") as fh,
        tqdm(
            total=size,
            desc=desc or f"checking {os.path.basename(path)}",
            disable=not progress or size < (64 << 20),
            leave=False,
            **BYTE_BAR,
        ) as bar,
    ):
        while chunk := fh.read(CHUNK_SIZE):
            hasher.update(chunk)
            bar.update(len(chunk))
    return hasher


def check_disk_space(folder: str, needed: int, what: str) -> None:
    """Refuse to ``what`` (download or extract an archive) when ``folder`` has less than ``needed`` bytes free."""
    require_free_space(
        folder,
        needed,
        lambda free: (
            f"Not enough free disk space to {what}: {needed / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free"
            f" at {folder}. Free some space or choose another root."
        ),
    )


def _content_range_start(value: str | None) -> tuple[int | None, int | None]:
    """``(start, total)`` of a ``Content-Range: bytes a-b/n`` header (``None`` where absent)."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    start, total = match.groups() if match else (None, None)
    return None if start is None else int(start), None if total in (None, "*") else int(total)


class _Transfer:
    """Bring ``dest`` + :data:`PART_SUFFIX` to the whole content of ``url``, resuming with ``Range``.

    A dropped connection is resumed at once when the attempt got further than any before;
    attempts that got nothing are retried after :data:`RETRY_DELAYS`. Each attempt answers
    ``(digest, error)``: the MD5 once the file is whole, else the failure worth a retry, or
    neither to try again at once (after starting over).
    """

    def __init__(
        self, url: str, archive: Archive, dest: str, mirror: str | None, progress: bool, deadline: _Deadline
    ) -> None:
        self.url, self.dest, self.mirror, self.progress, self.deadline = url, dest, mirror, progress, deadline
        self.label, self.md5, self.size = archive.filename, archive.md5, archive.size
        self.part = part = dest + PART_SUFFIX
        os.makedirs(os.path.dirname(part), exist_ok=True)
        self.offset = os.path.getsize(part) if os.path.isfile(part) else 0
        self.hasher = hashlib.md5(usedforsecurity=False)
        if self.offset:
            md5_file(part, progress, f"checking partial {self.label}", self.hasher)
        self.high_water = self.offset
        self.failures = 0

    def run(self) -> str:
        """Transfer until the file is whole; return its MD5 (a :class:`DownloadError` if it cannot)."""
        with tqdm(desc=self.label, initial=self.offset, disable=not self.progress, **BYTE_BAR) as bar:
            while True:
                self._check_deadline()
                digest, error = self._attempt(bar)
                if digest is not None:
                    return digest
                if error is not None:
                    self._before_retry(error)

    def _restart(self) -> None:
        self.offset = 0
        self.hasher = hashlib.md5(usedforsecurity=False)
        open(self.part, "wb").close()

    def _fail(self, what: Any) -> DownloadError:
        return DownloadError(
            network_message(self.url, what, mirror=self.mirror, dest=self.dest, md5=self.md5)
        )

    def _check_deadline(self, wait: float = 0.0) -> None:
        """Raise :class:`DownloadError` when the deadline has passed (or passes within ``wait`` s)."""
        if self.deadline.left() > wait:
            return
        kept = f"; {self.offset:,} bytes are kept in {self.part}" if self.offset else ""
        raise DownloadError(
            f"Download of {self.url} did not finish within its deadline of {self.deadline.budget:,.0f} s"
            f" ({DEADLINE_BASE_S:g} s plus one second per {MIN_RATE:,} bytes of the archive){kept}: the"
            " server is stalled or far too slow." + retry_hint(self.mirror, self.dest, self.md5)
        )

    def _attempt(self, bar) -> tuple[str | None, str | None]:
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else None
        try:
            response = open_url(self.url, headers=headers)
        except urllib.error.HTTPError as exc:
            exc.close()
            return self._http_error(exc)
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, FileNotFoundError):
                raise self._fail(exc.reason) from None
            return None, describe(exc.reason)
        except (OSError, http.client.HTTPException) as exc:
            return None, describe(exc)
        with response:
            return self._receive(response, bar)

    def _http_error(self, exc: urllib.error.HTTPError) -> tuple[str | None, str | None]:
        if exc.code == 416 and self.offset:
            _, total = _content_range_start(exc.headers.get("Content-Range") if exc.headers else None)
            if total == self.offset:  # the partial file was already whole
                return self.hasher.hexdigest(), None
            say(f"{self.url}: the partial file is longer than the server's; starting over.", self.progress)
            self._restart()
            return None, None
        if exc.code not in RETRY_STATUSES or self.failures >= len(RETRY_DELAYS):
            raise DownloadError(
                http_message(self.url, exc.code, exc.reason, mirror=self.mirror, dest=self.dest, md5=self.md5)
            ) from None
        return None, f"HTTP {exc.code} {exc.reason}"

    def _receive(self, response, bar) -> tuple[str | None, str | None]:
        status = response.status or 200  # file:// answers have no status
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        total = None
        if self.offset and status == 206:
            start, total = _content_range_start(response.headers.get("Content-Range"))
            if start != self.offset:
                say(
                    f"{self.url}: the server resumed at byte {start}, not {self.offset}; starting over.",
                    self.progress,
                )
                self._restart()
                return None, None
        elif self.offset:
            say(f"{self.url}: the server does not resume transfers; starting over.", self.progress)
            self._restart()
        if total is None and length is not None:
            total = self.offset + length
        if self.deadline.size is None and total:  # an empty answer must not fix the budget at 0
            self.deadline.size = total
        cap, why = self._cap(total)
        bar.reset(total=total if total is not None else self.size)
        bar.update(self.offset)
        if cap is not None:
            check_disk_space(os.path.dirname(self.part), cap - self.offset, f"download {self.label}")
        error = self._copy(response, bar, None if cap is None else cap - self.offset, why)
        if error is None:
            if cap is None or self.offset >= cap:
                return self.hasher.hexdigest(), None
            error = f"the connection closed after {self.offset:,} of {cap:,} bytes"
        return None, error

    def _cap(self, total: int | None) -> tuple[int | None, str]:
        """The most bytes the whole file may have, and where that bound comes from."""
        bounds = [(self.size, "the size in the archive table"), (total, "the size the server announced")]
        return min([b for b in bounds if b[0] is not None], default=(None, ""))

    def _copy(self, response, bar, limit: int | None = None, why: str = "") -> str | None:
        """Append the response body to the part file; return the error that stopped it, if any.

        A server sending more than ``limit`` bytes raises :class:`DownloadError` (the part file is deleted).
        """
        received = 0
        read = getattr(response, "read1", response.read)  # read1: one recv, so the deadline is seen
        with open(self.part, "ab") as fh:
            while True:
                self._check_deadline()
                want = CHUNK_SIZE if limit is None else min(CHUNK_SIZE, limit - received + 1)
                try:
                    chunk = read(want)
                except (OSError, http.client.HTTPException) as exc:
                    return describe(exc)
                if not chunk:
                    return None
                if limit is not None and received + len(chunk) > limit:
                    fh.close()
                    self._restart()
                    os.remove(self.part)
                    raise DownloadError(
                        f"Download of {self.url} was stopped: the server sent more than the"
                        f" {self.offset + limit:,} bytes of the file ({why}). The partial file was"
                        " deleted." + retry_hint(self.mirror, self.dest, self.md5)
                    )
                try:
                    fh.write(chunk)
                except OSError as exc:
                    if exc.errno not in NO_SPACE_ERRNOS:
                        raise
                    raise InsufficientSpaceError(
                        f"Writing {self.part!r} failed: {os.strerror(exc.errno)}. Free some space and run the"
                        " download again (it resumes where it stopped)."
                    ) from exc
                self.hasher.update(chunk)
                received += len(chunk)
                self.offset += len(chunk)
                bar.update(len(chunk))

    def _before_retry(self, error: str) -> None:
        """Resume at once if this attempt got further than any before, else pause or give up."""
        if self.offset > self.high_water:
            self.high_water = self.offset
            self.failures = 0
            say(f"{self.url}: {error}; resuming at byte {self.offset:,}.", self.progress)
            return
        if self.failures >= len(RETRY_DELAYS):
            kept = f" ({self.offset:,} bytes are kept in {self.part})" if self.offset else ""
            raise self._fail(f"{error}; gave up after {self.failures + 1} attempts{kept}")
        delay = RETRY_DELAYS[self.failures]
        self._check_deadline(delay)  # a wait that would end past the deadline: stop now
        self.failures += 1
        say(f"{self.url}: {error}; retrying in {delay:g} s.", self.progress)
        time.sleep(delay)


def fetch_archive(
    archive: Archive, root: str, urls: list[str], *, mirror: str | None, progress: bool, verify: bool
) -> str:
    """Make sure the archive's file is at ``<root>/<download_to>`` with the right MD5.

    A file already there is checked, a ``.part`` file continued, a file failing its checksum
    fetched once more. Bounded in bytes (the table's ``size`` or the server's ``Content-Length``)
    and in time (one deadline for every attempt, URL and retry: :data:`DEADLINE_BASE_S` plus a
    second per :data:`MIN_RATE` bytes).
    """
    path = os.path.join(root, *archive.download_to.split("/"))
    part = path + PART_SUFFIX
    if os.path.isfile(path):
        if not verify:
            return path
        digest = md5_file(path, progress, f"checking {archive.filename}").hexdigest()
        if digest == archive.md5:
            return path
        message = "%s is corrupt (MD5 %s, expected %s): deleting it and downloading it again."
        logger.warning(message, path, digest, archive.md5)
        os.remove(path)
    digests: list[str] = []
    deadline = _Deadline(archive.size)
    for _attempt in range(2):
        errors: list[str] = []
        for url in urls:
            try:
                digest = _Transfer(url, archive, path, mirror, progress, deadline).run()
                break
            except DownloadError as exc:
                errors.append(str(exc))
        else:
            raise DownloadError("\n".join(errors))
        if not verify or digest == archive.md5:
            os.replace(part, path)
            return path
        os.remove(part)
        digests.append(digest)
        if len(digests) == 1:
            message = "%s from %s is corrupt (MD5 %s, expected %s): deleted; downloading it again."
            logger.warning(message, archive.filename, url, digest, archive.md5)
    raise DownloadChecksumError(
        f"{archive.filename} downloaded from {url} does not match its published checksum: MD5 {digests[-1]}"
        f" (and {digests[0]} the time before), expected {archive.md5}. Both copies were deleted. The server may"
        " be serving a damaged or changed file, or a proxy may alter it."
        + retry_hint(mirror, path, archive.md5)
    )
