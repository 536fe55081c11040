"""Checksums of a store (format 2, CRC-32 as ``zlib.crc32``): compute, cover, write, check.

The builder writes them; :class:`Checksums` checks them (``verify_reads``, ``verify --full``).
Top-level imports stay light (numpy, zlib): the decoding workers import :func:`pixels_crc`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import format as fmt
from ._jit import JIT_DISABLED, kernel
from .errors import REBUILD, ChecksumMismatchError, StoreFormatError, damage_reported
from .format import ImageStatus

if TYPE_CHECKING:
    import h5py

__all__ = [
    "ChecksumAccess",
    "Checksums",
    "Damage",
    "crc_rows_kernel",
    "has_checksums",
    "image_crc",
    "missing_checksums",
    "pixels_crc",
    "row_bytes",
    "update_image_blocks",
    "write_checksums",
]

# ================================================================ compute
# Pixel rows and blocks with zlib.crc32 (it releases the GIL); the short rows of the other
# per-row arrays with a slicing-by-8 numba kernel, one call per array for a batch of rows.


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


def _crc_rows(rows: np.ndarray, crcs: np.ndarray) -> None:
    """Continue each row's CRC-32 (``crcs``, uint32, 0 to start) over ``rows`` of one array, in place.

    Each ``crcs[i]`` becomes ``zlib.crc32(rows[i], crcs[i])`` (the row's bytes by :func:`row_bytes`).
    """
    view = row_bytes(rows)
    if len(view) != len(crcs):
        raise ValueError(f"{len(view)} rows but {len(crcs)} checksums")
    if JIT_DISABLED:
        for i in range(len(view)):
            crcs[i] = zlib.crc32(view[i], int(crcs[i]))
        return
    crc_rows_kernel(view, crcs, _TABLES)


def _crc_blocks(arr, block_rows: int = fmt.CHECKSUM_BLOCK_ROWS) -> np.ndarray:
    """The CRC-32 of each block of ``block_rows`` rows of an array (uint32, one per block)."""
    view = row_bytes(arr)
    starts = range(0, len(view), block_rows)
    return np.fromiter((zlib.crc32(view[s : s + block_rows].data) for s in starts), np.uint32, len(starts))


def pixels_crc(pixels: np.ndarray) -> int:
    """The CRC-32 of one row's pixels, as stored (C order)."""
    return zlib.crc32(np.ascontiguousarray(pixels).data)


@functools.cache
def _zero_crc(nbytes: int) -> int:
    """The CRC-32 of ``nbytes`` zero bytes (the pixels of a row never written)."""
    return zlib.crc32(bytes(nbytes))


def image_crc(pixel_crc: int, status: int, size: Iterable[int]) -> int:
    """A row's image checksum: its pixels' CRC continued over its status byte and source size.

    Rows not built, or with a bad image, count too (their zeros: :func:`_zero_crc`).
    """
    tail = np.array([status], dtype=fmt.STATUS_DTYPE).tobytes()
    tail += np.asarray(tuple(size), dtype=fmt.SOURCE_SIZE_DTYPE).tobytes()
    return zlib.crc32(tail, int(pixel_crc))


def _pending_image_crc(row_nbytes: int) -> int:
    """The image checksum of a row not built yet: zero pixels, status 0, source size 0 x 0."""
    return image_crc(_zero_crc(row_nbytes), fmt.ImageStatus.PENDING, (0, 0))


def _strings_crc(values: Iterable[str | bytes]) -> int:
    """The CRC-32 of a list of strings, each as its UTF-8 length (4 bytes) and bytes."""
    crc = 0
    for v in values:
        b = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        crc = zlib.crc32(len(b).to_bytes(4, "little") + b, crc)
    return crc


def _covered_datasets(f, n_rows: int) -> tuple[list[str], list[str], list[str]]:
    """What the checksums of an open store file cover, by the one rule builder and readers share.

    ``record``: the stage-1 per-row arrays (under ``dna/``, ``columns/``, ``tokens/``), chained
    into :data:`~bioscan_h5.format.CHECKSUM_ROWS`; ``blocks``: every fixed-size dataset but the
    pixels and the checksums (block checksums); ``small``: the vocabularies (one checksum each).
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


# ================================================================ write (the builder)


def missing_checksums(path: str) -> str:
    """The message for a store without its ``/checksums`` group: every format-2 store has one."""
    return (
        f"{path!r} has no '/{fmt.CHECKSUMS}' group: every store of format version {fmt.FORMAT_VERSION} is"
        f" written with one, so the file is damaged or was not written by bioscan-h5. {REBUILD}"
    )


def has_checksums(f: h5py.File) -> bool:
    """Whether the store keeps checksums (the builder then keeps them up to date)."""
    return fmt.CHECKSUM_ROWS in f


def write_checksums(f: h5py.File, n_rows: int, row_nbytes: int | None) -> None:
    """Write ``/checksums`` of a store whose stage-1 arrays are all written (same HDF5 session).

    The arrays are read back block by block, so what is checksummed is what was written.
    ``row_nbytes``: the bytes of one unwritten row's pixels (zeros); None: no image checksums.
    """
    record, blocks, small = _covered_datasets(f, n_rows)
    step = fmt.CHECKSUM_BLOCK_ROWS
    rows = np.zeros(n_rows, dtype=fmt.CHECKSUM_DTYPE)
    sums: dict[str, list[int]] = {name: [] for name in blocks}
    for name in blocks:
        dset = f[name]
        length = dset.shape[0] if dset.ndim else 1
        for start in range(0, length, step):
            part = dset[start : start + step] if dset.ndim else dset[()]
            sums[name].append(int(_crc_blocks(part, step)[0]))
            if name in record:
                _crc_rows(part, rows[start : start + step])
    group = f.require_group(fmt.CHECKSUMS)
    group.attrs[fmt.ATTR_CRC_ALGORITHM] = fmt.CHECKSUM_ALGORITHM
    group.attrs[fmt.ATTR_CRC_BLOCK_ROWS] = step
    group.attrs[fmt.ATTR_CRC_SMALL] = json.dumps(
        {name: _strings_crc(f[name].asstr()[()]) for name in small}, sort_keys=True
    )
    f.create_dataset(fmt.CHECKSUM_ROWS, data=rows)
    f[fmt.CHECKSUM_ROWS].attrs[fmt.ATTR_CRC_ARRAYS] = json.dumps(record)
    if row_nbytes is not None:
        images = np.full(n_rows, _pending_image_crc(row_nbytes), dtype=fmt.CHECKSUM_DTYPE)
        f.create_dataset(fmt.CHECKSUM_IMAGES, data=images)
    for name, values in sums.items():
        f.create_dataset(fmt.checksum_block_path(name), data=np.asarray(values, dtype=fmt.CHECKSUM_DTYPE))


def update_image_blocks(f: h5py.File, kind_arrays: Iterable[str]) -> None:
    """Rewrite the block CRCs of the arrays stage 2 changed (the store is open for writing).

    ``kind_arrays`` are the pixel kind's own per-row tables (``PixelCodec.image_arrays``).
    """
    if not has_checksums(f):
        return
    step = int(f[fmt.CHECKSUMS].attrs[fmt.ATTR_CRC_BLOCK_ROWS])
    for name in (*fmt.IMAGE_ROW_ARRAYS, *kind_arrays):
        if name in f:
            f[fmt.checksum_block_path(name)][...] = _crc_blocks(f[name][()], step)


# ================================================================ check (the readers, verify --full)

#: Up to this many rows, the metadata CRCs are computed row by row with zlib.
_FEW_ROWS = 4
#: Rows checked at a time by a full scan.
_SCAN_ROWS = 1 << 14


@dataclass
class Damage:
    """What a full scan found: damaged rows (with the arrays to blame) and damaged arrays."""

    rows: dict[int, list[str]] = field(default_factory=dict)
    arrays: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  #: name -> damaged row ranges

    def add_row(self, row: int, arrays: list[str]) -> None:
        blamed = self.rows.setdefault(int(row), [])
        blamed += [a for a in arrays if a not in blamed]

    def __bool__(self) -> bool:
        """Whether anything was found damaged."""
        return bool(self.rows or self.arrays)


class Checksums:
    """The checksums of an open format-2 ``store``.

    Raises
    ------
    StoreFormatError
        ``/checksums`` is incomplete, or does not cover the arrays the store holds.
    """

    def __init__(self, store) -> None:
        self.store = store
        f = store.file
        try:
            group = f[fmt.CHECKSUMS]
            self.block_rows = int(group.attrs[fmt.ATTR_CRC_BLOCK_ROWS])
            self.small = json.loads(group.attrs[fmt.ATTR_CRC_SMALL])
            self.record = json.loads(f[fmt.CHECKSUM_ROWS].attrs[fmt.ATTR_CRC_ARRAYS])
            algorithm = group.attrs[fmt.ATTR_CRC_ALGORITHM]
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreFormatError(
                f"{store.path!r} is damaged: its checksums are incomplete ({exc}). {REBUILD}"
            ) from None
        record, self.blocks, small = _covered_datasets(f, store.n_rows)
        if algorithm not in (fmt.CHECKSUM_ALGORITHM, fmt.CHECKSUM_ALGORITHM.encode()) or self.block_rows < 1:
            raise StoreFormatError(f"{store.path!r} is damaged: unknown checksum settings. {REBUILD}")
        if record != self.record or sorted(small) != sorted(self.small):
            raise StoreFormatError(
                f"{store.path!r} is damaged: its checksums cover {sorted(self.record)!r} but the store holds the"
                f" per-row arrays {record!r}. {REBUILD}"
            )
        self.codec = store.codec  #: which bytes of a row its image checksum covers
        #: The per-row arrays an image checksum covers (the pixel kind's own tables too).
        self.image_arrays = [n for n in (*fmt.IMAGE_ROW_ARRAYS, *self.codec.image_arrays) if n in self.blocks]
        #: Whether the store has image checksums (a DNA-only dataset's store has none).
        self.has_images = fmt.CHECKSUM_IMAGES in f
        #: Arrays that are not per row (partitions, ...): checked whole, once per process.
        self.whole = [n for n in self.blocks if n not in self.record and n not in self.image_arrays]
        self._whole_checked = False

    # ------------------------------------------------------------ pieces
    def row_crcs(self, rows: np.ndarray) -> np.ndarray:
        """The metadata CRC of ``rows`` computed from the store's arrays now."""
        crcs = np.zeros(len(rows), dtype=fmt.CHECKSUM_DTYPE)
        if len(rows) <= _FEW_ROWS:  # a sample or two: zlib on slices beats gathers and kernel calls
            for k, row in enumerate(rows.tolist()):
                crc = 0
                for view in self._row_views:
                    crc = zlib.crc32(view[row], crc)
                crcs[k] = crc
            return crcs
        for name in self.record:
            _crc_rows(np.asarray(self.store.array(name)[rows]), crcs)
        return crcs

    @functools.cached_property
    def _row_views(self) -> list[np.ndarray]:
        """The covered per-row arrays as uint8 matrices, a row each (views of the memory maps)."""
        return [row_bytes(self.store.array(name)) for name in self.record]

    def image_crcs(self, rows: np.ndarray, threads: int = 1, holes=None) -> np.ndarray:
        """The image checksum of ``rows`` (pixels, status, source size) computed now.

        ``holes(row)`` may say that a row's pixels lie in a hole of the file (zeros, not read);
        ``threads`` > 1 checks memory-mapped or encoded rows in parallel.
        """
        st = self.store
        status = np.asarray(st.array(fmt.IMAGE_STATUS)[rows])
        size = np.asarray(st.array(fmt.IMAGE_SOURCE_SIZE)[rows])
        encoded = self.codec.checksum_bytes(st)
        images = st.images if encoded is None else None
        zero = _zero_crc(st.image_size**2 * 3)

        def one(k: int) -> int:
            row = int(rows[k])
            if encoded is not None:
                return image_crc(zlib.crc32(encoded(row)), int(status[k]), size[k])
            if holes is not None and status[k] == ImageStatus.PENDING and holes(row):
                return image_crc(zero, int(status[k]), size[k])
            assert images is not None  # a raw store's rows
            return image_crc(zlib.crc32(np.ascontiguousarray(images[row]).data), int(status[k]), size[k])

        if threads > 1 and (encoded is not None or isinstance(images, np.ndarray)):  # zlib releases the GIL
            with ThreadPoolExecutor(threads) as pool:
                return np.fromiter(pool.map(one, range(len(rows))), fmt.CHECKSUM_DTYPE, len(rows))
        return np.fromiter(map(one, range(len(rows))), fmt.CHECKSUM_DTYPE, len(rows))

    def damaged_blocks(self, name: str, rows: np.ndarray | None = None) -> list[tuple[int, int]]:
        """The row ranges of ``name`` whose block checksum fails (only the blocks of ``rows``)."""
        stored = self.store.array(fmt.checksum_block_path(name))
        arr = self.store.array(name)
        length = arr.shape[0] if arr.ndim else 1
        step = self.block_rows
        blocks = range(len(stored)) if rows is None else sorted({int(r) // step for r in rows})
        if len(stored) != -(-length // step):
            return [(0, length)]
        out = []
        for b in blocks:
            a = b * step
            if int(_crc_blocks(arr[a : a + step] if arr.ndim else arr, step)[0]) != int(stored[b]):
                out.append((a, min(a + step, length)))
        return out

    def small_damage(self) -> list[str]:
        """The vocabularies whose checksum fails."""
        f = self.store.file
        return [n for n, crc in sorted(self.small.items()) if _strings_crc(f[n].asstr()[()]) != int(crc)]

    # ------------------------------------------------------------ the reader's check
    def check_rows(self, rows, images: bool) -> None:
        """Raise :class:`ChecksumMismatchError` for the first of ``rows`` that fails its checksums."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not self._whole_checked:
            damaged = self.small_damage() + [n for n in self.whole if self.damaged_blocks(n)]
            if damaged:
                raise ChecksumMismatchError(
                    f"{self.store.path!r} is damaged: {', '.join(map(repr, damaged))} do(es) not match its"
                    f" checksum. {REBUILD}",
                    arrays=damaged,
                )
            self._whole_checked = True
        if not len(rows):
            return
        bad = np.flatnonzero(self.row_crcs(rows) != self.store.array(fmt.CHECKSUM_ROWS)[rows])
        if bad.size:
            row = int(rows[bad[0]])
            raise self._row_error(row, self.record, fmt.CHECKSUM_ROWS, "its values")
        if images and self.has_images:
            bad = np.flatnonzero(self.image_crcs(rows) != self.store.array(fmt.CHECKSUM_IMAGES)[rows])
            if bad.size:
                row = int(rows[bad[0]])
                raise self._row_error(
                    row, self.image_arrays, self.codec.checksum_blame(fmt.CHECKSUM_IMAGES), "its image"
                )

    def _row_error(self, row: int, names: list[str], fallback: str, what: str) -> ChecksumMismatchError:
        """The error for ``row``, naming those of ``names`` whose block checksum fails (else ``fallback``)."""
        st = self.store
        arrays = [n for n in names if self.damaged_blocks(n, np.array([row]))] or [fallback]
        return ChecksumMismatchError(
            f"{st.path!r} is damaged: row {row} ({what}) does not match its checksum; damaged:"
            f" {', '.join(arrays)}. {REBUILD} `bioscan-h5 verify --full {st.path}` lists every damaged row.",
            row=row,
            arrays=arrays,
        )

    def _blame_rows(self, damage: Damage, bad: np.ndarray, images: bool) -> None:
        names = self.image_arrays if images else self.record
        fallback = self.codec.checksum_blame(fmt.CHECKSUM_IMAGES) if images else fmt.CHECKSUM_ROWS
        for row in bad.tolist():
            blamed = [a for a in names if any(lo <= row < hi for lo, hi in damage.arrays.get(a, ()))]
            damage.add_row(row, blamed or [fallback])

    # ------------------------------------------------------------ the full scan
    def scan(self, progress: Callable[[int], None] | None = None, threads: int | None = None) -> Damage:
        """Check everything; ``progress(n)`` is called as rows are done (twice the row count in all)."""
        damage = Damage()
        for name in self.blocks:
            if ranges := self.damaged_blocks(name):
                damage.arrays[name] = ranges
        for name in self.small_damage():
            damage.arrays[name] = [(0, len(self.store.file[name]))]
        n = self.store.n_rows
        threads = threads or min(8, os.cpu_count() or 1)
        with _hole_finder(self.store) as holes:
            for images in (False, True):
                if images and not self.has_images:
                    if progress is not None:
                        progress(n)  # nothing to check: the bar still ends at twice the rows
                    continue
                stored = self.store.array(fmt.CHECKSUM_IMAGES if images else fmt.CHECKSUM_ROWS)
                for start in range(0, n, _SCAN_ROWS):
                    rows = np.arange(start, min(start + _SCAN_ROWS, n))
                    crcs = self.image_crcs(rows, threads, holes) if images else self.row_crcs(rows)
                    self._blame_rows(damage, rows[crcs != stored[rows]], images)
                    if progress is not None:
                        progress(len(rows))
        return damage


@contextlib.contextmanager
def _hole_finder(store) -> Iterator[Callable[[int], bool] | None]:
    """``holes(row)``: whether a row's pixels lie wholly in a hole of a sparse file (never written),
    asked with ``SEEK_DATA`` on its own descriptor; None (every row is read) where that cannot be."""
    fd = -1
    if store.has_images and isinstance(store.images, np.memmap) and hasattr(os, "SEEK_DATA"):
        with contextlib.suppress(OSError):
            fd = os.open(f"/proc/self/fd/{store.file.id.get_vfd_handle()}", os.O_RDONLY)
    if fd < 0:
        yield None
        return
    offset, nbytes = store.images.offset, store.image_size**2 * 3

    def holes(row: int) -> bool:
        start = offset + row * nbytes
        try:
            data = os.lseek(fd, start, os.SEEK_DATA)
        except OSError as exc:  # ENXIO: no data after start
            return exc.errno == errno.ENXIO
        return data >= start + nbytes

    try:
        yield holes
    finally:
        os.close(fd)


class ChecksumAccess:
    """The checksum side of :class:`~bioscan_h5.store.Store` (a mixin: it uses ``file``, ``path``)."""

    file: h5py.File
    path: str
    close: Callable[[], None]

    @property
    def has_checksums(self) -> bool:
        """Whether the store keeps checksums of its contents (format 2)."""
        return has_checksums(self.file)

    def _require_checksums(self, what: str) -> None:
        if not self.has_checksums:
            self.close()
            raise StoreFormatError(f"{what}: {missing_checksums(self.path)}")

    @property
    def checksums(self) -> Checksums:
        """The store's :class:`Checksums` (read once per process)."""
        self.file  # noqa: B018 - drops the cache after a fork
        if "_checksums" not in self.__dict__:
            if not self.has_checksums:
                raise StoreFormatError(missing_checksums(self.path))
            with damage_reported(self.path, "its checksums"):
                self.__dict__["_checksums"] = Checksums(self)
        return self.__dict__["_checksums"]

    def verify_rows(self, rows, images: bool = True) -> None:
        """Check ``rows`` (int or array_like) against their checksums; ``images``: the images' too.

        Raises
        ------
        ChecksumMismatchError
            Naming the first damaged row and, where the block checksums tell, the array.
        """
        with damage_reported(self.path, "the rows to verify"):
            self.checksums.check_rows(np.atleast_1d(np.asarray(rows, dtype=np.int64)), images)
