"""CRC-32 checksums of store contents (format 2), shared by the builder and the readers.

The checksum is the CRC-32 of ``zlib.crc32`` (the same numbers), computed three ways:

- whole pixel rows (196 KB at 256 px) with ``zlib.crc32``, which runs at about 3 GB/s and
  releases the GIL, so several threads check rows at once;
- the short rows of every other per-row array with a numba kernel (slicing by 8 bytes,
  about 2 GB/s), one call per array for a whole batch of rows, each row's checksum
  continued over the next array's bytes; its Python twin is ``crc_rows_kernel.py_func``,
  and with JIT disabled :func:`crc_rows` uses ``zlib.crc32`` row by row;
- blocks of rows of an array, with ``zlib.crc32``.

The layout of the checksums in a store is in :mod:`bioscan_h5.format` (format version 2).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np

from . import format as fmt
from ._jit import JIT_DISABLED, kernel

__all__ = [
    "crc_blocks",
    "crc_rows",
    "crc_rows_kernel",
    "image_crc",
    "pending_image_crc",
    "pixels_crc",
    "row_bytes",
    "strings_crc",
    "zero_crc",
]


def _tables() -> np.ndarray:
    """The 8 lookup tables of slicing-by-8 CRC-32 (reflected polynomial 0xEDB88320)."""
    t = np.zeros((8, 256), dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (0xEDB88320 ^ (c >> 1)) if c & 1 else c >> 1
        t[0, i] = c
    for k in range(1, 8):
        t[k] = (t[k - 1] >> 8) ^ t[0, t[k - 1] & 0xFF]
    return t


_TABLES = _tables()


@kernel
def crc_rows_kernel(view, crcs, tab):  # pragma: no cover - jitted
    """``crcs[i] = zlib.crc32(view[i], crcs[i])`` for each row of the uint8 matrix ``view``."""
    n = view.shape[0]
    w = view.shape[1]
    mask = np.uint32(0xFFFFFFFF)
    for i in range(n):
        c = np.uint32(~np.uint32(crcs[i]) & mask)
        j = 0
        while j + 8 <= w:
            a = c ^ (
                np.uint32(view[i, j])
                | (np.uint32(view[i, j + 1]) << np.uint32(8))
                | (np.uint32(view[i, j + 2]) << np.uint32(16))
                | (np.uint32(view[i, j + 3]) << np.uint32(24))
            )
            c = (
                tab[7, a & np.uint32(0xFF)]
                ^ tab[6, (a >> np.uint32(8)) & np.uint32(0xFF)]
                ^ tab[5, (a >> np.uint32(16)) & np.uint32(0xFF)]
                ^ tab[4, a >> np.uint32(24)]
                ^ tab[3, view[i, j + 4]]
                ^ tab[2, view[i, j + 5]]
                ^ tab[1, view[i, j + 6]]
                ^ tab[0, view[i, j + 7]]
            )
            j += 8
        while j < w:
            c = tab[0, (c ^ np.uint32(view[i, j])) & np.uint32(0xFF)] ^ (c >> np.uint32(8))
            j += 1
        crcs[i] = np.uint32(~c & mask)


def row_bytes(arr) -> np.ndarray:
    """The rows of an array (any dtype, first axis = rows) as a C-contiguous uint8 matrix."""
    a = np.ascontiguousarray(np.asarray(arr))
    return a.view(np.uint8).reshape(a.shape[0], -1) if a.ndim else a.view(np.uint8).reshape(1, -1)


def crc_rows(rows: np.ndarray, crcs: np.ndarray) -> None:
    """Continue each row's CRC-32 over one array's bytes for those rows, in place.

    Parameters
    ----------
    rows : numpy.ndarray
        ``(n, ...)`` values of one array for ``n`` rows (converted by :func:`row_bytes`).
    crcs : numpy.ndarray of uint32, shape (n,)
        The running checksums (0 to start), updated as ``zlib.crc32(row, crc)`` does.
    """
    view = row_bytes(rows)
    if len(view) != len(crcs):
        raise ValueError(f"{len(view)} rows but {len(crcs)} checksums")
    if JIT_DISABLED:
        for i in range(len(view)):
            crcs[i] = zlib.crc32(view[i], int(crcs[i]))
        return
    crc_rows_kernel(view, crcs, _TABLES)


def crc_blocks(arr, block_rows: int = fmt.CHECKSUM_BLOCK_ROWS) -> np.ndarray:
    """The CRC-32 of each block of ``block_rows`` rows of an array (uint32, one per block)."""
    view = row_bytes(arr)
    starts = range(0, len(view), block_rows)
    return np.fromiter((zlib.crc32(view[s : s + block_rows].data) for s in starts), np.uint32, len(starts))


def pixels_crc(pixels: np.ndarray) -> int:
    """The CRC-32 of one row's pixels, as stored (C order)."""
    return zlib.crc32(np.ascontiguousarray(pixels).data)


