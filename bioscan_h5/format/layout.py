"""The on-disk store format, version 2: the one place that names every path, dtype and attribute.

A store is one HDF5 file. Row ``i`` of every per-row array is the ``i``-th data row of the
source metadata file, and **every** row of that file is stored, so label indices are global
(the same label has the same index in every split, as in ``bioscan-dataset``).

Layout (``N`` rows, images ``S x S``, barcodes ``W`` wide)::

    /images               uint8  (N, S, S, 3)  uncompressed: one contiguous block (format 2;
                                               chunked (1, S, S, 3) in format 1); lzf/gzip:
                                               chunked (1, S, S, 3). Rows whose image was
                                               not decoded read as zeros.
    /image_status         uint8  (N,)          contiguous; ImageStatus codes (0 = not built)
    /image_source_size    int32  (N, 2)        contiguous; (width, height) of the source file
    /dna/codes            uint8  (N, W)        contiguous; ASCII letters, 0-padded
    /dna/lengths          int32  (N,)          stored length (<= W); -1 = missing barcode
    /dna/full_lengths     int32  (N,)          length in the metadata file; -1 = missing
    /columns/<name>/      one group per metadata column, attribute ``kind``:
        kind "category":  codes int32 (N,) (-1 = missing), categories vlen UTF-8 (sorted)
        kind "string":    values  S<w> (N,) UTF-8 bytes, b"" = missing
        kind "float":     values  float64 (N,), NaN = missing
        kind "int":       values  int64 (N,), missing bool (N,)
    /tokens/<name>/ids    int32  (N, T)        optional, ``build --tokenize NAME``
    /tokens/<name>/mask   uint8  (N, T)
    /partitions/<name>    int64  (M,)          BIOSCAN-1M only: the rows listed in a CLIBD
                                               partition file, in that file's order

    /checksums/...        format 2: CRC-32 checksums of the contents (see the section
                                               "format version 2" below)

Taxonomic ranks are ``category`` columns; their codes are the label indices.

Root attributes are listed in :data:`ROOT_ATTRS`, their types and values in
:data:`ATTR_SCHEMA`. The pixel array is allocated when the store is created, so an
uncompressed store's pixels are one memory-mappable block that starts at the byte offset
saved in ``pixel_offset`` (in format 2 the dataset's own offset; in format 1 the first of
chunks allocated end to end in row order, which readers check chunk by chunk).
"""

from __future__ import annotations

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
    "ATTR_DATASET",
    "ATTR_DRAFT",
    "ATTR_FIT",
    "ATTR_FORMAT",
    "ATTR_IMAGE_PACKAGE",
    "ATTR_IMAGE_SIZE",
    "ATTR_MAX_NUCLEOTIDES",
    "ATTR_METADATA_WRITTEN",
    "ATTR_N_ROWS",
    "ATTR_PACKAGE_VERSION",
    "ATTR_PAD_FILL",
    "ATTR_PIXEL_OFFSET",
    "ATTR_RESIZE_FILTER",
    "ATTR_SOURCE",
    "ATTR_SOURCE_COLUMNS",
    "ATTR_SPLITS_BUILT",
    "ATTR_VERSION",
    "BIOSCAN1M",
    "BIOSCAN1M_PARTITIONINGS",
    "BIOSCAN1M_RANKS",
    "BIOSCAN5M",
    "BIOSCAN5M_RANKS",
    "BIOSCAN5M_SPLITS",
    "CANADIAN_INVERTEBRATES",
    "CANADIAN_INVERTEBRATES_RANKS",
    "CANADIAN_INVERTEBRATES_SPLITS",
    "CODE_DTYPE",
    "COLUMNS",
    "COLUMN_PARTS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_MAX_NUCLEOTIDES",
    "DNA_CODES",
    "DNA_DTYPE",
    "DNA_FULL_LENGTHS",
    "DNA_LENGTHS",
    "FITS",
    "FLOAT_DTYPE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "IMAGES",
    "IMAGE_DTYPE",
    "IMAGE_PACKAGES",
    "IMAGE_SOURCE_SIZE",
    "IMAGE_STATUS",
    "INT_DTYPE",
    "LENGTH_DTYPE",
    "LOCK_SUFFIX",
    "MISSING_CODE",
    "MISSING_LENGTH",
    "PAD_FILL",
    "PARTIAL_SUFFIX",
    "PARTITIONS",
    "REPORT_SUFFIX",
    "RESIZE_FILTER",
    "ROOT_ATTRS",
    "SCHEMAS",
    "SOURCE_SIZE_DTYPE",
    "STATUS_DTYPE",
    "STORE_DIRNAME",
    "TOKENS",
    "TOKEN_DTYPE",
    "TOKEN_MASK_DTYPE",
    "ColumnSpec",
    "DatasetSchema",
    "ImageStatus",
    "Kind",
    "column_path",
    "default_store_path",
    "expected_datasets",
    "jpeg_suffix",
    "lock_path",
    "partial_path",
    "partition_path",
    "report_path",
    "store_dir",
    "store_filename",
    "token_path",
]

FORMAT_NAME = "bioscan-h5"
#: The version this package writes. Readers accept any version <= this one (format 2 adds
#: checksums and the contiguous pixel block; each addition is optional for readers).
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

ROOT_ATTRS = (
    ATTR_FORMAT,
    ATTR_VERSION,
    ATTR_DATASET,
    ATTR_IMAGE_PACKAGE,
    ATTR_IMAGE_SIZE,
    ATTR_FIT,
    ATTR_RESIZE_FILTER,
    ATTR_PAD_FILL,
    ATTR_MAX_NUCLEOTIDES,
    ATTR_N_ROWS,
    ATTR_SOURCE,
    ATTR_BUILD_ARGS,
    ATTR_PACKAGE_VERSION,
    ATTR_COMPLETE,
    ATTR_METADATA_WRITTEN,
    ATTR_SPLITS_BUILT,
    ATTR_PIXEL_OFFSET,
    ATTR_COMPRESSION,
    ATTR_DRAFT,
    ATTR_COUNTS,
    ATTR_SOURCE_COLUMNS,
)


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

    name: str  #: "bioscan5m" or "bioscan1m"
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


