"""The store format's whole-barcode block and DNA-only store names (optional for readers).

``/dna/codes`` keeps the first ``W`` letters of each barcode; a store built with
``full_barcodes`` also keeps the rest, end to end, in ``/dna/tail/codes`` (uint8, ``(T,)``)
with ``/dna/tail/offsets`` (int64, ``(N+1,)``): row i's letters are ``codes[offsets[i]:offsets[i+1]]``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DNA_TAIL_CODES",
    "DNA_TAIL_OFFSETS",
    "OFFSET_DTYPE",
    "dna_store_filename",
    "expected_tail_datasets",
]

#: A barcode's whole length is ``/dna/full_lengths``. A store built with
#: ``max_nucleotides=None`` has ``W`` = the longest barcode and needs no tail block.
DNA_TAIL_CODES = "dna/tail/codes"
DNA_TAIL_OFFSETS = "dna/tail/offsets"
OFFSET_DTYPE = np.dtype(np.int64)


def expected_tail_datasets(n_rows: int) -> dict[str, tuple]:
    """The whole-barcode block's datasets, as :func:`expected_datasets` lists them.

    Required of a store whose ``build_args`` say ``"full_barcodes": true`` with a
    ``max_nucleotides`` (a damaged link must not pass for a store without the block).
    """
    return {DNA_TAIL_CODES: ("u1", (None,)), DNA_TAIL_OFFSETS: ("i8", (n_rows + 1,))}


def dna_store_filename(dataset: str) -> str:
    """File name of the store of a DNA-only dataset (one per root: no image package or size)."""
    return f"{dataset}.h5"
