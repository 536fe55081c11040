"""Building a JPEG store (``build --pixels jpeg``): encoded bytes instead of decoded pixels.

The stages are those of a raw build (:mod:`.pipeline`), with these differences:

1. Stage 1 writes the per-row JPEG tables (offsets, lengths, sizes, modes; all zero) instead
   of allocating a pixel block (:func:`create_jpeg_rows`).
2. Stage 2's workers read each source file, check it with the raw builder's own decode (so
   bad files are flagged exactly as in a raw build) and hand back its bytes
   (:func:`bioscan_h5.images.ingest`, in the light worker processes of
   :func:`.pool.read_batches`): the file's own bytes, or with ``jpeg_quality`` the resized
   image encoded once. :class:`JpegWriter` appends them to a spool file beside the partial
   file and, as the pixel writer does, records rows as done only after their bytes are
   durable. On resume the spool is cut back to the bytes of the rows recorded as done
   (:func:`prepare_spool`).
3. Before the last stage, :func:`assemble` copies the spool into ``/jpeg/bytes``, one
   contiguous dataset of exactly the bytes' size.

Extending a JPEG store (:func:`copy_for_jpeg_extension`) copies every dataset but the byte
block into a new partial file and the block into the spool, so the new rows' bytes follow
the old ones and the extended store's block is again one dataset with nothing left over.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import time
import zlib

import h5py
import numpy as np

from .. import format as fmt
from .._files import fsync_path, pwrite_all
from .._hdf5 import LIBVER, open_readonly
from ..checksums import image_crc
from ..format import ImageStatus
from .pixels import PixelWriter

__all__ = [
    "JpegWriter",
    "assemble",
    "copy_for_jpeg_extension",
    "create_jpeg_rows",
    "prepare_spool",
]

log = logging.getLogger("bioscan_h5.build")

_TABLES = (fmt.JPEG_OFFSETS, fmt.JPEG_LENGTHS, fmt.JPEG_SIZES, fmt.JPEG_MODES)


def create_jpeg_rows(f: h5py.File, n_rows: int, jpeg_quality: int | None) -> None:
    """Stage 1 of a JPEG build: the root attributes and the per-row tables (contiguous, zeros)."""
    f.attrs[fmt.ATTR_PIXELS] = "jpeg"
    f.attrs[fmt.ATTR_JPEG_QUALITY] = int(jpeg_quality or 0)
    f.attrs[fmt.ATTR_PIXEL_OFFSET] = -1
    f.create_dataset(fmt.JPEG_OFFSETS, data=np.zeros(n_rows, dtype=fmt.JPEG_OFFSET_DTYPE))
    f.create_dataset(fmt.JPEG_LENGTHS, data=np.zeros(n_rows, dtype=fmt.JPEG_OFFSET_DTYPE))
    f.create_dataset(fmt.JPEG_SIZES, data=np.zeros((n_rows, 2), dtype=fmt.SOURCE_SIZE_DTYPE))
    f.create_dataset(fmt.JPEG_MODES, data=np.zeros(n_rows, dtype=fmt.JPEG_MODE_DTYPE))


def _offsets(f: h5py.File) -> dict[str, int]:
    return {name: f[name].id.get_offset() for name in (fmt.IMAGE_STATUS, *_TABLES)}


def _durable_end(status: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> int:
    done = (status != ImageStatus.PENDING) & (lengths > 0)
    return int((offsets[done] + lengths[done]).max(initial=0))


class JpegWriter(PixelWriter):
    """Appends rows' bytes to the spool; statuses (and the JPEG tables) only once the bytes are durable.

    :meth:`write` takes the ``(bytes, mode, (w, h))`` of :func:`~bioscan_h5.images.ingest` in place
    of pixels.
    """

    def __init__(self, path: str) -> None:  # not PixelWriter's: there is no pixel block
        with open_readonly(path) as f:
            at = _offsets(f)
            status = f[fmt.IMAGE_STATUS][()]
            end = _durable_end(status, f[fmt.JPEG_OFFSETS][()], f[fmt.JPEG_LENGTHS][()])
            self.size_offset = f[fmt.IMAGE_SOURCE_SIZE].id.get_offset()
            # Format 2: each row's image checksum (over its bytes) goes with its status.
            self.crc_offset = f[fmt.CHECKSUM_IMAGES].id.get_offset() if fmt.CHECKSUM_IMAGES in f else None
        self.path, self.pixel_offset, self.status_offset, self.table_offsets = (
            path,
            -1,
            at.pop(fmt.IMAGE_STATUS),
            at,
        )
        self.pending = []
        self.h5 = None
        self.spool = os.open(path + fmt.SPOOL_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(self.spool, end)  # bytes of rows never recorded as done are dropped
        self.end = end
        self.fd = os.open(path, os.O_RDWR)
        self.last_sync = time.monotonic()
        self._syncer = None
        self._sync_error = None

    def write(
        self, row: int, status: int, pixels, size: tuple[int, int], pixel_crc: int | None = None
    ) -> None:
        """Append the bytes of ``row`` (``pixels``: ``(bytes, mode, (w, h))``, None for a bad image).

        The row's image checksum (format 2) is that of its bytes (none for a bad image),
        continued over its status and source size; ``pixel_crc`` is not used.
        """
        if pixels is None:
            data, mode, stored, at = b"", "", (0, 0), 0
        else:
            data, mode, stored = pixels
            at = self.end
            pwrite_all(self.spool, data, at)
            self.end += len(data)
        crc = image_crc(zlib.crc32(data), status, size) if self.crc_offset is not None else 0
        self.pending.append(
            (row, status, size[0], size[1], crc, at, len(data), *stored, mode.encode("ascii"))
        )
        if time.monotonic() - self.last_sync > self.SYNC_EVERY_S:
            self._sync_in_background()

    def _sync_rows(self, fd: int, rows: list) -> None:
        """The spool, then the rows' JPEG tables, then (as the pixel writer) their statuses."""
        os.fdatasync(self.spool)
        if rows:
            r = np.array([x[0] for x in rows], dtype=np.int64)
            columns: dict[str, np.ndarray] = {
                fmt.JPEG_OFFSETS: np.array([x[5] for x in rows], dtype=fmt.JPEG_OFFSET_DTYPE),
                fmt.JPEG_LENGTHS: np.array([x[6] for x in rows], dtype=fmt.JPEG_OFFSET_DTYPE),
                fmt.JPEG_SIZES: np.array([(x[7], x[8]) for x in rows], dtype=fmt.SOURCE_SIZE_DTYPE),
                fmt.JPEG_MODES: np.array([x[9] for x in rows], dtype=fmt.JPEG_MODE_DTYPE),
            }
            bounds = [0, *(np.flatnonzero(np.diff(r) != 1) + 1).tolist(), len(r)]
            for name, values in columns.items():
                step = values[:1].nbytes
                for a, b in itertools.pairwise(bounds):  # one write per run of consecutive rows
                    pwrite_all(fd, values[a:b], self.table_offsets[name] + int(r[a]) * step)
        super()._sync_rows(fd, rows)

    def close(self) -> None:
        """Sync and close (the spool too); a second call does nothing."""
        if self.fd < 0:
            return
        try:
            super().close()
        finally:
            os.close(self.spool)


