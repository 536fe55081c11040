"""The store format, version 2: attribute schema and checksums, part of :mod:`bioscan_h5.format`."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import numpy as np

from .jpeg import (
    ATTR_JPEG_QUALITY,
    ATTR_PIXELS,
    JPEG_LENGTHS,
    JPEG_MODES,
    JPEG_OFFSETS,
    JPEG_SIZES,
    PIXEL_KINDS,
)
from .layout import (
    ATTR_BUILD_ARGS,
    ATTR_COMPLETE,
    ATTR_COMPRESSION,
    ATTR_COUNTS,
    ATTR_DATASET,
    ATTR_DRAFT,
    ATTR_FIT,
    ATTR_FORMAT,
    ATTR_IMAGE_PACKAGE,
    ATTR_IMAGE_SIZE,
    ATTR_MAX_NUCLEOTIDES,
    ATTR_METADATA_WRITTEN,
    ATTR_N_ROWS,
    ATTR_PACKAGE_VERSION,
    ATTR_PAD_FILL,
    ATTR_PIXEL_OFFSET,
    ATTR_RESIZE_FILTER,
    ATTR_SOURCE,
    ATTR_SOURCE_COLUMNS,
    ATTR_SPLITS_BUILT,
    ATTR_VERSION,
    FITS,
    IMAGE_PACKAGES,
    IMAGE_SOURCE_SIZE,
    IMAGE_STATUS,
    SCHEMAS,
)

__all__ = [
    "ATTR_CRC_ALGORITHM",
    "ATTR_CRC_ARRAYS",
    "ATTR_CRC_BLOCK_ROWS",
    "ATTR_CRC_SMALL",
    "ATTR_KIND",
    "ATTR_SCHEMA",
    "CHECKSUMS",
    "CHECKSUM_ALGORITHM",
    "CHECKSUM_BLOCKS",
    "CHECKSUM_BLOCK_ROWS",
    "CHECKSUM_DTYPE",
    "CHECKSUM_IMAGES",
    "CHECKSUM_ROWS",
    "IMAGE_ROW_ARRAYS",
    "JPEG_ROW_ARRAYS",
    "MAX_COLUMNS",
    "MAX_IMAGE_SIZE",
    "MAX_LINE_BYTES",
    "MAX_SOURCE_PIXELS",
    "AttrSpec",
    "checksum_block_path",
]


# ================================================================ format version 2 (issue 14)
# Integrity: declared attribute types, the contiguous pixel block, checksums. Every addition
# is optional for readers: a format-1 store has no checksums, and its chunked pixel block is
# checked chunk by chunk before it is memory-mapped.

#: At most this many metadata columns (column groups in a store). The official files have 23
#: (BIOSCAN-5M) and 34 (BIOSCAN-1M); each column costs a parse per chunk of the file and a
#: group in the store, so a file with thousands is refused up front instead of running for
#: minutes.
MAX_COLUMNS = 256

#: Largest image side S of a store (a row is S x S x 3 bytes: 48 MiB at the limit). The
#: largest BIOSCAN package, original_full, is 1024 x 768; a crafted ``image_size`` (or a pixel
#: dataset that declares such rows) is refused before a row is allocated.
MAX_IMAGE_SIZE = 4096

#: Most pixels a JPEG store's row may declare (``/jpeg/sizes`` and the JPEG's own header):
#: Pillow's own decompression-bomb limit, about 270 MB decoded.
MAX_SOURCE_PIXELS = 89_478_485

#: Longest line of a metadata file, in bytes (the official lines are under 3 KB; a header of
#: 100,000 column names passes, to be refused by the column count): a file with
#: a longer one (a line break missing) is refused before the CSV parser holds the line.
MAX_LINE_BYTES = 8 << 20


@dataclass(frozen=True)
class AttrSpec:
    """The type and allowed values of one root attribute (checked when a store is opened)."""

    type: str  #: "str", "int", "bool" or "json" (JSON text holding a ``json_type``)
    choices: tuple = ()  #: the allowed values (any when empty)
    minimum: int | None = None
    maximum: int | None = None
    required: bool = False
    json_type: builtins.type | None = None  # (the field ``type`` hides the builtin here)


#: Every root attribute: its type and allowed values. Readers refuse a store whose attribute
#: breaks this (a ``complete`` of ``"no"``, a ``max_nucleotides`` of ``"abc"``, ...).
ATTR_SCHEMA: dict[str, AttrSpec] = {
    ATTR_FORMAT: AttrSpec("str", required=True),
    ATTR_VERSION: AttrSpec("int", minimum=1, required=True),
    ATTR_DATASET: AttrSpec("str", choices=tuple(SCHEMAS), required=True),
    # "" and 0: a DNA-only dataset's store (no images).
    ATTR_IMAGE_PACKAGE: AttrSpec("str", choices=("", *IMAGE_PACKAGES)),
    ATTR_IMAGE_SIZE: AttrSpec("int", minimum=0, maximum=MAX_IMAGE_SIZE, required=True),
    ATTR_FIT: AttrSpec("str", choices=FITS),
    ATTR_RESIZE_FILTER: AttrSpec("str"),
    ATTR_PAD_FILL: AttrSpec("int", minimum=0, maximum=255),
    ATTR_MAX_NUCLEOTIDES: AttrSpec("int", minimum=-1, required=True),
    ATTR_N_ROWS: AttrSpec("int", minimum=1, required=True),
    ATTR_SOURCE: AttrSpec("json", json_type=dict),
    ATTR_BUILD_ARGS: AttrSpec("json", json_type=dict),
    ATTR_PACKAGE_VERSION: AttrSpec("str"),
    ATTR_COMPLETE: AttrSpec("bool"),
    ATTR_METADATA_WRITTEN: AttrSpec("bool"),
    ATTR_SPLITS_BUILT: AttrSpec("json", json_type=list),
    ATTR_PIXEL_OFFSET: AttrSpec("int", minimum=-1),
    ATTR_COMPRESSION: AttrSpec("str", choices=("", "lzf", "gzip")),
    ATTR_DRAFT: AttrSpec("bool"),
    ATTR_COUNTS: AttrSpec("json", json_type=dict),
    ATTR_SOURCE_COLUMNS: AttrSpec("json", json_type=list),
    ATTR_PIXELS: AttrSpec("str", choices=PIXEL_KINDS),
    ATTR_JPEG_QUALITY: AttrSpec("int", minimum=0, maximum=100),
}

#: Attribute of every column group: how the column is stored (a :class:`Kind` value).
ATTR_KIND = "kind"

# ---------------------------------------------------------------- checksums (CRC-32, as zlib.crc32)
#: ``/checksums``: written by the builder (stage 1, then as pixels are written, then at the
#: finish); absent in format 1. Attributes of the group: ``algorithm`` ("crc32"),
#: ``block_rows`` and ``small`` (JSON {path: CRC-32} of the vocabularies, variable-length
#: strings, each string as its UTF-8 length in 4 bytes and its bytes).
CHECKSUMS = "checksums"
#: uint32 (N,): CRC-32 of row i's bytes in each per-row array written in stage 1 (barcodes,
#: lengths, every column part, tokens), chained in the order of its ``arrays`` attribute.
CHECKSUM_ROWS = "checksums/rows"
#: uint32 (N,): CRC-32 of row i's pixels (zeros where no image was written: rows not built,
#: bad images), continued over its status byte and its source size (8 bytes).
CHECKSUM_IMAGES = "checksums/images"
#: ``checksums/blocks/<path>``: uint32, the CRC-32 of each block of ``block_rows`` rows
#: (along the first axis) of every other dataset but the pixels: names the damaged array.
CHECKSUM_BLOCKS = "checksums/blocks"
CHECKSUM_DTYPE = np.dtype(np.uint32)
CHECKSUM_ALGORITHM = "crc32"
CHECKSUM_BLOCK_ROWS = 1 << 16
ATTR_CRC_ALGORITHM = "algorithm"
ATTR_CRC_BLOCK_ROWS = "block_rows"
ATTR_CRC_SMALL = "small"
ATTR_CRC_ARRAYS = "arrays"
#: Per-row arrays written as pixels are decoded (covered by :data:`CHECKSUM_IMAGES`).
IMAGE_ROW_ARRAYS = (IMAGE_STATUS, IMAGE_SOURCE_SIZE)
#: A JPEG store's row tables, also written as images are read (their block checksums are
#: written at the finish). The bytes themselves, ``/jpeg/bytes``, are covered row by row by
#: :data:`CHECKSUM_IMAGES`: a row's image checksum is the CRC-32 of its bytes, continued over
#: its status and source size.
JPEG_ROW_ARRAYS = (JPEG_OFFSETS, JPEG_LENGTHS, JPEG_SIZES, JPEG_MODES)


def checksum_block_path(path: str) -> str:
    """Where the block checksums of the dataset ``path`` are."""
    return f"{CHECKSUM_BLOCKS}/{path}"
