"""Checksums (format 2): a byte flipped anywhere in the pixels or the label arrays is found.

Single bytes are flipped, one copy of the store each, at random places in the pixel block
(rows decoded, rows whose image was bad, rows of splits not built) and in every label
array; ``bioscan-h5 verify --full`` must report each one with its row, and a dataset with
``verify_reads=True`` must refuse to serve the damaged row with a named error. A store
written by format version 1 has no checksums and says so.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt
from bioscan_h5.build import BuildConfig, build
from bioscan_h5.layouts import SCHEMAS

from ._helpers import crash, run, run_cli, sanitize

pytestmark = pytest.mark.subprocess

SECTION = "Bad or foreign store files"
GOLDEN = Path(__file__).resolve().parents[1] / "store" / "data" / "golden_v2.h5"
SIZE = 16

#: ``verify_full`` on copies of a store, each with one byte flipped; one JSON line per copy.
SWEEP = r"""
import json, sys
from bioscan_h5.verify import verify_full
source, scratch = sys.argv[1], sys.argv[2]
data = open(source, "rb").read()
for off in map(int, sys.argv[3:]):
    flipped = bytearray(data)
    flipped[off] ^= 0xFF
    with open(scratch, "wb") as fh:
        fh.write(flipped)
    report = verify_full(scratch, progress=False)
    print(json.dumps({"offset": off, "checked": report.checked, "rows": {str(k): v for k, v in report.damaged_rows.items()},
                      "problems": report.problems}), flush=True)
