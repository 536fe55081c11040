"""Stage 1: every per-row array of the store, written into the partial file.

The pixel array is allocated in full (sparse, or chunked for a compressed store) and every
row's image status is "pending". The attribute ``metadata_written`` is set last: a partial
file without it is discarded and rewritten by the next run.
"""

from __future__ import annotations

import contextlib
import json
import os

import h5py
import numpy as np

from .. import __version__
from .. import format as fmt
from .._files import fsync_path
from .._hdf5 import LIBVER
from ..checksums import write_checksums
from ..errors import MetadataError
from ..layouts import SourceLayout
from ..metadata import Table, check_unchanged
from ..pixels import codec
from .config import BuildConfig
from .presence import check_presence
from .space import check_file_size_limit, check_space, estimate_bytes, space_errors

__all__ = ["json_attr", "start_partial", "write_metadata"]


def json_attr(obj: object) -> str:
    """``obj`` as the JSON text of a store attribute (keys sorted: the same bytes on every build)."""
    return json.dumps(obj, sort_keys=True)


def start_partial(
    cfg: BuildConfig, layout: SourceLayout, partial: str, source_fp: dict, target_splits: list[str]
) -> list[str]:
    """Parse the metadata file and write a new partial file (stage 1); return the splits it will hold.

    Refuses (or leaves out) splits whose image files are absent, and a store the disk cannot hold,
    before writing anything (:class:`MetadataError`, :class:`SourceFileNotFoundError`,
    :class:`InsufficientSpaceError`).
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(partial)
    table = layout.read(cfg.root, cfg.max_nucleotides, full_barcodes=cfg.full_barcodes)
    check_unchanged(layout.metadata_path(cfg.root), source_fp)  # the rows are the file fingerprinted
    if table.n_rows == 0:
        meta_path = layout.metadata_path(cfg.root)
        raise MetadataError(
            f"{meta_path}: the file has a header but no data rows. Download the metadata file again.",
            path=meta_path,
        )
    if target_splits:
        target_splits = check_presence(cfg, layout, table, target_splits)
    # Check for the images too: the pixel array is allocated in full here (a file of the final size).
    n_images = len(layout.rows_for_splits(table, "+".join(target_splits))) if target_splits else 0
    check_space(cfg, os.path.dirname(cfg.out), estimate_bytes(cfg, table.n_rows, n_images))
    check_file_size_limit(cfg, table.n_rows, images=layout.schema.has_images)
    with space_errors(partial, f"Writing {partial!r}", ""):
        write_metadata(partial, cfg, table, source_fp, target_splits, images=layout.schema.has_images)
    return target_splits


def write_metadata(
    path: str, cfg: BuildConfig, table: Table, source_fp: dict, target_splits: list[str], images: bool = True
) -> None:
    """Write a new partial store at ``path`` with everything but the pixels, and sync it.

    ``images=False`` (a DNA-only dataset): no image arrays at all.
    """
    # a parsed metadata file (read_table) holds its barcodes; a tail comes with its offsets
    assert (
        table.dna_codes is not None and table.dna_lengths is not None and table.dna_full_lengths is not None
    )
    with h5py.File(path, "w", libver=LIBVER) as f:
        _write_attributes(f, cfg, table, source_fp, target_splits)
        for col in table.columns.values():
            col.codec.write(f.require_group(f"{fmt.COLUMNS}/{col.name}"), col)
        f.create_dataset(fmt.DNA_CODES, data=table.dna_codes)
        f.create_dataset(fmt.DNA_LENGTHS, data=table.dna_lengths.astype(fmt.LENGTH_DTYPE))
        f.create_dataset(fmt.DNA_FULL_LENGTHS, data=table.dna_full_lengths.astype(fmt.LENGTH_DTYPE))
        if table.dna_tail_codes is not None:
            assert table.dna_tail_offsets is not None
            f.create_dataset(fmt.DNA_TAIL_CODES, data=table.dna_tail_codes.astype(fmt.DNA_DTYPE))
            f.create_dataset(fmt.DNA_TAIL_OFFSETS, data=table.dna_tail_offsets.astype(fmt.OFFSET_DTYPE))
        for name, rows in table.partitions.items():
            f.create_dataset(fmt.partition_path(name), data=np.asarray(rows, dtype=np.int64))
        for name in cfg.tokenize:
            _write_tokens(f, name, table.dna_codes, table.dna_lengths)
        n = table.n_rows
        offset = -1
        if images:
            f.create_dataset(fmt.IMAGE_STATUS, data=np.zeros(n, dtype=fmt.STATUS_DTYPE))
            f.create_dataset(fmt.IMAGE_SOURCE_SIZE, data=np.zeros((n, 2), dtype=fmt.SOURCE_SIZE_DTYPE))
            kind = codec(cfg.pixels)
            kind.create_tables(f, n, cfg)
            # A row's image checksum starts as that of its image not written yet.
            write_checksums(f, n, kind.unwritten_row_bytes(cfg.image_size))
            offset = kind.create_block(f, n, cfg)
        else:
            f.attrs[fmt.ATTR_IMAGE_PACKAGE] = ""
            f.attrs[fmt.ATTR_IMAGE_SIZE] = 0
            write_checksums(f, n, None)  # a DNA-only store: no image checksums
        f.attrs[fmt.ATTR_PIXEL_OFFSET] = offset
        f.attrs[fmt.ATTR_METADATA_WRITTEN] = True
    fsync_path(path)


def _write_attributes(
    f: h5py.File, cfg: BuildConfig, table: Table, source_fp: dict, target_splits: list[str]
) -> None:
    a = f.attrs
    a[fmt.ATTR_FORMAT] = fmt.FORMAT_NAME
    a[fmt.ATTR_VERSION] = fmt.FORMAT_VERSION
    a[fmt.ATTR_DATASET] = cfg.dataset
    a[fmt.ATTR_IMAGE_PACKAGE] = cfg.image_package
    a[fmt.ATTR_IMAGE_SIZE] = cfg.image_size
    a[fmt.ATTR_FIT] = cfg.fit
    a[fmt.ATTR_RESIZE_FILTER] = fmt.RESIZE_FILTER
    a[fmt.ATTR_PAD_FILL] = fmt.PAD_FILL
    a[fmt.ATTR_MAX_NUCLEOTIDES] = -1 if cfg.max_nucleotides is None else cfg.max_nucleotides
    a[fmt.ATTR_N_ROWS] = table.n_rows
    a[fmt.ATTR_SOURCE] = json_attr(source_fp)
    a[fmt.ATTR_BUILD_ARGS] = json_attr(cfg.content_args())
    a[fmt.ATTR_PACKAGE_VERSION] = __version__
    a[fmt.ATTR_COMPLETE] = False
    a[fmt.ATTR_METADATA_WRITTEN] = False
    a[fmt.ATTR_SPLITS_BUILT] = json_attr(target_splits)
    a[fmt.ATTR_COMPRESSION] = cfg.compression or ""
    a[fmt.ATTR_DRAFT] = bool(cfg.draft)
    a[fmt.ATTR_COUNTS] = json_attr({})
    a[fmt.ATTR_SOURCE_COLUMNS] = json_attr(table.header)


def _write_tokens(f: h5py.File, name: str, codes: np.ndarray, lengths: np.ndarray) -> None:
    from ..tokenizers import get_tokenizer

    tok = get_tokenizer(name)
    ids, mask = tok.encode_batch_numpy(codes, lengths)
    f.create_dataset(fmt.token_path(name, "ids"), data=ids.astype(fmt.TOKEN_DTYPE))
    f.create_dataset(fmt.token_path(name, "mask"), data=mask.astype(fmt.TOKEN_MASK_DTYPE))
    f[fmt.token_path(name, "ids")].attrs["vocab"] = json_attr(list(tok.vocab))
    f[fmt.token_path(name, "ids")].attrs["config"] = json_attr(tok.config())  # readers compare tokenizers
