"""Damaged JPEG stores (issue 24): tables and bytes a reader trips on.

Each store is a copy of a real ``--pixels jpeg`` build edited with h5py, read by the
hostile-store reader (store API, ``BIOSCAN5M`` samples, ``batch_loader``) under a 4 GiB
address-space limit. Each must end in a named error (:class:`~bioscan_h5.errors.StoreFormatError`
at open or first use, :class:`~bioscan_h5.errors.ImageUnavailableError` for one row), never
wrong data or a foreign exception, and ``bioscan-h5 verify --full`` must report the damage.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt

from ._helpers import crash, run_cli, sanitize
from .test_allocation_bounds import _limited, read_limited
from .test_hostile_stores import _build

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]  # 7 stores read in full, 7 verify runs

SECTION = "Bad or foreign store files"


@pytest.fixture(scope="module")
def jpeg_store(_roots, tmp_path_factory) -> Path:
    pytest.importorskip("simplejpeg")
    return _build(
        _roots.get(n_rows=64, seed=11), tmp_path_factory.mktemp("jpeg") / "j.h5", content={"pixels": "jpeg"}
    )


def _set(name: str, row: int, value):
    def edit(f: h5py.File) -> None:
        f[name][row] = value

    return edit


def _flip_width(f: h5py.File) -> None:
    w, h = (int(x) for x in f[fmt.JPEG_SIZES][4])
    f[fmt.JPEG_SIZES][4] = (w ^ (1 << 10), h)


def _overflow(f: h5py.File) -> None:
    f[fmt.JPEG_OFFSETS][1] = 2**62
    f[fmt.JPEG_LENGTHS][1] = 2**62


def _bytes(row: int, make):
    def edit(f: h5py.File) -> None:
        start, n = int(f[fmt.JPEG_OFFSETS][row]), int(f[fmt.JPEG_LENGTHS][row])
        f[fmt.JPEG_BYTES][start : start + n] = make(n)

    return edit


def _halve_length(f: h5py.File) -> None:
    f[fmt.JPEG_LENGTHS][6] = int(f[fmt.JPEG_LENGTHS][6]) // 2


def _chunked(f: h5py.File) -> None:
    data = f[fmt.JPEG_BYTES][()]
    del f[fmt.JPEG_BYTES]
    f.create_dataset(fmt.JPEG_BYTES, data=data, chunks=(4096,))


CASES = {
    "a row whose status says OK but whose /jpeg/lengths entry is 0": _set(fmt.JPEG_LENGTHS, 2, 0),
    "a /jpeg/sizes entry of 0 x 0": _set(fmt.JPEG_SIZES, 4, (0, 0)),
    "a flipped bit in a /jpeg/sizes entry (the width 1024 px off)": _flip_width,
    "a row's offset and length of 2**62 each (their sum overflows int64)": _overflow,
    "a row's bytes replaced by random bytes (not an image)": _bytes(
        5, lambda n: np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8)
    ),
    "a row's /jpeg/lengths entry halved (a truncated JPEG)": _halve_length,
    "/jpeg/bytes stored chunked instead of contiguous": _chunked,
}


@pytest.mark.parametrize("name", list(CASES), ids=[n[:50] for n in CASES])
def test_a_damaged_jpeg_store_gives_a_named_error_and_verify_finds_it(name, jpeg_store, tmp_path, record):
    path = tmp_path / "store.h5"
    path.write_bytes(jpeg_store.read_bytes())
    with h5py.File(path, "r+", locking=False) as f:
        CASES[name](f)
    result = read_limited(path)
    assert all(r["outcome"] == "named" for r in result.values()), result
    types = sorted({r["type"] for r in result.values()})
    assert set(types) <= {"StoreFormatError", "ImageUnavailableError"}, result
    verify = run_cli("verify", "--full", "--no-progress", path, timeout=120, preexec_fn=_limited)
    assert crash(verify.returncode) is None and verify.returncode == 1, verify.stdout + verify.stderr
    fail = next(line for line in verify.stdout.splitlines() if line.startswith("FAIL"))
    record(
        f"JPEG store: {name}",
        f"{' or '.join(f'`{t}`' for t in types)} from the store API, `BIOSCAN5M` samples and `batch_loader`:"
        f" {sanitize(result['samples']['message'], 260)} `verify --full` exits 1: `{sanitize(fail, 200)}`",
        "Nothing served from the damaged tables or bytes.",
    )