def zero_crc(nbytes: int) -> int:
    """The CRC-32 of ``nbytes`` zero bytes (the pixels of a row never written)."""
    if nbytes not in _ZERO_CRCS:
        _ZERO_CRCS[nbytes] = zlib.crc32(bytes(nbytes))
    return _ZERO_CRCS[nbytes]


_ZERO_CRCS: dict[int, int] = {}


def image_crc(pixel_crc: int, status: int, size: Iterable[int]) -> int:
    """A row's image checksum: its pixels' CRC continued over its status byte and source size.

    Every row's pixels count, built or not: a row not built, or whose image was bad, holds
    zeros (:func:`zero_crc`), so a byte flipped anywhere in the pixel block is found.
    """
    tail = np.array([status], dtype=fmt.STATUS_DTYPE).tobytes()
    tail += np.asarray(tuple(size), dtype=fmt.SOURCE_SIZE_DTYPE).tobytes()
    return zlib.crc32(tail, int(pixel_crc))


def pending_image_crc(row_nbytes: int) -> int:
    """The image checksum of a row not built yet: zero pixels, status 0, source size 0 x 0."""
    return image_crc(zero_crc(row_nbytes), fmt.ImageStatus.PENDING, (0, 0))


def strings_crc(values: Iterable[str | bytes]) -> int:
    """The CRC-32 of a list of strings, each as its UTF-8 length (4 bytes) and bytes."""
    crc = 0
    for v in values:
        b = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        crc = zlib.crc32(len(b).to_bytes(4, "little") + b, crc)
    return crc


def covered_datasets(f, n_rows: int) -> tuple[list[str], list[str], list[str]]:
    """What the checksums of an open store file cover, by the one rule builder and readers share.

    Returns
    -------
    record : list of str
        The per-row arrays written in stage 1 (under ``dna/``, ``columns/``, ``tokens/``,
        first axis ``n_rows``, fixed-size values): chained into :data:`~bioscan_h5.format.CHECKSUM_ROWS`.
    blocks : list of str
        Every dataset of fixed-size values but the pixels (``/images``, a JPEG store's
        ``/jpeg/bytes``) and the checksums: block checksums.
    small : list of str
        The variable-length string arrays (vocabularies): one checksum each.
    """
    import h5py

    names: list[str] = []

    def collect(name: str, obj) -> None:
        pixels = name in (fmt.IMAGES, fmt.JPEG_BYTES)  # covered row by row by the image checksums
        if isinstance(obj, h5py.Dataset) and not pixels and not name.startswith(fmt.CHECKSUMS + "/"):
            names.append(name)

    f.visititems(collect)
    names.sort()
    small = [name for name in names if f[name].dtype.kind == "O"]
    blocks = [name for name in names if f[name].dtype.kind != "O"]
    prefixes = (fmt.DNA_CODES.split("/")[0] + "/", fmt.COLUMNS + "/", fmt.TOKENS + "/")
    record = [
        name for name in blocks if name.startswith(prefixes) and f[name].ndim and f[name].shape[0] == n_rows
    ]
    return record, blocks, small
