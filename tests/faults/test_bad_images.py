"""Bad images: every kind of broken, odd or hostile image file in one real build.

The faults are planted into a clean generated root (not the generator's own faults), the root
is built by the ``bioscan-h5`` command in a subprocess with two decoding workers, and then the
report, the printed summary, ``bioscan-h5 info`` and the store are checked row by row. Rows
whose file still holds an image must come out equal to an independent decode (Pillow to RGB,
then torchvision's ``Resize`` + ``CenterCrop``), every other row must be flagged with the
status the builder defines, and keep its metadata.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bioscan_h5 import format as fmt
from bioscan_h5.errors import ImageUnavailableError
from bioscan_h5.format import ImageStatus
from bioscan_h5.layouts import get_layout
from bioscan_h5.store import open_store

from ._helpers import IMAGE_SIDE, assert_no_crash, differences, run_cli, store_arrays, subprocess_env

pytestmark = pytest.mark.subprocess

SECTION = "Bad images"
SIZE = 32


# ------------------------------------------------------------------------------ hostile files
def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels and holds none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def jpeg_header_only(width: int, height: int) -> bytes:
    """A JPEG whose frame header (SOF0) declares ``width x height`` pixels, and no scan."""
    sof = (
        b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    )
    return b"\xff\xd8" + sof + b"\xff\xd9"


def encode(im: Image.Image, format: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=format, **kw)
    return buf.getvalue()


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 0 0 moveto 64 64 lineto stroke\nshowpage\n"

FAKE_GS = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/../gs-ran"
exit 1
"""


@dataclass
class Fault:
    """One planted file: what it is, what the builder must say, and how to make it."""

    name: str
    status: ImageStatus
    plant: Callable[[Path, Path, dict], None]  #: (image path, scratch folder, context) -> None
    note: str = ""


def _write(data: bytes | Callable[[Image.Image], bytes]):
    def plant(path: Path, scratch: Path, ctx: dict) -> None:
        path.write_bytes(data(ctx["image"]) if callable(data) else data)

    return plant


def _gray16(im: Image.Image) -> bytes:
    a = np.asarray(im.convert("L"), dtype=np.uint16) * 257 + np.arange(im.width, dtype=np.uint16) % 200
    return encode(Image.fromarray(a.astype(np.uint16)), "PNG")


def _directory(path: Path, scratch: Path, ctx: dict) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside.jpg").write_bytes(ctx["jpeg"])


def _fifo(path: Path, scratch: Path, ctx: dict) -> None:
    path.unlink()
    os.mkfifo(path)


def _link_outside(path: Path, scratch: Path, ctx: dict) -> None:
    target = scratch / "outside.jpg"  # a good image, so following the link would "work"
    target.write_bytes(ctx["jpeg"])
    path.unlink()
    path.symlink_to(target)


def _link_inside(path: Path, scratch: Path, ctx: dict) -> None:
    path.unlink()
    path.symlink_to(os.path.relpath(ctx["sibling"], path.parent))


def _dangling(path: Path, scratch: Path, ctx: dict) -> None:
    path.unlink()
    path.symlink_to(path.with_name("no-such-file.jpg"))


def _missing(path: Path, scratch: Path, ctx: dict) -> None:
    path.unlink()


