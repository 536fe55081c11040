"""The store format: whole barcodes and DNA-only datasets (optional for readers), part of :mod:`bioscan_h5.format`."""

from __future__ import annotations

import numpy as np

from .layout import _C, _F, _S, SCHEMAS, ColumnSpec, DatasetSchema

__all__ = [
    "CANADIAN_INVERTEBRATES",
    "CANADIAN_INVERTEBRATES_RANKS",
    "CANADIAN_INVERTEBRATES_SPLITS",
    "DNA_TAIL_CODES",
    "DNA_TAIL_OFFSETS",
    "OFFSET_DTYPE",
    "dna_store_filename",
    "expected_tail_datasets",
]


# ================================================================ additions of issue 13
# Optional for readers: a store without them opens and reads as before.

# ---------------------------------------------------------------- whole barcodes
#: ``/dna/codes`` keeps the first ``W`` letters of each barcode (``max_nucleotides``, 660 by
#: default) in a fixed-width array for the fast paths. A store built with
#: ``full_barcodes`` (the default) also keeps every letter after them, end to end, in one
#: ragged block, so that it serves every barcode whole::
#:
#:     /dna/tail/codes    uint8 (T,)    contiguous; letters W, W+1, ... of every barcode, row after row
#:     /dna/tail/offsets  int64 (N+1,)  contiguous; row i's letters are codes[offsets[i]:offsets[i+1]]
#:
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


# ---------------------------------------------------------------- DNA-only datasets
#: Canadian Invertebrates (``bioscan-dataset``'s development branch): barcodes and taxonomy of
#: ~1M specimens, no images. Its stores hold no ``/images``, ``/image_status`` or
#: ``/image_source_size``; their ``image_package`` attribute is ``""`` and ``image_size`` 0.
CANADIAN_INVERTEBRATES_RANKS = ("phylum", "class", "order", "family", "genus", "species", "dna_bin")
CANADIAN_INVERTEBRATES_SPLITS = ("pretrain", "train", "val", "test", "test_unseen")
CANADIAN_INVERTEBRATES = DatasetSchema(
    name="canadian_invertebrates",
    columns=(
        ColumnSpec("processid", _S),
        ColumnSpec("sampleid", _S, required=False),
        *(ColumnSpec(r, _C) for r in CANADIAN_INVERTEBRATES_RANKS),
        ColumnSpec("sequence_len", _F, required=False),
        ColumnSpec("split", _C),
    ),
    id_column="processid",
    barcode_column="dna_barcode",
    ranks=CANADIAN_INVERTEBRATES_RANKS,
    split_columns=("split",),
    has_images=False,
)
SCHEMAS[CANADIAN_INVERTEBRATES.name] = CANADIAN_INVERTEBRATES


def dna_store_filename(dataset: str) -> str:
    """File name of the store of a DNA-only dataset (one per root: no image package or size)."""
    return f"{dataset}.h5"
