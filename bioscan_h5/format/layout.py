"""The on-disk store format, version 2: the one place that names every path, dtype and attribute.

A store is one HDF5 file. Row ``i`` of every per-row array is the ``i``-th data row of the
source metadata file, and every row of that file is stored, so label indices are global. Root
attributes are in :data:`ROOT_ATTRS`, their types and values in :data:`ATTR_SCHEMA`; JPEG stores
and the whole-barcode block have sections of their own below.
"""

# Layout (``N`` rows, images ``S x S``, barcodes ``W`` wide)::
#
#     /images               uint8  (N, S, S, 3)  uncompressed: one contiguous block; lzf/gzip:
#                                                chunked (1, S, S, 3). Rows whose image was
#                                                not decoded read as zeros.
#     /image_status         uint8  (N,)          contiguous; ImageStatus codes (0 = not built)
#     /image_source_size    int32  (N, 2)        contiguous; (width, height) of the source file
#     /dna/codes            uint8  (N, W)        contiguous; ASCII letters, 0-padded
#     /dna/lengths          int32  (N,)          stored length (<= W); -1 = missing barcode
#     /dna/full_lengths     int32  (N,)          length in the metadata file; -1 = missing
#     /columns/<name>/      one group per metadata column, attribute ``kind``:
#         kind "category":  codes int32 (N,) (-1 = missing), categories vlen UTF-8 (sorted)
#         kind "string":    values  S<w> (N,) UTF-8 bytes, b"" = missing
#         kind "float":     values  float64 (N,), NaN = missing
#         kind "int":       values  int64 (N,), missing bool (N,)
#     /tokens/<name>/ids    int32  (N, T)        optional, ``build --tokenize NAME``
#     /tokens/<name>/mask   uint8  (N, T)
#     /partitions/<name>    int64  (M,)          BIOSCAN-1M only: the rows listed in a CLIBD
#                                                partition file, in that file's order
#
#     /checksums/...        CRC-32 checksums of the contents (see "checksums" below)
#
# Taxonomic ranks are ``category`` columns; their codes are the label indices. The pixel array is
# allocated when the store is created: an uncompressed store's pixels are one memory-mappable
# block starting at the byte offset saved in ``pixel_offset``.

from __future__ import annotations

