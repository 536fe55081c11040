"""Building a JPEG store: the row tables (stage 1), the spool writer (stage 2), the assembly, extension.

Stage 2 appends each row's bytes to a spool beside the partial file (cut back on resume to the
rows recorded as done); :func:`assemble` copies it into ``/jpeg/bytes``, one contiguous dataset
of exactly the bytes' size. Extending copies the block back into the spool.
"""

from __future__ import annotations

import logging
import os
import zlib

import h5py
import numpy as np

from .. import format as fmt
from .._files import copy_range, fsync_path, pwrite_all
from .._hdf5 import LIBVER, create_preallocated, open_readonly
from ..checksums import image_crc
from ..format import ImageStatus
from .preadv import runs
from .writer import RowWriter

__all__ = ["JpegWriter", "assemble", "copy_for_jpeg_extension", "create_jpeg_rows", "prepare_spool"]

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


def _durable_end(status: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> int:
    done = (status != ImageStatus.PENDING) & (lengths > 0)
    return int((offsets[done] + lengths[done]).max(initial=0))


class JpegWriter(RowWriter):
    """Appends rows' bytes (:func:`~bioscan_h5.images.ingest`'s) to the spool; their tables and statuses once durable."""

    def _open(self, f: h5py.File) -> None:
        self.table_offsets = {name: f[name].id.get_offset() for name in _TABLES}
        end = _durable_end(f[fmt.IMAGE_STATUS][()], f[fmt.JPEG_OFFSETS][()], f[fmt.JPEG_LENGTHS][()])
        self.spool = os.open(self.path + fmt.SPOOL_SUFFIX, os.O_RDWR | os.O_CREAT, 0o644)
        os.ftruncate(self.spool, end)  # bytes of rows never recorded as done are dropped
        self.end = end

    def write(self, row: int, status: int, image, size: tuple[int, int], crc: int | None = None) -> None:
        """Append the bytes of ``row`` (``image``: ``(bytes, mode, (w, h))``, None for a bad image).

        The row's checksum is its bytes', continued over its status and source size (``crc`` unused).
        """
        if image is None:
            data, mode, stored, at = b"", "", (0, 0), 0
        else:
            data, mode, stored = image
            at = self.end
            pwrite_all(self.spool, data, at)
            self.end += len(data)
        row_crc = image_crc(zlib.crc32(data), status, size) if self.crc_offset is not None else 0
        self.pending.append(
            (row, status, size[0], size[1], row_crc, at, len(data), *stored, mode.encode("ascii"))
        )
        self._after_write()

    def _made_durable(self, fd: int, rows: list) -> None:
        """The spool, then the rows' JPEG tables (the statuses follow)."""
        os.fdatasync(self.spool)
        if rows:
            r = np.array([x[0] for x in rows], dtype=np.int64)
            columns: dict[str, np.ndarray] = {
                fmt.JPEG_OFFSETS: np.array([x[5] for x in rows], dtype=fmt.JPEG_OFFSET_DTYPE),
                fmt.JPEG_LENGTHS: np.array([x[6] for x in rows], dtype=fmt.JPEG_OFFSET_DTYPE),
                fmt.JPEG_SIZES: np.array([(x[7], x[8]) for x in rows], dtype=fmt.SOURCE_SIZE_DTYPE),
                fmt.JPEG_MODES: np.array([x[9] for x in rows], dtype=fmt.JPEG_MODE_DTYPE),
            }
            for name, values in columns.items():
                step = values[:1].nbytes
                for a, b in runs(r):  # one write per run of consecutive rows
                    pwrite_all(fd, values[a:b], self.table_offsets[name] + int(r[a]) * step)
        os.fdatasync(fd)

    def _close_more(self) -> None:
        os.close(self.spool)


def prepare_spool(partial: str) -> None:
    """Before a JPEG build goes on: rows done whose bytes a lost or cut spool lacks become pending again."""
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
            group = f.require_group(os.path.dirname(fmt.JPEG_BYTES))
            create_preallocated(group, os.path.basename(fmt.JPEG_BYTES), (used,))
    with open_readonly(partial) as f:
        start = f[fmt.JPEG_BYTES].id.get_offset()
    if used:
        with open(partial + fmt.SPOOL_SUFFIX, "rb") as src, open(partial, "r+b") as dst:
            copy_range(src.fileno(), 0, dst.fileno(), int(start), used)
    fsync_path(partial)


def copy_for_jpeg_extension(store: str, partial: str) -> None:
    """Start extending a JPEG store: every dataset but the byte block to ``partial``, the block to the spool (never writing ``store``)."""
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
