"""One crafted value that would set a huge allocation (issue 24): stores, builds, archives, loaders.

Stores are copies of real builds edited with h5py and read by the hostile-store reader (the
store API, ``BIOSCAN5M`` samples, ``batch_loader`` batches) under a 4 GiB address-space limit,
so an allocation the size the crafted value asks for fails at once instead of waking the
kernel's OOM killer. Each must end in a named error, and ``bioscan-h5 verify --full`` must
report it. Build options and archives go through the real command line or API.
"""

from __future__ import annotations

import json
import resource
import sys
import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt

from ._helpers import METADATA, crash, run, run_cli, sanitize
from .test_hostile_stores import READER, _build

pytestmark = pytest.mark.subprocess

SECTION = "Bad or foreign store files"

#: Address space of the reader: far above what a 16 px store needs, far below the blow-ups.
LIMIT = 4 << 30


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def read_limited(path: Path, **kw) -> dict:
    proc = run([sys.executable, "-c", READER, str(path), json.dumps(kw)], timeout=120, preexec_fn=_limited)
    sig = crash(proc.returncode)
    assert sig is None, f"the reader crashed ({sig}): {proc.stderr[-2000:]}"
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def stores(_roots, tmp_path_factory) -> dict:
    root = _roots.get(n_rows=64, seed=11)
    base = tmp_path_factory.mktemp("bounds")
    out = {
        "raw": _build(root, base / "raw.h5"),
        "whole": _build(root, base / "whole.h5", content={"max_nucleotides": 8}),
        "lzf": _build(root, base / "lzf.h5", content={"compression": "lzf"}),
    }
    pytest.importorskip("simplejpeg")
    out["jpeg"] = _build(root, base / "jpeg.h5", content={"pixels": "jpeg"})
    return out


def _image_size(value: int):
    def edit(f: h5py.File) -> None:
        f.attrs[fmt.ATTR_IMAGE_SIZE] = value

    return edit


def _lzf_rows(side: int):
    def edit(f: h5py.File) -> None:
        n = int(f.attrs[fmt.ATTR_N_ROWS])
        del f[fmt.IMAGES]
        shape = (n, side, side, 3)
        f.create_dataset(fmt.IMAGES, shape=shape, dtype="u1", chunks=(1, side, side, 3), compression="lzf")
        f.attrs[fmt.ATTR_IMAGE_SIZE] = side

    return edit


def _full_length(value: int):
    def edit(f: h5py.File) -> None:
        f[fmt.DNA_FULL_LENGTHS][5] = value

    return edit


def _sof(data: bytes) -> int:
    """Offset of the height field of the first SOF marker of a JPEG."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return i + 5
        i += 2 + length
    raise AssertionError("no SOF marker")


def _jpeg_bomb(side: int, table: bool):
    """Row 3's JPEG declares ``side`` x ``side`` pixels (and so does /jpeg/sizes, with ``table``)."""

    def edit(f: h5py.File) -> None:
        start, n = int(f[fmt.JPEG_OFFSETS][3]), int(f[fmt.JPEG_LENGTHS][3])
        data = bytearray(f[fmt.JPEG_BYTES][start : start + n].tobytes())
        at = _sof(bytes(data))
        data[at : at + 4] = side.to_bytes(2, "big") * 2
        f[fmt.JPEG_BYTES][start : start + n] = np.frombuffer(bytes(data), dtype=np.uint8)
        if table:
            f[fmt.JPEG_SIZES][3] = (side, side)

    return edit


WAYS = {"store_api": "the store API", "samples": "`BIOSCAN5M` samples", "batches": "`batch_loader`"}

CASES = {
    "the store's image_size attribute set to 2**31 - 1": ("raw", _image_size(2**31 - 1), "image_size"),
    "an lzf store whose pixel dataset declares rows of 20000 x 20000 px (1.2 GB per ds[i])": (
        "lzf",
        _lzf_rows(20000),
        "image_size",
    ),
    "one row's /dna/full_lengths set to 2**27 (the width of every whole-barcode batch)": (
        "whole",
        _full_length(2**27),
        "full_lengths",
    ),
    "a JPEG store row whose JPEG and /jpeg/sizes declare 60000 x 60000 px (a decompression bomb)": (
        "jpeg",
        _jpeg_bomb(60000, True),
        "jpeg/sizes",
    ),
    "a JPEG store row whose JPEG declares 60000 x 60000 px, its /jpeg/sizes entry left as it was": (
        "jpeg",
        _jpeg_bomb(60000, False),
        "row 3",
    ),
}


@pytest.mark.parametrize("name", list(CASES), ids=[n[:50] for n in CASES])
def test_a_crafted_size_in_a_store_is_refused_before_it_is_allocated(name, stores, tmp_path, record):
    kind, edit, word = CASES[name]
    path = tmp_path / "store.h5"
    path.write_bytes(Path(stores[kind]).read_bytes())
    with h5py.File(path, "r+", locking=False) as f:
        edit(f)
    kw = {"modality": ["dna"], "max_nucleotides": None} if kind == "whole" else {}
    result = read_limited(path, **kw)
    named = {way: r for way, r in result.items() if r["outcome"] == "named"}
    assert all(r["outcome"] in ("named", "read") for r in result.values()), result
    assert {"samples", "batches"} <= set(named), result  # the store API may not use the value
    assert all(word in r["message"] for r in named.values()), result
    verify = run_cli("verify", "--full", "--no-progress", path, timeout=120, preexec_fn=_limited)
    assert crash(verify.returncode) is None and verify.returncode == 1, verify.stdout + verify.stderr
    assert word in verify.stdout, verify.stdout
    types = sorted({r["type"] for r in named.values()})
    record(
        name,
        f"{', '.join(f'`{t}`' for t in types)} from {', '.join(WAYS[w] for w in named)} (under a 4 GiB"
        f" address-space limit): {sanitize(result['samples']['message'], 300)} `verify --full` exits 1 and"
        " reports it.",
        "Nothing allocated beyond the format's limits; nothing served from the crafted value.",
    )


