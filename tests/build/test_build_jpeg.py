"""``build --pixels jpeg`` (issue 12): the source bytes in one block, bad files flagged as in a raw
build, resume, extension, re-encoding at a quality, the size on disk, and the configuration."""

from __future__ import annotations

import json
import os
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

from bioscan_h5 import format as fmt
from bioscan_h5 import open_store
from bioscan_h5.build import BuildConfig
from bioscan_h5.errors import BuildInterrupted, InvalidArgumentError, ResumeMismatchError
from bioscan_h5.format import ImageStatus
from bioscan_h5.pixels import jpeg_build
from bioscan_h5.verify import verify_store


def _paths(sample_root, rows) -> list:
    return [sample_root.image_path(int(r)) for r in rows]


def test_the_bytes_are_the_source_files(sample_root_5m, jpeg_store_5m, store_5m):
    with open_store(jpeg_store_5m) as st, open_store(store_5m) as raw:
        assert st.codec.name == "jpeg" and raw.codec.name == "raw"
        assert fmt.IMAGES not in st.file
        block = st.file[fmt.JPEG_BYTES]
        assert block.chunks is None and block.compression is None and block.dtype == np.uint8
        assert block.id.get_offset() is not None  # one contiguous block (read in memory when small)
        for name in (fmt.JPEG_OFFSETS, fmt.JPEG_LENGTHS):
            assert st.file[name].dtype == np.int64 and st.file[name].chunks is None
        # bad files flagged exactly as in a raw build; sizes from the same headers
        assert np.array_equal(st.image_status, raw.image_status)
        assert np.array_equal(st.image_source_size, raw.image_source_size)
        jp = st.pixel_block
        ok = np.flatnonzero(st.image_ok)
        assert np.array_equal(np.flatnonzero(jp.lengths), ok)
        assert jp.nbytes == int(jp.lengths.sum())  # nothing but the images' bytes
        for row, path in zip(ok, _paths(sample_root_5m, ok)):
            data = path.read_bytes()
            assert jp.encoded(int(row)) == data
            with Image.open(path) as img:
                assert bytes(jp.modes[row]).decode() == img.mode
                assert tuple(jp.sizes[row]) == img.size
        assert json.loads(st.attrs[fmt.ATTR_BUILD_ARGS])["pixels"] == "jpeg"
        assert int(st.attrs[fmt.ATTR_JPEG_QUALITY]) == 0


def test_the_same_bad_rows_and_report_as_a_raw_build(sample_root_5m, jpeg_store_5m, store_5m):
    def report(path):
        with open(fmt.report_path(str(path))) as fh:
            return [(b["row"], b["status"]) for b in json.load(fh)["bad_images"]]

    assert report(jpeg_store_5m) == report(store_5m) != []
    kinds = {f["kind"] for f in sample_root_5m.faults()}
    assert {"grayscale", "cmyk", "png_named_jpg"} <= kinds
    with open_store(jpeg_store_5m) as st:
        for kind, mode in (("grayscale", b"L"), ("cmyk", b"CMYK"), ("png_named_jpg", b"RGB")):
            row = sample_root_5m.fault_row(kind)
            assert st.image_status[row] == ImageStatus.OK
            assert bytes(st.pixel_block.modes[row]) == mode


def test_size_on_disk(make_root, build_store, tmp_path):
    """train+val+test: <= 1.05 x the source bytes + what a metadata-only store holds."""
    root = make_root()
    splits = "train+val+test"
    jpeg = build_store(root, out=tmp_path / "j.h5", pixels="jpeg", splits=splits, workers=1)
    meta = build_store(root, out=tmp_path / "m.h5", no_images=True, workers=1)
    with open_store(jpeg.store) as st:
        rows = st.indices(splits)
        source = sum(p.stat().st_size for p in _paths(root, rows) if p.is_file())
    disk = os.stat(jpeg.store).st_blocks * 512
    assert disk <= 1.05 * source + os.stat(meta.store).st_blocks * 512
    assert os.path.getsize(jpeg.store) <= 1.05 * source + os.path.getsize(meta.store)


