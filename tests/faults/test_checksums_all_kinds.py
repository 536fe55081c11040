"""Checksums of the store kinds beside the raw one: JPEG stores, whole barcodes, DNA-only stores.

A JPEG store's image checksum covers each row's bytes in ``/jpeg/bytes``; the whole-barcode
block (``/dna/tail/*``) has block checksums like every other array; a store of a DNA-only
dataset has row and block checksums but no image checksums. A byte flipped in any of them is
found by ``verify --full`` (and by ``verify_reads`` for a row), and a damaged whole-barcode
offset table is refused with a named error before a kernel reads past the block.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt
from bioscan_h5 import open_store
from bioscan_h5.build import BuildConfig, build
from bioscan_h5.errors import ChecksumMismatchError, StoreFormatError
from bioscan_h5.verify import verify_full
from tools import make_sample_data

SECTION = "Bad or foreign store files"


def _flip(src: Path, dst: Path, offset: int) -> Path:
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ 0xFF]))
    return dst


def test_a_clean_jpeg_store_passes_verify_full(jpeg_store_5m):
    with open_store(jpeg_store_5m) as st:
        assert st.codec.name == "jpeg" and st.has_checksums
    report = verify_full(str(jpeg_store_5m), progress=False)
    assert report.checked and report.problems == [], report.problems


def test_a_flipped_jpeg_byte_is_reported_with_its_row(jpeg_store_5m, tmp_path, record):
    with h5py.File(jpeg_store_5m, "r", locking=False) as f:
        start = f[fmt.JPEG_BYTES].id.get_offset()
        offsets, lengths = f[fmt.JPEG_OFFSETS][()], f[fmt.JPEG_LENGTHS][()]
    rows = np.flatnonzero(lengths > 0)
    rng = np.random.default_rng(5)
    picked = [int(r) for r in rng.choice(rows, 3, replace=False)]
    for row in picked:
        at = start + int(offsets[row]) + int(rng.integers(lengths[row]))
        copy = _flip(jpeg_store_5m, tmp_path / f"flipped-{row}.h5", at)
        report = verify_full(str(copy), progress=False)
        assert report.checked and list(report.damaged_rows) == [row], report.problems
        assert report.damaged_rows[row][0].startswith(fmt.JPEG_BYTES), report.damaged_rows
        with open_store(copy, verify_reads=True) as st:
            st.verify_rows([r for r in range(st.n_rows) if r != row])  # the others are served
            with pytest.raises(ChecksumMismatchError, match=f"row {row} "):
                st.verify_rows(row)
    record(
        f"one byte flipped in a JPEG store's /jpeg/bytes, inside the bytes of {len(picked)} random rows"
        " (a copy each)",
        "`verify --full` reported each row and blamed `jpeg/bytes`; `verify_rows` (what `verify_reads=True`"
        " calls) refused that row with `ChecksumMismatchError` and passed every other. A JPEG store's image"
        " checksum is the CRC-32 of the row's stored bytes, continued over its status and source size.",
        "The flipped byte, found and named.",
    )


def test_a_flipped_whole_barcode_byte_is_reported(jpeg_store_5m, tmp_path, record):
    with h5py.File(jpeg_store_5m, "r", locking=False) as f:
        assert fmt.DNA_TAIL_CODES in f and len(f[fmt.DNA_TAIL_CODES]) > 0
        at = f[fmt.DNA_TAIL_CODES].id.get_offset() + len(f[fmt.DNA_TAIL_CODES]) // 2
    copy = _flip(jpeg_store_5m, tmp_path / "tail.h5", at)
    report = verify_full(str(copy), progress=False)
    assert report.checked and any(fmt.DNA_TAIL_CODES in p for p in report.problems), report.problems
    record(
        "one byte flipped in the whole-barcode block (`/dna/tail/codes`, the letters past `max_nucleotides`)",
        "`verify --full` reported the array and the block it lies in (its block checksum).",
        "The flipped byte, found and named.",
    )


def test_damaged_whole_barcode_offsets_are_refused(jpeg_store_5m, tmp_path, record):
    copy = tmp_path / "offsets.h5"
    shutil.copyfile(jpeg_store_5m, copy)
    with h5py.File(copy, "r+", locking=False) as f:
        offsets = f[fmt.DNA_TAIL_OFFSETS]
        offsets[len(offsets) // 2] = 10**9  # past the block, and out of order
    with open_store(copy) as st, pytest.raises(StoreFormatError, match="dna/tail/offsets"):
        st.barcodes(np.arange(st.n_rows), whole=True)
    record(
        "the whole-barcode offset table damaged (one offset far past the block)",
        "`StoreFormatError` naming `/dna/tail/offsets`, the position and the value, when the block is"
        " first used: no kernel reads past the block.",
        "Nothing: the store is refused until it is rebuilt.",
    )


@pytest.fixture(scope="module")
def dna_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("caninv")
    make_sample_data.make_canadian_invertebrates_root(root, n_rows=60, seed=3)
    return Path(build(BuildConfig(root=str(root), dataset="canadian_invertebrates", progress=False)).store)


def test_a_dna_only_store_has_row_checksums_only(dna_store, tmp_path):
    with open_store(dna_store) as st:
        assert st.has_checksums and not st.has_images
        assert fmt.CHECKSUM_IMAGES not in st.file
        st.verify_rows(np.arange(st.n_rows))
        rank = st.schema.ranks[0]
        at = st.file[fmt.column_path(rank, "codes")].id.get_offset()
    report = verify_full(str(dna_store), progress=False)
    assert report.checked and report.problems == [], report.problems
    copy = _flip(dna_store, tmp_path / "flipped.h5", at + 4 * 7)
    report = verify_full(str(copy), progress=False)
    assert list(report.damaged_rows) == [7], report.problems
    assert report.damaged_rows[7] == [fmt.column_path(rank, "codes")]