import builtins
import enum
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "ATTR_BUILD_ARGS",
    "ATTR_COMPLETE",
    "ATTR_COMPRESSION",
    "ATTR_COUNTS",
    "ATTR_CRC_ALGORITHM",
    "ATTR_CRC_ARRAYS",
    "ATTR_CRC_BLOCK_ROWS",
    "ATTR_CRC_SMALL",
    "ATTR_DATASET",
    "ATTR_DRAFT",
    "ATTR_FIT",
    "ATTR_FORMAT",
    "ATTR_IMAGE_PACKAGE",
    "ATTR_IMAGE_SIZE",
    "ATTR_JPEG_QUALITY",
    "ATTR_KIND",
    "ATTR_MAX_NUCLEOTIDES",
    "ATTR_METADATA_WRITTEN",
    "ATTR_N_ROWS",
    "ATTR_PACKAGE_VERSION",
    "ATTR_PAD_FILL",
    "ATTR_PIXELS",
    "ATTR_PIXEL_OFFSET",
    "ATTR_RESIZE_FILTER",
    "ATTR_SCHEMA",
    "ATTR_SOURCE",
    "ATTR_SOURCE_COLUMNS",
    "ATTR_SPLITS_BUILT",
    "ATTR_VERSION",
    "CHECKSUMS",
    "CHECKSUM_ALGORITHM",
    "CHECKSUM_BLOCKS",
    "CHECKSUM_BLOCK_ROWS",
    "CHECKSUM_DTYPE",
    "CHECKSUM_IMAGES",
    "CHECKSUM_ROWS",
    "CODE_DTYPE",
    "COLUMNS",
    "COLUMN_PARTS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_MAX_NUCLEOTIDES",
    "DNA_CODES",
    "DNA_DTYPE",
    "DNA_FULL_LENGTHS",
    "DNA_LENGTHS",
    "DNA_TAIL_CODES",
    "DNA_TAIL_OFFSETS",
    "FITS",
    "FLOAT_DTYPE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "IMAGES",
    "IMAGE_DTYPE",
    "IMAGE_PACKAGES",
    "IMAGE_ROW_ARRAYS",
    "IMAGE_SOURCE_SIZE",
    "IMAGE_STATUS",
    "INT_DTYPE",
    "JPEG_BYTES",
    "JPEG_LENGTHS",
    "JPEG_MODES",
    "JPEG_MODE_DTYPE",
    "JPEG_OFFSETS",
    "JPEG_OFFSET_DTYPE",
    "JPEG_SIZES",
    "LENGTH_DTYPE",
    "LOCK_SUFFIX",
    "MAX_COLUMNS",
    "MAX_IMAGE_SIZE",
    "MAX_LINE_BYTES",
    "MAX_SOURCE_PIXELS",
    "MISSING_CODE",
    "MISSING_LENGTH",
    "OFFSET_DTYPE",
    "PAD_FILL",
    "PARTIAL_SUFFIX",
    "PARTITIONS",
    "REPORT_SUFFIX",
    "RESIZE_FILTER",
    "ROOT_ATTRS",
    "SOURCE_SIZE_DTYPE",
    "SPOOL_SUFFIX",
    "STATUS_DTYPE",
    "STORE_DIRNAME",
    "TOKENS",
    "TOKEN_DTYPE",
    "TOKEN_MASK_DTYPE",
    "AttrSpec",
    "ColumnSpec",
    "DatasetSchema",
    "ImageStatus",
    "Kind",
    "checksum_block_path",
    "column_path",
    "default_store_path",
    "dna_store_filename",
    "expected_datasets",
    "expected_tail_datasets",
    "lock_path",
    "partial_path",
    "partition_path",
    "report_path",
    "spool_path",
    "store_dir",
    "store_filename",
    "token_path",
]

FORMAT_NAME = "bioscan-h5"
#: The version this package writes and reads (older stores are refused: rebuild them).
FORMAT_VERSION = 2

# ---------------------------------------------------------------- dataset paths
IMAGES = "images"
IMAGE_STATUS = "image_status"
IMAGE_SOURCE_SIZE = "image_source_size"
DNA_CODES = "dna/codes"
DNA_LENGTHS = "dna/lengths"
DNA_FULL_LENGTHS = "dna/full_lengths"
COLUMNS = "columns"
TOKENS = "tokens"
PARTITIONS = "partitions"

IMAGE_DTYPE = np.dtype(np.uint8)
STATUS_DTYPE = np.dtype(np.uint8)
SOURCE_SIZE_DTYPE = np.dtype(np.int32)
DNA_DTYPE = np.dtype(np.uint8)
LENGTH_DTYPE = np.dtype(np.int32)
CODE_DTYPE = np.dtype(np.int32)
FLOAT_DTYPE = np.dtype(np.float64)
INT_DTYPE = np.dtype(np.int64)
TOKEN_DTYPE = np.dtype(np.int32)
TOKEN_MASK_DTYPE = np.dtype(np.uint8)

#: Value of ``/dna/lengths`` for a row without a barcode.
MISSING_LENGTH = -1
#: Value of a category code for a missing label (as pandas' ``cat.codes``).
MISSING_CODE = -1


def column_path(name: str, part: str) -> str:
    """Path of one part (``codes``, ``categories``, ``values``, ``missing``) of a column."""
    return f"{COLUMNS}/{name}/{part}"


def partition_path(name: str) -> str:
    """Path of the row list of one CLIBD partition file (BIOSCAN-1M)."""
    return f"{PARTITIONS}/{name}"


def token_path(name: str, part: str) -> str:
    """Path of one part (``ids``, ``mask``) of a precomputed token array."""
    return f"{TOKENS}/{name}/{part}"