# ------------------------------------------------------------------------------ builds
def test_build_workers_beyond_the_cores_are_capped_with_a_note(shared_root, tmp_path, record):
    out = tmp_path / "s.h5"
    proc = run_cli(
        "build",
        "--root",
        shared_root(),
        "--image-size",
        16,
        "--out",
        out,
        "--no-progress",
        "--workers",
        100000,
    )
    assert proc.returncode == 0, proc.stderr
    note = [line for line in proc.stderr.splitlines() if "100000" in line]
    assert note and "cores" in note[0], proc.stderr
    record(
        "`bioscan-h5 build --workers 100000` on a machine of a few cores",
        f"Built with one decoding worker per usable core, and said so: `{sanitize(note[0])}`",
        "Nothing.",
    )


@pytest.mark.parametrize("pixels", ["raw", "jpeg"])
def test_an_image_size_beyond_the_format_limit_is_refused(pixels, shared_root, tmp_path, record):
    out = tmp_path / "s.h5"
    proc = run_cli(
        "build",
        "--root",
        shared_root(),
        "--image-size",
        100000,
        "--pixels",
        pixels,
        "--out",
        out,
        "--no-progress",
        timeout=60,
        preexec_fn=_limited,
    )
    assert crash(proc.returncode) is None
    assert proc.returncode == 2, proc.stderr
    assert "100000" in proc.stderr and str(fmt.MAX_IMAGE_SIZE) in proc.stderr
    assert not out.exists()
    if pixels == "jpeg":
        record(
            "`bioscan-h5 build --pixels jpeg --image-size 100000` (each image's check decode would take 30 GB)",
            f"Refused before anything is decoded, exit code 2: `{sanitize(proc.stderr.strip().splitlines()[-1])}`",
            "Nothing (nothing had been written).",
        )


@pytest.mark.parametrize("where", ["header", "data"])
def test_a_metadata_line_without_end_is_refused(where, fault_root, tmp_path, record):
    root = fault_root()
    meta = root / METADATA["bioscan5m"]
    lines = meta.read_bytes().split(b"\n")
    k = 0 if where == "header" else 5
    lines[k] = lines[k] + b"x" * (40 << 20)  # 40 MB on one line
    meta.write_bytes(b"\n".join(lines))
    proc = run_cli(
        "build",
        "--root",
        root,
        "--no-images",
        "--out",
        tmp_path / "s.h5",
        "--no-progress",
        timeout=120,
        preexec_fn=_limited,
    )
    assert crash(proc.returncode) is None
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert f"line {k + 1}" in message and "MB" in message, message
    record(
        f"A metadata file whose {where} line is 40 MB long (no line break; a 2 GB one is refused alike)",
        f"Refused before pandas reads it, exit code 2: `{sanitize(message)}`",
        "Nothing (nothing had been written).",
    )


# ------------------------------------------------------------------------------ archives, loaders
def test_a_zip_listing_one_member_many_times_is_refused(tmp_path, record):
    from bioscan_h5.download.extract import safe_extract
    from bioscan_h5.errors import DownloadError

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile's "Duplicate name" warning: the point of the archive
        for _ in range(30):
            zf.writestr("bioscan/images/a.jpg", b"\0" * (1 << 20))
    dest = tmp_path / "root"
    with pytest.raises(DownloadError) as err:
        safe_extract(archive, dest)
    assert "'bioscan/images/a.jpg'" in str(err.value) and "30" in str(err.value)
    assert not dest.exists() or not any(dest.rglob("*.jpg"))
    record(
        "A zip whose central directory lists one member 30 times (each entry 1 MB; 30 times the bytes written)",
        f"`DownloadError` before anything is written: `{sanitize(str(err.value))}`",
        "Nothing (nothing had been written).",
    )


def test_batch_loader_with_a_batch_larger_than_the_dataset(shared_root, tmp_path, record):
    code = r"""
import sys, resource, numpy as np, torch
from torch.utils.data import DataLoader
from bioscan_h5 import BIOSCAN5M, batch_loader
ds = BIOSCAN5M(split="all", store=sys.argv[1], image_format="numpy", target_type="species")
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
for workers in (0, 2):
    got = list(batch_loader(ds, batch_size=10**8, num_workers=workers, copy=True))
    assert len(got) == 1 and len(got[0]["index"]) == len(ds), [len(b["index"]) for b in got]
    want = next(iter(DataLoader(ds, batch_size=10**8)))
    assert np.array_equal(got[0]["image"].numpy(), want[0].permute(0, 3, 1, 2).numpy())
    assert len(list(DataLoader(ds, batch_size=10**8))) == 1
print("ok", len(ds))
"""
    out = tmp_path / "s.h5"
    proc = run_cli(
        "build", "--root", shared_root(n_rows=120, seed=2), "--image-size", 16, "--out", out, "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    proc = run([sys.executable, "-c", code, str(out)], timeout=120)
    assert crash(proc.returncode) is None
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr[-3000:]
    record(
        "`batch_loader(ds, batch_size=10**8)` on a dataset of 120 rows (0 and 2 gathering threads)",
        "One batch of all 120 samples, equal to DataLoader's one batch: the batch buffers are sized by the"
        " dataset's length, not the batch size.",
        "Nothing.",
    )