def prepare_spool(partial: str) -> None:
    """Before a JPEG build goes on: rows recorded as done whose bytes the spool lacks become pending.

    That happens only when the spool was lost or cut short (deleted by hand, a disk that lost
    writes): those rows are decoded again.
    """
    spool = partial + fmt.SPOOL_SUFFIX
    have = os.path.getsize(spool) if os.path.exists(spool) else 0
    with open_readonly(partial) as f:
        status = f[fmt.IMAGE_STATUS][()]
        ends = f[fmt.JPEG_OFFSETS][()] + f[fmt.JPEG_LENGTHS][()]
        lengths = f[fmt.JPEG_LENGTHS][()]
        status_offset = f[fmt.IMAGE_STATUS].id.get_offset()
    lost = np.flatnonzero((status != ImageStatus.PENDING) & (lengths > 0) & (ends > have))
    if not lost.size:
        return
    log.warning("%s: %d decoded rows have no bytes in %s; decoding them again", partial, lost.size, spool)
    fd = os.open(partial, os.O_RDWR)
    try:
        for row in lost.tolist():
            os.pwrite(fd, bytes([ImageStatus.PENDING]), status_offset + row)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def assemble(partial: str) -> None:
    """Copy the spool into ``/jpeg/bytes`` (made now, exactly the size of the recorded bytes).

    Safe to repeat: a block of the right size is reused, one of another size replaced.
    """
    with open_readonly(partial) as f:
        status = f[fmt.IMAGE_STATUS][()]
        used = _durable_end(status, f[fmt.JPEG_OFFSETS][()], f[fmt.JPEG_LENGTHS][()])
        ready = fmt.JPEG_BYTES in f and f[fmt.JPEG_BYTES].shape == (used,)
    if not ready:
        with h5py.File(partial, "r+", locking=False) as f:
            if fmt.JPEG_BYTES in f:
                del f[fmt.JPEG_BYTES]
            _create_contiguous(f, fmt.JPEG_BYTES, used)
    with open_readonly(partial) as f:
        start = f[fmt.JPEG_BYTES].id.get_offset()
    if used:
        with open(partial + fmt.SPOOL_SUFFIX, "rb") as src, open(partial, "r+b") as dst:
            copy_range(src.fileno(), 0, dst.fileno(), int(start), used)
    fsync_path(partial)