# ---------------------------------------------------------------- root attributes
ATTR_FORMAT = "format"
ATTR_VERSION = "format_version"
ATTR_DATASET = "dataset"
ATTR_IMAGE_PACKAGE = "image_package"
ATTR_IMAGE_SIZE = "image_size"
ATTR_FIT = "fit"
ATTR_RESIZE_FILTER = "resize_filter"
ATTR_PAD_FILL = "pad_fill"
ATTR_MAX_NUCLEOTIDES = "max_nucleotides"  # -1 = full length kept
ATTR_N_ROWS = "n_rows"
ATTR_SOURCE = "source_fingerprint"  # JSON: {"name", "size", "mtime_ns", "sha256"}
ATTR_BUILD_ARGS = "build_args"  # JSON of the arguments that define the content
ATTR_PACKAGE_VERSION = "package_version"
ATTR_COMPLETE = "complete"
ATTR_METADATA_WRITTEN = "metadata_written"
ATTR_SPLITS_BUILT = "image_splits"  # JSON list of the splits whose images were decoded
ATTR_PIXEL_OFFSET = "pixel_offset"  # byte offset of row 0's pixels, -1 if not memory-mappable
ATTR_COMPRESSION = "compression"  # "" for none
ATTR_DRAFT = "jpeg_draft"
ATTR_COUNTS = "image_counts"  # JSON {status name: count}
ATTR_SOURCE_COLUMNS = "source_columns"  # JSON list: the metadata file's header, in order
ATTR_PIXELS = "pixels"  # a kind of bioscan_h5.pixels.CODECS; "raw" when absent
ATTR_JPEG_QUALITY = "jpeg_quality"  # 0 = the source files' bytes


class ImageStatus(enum.IntEnum):
    """Per-row outcome of decoding the source image (``/image_status``)."""

    PENDING = 0  #: not decoded yet (split not built)
    OK = 1
    MISSING = 2  #: no file at the expected path
    EMPTY = 3  #: zero-byte file
    UNDECODABLE = 4  #: truncated, not an image, or an unsupported image
    TOO_LARGE = 5  #: declared size over the decompression-bomb limit
    NOT_A_FILE = 6  #: a directory or other non-regular file at the path
    OUTSIDE_ROOT = 7  #: a symbolic link pointing outside the image folder

    @property
    def reason(self) -> str:
        """A sentence saying what the status means."""
        return _STATUS_REASONS[self]


_STATUS_REASONS = {
    ImageStatus.PENDING: "its split was not built yet",
    ImageStatus.OK: "decoded",
    ImageStatus.MISSING: "the image file is missing",
    ImageStatus.EMPTY: "the image file is empty (0 bytes)",
    ImageStatus.UNDECODABLE: "the image file could not be decoded (truncated, corrupt or not an image)",
    ImageStatus.TOO_LARGE: "the image declares more pixels than the decompression-bomb limit",
    ImageStatus.NOT_A_FILE: "the image path is not a regular file",
    ImageStatus.OUTSIDE_ROOT: "the image path is a link that points outside the image folder",
}


# ---------------------------------------------------------------- metadata schemas
class Kind(str, enum.Enum):
    """How a metadata column is stored."""

    CATEGORY = "category"
    STRING = "string"
    FLOAT = "float"
    INT = "int"


@dataclass(frozen=True)
class ColumnSpec:
    """One metadata column: its name in the source file and how it is stored."""

    name: str
    kind: Kind
    required: bool = True


@dataclass(frozen=True)
class DatasetSchema:
    """What a BIOSCAN dataset's metadata looks like and how its store is laid out."""

    name: str  #: the dataset's name, a key of ``bioscan_h5.layouts.SCHEMAS``
    columns: tuple[ColumnSpec, ...]  #: every column, in source-file order (the barcode excluded)
    id_column: str  #: unique per row
    barcode_column: str
    ranks: tuple[str, ...]  #: label columns, coarse to fine
    split_columns: tuple[str, ...]  #: columns holding split names
    has_images: bool = True  #: False: a DNA-only dataset, whose stores hold no image arrays

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