"""


@pytest.fixture(scope="module")
def store(_roots, tmp_path_factory) -> dict:
    """A 64-row store (16 px) with bad images and splits not built, and where its arrays lie."""
    root = _roots.get(n_rows=64, seed=13, faults=True)
    out = tmp_path_factory.mktemp("crc") / "s.h5"
    cfg = {"image_size": SIZE}
    build(
        BuildConfig.from_content(root, cfg, splits="val+test+train", out=str(out), workers=1, progress=False)
    )
    with h5py.File(out, "r", locking=False) as f:
        ranks = SCHEMAS[f.attrs[fmt.ATTR_DATASET]].ranks
        labels = {r: f[fmt.column_path(r, "codes")].id.get_offset() for r in ranks}
        status = f[fmt.IMAGE_STATUS][()]
        pixels = f[fmt.IMAGES].id.get_offset()
    return {"path": out, "pixels": pixels, "labels": labels, "status": status, "root": root}


def sweep(path: Path, offsets: list[int], scratch: Path) -> list[dict]:
    proc = run([sys.executable, "-c", SWEEP, str(path), str(scratch), *map(str, offsets)], timeout=600)
    assert crash(proc.returncode) is None and proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_a_flipped_pixel_byte_is_reported_with_its_row(store, tmp_path, record):
    row_bytes = SIZE * SIZE * 3
    status = store["status"]
    rng = np.random.default_rng(1)
    rows = {
        "decoded": rng.choice(np.flatnonzero(status == fmt.ImageStatus.OK), 6, replace=False),
        "bad image": np.flatnonzero(status > fmt.ImageStatus.OK)[:2],
        "split not built": rng.choice(np.flatnonzero(status == fmt.ImageStatus.PENDING), 3, replace=False),
    }
    offsets, kinds = [], {}
    for kind, picked in rows.items():
        assert len(picked), kind
        for row in picked:
            off = store["pixels"] + int(row) * row_bytes + int(rng.integers(row_bytes))
            offsets.append(off)
            kinds[off] = (kind, int(row))
    results = sweep(store["path"], offsets, tmp_path / "flipped.h5")
    assert len(results) == len(offsets)
    for res in results:
        kind, row = kinds[res["offset"]]
        assert res["checked"] and list(res["rows"]) == [str(row)], (kind, res)
        assert res["rows"][str(row)] == ["images (its pixels, or its checksum in checksums/images)"], res
    # The command itself: exit status 1, the row named on a FAIL line.
    kind, row = kinds[offsets[0]]
    copy = tmp_path / "one.h5"
    data = bytearray(store["path"].read_bytes())
    data[offsets[0]] ^= 0xFF
    copy.write_bytes(bytes(data))
    proc = run_cli("verify", copy, "--full", "--no-progress")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith(f"FAIL row {row} "))
    counts = {k: sum(1 for v in kinds.values() if v[0] == k) for k in rows}
    record(
        f"one byte flipped in the pixel block, {len(offsets)} times at random places (a copy each):"
        f" {counts['decoded']} in decoded rows, {counts['bad image']} in rows whose image was bad,"
        f" {counts['split not built']} in rows of splits not built",
        f"`bioscan-h5 verify --full` reported every one, with its row and no other, and exited with"
        f" status 1: `{sanitize(line, 200)}`. Each row's CRC-32 covers its pixels (zeros where no image"
        " was written), its status and its source size.",
        "The flipped byte, found and named (the store must be rebuilt or copied again).",
    )


def test_a_flipped_label_byte_is_reported_with_its_row(store, tmp_path, record):
    rng = np.random.default_rng(2)
    n = len(store["status"])
    offsets, where = [], {}
    for rank, start in store["labels"].items():
        for _ in range(2):
            row, byte = int(rng.integers(n)), int(rng.integers(4))
            offsets.append(start + 4 * row + byte)
            where[offsets[-1]] = (rank, row)
    results = sweep(store["path"], offsets, tmp_path / "flipped.h5")
    for res in results:
        rank, row = where[res["offset"]]
        assert res["checked"] and list(res["rows"]) == [str(row)], (rank, row, res)
        assert res["rows"][str(row)] == [fmt.column_path(rank, "codes")], res
    record(
        f"one byte flipped in a label array, {len(offsets)} times (twice in each of the"
        f" {len(store['labels'])} ranks' codes, at random rows and bytes, a copy each)",
        "`bioscan-h5 verify --full` reported every one with its row and the array (`row 17 (processid"
        " '...'): damaged: columns/species/codes`), exit status 1. A code pushed out of its vocabulary"
        " is also refused by the bounds check (`StoreFormatError`) on first use.",
        "The flipped byte, found and named.",
    )


def test_verify_reads_refuses_the_damaged_row_only(store, tmp_path, record):
    status = store["status"]
    row = int(np.flatnonzero(status == fmt.ImageStatus.OK)[3])
    copy = tmp_path / "s.h5"
    shutil.copyfile(store["path"], copy)
    with open(copy, "r+b") as fh:
        fh.seek(store["pixels"] + row * SIZE * SIZE * 3 + 100)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0x01]))
    code = r"""
import sys, numpy as np
from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.errors import ChecksumMismatchError
ds = BIOSCAN5M(split="train+val+test", store=sys.argv[1], verify_reads=True, drop_bad_images=True, image_format="numpy")
row = int(sys.argv[2])
i = int(np.flatnonzero(ds.rows == row)[0])
served = sum(1 for j in range(len(ds)) if j != i and ds[j] is not None)
for name, read in (("item", lambda: ds[i]), ("batch", lambda: next(iter(batch_loader(ds, batch_size=len(ds)))))):
    try:
        read()
        print(name, "served")
    except ChecksumMismatchError as exc:
        print(name, type(exc).__name__, exc.row, "|", exc)
