"""A store's barcodes: the fixed-width ``/dna/codes`` array and the whole-barcode tail beyond it.

:class:`BarcodeArrays` (a part of :class:`~bioscan_h5.store.Store`) reads them;
:func:`barcode_block` joins the two for some rows, cut to ``max_nucleotides``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import h5py
import numpy as np

from .. import format as fmt
from ..errors import REBUILD, StoreFormatError
from .damage import reads
from .ranges import check_lengths, check_offsets

__all__ = ["BarcodeArrays", "barcode_block", "block_width"]


class BarcodeArrays:
    """The barcode arrays of a :class:`~bioscan_h5.store.Store` (which supplies ``array``, ``file``, ``attrs``)."""

    # supplied by the Store (annotations only)
    array: Callable[[str], np.ndarray]
    file: h5py.File
    attrs: dict[str, Any]
    n_rows: int
    path: str

    @cached_property
    def dna_codes(self) -> np.ndarray:
        """``(N, W)`` uint8 ASCII barcode letters, 0-padded."""
        return self.array(fmt.DNA_CODES)

    @cached_property
    def dna_lengths(self) -> np.ndarray:
        """``(N,)`` stored barcode lengths, -1 where missing (each within the barcodes' width)."""
        lengths = self.array(fmt.DNA_LENGTHS)
        check_lengths(self.path, lengths, self.file[fmt.DNA_CODES].shape[1])
        return lengths

    @cached_property
    def dna_full_lengths(self) -> np.ndarray:
        return self.array(fmt.DNA_FULL_LENGTHS)

    @property
    def max_nucleotides(self) -> int | None:
        """The width of :attr:`dna_codes`, the ``max_nucleotides`` of the build (None: the longest barcode)."""
        v = int(self.attrs[fmt.ATTR_MAX_NUCLEOTIDES])
        return None if v < 0 else v

    @cached_property
    @reads("the whole-barcode block")
    def dna_tail(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(codes, offsets)`` of the letters beyond :attr:`dna_codes`, or None (see :mod:`bioscan_h5.format`)."""
        if fmt.DNA_TAIL_OFFSETS not in self.file:
            return None
        codes, offsets = self.array(fmt.DNA_TAIL_CODES), self.array(fmt.DNA_TAIL_OFFSETS)
        check_offsets(self.path, fmt.DNA_TAIL_OFFSETS, offsets, len(codes))
        return codes, offsets

    @property
    def full_barcodes(self) -> bool:
        """Whether the store holds every barcode whole (a whole-barcode block, or no truncation)."""
        return self.max_nucleotides is None or self.dna_tail is not None

    @cached_property
    @reads("the whole-barcode lengths")
    def longest_barcode(self) -> int:
        """The length of the longest barcode in the metadata file (0 if none).

        With a whole-barcode block it sets the width of every whole-barcode batch, so each
        row's ``/dna/full_lengths`` is checked against the letters the store holds for it.
        """
        full = np.asarray(self.dna_full_lengths, dtype=np.int64)
        tail = self.dna_tail
        if tail is not None and len(full):
            held = np.asarray(self.dna_lengths, dtype=np.int64) + np.diff(tail[1].astype(np.int64))
            bad = np.flatnonzero(full > np.maximum(held, 0))
            if len(bad):
                row = int(bad[0])
                raise StoreFormatError(
                    f"{self.path!r} is damaged: '/{fmt.DNA_FULL_LENGTHS}' says row {row}'s barcode has"
                    f" {int(full[row])} letters, but the store holds {max(int(held[row]), 0)} for it (and"
                    f" {len(bad)} rows are like it). {REBUILD}"
                )
        return int(np.max(full, initial=0))

    def barcode_codes(self, rows, max_nucleotides: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Barcodes of ``rows`` as a uint8 code block and int64 lengths, cut to ``max_nucleotides``.

        Whole barcodes (``None``) or a cut beyond :attr:`max_nucleotides` need a store that
        holds them (:attr:`full_barcodes`); otherwise barcodes are cut at the stored width.
        """
        return barcode_block(self, np.asarray(rows, dtype=np.int64), max_nucleotides)

    @reads("the barcodes")
    def barcodes(self, rows=None, max_nucleotides: int | None = None, *, whole: bool = False) -> list:
        """Barcodes as strings (``nan`` where missing), optionally truncated further.

        Parameters
        ----------
        rows : array_like of int, optional
            Default: every row.
        max_nucleotides : int, optional
            Cut each barcode to this many letters.
        whole : bool, default=False
            Read beyond :attr:`max_nucleotides` from the whole-barcode block (a store built
            with ``full_barcodes``, the default); by default barcodes are as wide as
            :attr:`dna_codes`.
        """
        from ..barcode_codes import decode_barcodes

        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows)
        if whole:
            return decode_barcodes(*self.barcode_codes(rows, max_nucleotides))
        lengths = np.array(self.dna_lengths[rows])
        if max_nucleotides is not None:
            lengths = np.where(lengths > max_nucleotides, max_nucleotides, lengths)
        return decode_barcodes(self.dna_codes[rows], lengths)


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