# ---------------------------------------------------------------- image packages and paths
IMAGE_PACKAGES = ("cropped_256", "original_256", "cropped", "original_full")
FITS = ("crop", "pad")
RESIZE_FILTER = "bilinear"  #: PIL bilinear with antialiasing, as torchvision Resize on PIL images
PAD_FILL = 0  #: black
DEFAULT_IMAGE_SIZE = 256
DEFAULT_MAX_NUCLEOTIDES = 660
STORE_DIRNAME = "h5"
PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
REPORT_SUFFIX = ".report.json"


def store_filename(
    dataset: str, image_package: str, image_size: int, fit: str = "crop", suffix: str = ""
) -> str:
    """File name of the store for one image package, size and fit: ``<dataset>_<package>_<S>px[_pad]<suffix>.h5``.

    ``suffix`` is the pixel kind's (:meth:`PixelCodec.file_suffix <bioscan_h5.pixels.PixelCodec.file_suffix>`):
    ``""`` for a raw store, e.g. ``"_jpeg90"`` for a JPEG one.
    """
    name = f"{dataset}_{image_package}_{image_size}px"
    if fit != "crop":
        name += f"_{fit}"
    return name + suffix + ".h5"


def default_store_path(root: str | os.PathLike, dataset: str, *name: Any, **kinds: Any) -> str:
    """Where ``bioscan-h5 build`` writes a store by default: ``<root>/<dataset>/h5/<name>.h5``.

    ``name`` and ``kinds`` are the arguments of :func:`store_filename` after ``dataset``
    (``image_package``, ``image_size``, then ``fit``, ``suffix``).
    """
    return os.path.join(os.fspath(root), dataset, STORE_DIRNAME, store_filename(dataset, *name, **kinds))


def store_dir(root: str | os.PathLike, dataset: str) -> str:
    """The folder holding a root's stores."""
    return os.path.join(os.fspath(root), dataset, STORE_DIRNAME)


def partial_path(store_path: str) -> str:
    """The temporary file a build writes to before renaming it to ``store_path``."""
    return store_path + PARTIAL_SUFFIX


def lock_path(store_path: str) -> str:
    """The lock file that keeps two builders off one output."""
    return store_path + LOCK_SUFFIX


def report_path(store_path: str) -> str:
    """The build report written beside a store."""
    return store_path + REPORT_SUFFIX


# ---------------------------------------------------------------- expected shapes and dtypes
#: The datasets of one metadata column's group, per kind: part name -> dtype code
#: ("O" = variable-length UTF-8 strings, "S" = fixed-width bytes of any width).
COLUMN_PARTS: dict[Kind, dict[str, str]] = {
    Kind.CATEGORY: {"codes": "i4", "categories": "O"},
    Kind.STRING: {"values": "S"},
    Kind.FLOAT: {"values": "f8"},
    Kind.INT: {"values": "i8", "missing": "b1"},
}


def expected_datasets(schema: DatasetSchema, n_rows: int, image_size: int) -> dict[str, tuple]:
    """Each dataset path a complete store requires -> ``(dtype kind, shape)`` (``None`` in a shape: any)."""
    s = image_size
    out: dict[str, tuple] = {}
    if schema.has_images:
        out[IMAGES] = ("u1", (n_rows, s, s, 3))
        out[IMAGE_STATUS] = ("u1", (n_rows,))
        out[IMAGE_SOURCE_SIZE] = ("i4", (n_rows, 2))
    out[DNA_CODES] = ("u1", (n_rows, None))
    out[DNA_LENGTHS] = ("i4", (n_rows,))
    out[DNA_FULL_LENGTHS] = ("i4", (n_rows,))
    for spec in schema.columns:
        if spec.required:
            for part, code in COLUMN_PARTS[spec.kind].items():
                out[column_path(spec.name, part)] = (code, (None,) if code == "O" else (n_rows,))
    return out