print("others", served, len(ds) - 1)
"""
    proc = run([sys.executable, "-c", code, str(copy), str(row)], timeout=120)
    assert crash(proc.returncode) is None and proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"item ChecksumMismatchError {row} |"), lines
    assert lines[1].startswith(f"batch ChecksumMismatchError {row} |"), lines
    others = lines[2].split()
    assert others[1] == others[2], lines  # every other row served
    message = lines[0].split("|", 1)[1].strip()
    assert f"row {row}" in message and "verify --full" in message
    record(
        "one pixel byte flipped, then the store read by `BIOSCAN5M(..., verify_reads=True)`",
        f"`ds[i]` and `batch_loader` raised `ChecksumMismatchError` (a `StoreFormatError`) for the damaged"
        f" row: {sanitize(message, 330)} Every other sample was served.",
        "Nothing is served from the damaged row.",
    )


def test_a_format_1_store_is_refused_naming_the_rebuild_command(tmp_path, record):
    copy = tmp_path / "golden_v1.h5"
    shutil.copyfile(GOLDEN, copy)
    with h5py.File(copy, "r+") as f:
        del f[fmt.CHECKSUMS]
        f.attrs[fmt.ATTR_VERSION] = 1
    proc = run_cli("verify", copy, "--full", "--no-progress")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "format version 1" in out and "`bioscan-h5 build --overwrite`" in out and "Traceback" not in out
    code = "import sys\nfrom bioscan_h5 import open_store\nopen_store(sys.argv[1], verify_reads=True)\n"
    ds = run([sys.executable, "-c", code, str(copy)], timeout=60)
    assert ds.returncode == 1 and "StoreVersionError" in ds.stderr and "bioscan-h5 build" in ds.stderr
    record(
        "`bioscan-h5 verify --full` and `open_store` on a store written by format version 1 (no checksums)",
        f"Both refused it with `StoreVersionError` naming the rebuild command (exit status {proc.returncode}):"
        f" `{sanitize(out.strip().splitlines()[-1], 300)}`",
        "Nothing: the file is only read.",
    )


def test_a_store_without_its_checksums_is_damaged_not_sound(tmp_path, record):
    """A format-2 store always has ``/checksums``: without it, ``verify --full`` fails the store and
    ``verify_reads=True`` refuses it as damaged (it used to pass as a store of format 1)."""
    copy = tmp_path / "no_checksums.h5"
    shutil.copyfile(GOLDEN, copy)
    with h5py.File(copy, "r+") as f:
        del f[fmt.CHECKSUMS]
    proc = run_cli("verify", copy, "--full", "--no-progress")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "FAIL" in out and "'/checksums'" in out and "--overwrite" in out and "OK" not in out, out
    code = "import sys\nfrom bioscan_h5 import open_store\nopen_store(sys.argv[1], verify_reads=True)\n"
    ds = run([sys.executable, "-c", code, str(copy)], timeout=60)
    assert ds.returncode == 1 and "StoreFormatError" in ds.stderr and "'/checksums'" in ds.stderr, ds.stderr
    record(
        "a store of format 2 whose /checksums group was deleted",
        f"`verify --full` failed it (exit status {proc.returncode}):"
        f" `{sanitize(out.strip().splitlines()[0], 300)}`; `open_store(verify_reads=True)` raised"
        " `StoreFormatError` with the same message.",
        "Nothing: the file is only read.",
    )


def test_verify_full_passes_a_clean_store_with_a_progress_bar(store):
    proc = run_cli("verify", store["path"], "--full")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"verifying: 100%", proc.stderr), proc.stderr[-500:]
    assert "every row and array matches its checksum" in proc.stdout


@pytest.mark.parametrize("width", [0, 1, 7, 8, 9, 63, 197])
def test_crc_rows_kernel_and_its_python_twin_equal_zlib(width):
    """The jitted CRC-32 kernel and its plain-Python twin both give zlib's CRC, from any start."""
    import zlib

    from bioscan_h5.checksums import _TABLES, crc_rows_kernel

    rng = np.random.default_rng(width)
    view = rng.integers(0, 256, size=(5, width), dtype=np.uint8)
    start = rng.integers(0, 2**32, size=5, dtype=np.uint64).astype(np.uint32)
    start[0] = 0
    want = np.array([zlib.crc32(view[i].tobytes(), int(start[i])) for i in range(5)], dtype=np.uint32)
    for fn in (crc_rows_kernel, crc_rows_kernel.py_func):
        crcs = start.copy()
        fn(view, crcs, _TABLES)
        np.testing.assert_array_equal(crcs, want, err_msg=f"{fn} width {width}")
