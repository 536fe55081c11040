"""Bad images flagged, counted and reported by in-process builds, and ``--strict``.

Bad images are flagged (row kept, pixels zero, status says why), counted, reported beside the
store and summarised; ``--strict`` turns them into an error. The generator's own faults and a
few planted files (a directory, links out of the image folder, a decompression bomb) go
through ``bioscan_h5.build.build`` in this process; ``test_bad_images.py`` plants many more
and runs the command.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bioscan_h5 import format as fmt
from bioscan_h5.errors import MetadataError
from bioscan_h5.format import ImageStatus
from bioscan_h5.store import open_store

from ._helpers import rows_done


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels and holds none (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# ------------------------------------------------------------------------------ bad images
def test_every_bad_image_is_flagged_counted_and_reported(make_root, build_store, tmp_path):
    root = make_root()
    outside = tmp_path / "outside.jpg"
    Image.new("RGB", (300, 256), (200, 100, 50)).save(outside)
    pretrain = root.split_rows("pretrain")
    extra = {}  # row -> (expected status, what was done)
    r = iter(pretrain[5:])
    row = next(r)
    root.image_path(row).unlink()
    root.image_path(row).mkdir()
    extra[row] = ImageStatus.NOT_A_FILE
    row = next(r)
    root.image_path(row).unlink()
    root.image_path(row).symlink_to(outside)
    extra[row] = ImageStatus.OUTSIDE_ROOT
    row = next(r)
    root.image_path(row).unlink()
    root.image_path(row).symlink_to(root.image_dir() / ".." / ".." / ".." / ".." / outside.relative_to("/"))
    extra[row] = ImageStatus.OUTSIDE_ROOT
    row = next(r)
    root.image_path(row).write_bytes(png_header_only(30_000, 30_000))
    extra[row] = ImageStatus.TOO_LARGE
    row = next(r)
    root.image_path(row).unlink()
    root.image_path(row).symlink_to(root.image_dir() / "does-not-exist.jpg")  # dangling, inside
    extra[row] = ImageStatus.MISSING
    inside_row = next(r)
    target = root.image_path(pretrain[0])
    root.image_path(inside_row).unlink()
    root.image_path(inside_row).symlink_to(target)  # a link inside the image folder is fine

    res = build_store(root, image_size=24, out=tmp_path / "s.h5", workers=2, draft=False)
    kinds = {f["row"]: f["kind"] for f in root.faults()}
    by_kind = {
        "zero_bytes": ImageStatus.EMPTY,
        "truncated": ImageStatus.UNDECODABLE,
        "not_an_image": ImageStatus.UNDECODABLE,
        "missing": ImageStatus.MISSING,
        "grayscale": ImageStatus.OK,
        "cmyk": ImageStatus.OK,
        "png_named_jpg": ImageStatus.OK,
    }
    expected = {row: by_kind[kind] for row, kind in kinds.items()} | extra
    bad = {row for row, status in expected.items() if status != ImageStatus.OK}
    report = json.loads(Path(res.report).read_text(encoding="utf-8"))
    assert Path(res.report).parent == Path(res.store).parent  # written beside the store
    assert {b["row"]: b["status"] for b in report["bad_images"]} == {r: expected[r].name for r in bad}
    assert len(res.bad_rows) == len(bad)
    with open_store(res.store) as st:
        assert len(st) == root.n_rows  # every row kept
        status = np.asarray(st.image_status)
        for row, want in expected.items():
            assert status[row] == want, (row, ImageStatus(status[row]), want)
        for row in bad:
            assert not st.images[row].any()
            assert not st.image_ok[row]
            assert st.labels["phylum"][row] >= 0  # the row's labels are still there
        assert np.array_equal(st.images[inside_row], st.images[pretrain[0]])
        counts = json.loads(st.attrs[fmt.ATTR_COUNTS])
    for s in ImageStatus:
        assert counts[s.name] == int((status == s).sum())
        assert res.counts[s.name] == counts[s.name]
    assert counts["OUTSIDE_ROOT"] == 2 and counts["TOO_LARGE"] == 1 and counts["NOT_A_FILE"] == 1
    too_large = next(b for b in report["bad_images"] if b["status"] == "TOO_LARGE")
    assert "decompression bomb" in too_large["detail"].lower() or "exceeds limit" in too_large["detail"]


def test_decodable_oddities_become_rgb(sample_root_5m, store_5m):
    """Grayscale and CMYK JPEGs and a PNG named .jpg are decoded to RGB like any image."""
    with open_store(store_5m) as st:
        for kind in ("grayscale", "cmyk", "png_named_jpg"):
            row = sample_root_5m.fault_row(kind)
            assert st.image_status[row] == ImageStatus.OK, kind
            img = np.asarray(st.images[row])
            assert img.shape == (256, 256, 3) and img.any()
            w, h = sample_root_5m.manifest["image_sizes"]["cropped_256"][row]
            assert tuple(st.image_source_size[row]) == (w, h)
        gray = np.asarray(st.images[sample_root_5m.fault_row("grayscale")])
        assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    with Image.open(sample_root_5m.fault_path("png_named_jpg")) as im:
        assert im.format == "PNG"
    with Image.open(sample_root_5m.fault_path("cmyk")) as im:
        assert im.mode == "CMYK"


@pytest.mark.subprocess
def test_strict_stops_at_the_first_bad_image(make_root, build_store, run_cli, tmp_path):
    root = make_root()
    out = tmp_path / "s.h5"
    with pytest.raises(MetadataError, match="--strict stops at the first bad image") as info:
        build_store(root, image_size=16, out=out, strict=True, workers=2)
    first_bad = min(root.undecodable_rows)
    assert info.value.row == first_bad
    assert info.value.path == str(root.image_path(first_bad))
    partial = fmt.partial_path(str(out))
    assert os.path.exists(partial) and not out.exists()
    assert 0 < rows_done(partial) <= first_bad  # the rows before it are kept, the bad one is not
    # A rerun with --strict checks the same file again (the bad row was not recorded).
    args = ["build", "--root", root.root, "--image-size", 16, "--out", out, "--no-progress"]
    proc = run_cli(*args, "--strict")
    assert proc.returncode == 2
    assert "bioscan-h5 build: error:" in proc.stderr
    assert str(root.image_path(first_bad)) in proc.stderr
    assert "without --strict" in proc.stderr
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(root.undecodable_rows)} bad image(s) flagged" in proc.stdout


def test_strict_failure_of_a_compressed_build_releases_the_file(make_root, build_store, tmp_path):
    root = make_root()
    out = tmp_path / "s.h5"
    with pytest.raises(MetadataError):
        build_store(root, image_size=16, out=out, strict=True, compression="lzf", workers=1)
    res = build_store(root, image_size=16, out=out, compression="lzf", workers=1)  # same process
    assert res.resumed
    with open_store(out) as st:
        assert st.image_ok.sum() == root.n_rows - len(root.undecodable_rows)
