"""Stage 2's durable row recording, shared by every kind's writer: images first, then their statuses.

A row is marked done (its status, source size and image checksum written) only after its image
is durable, so a rerun after a kill redoes exactly the rows still pending.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from typing import Any

import h5py
import numpy as np

from .. import format as fmt
from .._files import pwrite_all
from .._hdf5 import open_readonly
from .preadv import runs

__all__ = ["RowWriter"]


class RowWriter(ABC):
    """Records rows as done once their images are durable; a kind writes the images (:meth:`write`).

    Syncs run on a background thread every ``SYNC_EVERY_S`` seconds, on a duplicate descriptor;
    its errors (a full disk) are raised by the next :meth:`write` or :meth:`sync`. ``pending``
    holds ``(row, status, width, height, crc, ...)`` per row.
    """

    SYNC_EVERY_S = 2.0
    pixel_offset = -1  #: where stage 2's workers may write pixels themselves (-1: nowhere)

    def __init__(self, path: str) -> None:
        self.path = path
        with open_readonly(path) as f:
            self.status_offset = f[fmt.IMAGE_STATUS].id.get_offset()
            self.size_offset = f[fmt.IMAGE_SOURCE_SIZE].id.get_offset()
            self.crc_offset = f[fmt.CHECKSUM_IMAGES].id.get_offset() if fmt.CHECKSUM_IMAGES in f else None
            self._open(f)
        self.pending: list[tuple[Any, ...]] = []
        self.h5: h5py.File | None = None
        self.fd = os.open(path, os.O_RDWR)
        self.last_sync = time.monotonic()
        self._syncer: threading.Thread | None = None
        self._sync_error: BaseException | None = None

    def _open(self, f: h5py.File) -> None:  # noqa: B027
        """Read what the kind needs from the partial file (open read-only)."""

    @abstractmethod
    def write(self, row: int, status: int, image: Any, size: tuple[int, int], crc: int | None = None) -> None:
        """Write the image of ``row`` (None for a bad image); its status goes with a later sync."""

    def _made_durable(self, fd: int, rows: list) -> None:
        """Make every image written so far durable (before ``rows`` are recorded)."""
        os.fdatasync(fd)

    def _after_write(self) -> None:
        if time.monotonic() - self.last_sync > self.SYNC_EVERY_S:
            self._sync_in_background()

    def _raise_sync_error(self) -> None:
        if self._sync_error is not None:
            exc, self._sync_error = self._sync_error, None
            raise exc

    def _sync_in_background(self) -> None:
        self._raise_sync_error()
        if self.h5 is not None:  # h5py serialises every call: nothing to gain from a thread
            self.sync()
            return
        if self._syncer is not None and self._syncer.is_alive():
            return  # the previous sync is still running: these rows go with the next one
        rows, self.pending = self.pending, []
        self.last_sync = time.monotonic()
        fd = os.dup(self.fd)
        self._syncer = threading.Thread(target=self._sync_thread, args=(fd, rows), daemon=True)
        self._syncer.start()

    def _sync_thread(self, fd: int, rows: list) -> None:
        try:
            self._sync_rows(fd, rows)
        except BaseException as exc:  # raised in the builder's thread by the next write/sync
            self._sync_error = exc
        finally:
            os.close(fd)

    def _sync_rows(self, fd: int, rows: list) -> None:
        """Make every image written so far durable, then record ``rows`` as done, durably."""
        self._made_durable(fd, rows)
        if rows:
            r = np.fromiter((x[0] for x in rows), dtype=np.int64, count=len(rows))
            status = np.fromiter((x[1] for x in rows), dtype=fmt.STATUS_DTYPE, count=len(rows))
            size = np.array([(x[2], x[3]) for x in rows], dtype=fmt.SOURCE_SIZE_DTYPE)
            crcs = np.fromiter((x[4] for x in rows), dtype=fmt.CHECKSUM_DTYPE, count=len(rows))
            for a, b in runs(r):  # one write per run of consecutive rows
                # The status last: it is what marks a row done.
                if self.crc_offset is not None:
                    pwrite_all(fd, crcs[a:b], self.crc_offset + int(r[a]) * 4)
                pwrite_all(fd, size[a:b], self.size_offset + int(r[a]) * 8)
                pwrite_all(fd, status[a:b], self.status_offset + int(r[a]))
            os.fdatasync(fd)

    def sync(self) -> None:
        """Make written images durable, then record their rows as done (after a running background sync)."""
        if self._syncer is not None:
            self._syncer.join()
            self._syncer = None
        self._raise_sync_error()
        if not self.pending:
            return
        if self.h5 is not None:
            self.h5.flush()
        self._sync_rows(self.fd, self.pending)
        self.pending.clear()
        self.last_sync = time.monotonic()

    def _close_more(self) -> None:  # noqa: B027
        """Close what the kind opened itself."""

    def close(self) -> None:
        """Sync and close; a second call does nothing."""
        if self.fd < 0:
            return
        try:
            self.sync()
        finally:
            fd, self.fd = self.fd, -1
            try:
                if self.h5 is not None:
                    self.h5.close()
                self._close_more()
            finally:
                os.close(fd)
