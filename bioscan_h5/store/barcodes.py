"""Barcodes of a store beyond its fixed-width array: the whole-barcode (tail) block.

``/dna/codes`` keeps the first ``W`` letters of each barcode; a store built with
``full_barcodes`` keeps the letters after them in ``/dna/tail/codes``, addressed by
``/dna/tail/offsets`` (see :mod:`bioscan_h5.format`). These functions put the two together for
some rows, cut to a ``max_nucleotides``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["barcode_block", "block_width"]


def block_width(st, max_nucleotides: int | None) -> int:
    """The width of the code blocks :func:`barcode_block` returns for a store and a truncation.

    The fixed width when it covers ``max_nucleotides`` (or the store has no letters beyond
    it); else ``max_nucleotides`` or the longest barcode of the whole store, whichever is
    smaller. It depends on the store only, so every batch of a dataset has the same shape.
    """
    width = int(st.dna_codes.shape[1])
    if max_nucleotides is not None and max_nucleotides <= width:
        return max_nucleotides
    if st.dna_tail is None:
        return width
    longest = max(st.longest_barcode, width)
    return longest if max_nucleotides is None else min(max_nucleotides, longest)


def barcode_block(st, rows: np.ndarray, max_nucleotides: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The barcodes of ``rows`` as codes and lengths, cut to ``max_nucleotides`` (None: whole).

    Returns
    -------
    codes : numpy.ndarray of uint8, shape (len(rows), block_width(st, max_nucleotides))
        ASCII letters, 0-padded.
    lengths : numpy.ndarray of int64, shape (len(rows),)
        -1 where the barcode is missing.
    """
    rows = np.asarray(rows, dtype=np.int64)
    width = block_width(st, max_nucleotides)
    fixed = int(st.dna_codes.shape[1])
    lengths = np.asarray(st.dna_lengths[rows]).astype(np.int64)
    if width <= fixed:
        codes = np.array(st.dna_codes[rows][:, :width])
        np.minimum(lengths, width, out=lengths)
        return codes, lengths
    codes = np.zeros((len(rows), width), dtype=np.uint8)
    codes[:, :fixed] = st.dna_codes[rows]
    tail, offsets = st.dna_tail
    start, end = offsets[rows], offsets[rows + 1]
    for i in np.flatnonzero(end > start):
        n = min(int(end[i] - start[i]), width - fixed)
        codes[i, fixed : fixed + n] = tail[start[i] : start[i] + n]
        lengths[i] += n
    return codes, lengths
