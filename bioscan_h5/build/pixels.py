"""Stage 2's writer: decoded pixels into the partial store, rows marked done once durable."""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import Any

import h5py
import numpy as np

from .. import format as fmt
from .._files import pwrite_all
from .._hdf5 import open_readonly
from ..checksums import image_crc, pixels_crc
from ..store.pixels import pixel_block_offset

__all__ = ["PixelWriter"]


class PixelWriter:
    """Writes decoded rows into a partial store; statuses only after their pixels are durable.

    Uncompressed stores are synced on a background thread (every ``SYNC_EVERY_S`` seconds),
    so decoding and writing go on while the disk catches up; the thread syncs the pixels
    written so far, then records the rows handed to it as done, then syncs again. It works
    on its own duplicate of the file descriptor, and its errors (a full disk) are raised by
    the next :meth:`write` or :meth:`sync`.
    """

    SYNC_EVERY_S = 2.0

    def __init__(self, path: str, image_size: int) -> None:
        with open_readonly(path) as f:
            # Checked, not taken from the attribute: a format-1 store's chunks are verified.
            offset = pixel_block_offset(f[fmt.IMAGES], dict(f.attrs), f[fmt.IMAGES].shape[0], image_size)
            self.pixel_offset = -1 if offset is None else offset
            self.status_offset = f[fmt.IMAGE_STATUS].id.get_offset()
            self.size_offset = f[fmt.IMAGE_SOURCE_SIZE].id.get_offset()
            # Format 2: each row's image checksum goes with its status (None: no checksums).
            self.crc_offset = f[fmt.CHECKSUM_IMAGES].id.get_offset() if fmt.CHECKSUM_IMAGES in f else None
        self.path = path
        self.size = image_size
        self.nbytes = image_size * image_size * 3
        self.pending: list[tuple[Any, ...]] = []  # row, status, width, height, crc (a subclass adds more)
        self.h5: h5py.File | None = None
        self.fd = os.open(path, os.O_RDWR)
        if self.pixel_offset < 0:  # compressed (or chunks out of order): pixels go through HDF5
            self.h5 = h5py.File(path, "r+", locking=False)
            self.images = self.h5[fmt.IMAGES]
        self.last_sync = time.monotonic()
        self._syncer: threading.Thread | None = None
        self._sync_error: BaseException | None = None

    def write(
        self,
        row: int,
        status: int,
        pixels: np.ndarray | None,
        size: tuple[int, int],
        pixel_crc: int | None = None,
    ) -> None:
        """Write the pixels of ``row`` (None for a bad image); its status goes with a later sync.

        ``pixel_crc`` is the CRC-32 of pixels written by someone else (a decoding worker);
        it is computed here from ``pixels`` otherwise. A bad image's row is set to zeros (it
        is one already unless an interrupted run wrote it), which its checksum then covers.
        """
        crc = 0
        if pixels is None and pixel_crc is None and self.crc_offset is not None:
            pixels = np.zeros((self.size, self.size, 3), dtype=np.uint8)
        if self.crc_offset is not None:
            if pixel_crc is None:
                assert pixels is not None  # a bad image's row was set to zeros just above
                pixel_crc = pixels_crc(pixels)
            crc = image_crc(pixel_crc, status, size)
        if pixels is not None:
            if self.h5 is not None:
                self.images[row] = pixels
            else:  # straight from the decoder's buffer, no copy
                pwrite_all(self.fd, np.ascontiguousarray(pixels), self.pixel_offset + row * self.nbytes)
        self.pending.append((row, status, size[0], size[1], crc))
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

    def _sync_thread(self, fd: int, rows: list[tuple[int, int, int, int, int]]) -> None:
        try:
            self._sync_rows(fd, rows)
        except BaseException as exc:  # raised in the builder's thread by the next write/sync
            self._sync_error = exc
        finally:
            os.close(fd)

    def _sync_rows(self, fd: int, rows: list[tuple[int, int, int, int, int]]) -> None:
        """Make every pixel written so far durable, then record ``rows`` as done, durably."""
        os.fdatasync(fd)
        if rows:
            r = np.fromiter((x[0] for x in rows), dtype=np.int64, count=len(rows))
            status = np.fromiter((x[1] for x in rows), dtype=fmt.STATUS_DTYPE, count=len(rows))
            size = np.array([(x[2], x[3]) for x in rows], dtype=fmt.SOURCE_SIZE_DTYPE)
            crcs = np.fromiter((x[4] for x in rows), dtype=fmt.CHECKSUM_DTYPE, count=len(rows))
            bounds = [0, *(np.flatnonzero(np.diff(r) != 1) + 1).tolist(), len(r)]
            for a, b in itertools.pairwise(bounds):  # one write per run of consecutive rows
                # The status last: it is what marks a row done.
                if self.crc_offset is not None:
                    pwrite_all(fd, crcs[a:b], self.crc_offset + int(r[a]) * 4)
                pwrite_all(fd, size[a:b], self.size_offset + int(r[a]) * 8)
                pwrite_all(fd, status[a:b], self.status_offset + int(r[a]))
            os.fdatasync(fd)

    def sync(self) -> None:
        """Make written pixels durable, then record their rows as done (after a running background sync)."""
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
            finally:
                os.close(fd)
