"""Reverse complement of barcodes, as strings or as stored codes (the usual DNA augmentation)."""

from __future__ import annotations

import numpy as np

from .kernels import COMPLEMENT, COMPLEMENT_TABLE, as_batch, revcomp_kernel

__all__ = ["reverse_complement", "reverse_complement_codes"]

_COMPLEMENT_STR = str.maketrans({**COMPLEMENT, **{a.lower(): b.lower() for a, b in COMPLEMENT.items()}})


def reverse_complement(seq: str) -> str:
    """Reverse complement of a barcode string (as long as ``seq``).

    Each IUPAC code is replaced by its complement (``A<->T``, ``C<->G``, ``R<->Y``,
    ``K<->M``, ``B<->V``, ``D<->H``; ``S``, ``W``, ``N`` and ``-`` are their own complement;
    ``U`` becomes ``A``), keeping lower case; any other character is kept as it is.

    Examples
    --------
    >>> reverse_complement("AACGTn")
    'nACGTT'
    """
    return seq.translate(_COMPLEMENT_STR)[::-1]


def reverse_complement_codes(codes: np.ndarray, lengths: np.ndarray | int) -> np.ndarray:
    """Reverse complement of stored barcode codes, a new array (one kernel call).

    The first ``lengths[i]`` letters of each row are reversed and complemented as in
    :func:`reverse_complement`; the padding after them is kept, so the result is laid out
    like the input (same shape, same lengths).

    Parameters
    ----------
    codes : numpy.ndarray of uint8, shape (N, W) or (W,)
        ASCII codes, as in a store's ``/dna/codes``.
    lengths : numpy.ndarray of int, shape (N,), or int
        Length of each row (``-1``: missing, left as it is). An int when ``codes`` is one row.
    """
    codes2, lengths2, one = as_batch(codes, lengths)
    out = np.empty_like(codes2)
    revcomp_kernel(codes2, lengths2, COMPLEMENT_TABLE, out)
    return out[0] if one else out
