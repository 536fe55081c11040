"""A JPEG store's tables checked against its byte block (:func:`check_tables`, once per open),
and one row's decode guarded (:func:`decoded`): a header that disagrees with the table, or bytes
no decoder reads, end in a named error instead of a decompression bomb or a crash.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from .. import format as fmt
from ..errors import REBUILD, BioscanH5Error, ImageUnavailableError, StoreFormatError

__all__ = ["check_tables", "decoded", "header_size"]


def _refuse(path: str, what: str, rows: np.ndarray) -> StoreFormatError:
    row = int(rows[0])
    return StoreFormatError(f"{path!r} is damaged: {what} (row {row}; {len(rows)} rows in all). {REBUILD}")


def check_tables(path: str, offsets, lengths, sizes, status, nbytes: int) -> None:
    """Raise :class:`StoreFormatError` where a JPEG store's tables cannot be trusted."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if not len(offsets):
        return
    bad = np.flatnonzero((offsets < 0) | (lengths < 0) | (offsets > nbytes) | (lengths > nbytes))
    if not len(bad):  # each term is at most nbytes now: the sum cannot overflow
        bad = np.flatnonzero(offsets + lengths > nbytes)
    if len(bad):
        raise _refuse(path, f"its JPEG tables point outside the {nbytes}-byte block '/{fmt.JPEG_BYTES}'", bad)
    ok = np.asarray(status) == fmt.ImageStatus.OK
    bad = np.flatnonzero(ok & (lengths == 0))
    if len(bad):
        raise _refuse(path, f"a row marked OK has no bytes in '/{fmt.JPEG_LENGTHS}'", bad)
    wh = np.asarray(sizes, dtype=np.int64).reshape(len(offsets), 2)
    w, h = wh[:, 0], wh[:, 1]
    bad = np.flatnonzero((lengths > 0) & ((w < 1) | (h < 1) | (w * h > fmt.MAX_SOURCE_PIXELS)))
    if len(bad):
        r = int(bad[0])
        raise _refuse(
            path,
            f"'/{fmt.JPEG_SIZES}' gives an image of {int(w[r])} x {int(h[r])} px (at least 1 x 1 and at most"
            f" {fmt.MAX_SOURCE_PIXELS} px are valid)",
            bad,
        )


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's frame header, or None (not a JPEG, or no frame header)."""
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 9 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


@contextlib.contextmanager
def decoded(path: str, row: int, data: bytes, size: tuple[int, int]) -> Iterator[None]:
    """Context of one row's decode: a header that disagrees with the table, or any decoder error,
    becomes :class:`ImageUnavailableError` naming the row."""
    declared = header_size(data)
    if declared is not None and declared != tuple(size):
        raise ImageUnavailableError(
            f"The image of row {row} of {path!r} declares {declared[0]} x {declared[1]} px but the store's"
            f" table says {size[0]} x {size[1]}: its bytes are damaged (or crafted), and it is not decoded."
            " `bioscan-h5 verify --full` lists every such row; rebuild the store with `bioscan-h5 build"
            " --overwrite`."
        )
    try:
        yield
    except BioscanH5Error:
        raise
    except Exception as exc:  # PIL's UnidentifiedImageError, DecompressionBombError, a truncated file...
        raise ImageUnavailableError(
            f"The image of row {row} of {path!r} could not be decoded ({type(exc).__name__}: {exc}): its"
            " bytes are damaged. `bioscan-h5 verify --full` lists every such row; rebuild the store with"
            " `bioscan-h5 build --overwrite`."
        ) from exc
