"""The tokenizers' numba kernels, their lookup tables and the numpy checks in front of them.

Each kernel is written once as plain Python (``tokenize_kernel.py_func``) and compiled by numba
on its first call; ``BIOSCAN_H5_DISABLE_JIT=1`` runs the Python twins (see :mod:`bioscan_h5._jit`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._jit import kernel

__all__ = [
    "COMPLEMENT",
    "COMPLEMENT_TABLE",
    "TokenizeArgs",
    "as_batch",
    "out_arrays",
    "revcomp_kernel",
    "str_codes",
    "tokenize_kernel",
]


@kernel
def tokenize_kernel(codes, lengths, args, tokens, mask):  # pragma: no cover - jitted
    """Tokenize every row of ``codes`` into ``tokens`` / ``mask`` (the rules: ``docs/tokenizers.md``).

    ``args`` is a :class:`TokenizeArgs`: ``digits`` maps a byte to its alphabet index (``-1``:
    not in the alphabet); ``pad_code`` is the padding letter's byte, ``pad_id`` the padding
    token (written for windows that hold padding only), ``prefix_id`` the prefix (``-1``: none).
    """
    digits, base, k, stride, max_len, left, pad_code, pad_id, unk_id, first_id, prefix_id = args
    n = lengths.shape[0]
    width = codes.shape[1]
    n_tok = tokens.shape[1]
    first = 1 if prefix_id >= 0 else 0
    n_win = n_tok - first
    pad_digit = -1
    if pad_code >= 0:
        pad_digit = digits[pad_code]
    # Byte -> token id for single letters (the k == 1 fast path).
    tok1 = np.empty(256, dtype=np.int64)
    for c in range(256):
        tok1[c] = unk_id if digits[c] < 0 else first_id + digits[c]
    # The token of a window made of padding only.
    if pad_id >= 0:
        pad_tok = pad_id
    elif pad_digit < 0:
        pad_tok = unk_id
    else:
        pad_tok = 0
        for _ in range(k):
            pad_tok = pad_tok * base + pad_digit
        pad_tok += first_id
    for i in range(n):
        ln = lengths[i]
        if ln < 0:
            ln = 0
        if ln > width:
            ln = width
        if ln > max_len:
            ln = max_len
        row = codes[i]
        out = tokens[i]
        mrow = mask[i]
        # Padded position p holds letter p - shift for shift <= p < end, padding elsewhere.
        shift = max_len - ln if left else 0
        end = shift + ln
        if first == 1:
            out[0] = prefix_id
            mrow[0] = 1
        # Windows, in order: [0, j_pl) padding only, [j_pl, j_lo) partly padding,
        # [j_lo, j_hi) wholly inside the sequence, [j_hi, j_pr) partly padding,
        # [j_pr, n_win) padding only.
        j_hi = (end - k) // stride + 1 if end >= k else 0
        if j_hi > n_win:
            j_hi = n_win
        j_lo = (shift + stride - 1) // stride
        if j_lo > j_hi:
            j_lo = j_hi
        j_pl = (shift - k) // stride + 1 if shift >= k else 0
        if j_pl > j_lo:
            j_pl = j_lo
        j_pr = (end + stride - 1) // stride
        if j_pr > n_win:
            j_pr = n_win
        if j_pr < j_hi:
            j_pr = j_hi
        out[first : first + j_pl] = pad_tok
        # The inner loops index slices from 0 so that numba can drop negative-index checks.
        seg = row[j_lo * stride - shift : (j_hi - 1) * stride + k - shift] if j_hi > j_lo else row[0:0]
        oseg = out[first + j_lo : first + j_hi]
        if k == 1 and stride == 1:
            for j in range(oseg.shape[0]):
                oseg[j] = tok1[seg[j]]
        elif stride == k:
            # Back-to-back windows: one pass over the letters (faster than a loop per window).
            idx = 0
            bad = 0
            t = 0
            o = 0
            for p in range(seg.shape[0]):
                d = digits[seg[p]]
                bad |= d
                idx = idx * base + d
                t += 1
                if t == k:
                    oseg[o] = unk_id if bad < 0 else first_id + idx
                    o += 1
                    t = 0
                    idx = 0
                    bad = 0
        else:
            for j in range(oseg.shape[0]):
                p0 = j * stride
                idx = 0
                bad = 0
                for t in range(k):
                    d = digits[seg[p0 + t]]
                    bad |= d
                    idx = idx * base + d
                oseg[j] = unk_id if bad < 0 else first_id + idx
        for part in range(2):
            a = j_pl if part == 0 else j_hi
            b = j_lo if part == 0 else j_pr
            for j in range(a, b):
                start = j * stride
                if pad_id >= 0 and (start >= end or start + k <= shift):
                    out[first + j] = pad_id
                    continue
                idx = 0
                bad = 0
                for t in range(k):
                    p = start + t
                    if p >= shift and p < end:
                        d = digits[row[p - shift]]
                    else:
                        d = pad_digit
                    bad |= d
                    idx = idx * base + d
                out[first + j] = unk_id if bad < 0 else first_id + idx
        out[first + j_pr : first + n_win] = pad_tok
        # Attention mask: 1 on n // stride windows, at the start (or the end when left-padded).
        n_on = ln // stride
        if n_on > n_win:
            n_on = n_win
        on_lo = n_win - n_on if left else 0
        on_hi = on_lo + n_on
        mrow[first : first + on_lo] = 0
        mrow[first + on_lo : first + on_hi] = 1
        mrow[first + on_hi : first + n_win] = 0


@kernel
def revcomp_kernel(codes, lengths, table, out):  # pragma: no cover - jitted
    """Reverse-complement the first ``lengths[i]`` letters of each row; keep the padding."""
    n = lengths.shape[0]
    width = codes.shape[1]
    for i in range(n):
        ln = min(max(lengths[i], 0), width)
        dst = out[i]
        if ln > 0:
            src = codes[i, ln - 1 :: -1]  # the letters, last first
            for j in range(ln):
                dst[j] = table[src[j]]
        dst[ln:] = codes[i, ln:]


#: Complement of each IUPAC nucleotide code (and the gap ``-``); ``U`` pairs with ``A``.
COMPLEMENT = dict(zip("ACGTURYKMSWBVDHN-", "TGCAAYRMKSWVBHDN-"))


def _complement_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    for a, b in COMPLEMENT.items():
        table[ord(a)] = ord(b)
        table[ord(a.lower())] = ord(b.lower())
    return table


#: Byte -> complemented byte (upper and lower case), for :func:`revcomp_kernel`.
COMPLEMENT_TABLE = _complement_table()


class TokenizeArgs(NamedTuple):
    """The ``args`` of :func:`tokenize_kernel`: its tables and ids (``-1``: none)."""

    digits: np.ndarray
    base: int
    k: int
    stride: int
    max_len: int
    left: bool
    pad_code: int
    pad_id: int
    unk_id: int
    first_id: int
    prefix_id: int


def as_batch(codes: np.ndarray, lengths: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Check and normalise ``(codes, lengths)`` to a 2-D uint8 block and int64 lengths, and whether
    ``codes`` was one row (shape ``(L,)``, an int length)."""
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise TypeError(f"codes must be a uint8 array of ASCII letters, got dtype {codes.dtype!r}")
    if codes.ndim == 1:
        if np.ndim(lengths) != 0:
            raise ValueError(
                f"one row of codes takes one int length, got lengths of shape {np.shape(lengths)!r}"
            )
        return np.ascontiguousarray(codes.reshape(1, -1)), np.array([int(lengths)], dtype=np.int64), True
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (N, L) or (L,), got shape {codes.shape!r}")
    lengths = np.asarray(lengths)
    if lengths.shape != (codes.shape[0],):
        raise ValueError(
            f"lengths must have shape ({codes.shape[0]},) to match codes of shape {codes.shape!r}, "
            f"got shape {lengths.shape!r}"
        )
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {lengths.dtype!r}")
    return np.ascontiguousarray(codes), np.ascontiguousarray(lengths, dtype=np.int64), False