# ---------------------------------------------------------------- JPEG stores (``build --pixels jpeg``)
# A JPEG store keeps each image as encoded bytes instead of decoded pixels: it has no
# ``/images``; its root attribute ``pixels`` is "jpeg". Every other dataset is as above.
#
#     /jpeg/bytes    uint8  (B,)     contiguous (one memory-mappable block, no variable-length
#                                    types): the images' bytes end to end
#     /jpeg/offsets  int64  (N,)     where row i's bytes start in /jpeg/bytes
#     /jpeg/lengths  int64  (N,)     how many bytes (0: none; the row's image_status says why)
#     /jpeg/sizes    int32  (N, 2)   (width, height) from the stored image's header
#     /jpeg/modes    S8     (N,)     its Pillow mode ("RGB", "L", "CMYK", ...), b"" where none
#
# ``jpeg_quality`` 0: the bytes are each source file's, unchanged (any format Pillow may open
# as a source, mostly JPEG). Q > 0: each source was decoded, converted to RGB, put through the
# resize step of ``fit`` at ``image_size`` (no crop or pad) and encoded once as a JPEG of
# quality Q. Readers apply ``fit`` at ``image_size`` when they decode. The attribute is
# optional for readers: a store without ``pixels`` is a raw store.

JPEG_BYTES = "jpeg/bytes"
JPEG_OFFSETS = "jpeg/offsets"
JPEG_LENGTHS = "jpeg/lengths"
JPEG_SIZES = "jpeg/sizes"
JPEG_MODES = "jpeg/modes"
JPEG_OFFSET_DTYPE = np.dtype(np.int64)
JPEG_MODE_DTYPE = np.dtype("S8")
SPOOL_SUFFIX = ".jpeg-spool"


def spool_path(store_path: str) -> str:
    """``<store>.partial.jpeg-spool``: a JPEG build appends the bytes here; its last stage copies them."""
    return partial_path(store_path) + SPOOL_SUFFIX


# ---------------------------------------------------------------- the whole-barcode block (optional for readers)
# ``/dna/codes`` keeps the first ``W`` letters of each barcode; a store built with
# ``full_barcodes`` also keeps the rest, end to end, in ``/dna/tail/codes`` (uint8, ``(T,)``)
# with ``/dna/tail/offsets`` (int64, ``(N+1,)``): row i's letters are ``codes[offsets[i]:offsets[i+1]]``.
# A barcode's whole length is ``/dna/full_lengths``. A store built with
# ``max_nucleotides=None`` has ``W`` = the longest barcode and needs no tail block.
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


# ================================================================ limits, attribute schema, checksums
#: At most this many metadata columns (the official files have 23 and 34): a file with
#: thousands is refused up front instead of running for minutes.
MAX_COLUMNS = 256

#: Largest image side S of a store (original_full is 1024 x 768): a crafted ``image_size`` is
#: refused before a row (48 MiB at the limit) is allocated.
MAX_IMAGE_SIZE = 4096

#: Most pixels a JPEG store's row may declare (``/jpeg/sizes`` and the JPEG's own header):
#: Pillow's own decompression-bomb limit, about 270 MB decoded.
MAX_SOURCE_PIXELS = 89_478_485

#: Longest line of a metadata file, in bytes (a line break missing): refused before the CSV
#: parser holds the line.
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
    ATTR_DATASET: AttrSpec("str", required=True),  # a key of layouts.SCHEMAS: checked before the schema
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
    ATTR_PIXELS: AttrSpec("str"),  # a kind of bioscan_h5.pixels.CODECS (checked by codec_of)
    ATTR_JPEG_QUALITY: AttrSpec("int", minimum=0, maximum=100),
}
#: The root attributes of every store (the pixel kind's own, ``pixels`` and ``jpeg_quality``, aside).
ROOT_ATTRS = tuple(a for a in ATTR_SCHEMA if a not in (ATTR_PIXELS, ATTR_JPEG_QUALITY))

#: Attribute of every column group: how the column is stored (a :class:`Kind` value).
ATTR_KIND = "kind"

# ---------------------------------------------------------------- checksums (CRC-32, as zlib.crc32)
#: ``/checksums`` (:mod:`bioscan_h5.checksums`). Group attributes: ``algorithm`` ("crc32"),
#: ``block_rows``, ``small`` (JSON {path: CRC-32} of the vocabularies: each string as its UTF-8
#: length in 4 bytes and its bytes).
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


def checksum_block_path(path: str) -> str:
    """Where the block checksums of the dataset ``path`` are."""
    return f"{CHECKSUM_BLOCKS}/{path}"