def _interrupt_after(monkeypatch, n: int) -> None:
    real = jpeg_build.JpegWriter.write
    count = {"n": 0}

    def write(self, *args):
        count["n"] += 1
        if count["n"] > n:
            raise KeyboardInterrupt
        real(self, *args)

    monkeypatch.setattr(jpeg_build.JpegWriter, "write", write)


@pytest.mark.parametrize("spool", ["kept", "deleted", "cut"])
def test_resume_gives_the_uninterrupted_store(
    sample_root_5m, jpeg_store_5m, build_store, tmp_path, monkeypatch, assert_stores_equal, spool
):
    out = tmp_path / "r.h5"
    _interrupt_after(monkeypatch, 150)
    with pytest.raises(BuildInterrupted):
        build_store(sample_root_5m, out=out, pixels="jpeg", workers=1)
    monkeypatch.undo()
    partial = fmt.partial_path(str(out))
    spool_file = fmt.spool_path(str(out))
    with open_store(partial, allow_incomplete=True) as st:
        done = int((st.image_status != ImageStatus.PENDING).sum())
    assert 0 < done <= 150
    if spool == "deleted":
        os.unlink(spool_file)
    elif spool == "cut":
        os.truncate(spool_file, os.path.getsize(spool_file) // 2)
    res = build_store(sample_root_5m, out=out, pixels="jpeg", workers=1)
    assert res.resumed
    assert not os.path.exists(spool_file) and not os.path.exists(partial)
    assert_stores_equal(out, jpeg_store_5m)


def _same_images(a, b) -> None:
    """Same statuses, and the same bytes, size and mode per row (wherever they lie in the block)."""
    with open_store(a) as x, open_store(b) as y:
        assert np.array_equal(x.image_status, y.image_status)
        assert np.array_equal(x.image_source_size, y.image_source_size)
        for r in range(x.n_rows):
            assert x.pixel_block.encoded(r) == y.pixel_block.encoded(r), r
        assert np.array_equal(x.pixel_block.modes, y.pixel_block.modes) and np.array_equal(
            x.pixel_block.sizes, y.pixel_block.sizes
        )
        assert x.pixel_block.nbytes == y.pixel_block.nbytes == int(x.pixel_block.lengths.sum())


def test_extension_adds_splits_without_leftover_bytes(sample_root_5m, build_store, tmp_path):
    out, direct = tmp_path / "e.h5", tmp_path / "d.h5"
    build_store(sample_root_5m, out=out, pixels="jpeg", splits="val", workers=1)
    with open_store(out) as st:
        assert st.image_status[st.indices("test")].max() == ImageStatus.PENDING
        old = os.path.getsize(out)
    res = build_store(sample_root_5m, out=out, pixels="jpeg", splits="val+test", workers=2)
    assert res.processed_now == len(sample_root_5m.split_rows("test")) and os.path.getsize(out) > old
    build_store(sample_root_5m, out=direct, pixels="jpeg", splits="val+test", workers=1)
    _same_images(out, direct)
    assert abs(os.path.getsize(out) - os.path.getsize(direct)) < 64 * 1024
    assert build_store(sample_root_5m, out=out, pixels="jpeg", splits="test").up_to_date


def test_a_store_from_before_the_pixels_argument_extends(sample_root_5m, build_store, tmp_path):
    """Stores whose build_args lack ``pixels`` and ``jpeg_quality`` are raw stores, extended as before."""
    out = tmp_path / "old.h5"
    build_store(sample_root_5m, out=out, splits="val", workers=1)
    with h5py.File(out, "r+") as f:
        args = json.loads(f.attrs[fmt.ATTR_BUILD_ARGS])
        del args["pixels"], args["jpeg_quality"]
        f.attrs[fmt.ATTR_BUILD_ARGS] = json.dumps(args, sort_keys=True)
    res = build_store(sample_root_5m, out=out, splits="val+test", workers=1)
    assert res.processed_now == len(sample_root_5m.split_rows("test"))
    with pytest.raises(ResumeMismatchError, match="pixels: store has 'raw', this build asks for 'jpeg'"):
        build_store(sample_root_5m, out=out, pixels="jpeg", splits="val+test+train", workers=1)


def test_reencoded_at_a_quality(sample_root_5m, build_store, tmp_path):
    raw = build_store(sample_root_5m, out=tmp_path / "raw.h5", image_size=128, splits="val", workers=1)
    q = build_store(
        sample_root_5m, out=tmp_path / "q.h5", image_size=128, splits="val", pixels="jpeg", jpeg_quality=90
    )
    with open_store(raw.store) as a, open_store(q.store) as b:
        assert b.pixel_block.quality == 90 and np.array_equal(a.image_status, b.image_status)
        ok = np.flatnonzero(b.image_ok)
        assert set(b.pixel_block.modes[ok].tolist()) == {b"RGB"}
        assert (b.pixel_block.sizes[ok].min(axis=1) == 128).all()  # resized, not cropped
        x, y = np.asarray(a.images[ok]).astype(int), b.images[ok].astype(int)
        diff = np.abs(x - y)
        assert diff.mean() < 3 and np.percentile(diff, 99) <= 16  # JPEG loss at quality 90
    assert verify_store(q.store, str(sample_root_5m.root)) == []


def test_verify_finds_changed_bytes(sample_root_5m, jpeg_store_5m, tmp_path):
    assert verify_store(str(jpeg_store_5m), str(sample_root_5m.root), sample=400) == []
    copy = tmp_path / "c.h5"
    shutil.copy(jpeg_store_5m, copy)
    with open_store(copy) as st:
        row = int(np.flatnonzero(st.image_ok)[0])
        at = st.pixel_block.start + int(st.pixel_block.offsets[row]) + 100
    with open(copy, "r+b") as fh:
        fh.seek(at)
        fh.write(b"\x00\x01\x02")
    problems = verify_store(str(copy), str(sample_root_5m.root), sample=400)
    assert any(f"row {row} " in p and "bytes differ" in p for p in problems)


def test_info_names_the_kind(jpeg_store_5m, store_5m):
    with open_store(jpeg_store_5m) as st, open_store(store_5m) as raw:
        info, raw_info = st.info(), raw.info()
    assert info["pixels"] == "jpeg" and raw_info["pixels"] == "raw"
    assert info["jpeg_quality"] == 0 and not info["memory_mapped"]
    assert 0 < info["bytes_per_image"] < raw_info["bytes_per_image"] == 256 * 256 * 3


def test_configuration(tmp_path):
    cfg = BuildConfig(root=str(tmp_path), pixels="jpeg")
    assert cfg.out.endswith("bioscan5m_cropped_256_256px_jpeg.h5")
    assert "--pixels jpeg" in cfg.command() and "--jpeg-quality" not in cfg.command()
    cfg = BuildConfig(root=str(tmp_path), pixels="jpeg", jpeg_quality=90, image_package="original_full")
    assert cfg.out.endswith("bioscan5m_original_full_256px_jpeg90.h5")
    assert "--pixels jpeg --jpeg-quality 90" in cfg.command()
    assert BuildConfig(root=str(tmp_path)).content_args()["pixels"] == "raw"
    for bad, match in (
        ({"pixels": "png"}, "Unknown pixels: 'png'"),
        ({"jpeg_quality": 90}, "needs pixels='jpeg'"),
        ({"pixels": "jpeg", "jpeg_quality": 0}, "from 1 to 100"),
        ({"pixels": "jpeg", "compression": "lzf"}, "does not apply to a JPEG store"),
    ):
        with pytest.raises(InvalidArgumentError, match=match):
            BuildConfig(root=str(tmp_path), **bad)


@pytest.mark.subprocess
def test_the_command_line(sample_root_5m, run_cli, tmp_path):
    out = tmp_path / "cli.h5"
    root = str(sample_root_5m.root)
    res = run_cli(
        "build", "--root", root, "--pixels", "jpeg", "--splits", "val", "--out", out, "--workers", "1"
    )
    assert res.returncode == 0, res.stderr
    info = run_cli("info", out)
    assert info.returncode == 0 and "JPEG store (the source bytes" in info.stdout, info.stdout
    assert run_cli("verify", out, "--root", root).returncode == 0
    bad = run_cli("build", "--root", root, "--jpeg-quality", "90", "--out", tmp_path / "x.h5")
    assert bad.returncode != 0 and "needs pixels='jpeg'" in bad.stderr
