"""Checking a store against its checksums (format 2): the rows a reader serves, or everything.

:class:`Checksums` reads ``/checksums`` (see :mod:`bioscan_h5.format`) and offers two checks:

- :meth:`Checksums.check_rows`: the rows about to be served (``verify_reads=True``): each
  row's CRC over its metadata (every per-row array) and, with images, over its pixels,
  status and source size, plus once per process the vocabularies and the small arrays.
  A mismatch raises :class:`~bioscan_h5.errors.ChecksumMismatchError` naming the row and,
  from the block checksums, the damaged array.
- :meth:`Checksums.scan`: everything (``bioscan-h5 verify --full``): every block of every
  array, every row, every vocabulary, every pixel row, with a progress bar; it names every
  damaged row and array instead of stopping at the first.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from .. import format as fmt
from ..crc import covered_datasets, crc_blocks, crc_rows, image_crc, row_bytes, strings_crc, zero_crc
from ..errors import ChecksumMismatchError, InvalidArgumentError, StoreFormatError
from ..format import ImageStatus
from .damage import damage_reported

__all__ = ["ChecksumAccess", "Checksums", "Damage"]

_REBUILD = "Rebuild it with `bioscan-h5 build --overwrite` (or copy it again)."
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
        self.rows.setdefault(int(row), [])
        self.rows[int(row)] += [a for a in arrays if a not in self.rows[int(row)]]

    def __bool__(self) -> bool:
        return bool(self.rows or self.arrays)


class Checksums:
    """The checksums of an open format-2 store.

    Parameters
    ----------
    store : Store

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
                f"{store.path!r} is damaged: its checksums are incomplete ({exc}). {_REBUILD}"
            ) from None
        record, self.blocks, small = covered_datasets(f, store.n_rows)
        if algorithm not in (fmt.CHECKSUM_ALGORITHM, fmt.CHECKSUM_ALGORITHM.encode()) or self.block_rows < 1:
            raise StoreFormatError(f"{store.path!r} is damaged: unknown checksum settings. {_REBUILD}")
        if record != self.record or sorted(small) != sorted(self.small):
            raise StoreFormatError(
                f"{store.path!r} is damaged: its checksums cover {sorted(self.record)!r} but the store holds the"
                f" per-row arrays {record!r}. {_REBUILD}"
            )
        #: The per-row arrays an image checksum covers (a JPEG store's row tables too).
        self.image_arrays = [n for n in (*fmt.IMAGE_ROW_ARRAYS, *fmt.JPEG_ROW_ARRAYS) if n in self.blocks]
        #: Whether the store has image checksums (a DNA-only dataset's store has none).
        self.has_images = fmt.CHECKSUM_IMAGES in f
        self.codec = store.codec  #: which bytes of a row its image checksum covers
        #: Arrays that are not per row (partitions, ...): checked whole, once per process.
        self.whole = [n for n in self.blocks if n not in self.record and n not in self.image_arrays]
        self._whole_checked = False

    # ------------------------------------------------------------ pieces
    def _stored(self, name: str) -> np.ndarray:
        return self.store.array(name)

    def row_crcs(self, rows: np.ndarray) -> np.ndarray:
        """The metadata CRC of ``rows`` computed from the store's arrays now."""
        crcs = np.zeros(len(rows), dtype=fmt.CHECKSUM_DTYPE)
        if len(rows) <= _FEW_ROWS:  # a sample or two: zlib on slices beats gathers and kernel calls
            views = self._views()
            for k, row in enumerate(rows.tolist()):
                crc = 0
                for view in views:
                    crc = zlib.crc32(view[row], crc)
                crcs[k] = crc
            return crcs
        for name in self.record:
            crc_rows(np.asarray(self.store.array(name)[rows]), crcs)
        return crcs

    def _views(self) -> list[np.ndarray]:
        """The covered per-row arrays as uint8 matrices, a row each (views of the memory maps)."""
        if self.__dict__.get("_row_views") is None:
            self._row_views = [row_bytes(self.store.array(name)) for name in self.record]
        return self._row_views

    def image_crcs(self, rows: np.ndarray, threads: int = 1, holes=None) -> np.ndarray:
        """The image checksum of ``rows`` (pixels, status, source size) computed now.

        A JPEG store's rows are checked over their stored bytes. ``holes(row)`` may say that a
        row's pixels lie in a hole of the file (all zeros, not read); ``threads`` > 1 checks
        memory-mapped rows (or JPEG rows, read with ``pread``) in parallel.
        """
        st = self.store
        status = np.asarray(st.array(fmt.IMAGE_STATUS)[rows])
        size = np.asarray(st.array(fmt.IMAGE_SOURCE_SIZE)[rows])
        encoded = self.codec.checksum_bytes(st)
        images = st.images if encoded is None else None
        zero = zero_crc(st.image_size**2 * 3)

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
        stored = self._stored(fmt.checksum_block_path(name))
        arr = self.store.array(name)
        length = arr.shape[0] if arr.ndim else 1
        step = self.block_rows
        blocks = range(len(stored)) if rows is None else sorted({int(r) // step for r in rows})
        if len(stored) != -(-length // step):
            return [(0, length)]
        out = []
        for b in blocks:
            a = b * step
            if int(crc_blocks(arr[a : a + step] if arr.ndim else arr, step)[0]) != int(stored[b]):
                out.append((a, min(a + step, length)))
        return out

    def small_damage(self) -> list[str]:
        """The vocabularies whose checksum fails."""
        f = self.store.file
        return [n for n, crc in sorted(self.small.items()) if strings_crc(f[n].asstr()[()]) != int(crc)]

    def _blame(self, names: list[str], row: int) -> list[str]:
        return [n for n in names if self.damaged_blocks(n, np.array([row]))]

    # ------------------------------------------------------------ the reader's check
    def check_rows(self, rows, images: bool) -> None:
        """Raise :class:`ChecksumMismatchError` for the first of ``rows`` that fails its checksums."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if not self._whole_checked:
            damaged = self.small_damage() + [n for n in self.whole if self.damaged_blocks(n)]
            if damaged:
                raise ChecksumMismatchError(
                    f"{self.store.path!r} is damaged: {', '.join(map(repr, damaged))} do(es) not match its"
                    f" checksum. {_REBUILD}",
                    arrays=damaged,
                )
            self._whole_checked = True
        if not len(rows):
            return
        bad = np.flatnonzero(self.row_crcs(rows) != self._stored(fmt.CHECKSUM_ROWS)[rows])
        if bad.size:
            row = int(rows[bad[0]])
            raise self._row_error(row, self._blame(self.record, row) or [fmt.CHECKSUM_ROWS], "its values")
        if images and self.has_images:
            bad = np.flatnonzero(self.image_crcs(rows) != self._stored(fmt.CHECKSUM_IMAGES)[rows])
            if bad.size:
                row = int(rows[bad[0]])
                raise self._row_error(row, self._image_blame(row), "its image")

    def _image_fallback(self) -> str:
        return self.codec.checksum_blame(fmt.CHECKSUM_IMAGES)

    def _image_blame(self, row: int) -> list[str]:
        return self._blame(self.image_arrays, row) or [self._image_fallback()]

    def _row_error(self, row: int, arrays: list[str], what: str) -> ChecksumMismatchError:
        st = self.store
        return ChecksumMismatchError(
            f"{st.path!r} is damaged: row {row} ({what}) does not match its checksum; damaged:"
            f" {', '.join(arrays)}. {_REBUILD} `bioscan-h5 verify --full {st.path}` lists every damaged row.",
            row=row,
            arrays=arrays,
        )

    def _blame_rows(self, damage: Damage, bad: np.ndarray, phase: str) -> None:
        names = self.record if phase == "rows" else self.image_arrays
        fallback = fmt.CHECKSUM_ROWS if phase == "rows" else self._image_fallback()
        for row in bad.tolist():
            blamed = [a for a in names if any(lo <= row < hi for lo, hi in damage.arrays.get(a, ()))]
            damage.add_row(row, blamed or [fallback])

    # ------------------------------------------------------------ the full scan
    def scan(self, progress: Callable[[int], None] | None = None, threads: int | None = None) -> Damage:
        """Check everything; ``progress(n)`` is called as rows are done (twice the row count in all)."""
        damage = Damage()
        for name in self.blocks:
            ranges = self.damaged_blocks(name)
            if ranges:
                damage.arrays[name] = ranges
        for name in self.small_damage():
            damage.arrays[name] = [(0, len(self.store.file[name]))]
        n = self.store.n_rows
        stored_rows = self._stored(fmt.CHECKSUM_ROWS)
        stored_images = self._stored(fmt.CHECKSUM_IMAGES) if self.has_images else None
        threads = threads or min(8, os.cpu_count() or 1)
        with _HoleFinder(self.store) as holes:
            for phase in ("rows", "images"):
                if phase == "images" and stored_images is None:
                    if progress is not None:
                        progress(n)  # nothing to check: the bar still ends at twice the rows
                    continue
                for start in range(0, n, _SCAN_ROWS):
                    rows = np.arange(start, min(start + _SCAN_ROWS, n))
                    if phase == "rows":
                        bad = rows[self.row_crcs(rows) != stored_rows[rows]]
                    else:
                        assert stored_images is not None  # the images phase runs only with them
                        bad = rows[self.image_crcs(rows, threads, holes) != stored_images[rows]]
                    self._blame_rows(damage, bad, phase)
                    if progress is not None:
                        progress(len(rows))
        return damage


class _HoleFinder:
    """``holes(row)``: whether a row's pixels lie wholly in a hole of a sparse file (never written).

    A full scan of a store whose other splits were never built then skips reading those
    rows (zeros, by definition). Its own descriptor asks ``SEEK_DATA``, so no shared file
    position moves; where that is not possible (compressed pixels, no ``SEEK_DATA``), every
    row is read.
    """

    def __init__(self, store) -> None:
        self.fd = -1
        self.offset = 0
        if store.has_images and isinstance(store.images, np.memmap) and hasattr(os, "SEEK_DATA"):
            self.offset = store.images.offset
            with contextlib.suppress(OSError):
                self.fd = os.open(f"/proc/self/fd/{store.file.id.get_vfd_handle()}", os.O_RDONLY)
        self.nbytes = store.image_size**2 * 3

    def __enter__(self):
        return self if self.fd >= 0 else None

    def __exit__(self, *exc) -> None:
        if self.fd >= 0:
            os.close(self.fd)

    def __call__(self, row: int) -> bool:
        start = self.offset + row * self.nbytes
        try:
            data = os.lseek(self.fd, start, os.SEEK_DATA)
        except OSError as exc:  # ENXIO: no data after start
            return exc.errno == errno.ENXIO
        return data >= start + self.nbytes


class ChecksumAccess:
    """The checksum side of :class:`~bioscan_h5.store.Store` (a mixin: it uses ``file``, ``path``, ``attrs``)."""

    # supplied by the Store (annotations only)
    file: h5py.File
    path: str
    attrs: dict[str, Any]
    close: Callable[[], None]

    @property
    def has_checksums(self) -> bool:
        """Whether the store keeps checksums of its contents (format 2)."""
        return fmt.CHECKSUM_ROWS in self.file

    def _require_checksums(self, what: str) -> None:
        if not self.has_checksums:
            self.close()
            raise InvalidArgumentError(
                f"{what} needs a store with checksums, but {self.path!r} (format version"
                f" {self.attrs[fmt.ATTR_VERSION]}) has none. Rebuild it with `bioscan-h5 build --overwrite`"
                " to add them."
            )

    @property
    def checksums(self) -> Checksums:
        """The store's :class:`Checksums` (read once per process)."""
        self.file  # noqa: B018 - drops the cache after a fork
        if "_checksums" not in self.__dict__:
            if not self.has_checksums:
                raise InvalidArgumentError(
                    f"{self.path!r} has no checksums (format version {self.attrs[fmt.ATTR_VERSION]})."
                    " Rebuild it with `bioscan-h5 build --overwrite` to add them."
                )
            with damage_reported(self.path, "its checksums"):
                self.__dict__["_checksums"] = Checksums(self)
        return self.__dict__["_checksums"]

    def verify_rows(self, rows, images: bool = True) -> None:
        """Check ``rows`` against their checksums (the datasets call this with ``verify_reads``).

        Parameters
        ----------
        rows : int or array_like of int
        images : bool
            Check the pixels, status and source size too.

        Raises
        ------
        ChecksumMismatchError
            Naming the first damaged row and, where the block checksums tell, the array.
        """
        with damage_reported(self.path, "the rows to verify"):
            self.checksums.check_rows(np.atleast_1d(np.asarray(rows, dtype=np.int64)), images)