def out_arrays(
    out: tuple[np.ndarray, np.ndarray] | None, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """New int32 tokens and uint8 mask arrays of ``shape``, or the caller's ``out``, checked to be
    writeable C-contiguous arrays of those dtypes and ``shape``."""
    if out is None:
        return np.empty(shape, dtype=np.int32), np.empty(shape, dtype=np.uint8)
    tokens, mask = out
    for arr, dtype, what in ((tokens, np.int32, "tokens"), (mask, np.uint8, "mask")):
        if (
            not isinstance(arr, np.ndarray)
            or arr.shape != shape
            or arr.dtype != dtype
            or not arr.flags.c_contiguous
            or not arr.flags.writeable
        ):
            raise ValueError(
                f"out {what} must be a writeable C-contiguous {np.dtype(dtype).name} array of shape "
                f"{shape!r}, got {getattr(arr, 'dtype', type(arr))!r} of shape {np.shape(arr)!r}"
            )
    return tokens, mask


def str_codes(seq: object) -> tuple[np.ndarray, int]:
    """A barcode string (or a missing value) as one row of codes and its length."""
    if not isinstance(seq, str):
        return np.zeros(1, dtype=np.uint8), -1
    raw = seq.encode("ascii", errors="replace")  # non-ASCII -> '?', an unknown letter
    if not raw:
        return np.zeros(1, dtype=np.uint8), 0
    return np.frombuffer(raw, dtype=np.uint8), len(raw)