FAULTS = [
    Fault(
        "truncated JPEG (the first half of the file)",
        ImageStatus.UNDECODABLE,
        lambda p, s, c: p.write_bytes(c["jpeg"][: len(c["jpeg"]) // 2]),
    ),
    Fault("zero-byte file", ImageStatus.EMPTY, _write(b"")),
    Fault("random bytes named .jpg", ImageStatus.UNDECODABLE, _write(np.random.default_rng(1).bytes(6000))),
    Fault("PNG named .jpg", ImageStatus.OK, _write(lambda im: encode(im, "PNG"))),
    Fault("CMYK JPEG", ImageStatus.OK, _write(lambda im: encode(im.convert("CMYK"), "JPEG", quality=90))),
    Fault("grayscale JPEG", ImageStatus.OK, _write(lambda im: encode(im.convert("L"), "JPEG", quality=90))),
    Fault('16-bit grayscale PNG (mode "I;16")', ImageStatus.OK, _write(_gray16)),
    Fault("RGBA PNG", ImageStatus.OK, _write(lambda im: encode(im.convert("RGBA"), "PNG"))),
    Fault("palette GIF named .jpg", ImageStatus.OK, _write(lambda im: encode(im.convert("P"), "GIF"))),
    Fault("truncated PNG", ImageStatus.UNDECODABLE, _write(lambda im: encode(im, "PNG")[:300])),
    Fault(
        "decompression bomb: a 57-byte PNG declaring 100000 x 100000 pixels",
        ImageStatus.TOO_LARGE,
        _write(png_header_only(100_000, 100_000)),
    ),
    Fault(
        "decompression bomb: a PNG declaring 10000 x 10000 pixels (over Pillow's warning limit only)",
        ImageStatus.TOO_LARGE,
        _write(png_header_only(10_000, 10_000)),
    ),
    Fault(
        "decompression bomb: a JPEG frame header declaring 65000 x 65000 pixels",
        ImageStatus.TOO_LARGE,
        _write(jpeg_header_only(65_000, 65_000)),
    ),
    Fault("a directory where the image file should be", ImageStatus.NOT_A_FILE, _directory),
    Fault("a named pipe (FIFO) where the image file should be", ImageStatus.NOT_A_FILE, _fifo),
    Fault(
        "a symbolic link to a good image outside the image folder", ImageStatus.OUTSIDE_ROOT, _link_outside
    ),
    Fault("a dangling symbolic link", ImageStatus.MISSING, _dangling),
    Fault("no file at all", ImageStatus.MISSING, _missing),
    Fault(
        "PostScript (EPS) named .jpg, with a `gs` on PATH",
        ImageStatus.UNDECODABLE,
        _write(EPS),
        note="Pillow's EPS plugin would run Ghostscript on it",
    ),
    Fault("a symbolic link to another image inside the image folder (allowed)", ImageStatus.OK, _link_inside),
]


def oracle(path: Path, size: int) -> np.ndarray:
    """The expected pixels: Pillow to RGB (16-bit: high byte), torchvision Resize + CenterCrop."""
    from torchvision.transforms import v2

    with Image.open(path) as im:
        im.load()
        if im.mode.startswith("I;16"):
            a = np.asarray(im, dtype=np.uint16) >> 8
            im = Image.fromarray(a.astype(np.uint8), mode="L")
        rgb = im.convert("RGB")
    return np.asarray(v2.CenterCrop(size)(v2.Resize(size, antialias=True)(rgb)))


@pytest.fixture(scope="module")
def planted(_roots, tmp_path_factory) -> dict:
    """A clean root with every fault planted, built once by the CLI; what came out."""
    base = tmp_path_factory.mktemp("bad-images")
    root = base / "root"
    shutil.copytree(_roots.get(n_rows=64, seed=11), root, symlinks=True)
    layout = get_layout("bioscan5m")
    table = layout.read(str(root), None)
    image_dir = Path(layout.image_dir(str(root), "cropped_256"))
    rel = layout.image_relpaths(table, np.arange(table.n_rows))
    ids = [v.decode() for v in table.columns["processid"].values]
    rows = {f.name: 1 + 3 * i for i, f in enumerate(FAULTS)}
    sibling_row = 2  # never planted (planted rows are 1, 4, 7, ...)
    scratch = base / "outside"
    scratch.mkdir()
    for fault in FAULTS:
        path = image_dir / rel[rows[fault.name]]
        with Image.open(path) as im:
            im.load()
            image = im.copy()
        ctx = {"image": image, "jpeg": path.read_bytes(), "sibling": image_dir / rel[sibling_row]}
        fault.plant(path, scratch, ctx)
    gs_dir = base / "bin"
    gs_dir.mkdir()
    (gs_dir / "gs").write_text(FAKE_GS)
    (gs_dir / "gs").chmod(0o755)
    env = subprocess_env(PATH=f"{gs_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    out = base / "s.h5"
    proc = run_cli(
        "build",
        "--root",
        root,
        "--image-size",
        SIZE,
        "--no-draft",
        "--workers",
        2,
        "--out",
        out,
        "--no-progress",
        env=env,
        timeout=180,
    )
    assert_no_crash(proc)
    assert proc.returncode == 0, proc.stderr
    clean = base / "clean.h5"  # the untouched root, metadata only
    proc_clean = run_cli("build", "--root", _roots.get(n_rows=64, seed=11), "--no-images", "--out", clean)
    assert proc_clean.returncode == 0, proc_clean.stderr
    info = run_cli("info", out, "--json")
    assert info.returncode == 0, info.stderr
    return {
        "root": root,
        "image_dir": image_dir,
        "rel": rel,
        "ids": ids,
        "rows": rows,
        "out": out,
        "clean": clean,
        "proc": proc,
        "info": json.loads(info.stdout),
        "report": json.loads(Path(fmt.report_path(str(out))).read_text()),
        "gs_ran": (base / "gs-ran").exists(),
    }


def test_counts_report_summary_and_info_agree(planted):
    bad = [f for f in FAULTS if f.status != ImageStatus.OK]
    report, info, out = planted["report"], planted["info"], planted["proc"].stdout
    expected_counts = {s.name: 0 for s in ImageStatus}
    expected_counts["OK"] = 64 - len(bad)
    for f in bad:
        expected_counts[f.status.name] += 1
    assert report["counts"] == expected_counts
    assert info["bad_images"] == len(bad)
    assert info["images"]["ok"] == 64 - len(bad)
    assert [b["row"] for b in report["bad_images"]] == sorted(planted["rows"][f.name] for f in bad)
    assert f"{len(bad)} bad image(s) flagged" in out
    listed = sorted(report["bad_images"], key=lambda b: b["row"])
    for b in listed[:10]:
        assert f"row {b['row']} {b['id']!r} {b['path']}: {b['reason']}" in out
    assert f"... and {len(bad) - 10} more" in out


def test_every_row_keeps_its_metadata(planted):
    got, _ = store_arrays(planted["out"])
    want, _ = store_arrays(planted["clean"])
    pixels = IMAGE_SIDE  # the pixels, statuses and source sizes, and (format 2) their checksums
    assert (
        differences(
            {k: v for k, v in got.items() if k not in pixels},
            {k: v for k, v in want.items() if k not in pixels},
        )
        == []
    )


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_each_planted_fault(planted, fault, record):
    row = planted["rows"][fault.name]
    path = planted["image_dir"] / planted["rel"][row]
    with open_store(planted["out"]) as st:
        status = ImageStatus(int(st.image_status[row]))
        pixels = np.asarray(st.images[row])
        pid = st.column_values("processid", [row])[0]
    assert status is fault.status
    assert pid == planted["ids"][row]  # the row keeps its metadata
    entry = next((b for b in planted["report"]["bad_images"] if b["row"] == row), None)
    if fault.status is ImageStatus.OK:
        assert entry is None
        np.testing.assert_array_equal(pixels, oracle(path, SIZE))
        did = (
            "Decoded to RGB; pixels equal to an independent decode (Pillow, torchvision Resize + CenterCrop)"
        )
        if "16-bit" in fault.name:
            did += "; 16-bit samples keep their high byte"
        if "RGBA" in fault.name:
            did += "; alpha dropped"
        if "inside" in fault.name:
            did = "Followed (the link stays inside the image folder); " + did[0].lower() + did[1:]
        record(fault.name, did + ".", "Nothing.")
        return
    assert not pixels.any()
    assert entry == {
        "row": row,
        "id": planted["ids"][row],
        "path": planted["rel"][row],
        "status": fault.status.name,
        "reason": fault.status.reason,
        "detail": entry["detail"],
    }
    if fault.status in (ImageStatus.UNDECODABLE, ImageStatus.TOO_LARGE):
        assert entry["detail"]
    if fault.note:
        assert not planted["gs_ran"], "the build ran the fake Ghostscript"
    if "FIFO" in fault.name:
        assert stat.S_ISFIFO(os.lstat(path).st_mode)
    detail = f" (decoder: {entry['detail'].rstrip('.')})" if entry["detail"] else ""
    did = (
        f"Flagged `{fault.status.name}`: {fault.status.reason}{detail}. Counted in the report and in `info`,"
        " listed in the report and in the printed summary."
    )
    if fault.note:
        did += f" {fault.note}: only raster formats are opened, and the fake `gs` never ran."
    if "FIFO" in fault.name:
        did += " Never opened, so the build did not block on it."
    if "outside" in fault.name:
        did += " The link was not followed, although its target is a good image."
    record(
        fault.name,
        did,
        "Nothing: the row is kept with its labels and barcode; its image reads as zeros and `image_status`"
        " says why.",
    )


def test_the_dataset_names_a_bad_row_and_can_leave_bad_rows_out(planted, record):
    from bioscan_h5 import BIOSCAN5M

    with open_store(planted["out"]) as st:
        bad_rows = np.flatnonzero(st.image_status[:] > ImageStatus.OK)
        split_col = np.asarray(st.codes("split"))
        cats = st.categories("split")
    split = cats[split_col[bad_rows[0]]]
    ds = BIOSCAN5M(planted["root"], split=split, store=planted["out"], image_format="numpy")
    position = int(np.flatnonzero(ds.rows == bad_rows[0])[0])
    with pytest.raises(ImageUnavailableError) as info:
        ds[position]
    kept = BIOSCAN5M(planted["root"], split=split, store=planted["out"], drop_bad_images=True)
    n_bad_in_split = int(np.isin(bad_rows, ds.rows).sum())
    assert len(kept) == len(ds) - n_bad_in_split
    record(
        "Reading a flagged row through `BIOSCAN5M`",
        f"`ImageUnavailableError`: {str(info.value).rstrip('.')}. With `drop_bad_images=True` the split leaves its"
        f" {n_bad_in_split} flagged row(s) out.",
        "Nothing.",
    )