_C, _S, _F, _I = Kind.CATEGORY, Kind.STRING, Kind.FLOAT, Kind.INT

BIOSCAN5M_RANKS = ("phylum", "class", "order", "family", "subfamily", "genus", "species", "dna_bin")
BIOSCAN5M_SPLITS = (
    "pretrain",
    "train",
    "val",
    "test",
    "key_unseen",
    "val_unseen",
    "test_unseen",
    "other_heldout",
)

BIOSCAN5M = DatasetSchema(
    name="bioscan5m",
    columns=(
        ColumnSpec("processid", _S),
        ColumnSpec("sampleid", _S),
        ColumnSpec("taxon", _C),
        *(ColumnSpec(r, _C) for r in BIOSCAN5M_RANKS),
        ColumnSpec("country", _C),
        ColumnSpec("province_state", _C),
        ColumnSpec("coord-lat", _F),
        ColumnSpec("coord-lon", _F),
        ColumnSpec("image_measurement_value", _F),
        ColumnSpec("area_fraction", _F),
        ColumnSpec("scale_factor", _F),
        ColumnSpec("inferred_ranks", _I),
        ColumnSpec("split", _C),
        ColumnSpec("index_bioscan_1M_insect", _I),
        ColumnSpec("chunk", _S),
    ),
    id_column="processid",
    barcode_column="dna_barcode",
    ranks=BIOSCAN5M_RANKS,
    split_columns=("split",),
)

BIOSCAN1M_RANKS = ("phylum", "class", "order", "family", "subfamily", "tribe", "genus", "species", "uri")
BIOSCAN1M_PARTITIONINGS = (
    "large_diptera_family",
    "medium_diptera_family",
    "small_diptera_family",
    "large_insect_order",
    "medium_insect_order",
    "small_insect_order",
)
BIOSCAN1M = DatasetSchema(
    name="bioscan1m",
    columns=(
        ColumnSpec("sampleid", _S),
        ColumnSpec("processid", _S),
        ColumnSpec("uri", _C),
        ColumnSpec("name", _C, required=False),
        *(ColumnSpec(r, _C) for r in BIOSCAN1M_RANKS[:-1]),
        ColumnSpec("subspecies", _C, required=False),
        ColumnSpec("image_file", _S),
        *(ColumnSpec(p, _C) for p in BIOSCAN1M_PARTITIONINGS),
        ColumnSpec("chunk_number", _I),
        ColumnSpec("copyright_license", _C, required=False),
        ColumnSpec("copyright_holder", _C, required=False),
        ColumnSpec("copyright_institution", _C, required=False),
        ColumnSpec("copyright_contact", _C, required=False),
        ColumnSpec("photographer", _C, required=False),
        ColumnSpec("author", _C, required=False),
        ColumnSpec("clibd_split", _C, required=False),
    ),
    id_column="sampleid",
    barcode_column="nucraw",
    ranks=BIOSCAN1M_RANKS,
    split_columns=(*BIOSCAN1M_PARTITIONINGS, "clibd_split"),
)

#: Canadian Invertebrates: barcodes and taxonomy, no images. Its stores hold no ``/images``,
#: ``/image_status`` or ``/image_source_size``; ``image_package`` is ``""``, ``image_size`` 0.
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

SCHEMAS = {s.name: s for s in (BIOSCAN5M, BIOSCAN1M, CANADIAN_INVERTEBRATES)}

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
    dataset: str,
    image_package: str,
    image_size: int,
    fit: str = "crop",
    pixels: str = "raw",
    jpeg_quality: int | None = None,
    *,
    jpeg_crop: bool = False,
) -> str:
    """File name of the store for one image package, size, fit and pixel kind.

    A raw store is ``<dataset>_<package>_<S>px[_pad].h5``; a JPEG store adds ``_jpeg`` (the
    source files' bytes), ``_jpeg<Q>`` (re-encoded at quality ``Q``) or ``_jpeg<Q>crop`` (the
    S x S image re-encoded): see :func:`jpeg_suffix`.
    """
    name = f"{dataset}_{image_package}_{image_size}px"
    if fit != "crop":
        name += f"_{fit}"
    return name + jpeg_suffix(pixels, jpeg_quality, jpeg_crop=jpeg_crop) + ".h5"


def jpeg_suffix(pixels: str = "raw", jpeg_quality: int | None = None, *, jpeg_crop: bool = False) -> str:
    """The file-name suffix of a pixel kind: ``""`` (raw), ``"_jpeg"``, ``"_jpeg<Q>"`` or ``"_jpeg<Q>crop"``."""
    if pixels != "jpeg":
        return ""
    if not jpeg_quality:
        return "_jpeg"
    return f"_jpeg{jpeg_quality}" + ("crop" if jpeg_crop else "")


def default_store_path(root: str | os.PathLike, dataset: str, *name: Any, **kinds: Any) -> str:
    """Where ``bioscan-h5 build`` writes a store by default: ``<root>/<dataset>/h5/<name>.h5``.

    ``name`` and ``kinds`` are the arguments of :func:`store_filename` after ``dataset``
    (``image_package``, ``image_size``, then ``fit``, ``pixels``, ``jpeg_quality``).
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
    """Map each required dataset path to ``(dtype kind, shape)``; ``None`` in a shape = any.

    Readers use this to check that a file really is a complete store of this format.
    """
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
