"""The images of a JPEG store (``build --pixels jpeg``): encoded bytes, decoded when read.

:class:`JpegBlock` is to a JPEG store what :class:`~.rows.RowReader` is to a raw one: it
reads the images of rows into ``(S, S, 3)`` uint8 buffers the caller owns (``read_one``,
``read``), with the raw builder's own decode, draft rule, conversion to RGB, resize and
crop or pad (:func:`bioscan_h5.images.fit_decoded`), so the pixels equal those of a raw store
built with the same arguments. :meth:`JpegBlock.pil` returns the stored image itself, decoded
by Pillow: for a store of the source bytes, the image ``bioscan-dataset`` returns.

The bytes are read with ``os.pread`` from a descriptor of the file HDF5 has open, advised
``POSIX_FADV_RANDOM`` (no readahead past an image), one per process. Pillow releases the
GIL while it decodes and resizes, so threads that call :meth:`~JpegBlock.read` at once decode
in parallel. :class:`JpegImages` serves :attr:`Store.images <bioscan_h5.store.Store.images>`
for notebooks.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from .. import format as fmt
from .._forksafe import fork_lock
from ..errors import StoreFormatError
from .descriptors import Descriptor, own_descriptor
from .jpeg_checks import check_tables, decoded

if TYPE_CHECKING:
    from .decode import RowDecoder

__all__ = ["JpegBlock", "JpegImages"]

_open_lock = fork_lock()  # one descriptor per process, however many threads read at once


class JpegBlock:
    """The encoded images of a JPEG store, read and decoded per row.

    Parameters
    ----------
    store : Store
        An open JPEG store. Its tables are checked against the byte block here, once.

    Attributes
    ----------
    offsets, lengths : numpy.ndarray
        ``(N,)`` int64: row ``i``'s bytes are ``lengths[i]`` bytes at ``offsets[i]`` of the block.
    sizes : numpy.ndarray
        ``(N, 2)`` int32 (width, height) of each stored image.
    modes : numpy.ndarray
        ``(N,)`` ``S8`` Pillow modes (``b"RGB"``, ``b"L"``, ``b"CMYK"``, ...).
    quality : int
        0 when the bytes are the source files', else the quality they were encoded at.
    row_shape : tuple of int
        ``(S, S, 3)``, what :meth:`read_one` writes.

    Raises
    ------
    StoreFormatError
        A raw store, or a row's bytes lie outside the block (a damaged file).
    """

    positional = True

    def __init__(self, store) -> None:
        self._decoder: RowDecoder | None = None
        self._fd: Descriptor | None = None
        if fmt.pixel_kind(store.attrs) != "jpeg":
            raise StoreFormatError(
                f"{store.path!r} is a raw store (decoded pixels): it has no JPEG bytes. Use Store.images, or"
                " build a JPEG store with `bioscan-h5 build --pixels jpeg`."
            )
        self.store = store
        self.n_rows = store.n_rows
        s = store.image_size
        self.row_shape = (s, s, 3)
        self.row_bytes = s * s * 3
        a = store.attrs
        self.fit, self.draft = str(a[fmt.ATTR_FIT]), bool(a.get(fmt.ATTR_DRAFT, True))
        self.quality = int(a.get(fmt.ATTR_JPEG_QUALITY, 0))
        self.offsets = np.asarray(store.array(fmt.JPEG_OFFSETS))
        self.lengths = np.asarray(store.array(fmt.JPEG_LENGTHS))
        self.sizes = store.array(fmt.JPEG_SIZES)
        self.modes = store.array(fmt.JPEG_MODES)
        block = store.file[fmt.JPEG_BYTES]
        self.nbytes = int(block.shape[0])
        start = block.id.get_offset() if self.nbytes else 0
        if start is None:  # chunked (or not allocated): no one place in the file to read rows from
            raise StoreFormatError(
                f"{store.path!r} is damaged: '/{fmt.JPEG_BYTES}' is not stored as one contiguous block, as"
                " `bioscan-h5 build --pixels jpeg` writes it. Rebuild it with `bioscan-h5 build --overwrite`."
            )
        self.start = start
        check_tables(store.path, self.offsets, self.lengths, self.sizes, store.image_status, self.nbytes)

    def __reduce__(self):
        return (JpegBlock, (self.store,))

    def __repr__(self) -> str:
        what = f"re-encoded at quality {self.quality}" if self.quality else "source bytes"
        return f"<JpegBlock {os.path.basename(self.store.path)!r}: {self.n_rows} rows, {self.nbytes} bytes, {what}>"

    # ------------------------------------------------------------ bytes
    def _descriptor(self) -> int:
        """This process's descriptor of the open store (made after a fork or unpickling)."""
        fd = self._fd
        if fd is None or fd.pid != os.getpid():
            with _open_lock:
                fd = self._fd
                if fd is None or fd.pid != os.getpid():
                    if fd is not None:
                        fd.drop_inherited()
                    fd = self._fd = own_descriptor(self.store.file.id.get_vfd_handle())
        return fd.fd

    def encoded(self, row: int) -> bytes:
        """The stored bytes of ``row`` (``b""`` where the row has no image)."""
        if not 0 <= row < self.n_rows:
            raise IndexError(f"row {row!r} is out of range for a store of {self.n_rows} rows")
        return self._bytes(row, int(self.offsets[row]), int(self.lengths[row]))

    def _bytes(self, row: int, offset: int, n: int) -> bytes:
        if not n:
            return b""
        at = self.start + offset
        data = os.pread(self._descriptor(), n, at)
        while len(data) < n:  # a short read: go on where it stopped
            more = os.pread(self._descriptor(), n - len(data), at + len(data))
            if not more:
                raise StoreFormatError(f"{self.store.path!r} ended while reading the bytes of row {row}.")
            data += more
        return data

    # ------------------------------------------------------------ decoded
    def pil(self, row: int):
        """The stored image of ``row``, decoded by Pillow (mode and size as stored)."""
        from ..images import open_encoded

        img = open_encoded(self.encoded(row))
        img.load()
        return img

    @property
    def decoder(self):
        """The :class:`~.decode.RowDecoder` of :meth:`read_one` (made on first use)."""
        if self._decoder is None:
            from .decode import RowDecoder

            self._decoder = RowDecoder(self.row_shape[0], self.fit, self.draft)
        return self._decoder

    def read_one(self, row: int, out: np.ndarray) -> np.ndarray:
        """Decode ``row`` into ``out`` (``(S, S, 3)`` uint8) as a raw store holds it; zeros without an image."""
        data = self.encoded(row)
        if not data:
            out[...] = 0
            return out
        w, h = self.sizes[row].tolist()
        with decoded(self.store.path, row, data, (w, h)):
            return self.decoder.into(data, bytes(self.modes[row]), (w, h), out)

    def read(self, rows, out: np.ndarray, nogil: bool = False) -> np.ndarray:
        """Decode the images of ``rows`` into ``out[i]`` for ``rows[i]`` (as :meth:`RowReader.read`).

        ``nogil`` is accepted for :meth:`RowReader.read`'s sake: the decoders release the GIL anyway.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if out.shape != (len(rows), *self.row_shape) or out.dtype != np.uint8:
            raise ValueError(
                f"out must be a uint8 array of shape {(len(rows), *self.row_shape)}, got {out.dtype} {out.shape}"
            )
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"rows out of range for a store of {self.n_rows} rows")
        offsets, lengths, sizes = self.offsets[rows], self.lengths[rows], self.sizes[rows]
        modes = self.modes[rows].tolist()
        dec = self.decoder
        crops = dec.crops(sizes, modes)
        if crops is None:
            crops = np.full((len(rows), 2), -1)
        row_of, offset_of, length_of = rows.tolist(), offsets.tolist(), lengths.tolist()
        size_of, crop_of = sizes.tolist(), crops.tolist()
        contiguous = out.flags.c_contiguous
        for k in np.argsort(offsets, kind="stable").tolist():  # in file order
            data = self._bytes(row_of[k], offset_of[k], length_of[k])
            (w, h), (top, left) = size_of[k], crop_of[k]
            if not data:
                out[k] = 0
                continue
            with decoded(self.store.path, row_of[k], data, (w, h)):
                if top < 0 or not contiguous or not dec.crop_into(data, w, h, top, left, out[k]):
                    dec.into(data, modes[k], (w, h), out[k])
        return out

    def close(self) -> None:
        """Close this process's descriptor (a later read reopens it; garbage collection closes it too)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fd.close()


class JpegImages:
    """``Store.images`` of a JPEG store: ``(N, S, S, 3)`` uint8, decoded on indexing.

    ``images[i]``, ``images[a:b]`` and ``images[array_of_rows]`` return numpy arrays equal to a
    raw store's (zeros where a row has no image).
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, block: JpegBlock) -> None:
        self.block = block
        self.shape = (block.n_rows, *block.row_shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            row = int(key) + (self.shape[0] if key < 0 else 0)
            return self.block.read_one(row, np.empty(self.block.row_shape, dtype=np.uint8))
        rows = np.arange(self.shape[0])[key]
        return self.block.read(rows, np.empty((len(rows), *self.block.row_shape), dtype=np.uint8))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every row decoded (``np.asarray(store.images)``): ``N x S x S x 3`` bytes of memory."""
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"<JpegImages {self.shape} uint8, decoded from {self.block.nbytes} bytes>"