def _create_contiguous(f: h5py.File, name: str, n: int) -> None:
    """An uncompressed, contiguous uint8 dataset of ``n`` bytes, allocated now, never filled."""
    if n == 0:
        f.create_dataset(name, shape=(0,), dtype=np.uint8)
        return
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    group = f.require_group(os.path.dirname(name))
    space = h5py.h5s.create_simple((n,))
    h5py.h5d.create(group.id, os.path.basename(name).encode(), h5py.h5t.NATIVE_UINT8, space, dcpl=dcpl)


def copy_range(src: int, src_at: int, dst: int, dst_at: int, n: int) -> None:
    """Copy ``n`` bytes between two files (``copy_file_range``, else reads and writes)."""
    done = 0
    while done < n:
        step = min(n - done, 1 << 30)
        try:
            got = os.copy_file_range(src, dst, step, src_at + done, dst_at + done)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            data = os.pread(src, min(step, 1 << 24), src_at + done)
            got = os.pwrite(dst, data, dst_at + done) if data else 0
        if got <= 0:
            raise OSError(errno.EIO, f"copying bytes stopped at {done} of {n}")
        done += got


def copy_for_jpeg_extension(store: str, partial: str) -> None:
    """Start extending a JPEG store: every dataset but the byte block to ``partial``, the block to the spool.

    The store itself is never written (as :func:`~.resume.copy_for_extension`).
    """
    spool = partial + fmt.SPOOL_SUFFIX
    with open_readonly(store) as src, h5py.File(partial, "w", libver=LIBVER) as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            if name == os.path.dirname(fmt.JPEG_BYTES):
                group = dst.create_group(name)
                for sub in src[name]:
                    if f"{name}/{sub}" != fmt.JPEG_BYTES:
                        src.copy(src[f"{name}/{sub}"], group, sub)
            else:
                src.copy(src[name], dst, name)
        block = src[fmt.JPEG_BYTES]
        start, n = block.id.get_offset(), int(block.shape[0])
    with open(store, "rb") as fin, open(spool, "wb") as fout:
        if n:
            copy_range(fin.fileno(), int(start), fout.fileno(), 0, n)
        os.fsync(fout.fileno())
    fsync_path(partial)
