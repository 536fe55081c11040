"""DNA barcodes as fixed-width uint8 arrays: encoding, validation, decoding and de-duplication.

Barcodes are stored as their ASCII letters (``b"ACGT..."``) in an ``(N, W)`` uint8 array,
0-padded, with a length per row (``-1`` for a missing barcode). The kernels below work on
whole columns at once; each is plain Python compiled by numba (see :mod:`bioscan_h5._jit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from ._jit import kernel

__all__ = ["ALLOWED_LETTERS", "decode_barcode", "decode_barcodes", "encode_barcodes", "first_unique_rows"]

#: Letters a barcode may hold: the four bases, N, the other IUPAC codes and the gap '-'.
#: Lower-case forms of the same letters are accepted too and stored as they are.
ALLOWED_LETTERS = "ACGTNRYKMSWBDHVU-"


#: 1 at the byte value of each allowed letter (either case).
_ALLOWED = np.zeros(256, dtype=np.uint8)
_ALLOWED[list((ALLOWED_LETTERS + ALLOWED_LETTERS.lower()).encode("ascii"))] = 1


@kernel
def _encode_kernel(buf, offsets, lengths, width, allowed, codes, stored):  # pragma: no cover - jitted
    """Copy each barcode's letters into ``codes``; return the first bad (row, position) or (-1, -1).

    Lengths are clamped to the letters left in ``buf`` (the kernel never reads past it).
    """
    n = lengths.shape[0]
    for i in range(n):
        ln = lengths[i]
        if ln < 0:
            stored[i] = -1
            continue
        start = offsets[i]
        if start < 0 or start > buf.shape[0]:
            start = buf.shape[0]
        if ln > buf.shape[0] - start:
            ln = buf.shape[0] - start
        for j in range(ln):
            if allowed[buf[start + j]] == 0:
                return i, j
        m = ln if ln < width else width
        for j in range(m):
            codes[i, j] = buf[start + j]
        stored[i] = m
    return -1, -1


def encode_barcodes(
    values: Sequence[object], width: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, str] | None]:
    """Encode a column of barcodes into a fixed-width uint8 array.

    Parameters
    ----------
    values : sequence of str or None/NaN
        One barcode per row; anything that is not a ``str`` counts as missing.
    width : int or None
        Keep at most this many letters (``max_nucleotides``); ``None``: the longest barcode.

    Returns
    -------
    codes : numpy.ndarray of uint8, shape (N, W)
    lengths, full_lengths : numpy.ndarray of int32, shape (N,)
        Stored length and length in the source per row, ``-1`` for a missing barcode.
    bad : tuple (row, position, letter) or None
        The first letter outside :data:`ALLOWED_LETTERS`, or None when all are valid.
    """
    n = len(values)
    present = [isinstance(v, str) for v in values]
    strs = cast("list[str]", [v if ok else "" for v, ok in zip(values, present)])  # present: a str
    full = np.fromiter((len(s) for s in strs), dtype=np.int64, count=n)
    full[~np.asarray(present, dtype=bool)] = -1
    try:
        buf = np.frombuffer("".join(strs).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        i = next(i for i, s in enumerate(strs) if not s.isascii())
        j = next(j for j, ch in enumerate(strs[i]) if not ch.isascii())
        empty = np.zeros((n, 0), dtype=np.uint8)
        return empty, full.astype(np.int32), full.astype(np.int32), (i, j, strs[i][j])
    if buf.size == 0:
        buf = np.zeros(1, dtype=np.uint8)
    offsets = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(np.maximum(full[:-1], 0), out=offsets[1:])
    w = int(max(full.max(initial=0), 0)) if width is None else int(width)
    codes = np.zeros((n, w), dtype=np.uint8)
    stored = np.zeros(n, dtype=np.int32)
    row, pos = _encode_kernel(buf, offsets, full, w, _ALLOWED, codes, stored)
    bad = (int(row), int(pos), strs[row][pos]) if row >= 0 else None
    return codes, stored, full.astype(np.int32), bad


def decode_barcode(codes: np.ndarray, length: int) -> str | float:
    """One row of codes back to its string; ``nan`` for a missing barcode (as pandas)."""
    return float("nan") if length < 0 else codes[:length].tobytes().decode("ascii")


def decode_barcodes(codes: np.ndarray, lengths: np.ndarray) -> list[str | float]:
    """Rows of codes back to strings (``nan`` where missing)."""
    return [decode_barcode(codes[i], int(lengths[i])) for i in range(len(lengths))]


@kernel
def _strip_hash_kernel(codes, lengths, tail, offsets, limit, hashes, stripped):  # pragma: no cover - jitted
    """FNV-1a hash of each barcode truncated to ``limit`` with trailing N removed.

    Letter ``j`` of row ``i`` is ``codes[i, j]`` below the width of ``codes``, then
    ``tail[offsets[i] + j - width]`` (the whole-barcode block). Lengths and offsets are
    clamped to the arrays' bounds, so a damaged store never reads past a row or the block.
    """
    n = lengths.shape[0]
    width = codes.shape[1]
    for i in range(n):
        ln = lengths[i]
        if ln < 0:
            stripped[i] = -1
            hashes[i] = np.uint64(0)
            continue
        if ln > width:
            ln = width
        extra = offsets[i + 1] - offsets[i]
        if extra < 0 or offsets[i] < 0 or offsets[i] + extra > tail.shape[0]:
            extra = 0
        ln += extra
        if limit >= 0 and ln > limit:
            ln = limit
        while ln > 0:
            j = ln - 1
            c = codes[i, j] if j < width else tail[offsets[i] + j - width]
            if c != 78:  # 'N'
                break
            ln -= 1
        stripped[i] = ln
        h = np.uint64(14695981039346656037)
        for j in range(ln):
            c = codes[i, j] if j < width else tail[offsets[i] + j - width]
            h = (h ^ np.uint64(c)) * np.uint64(1099511628211)
        h = (h ^ np.uint64(ln)) * np.uint64(1099511628211)
        hashes[i] = h


def first_unique_rows(
    codes: np.ndarray,
    lengths: np.ndarray,
    max_nucleotides: int | None,
    seed: int = 0,
    tail: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Rows (int64, in row order) kept by ``bioscan-dataset``'s ``reduce_repeated_barcodes``.

    The peer shuffles the whole table with ``df.sample(frac=1, random_state=seed)``, drops
    repeated barcodes (truncated to ``max_nucleotides``, trailing N stripped; all missing
    barcodes count as one value) keeping the first in shuffled order, then restores file
    order. This computes the same set of rows without building strings.

    Parameters
    ----------
    codes, lengths : numpy.ndarray
        The store's ``/dna/codes`` and ``/dna/lengths`` (all rows).
    max_nucleotides : int or None
        Truncation before comparing.
    seed : int
        The ``random_state`` of the shuffle.
    tail : (numpy.ndarray, numpy.ndarray), optional
        A store's whole-barcode block ``(codes, offsets)``: the letters beyond the width of ``codes``.
    """
    n = len(lengths)
    lengths = np.ascontiguousarray(lengths, dtype=np.int32)
    hashes = np.zeros(n, dtype=np.uint64)
    stripped = np.zeros(n, dtype=np.int32)
    limit = -1 if max_nucleotides is None else int(max_nucleotides)
    if tail is None:
        letters, offsets = np.zeros(1, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64)
    else:
        letters, offsets = np.asarray(tail[0]), np.asarray(tail[1])
    _strip_hash_kernel(codes, lengths, letters, offsets, limit, hashes, stripped)
    # The position of each row in the peer's shuffled order (pandas' sample uses
    # RandomState.choice(n, n, replace=False), i.e. permutation(n)).
    perm = np.random.RandomState(seed).permutation(n)
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = np.arange(n)
    # Group rows by hash, earliest shuffled position first.
    order = np.lexsort((rank, hashes))
    h_sorted = hashes[order]
    starts = np.flatnonzero(np.r_[True, h_sorted[1:] != h_sorted[:-1]])
    keep = []
    for s, e in zip(starts, np.r_[starts[1:], n]):
        first = order[s]
        keep.append(first)
        if e - s == 1:
            continue
        # Confirm the group really holds one value (hash collisions are split exactly).
        seen = {_key(codes, letters, offsets, stripped, first)}
        for r in order[s + 1 : e]:
            k = _key(codes, letters, offsets, stripped, r)
            if k not in seen:
                seen.add(k)
                keep.append(r)
    return np.sort(np.asarray(keep, dtype=np.int64))


def _key(
    codes: np.ndarray, tail: np.ndarray, offsets: np.ndarray, stripped: np.ndarray, row: int
) -> bytes | None:
    ln = int(stripped[row])
    if ln < 0:
        return None
    width = codes.shape[1]
    start = int(offsets[row])
    return codes[row, : min(ln, width)].tobytes() + tail[start : start + max(ln - width, 0)].tobytes()
