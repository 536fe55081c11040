"""``build --pixels jpeg --jpeg-quality Q --jpeg-crop`` (issue 20): the S x S image a raw store holds,
encoded once at quality Q (FFCV's JPEG trade), verified, named and refused where it cannot apply."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bioscan_h5 import BIOSCAN5M, batch_loader, open_store
from bioscan_h5.build import BuildConfig
from bioscan_h5.cli.main import main as cli_main
from bioscan_h5.errors import InvalidArgumentError, ResumeMismatchError
from bioscan_h5.verify import verify_store


def test_the_crop_is_encoded_once_and_reads_as_the_raw_store(sample_root_5m, build_store, tmp_path):
    kw = dict(image_size=128, splits="val", workers=1)
    raw = build_store(sample_root_5m, out=tmp_path / "raw.h5", **kw)
    whole = build_store(sample_root_5m, out=tmp_path / "q.h5", pixels="jpeg", jpeg_quality=90, **kw)
    crop = build_store(
        sample_root_5m, out=tmp_path / "c.h5", pixels="jpeg", jpeg_quality=90, jpeg_crop=True, **kw
    )
    with open_store(raw.store) as a, open_store(crop.store) as c, open_store(whole.store) as w:
        assert c.pixel_block.quality == 90 and np.array_equal(a.image_status, c.image_status)
        ok = np.flatnonzero(c.image_ok)
        assert (c.pixel_block.sizes[ok] == 128).all()  # the crop itself, not the resized image
        assert (w.pixel_block.sizes[ok].max(axis=1) > 128).any()
        assert c.pixel_block.lengths[ok].sum() < w.pixel_block.lengths[ok].sum()
        diff = np.abs(np.asarray(a.images[ok]).astype(int) - c.images[ok].astype(int))
        assert diff.mean() < 3 and np.percentile(diff, 99) <= 16  # JPEG loss at quality 90
    assert verify_store(crop.store, str(sample_root_5m.root)) == []
    # a crop store is not extended by a build of the resized kind (or the other way round)
    with pytest.raises(ResumeMismatchError, match="jpeg_crop"):
        build_store(sample_root_5m, out=tmp_path / "c.h5", pixels="jpeg", jpeg_quality=90, **kw)


def test_batch_loader_reads_the_crop_store(sample_root_5m, build_store, tmp_path):
    out = tmp_path / "c.h5"
    build_store(sample_root_5m, out=out, splits="val", pixels="jpeg", jpeg_quality=90, jpeg_crop=True)
    ds = BIOSCAN5M(
        str(sample_root_5m.root), split="val", store=str(out), image_format="tensor", drop_bad_images=True
    )
    n = min(len(ds), 8)
    batch = next(iter(batch_loader(ds, batch_size=n, num_workers=1)))
    assert n > 1 and batch["image"].shape == (n, 3, 256, 256)
    assert all(np.array_equal(batch["image"][k].numpy(), ds[k][0].numpy()) for k in range(n))


def test_configuration_and_command_line(tmp_path):
    cfg = BuildConfig(root=str(tmp_path), pixels="jpeg", jpeg_quality=90, jpeg_crop=True)
    assert cfg.out.endswith("bioscan5m_cropped_256_256px_jpeg90crop.h5")
    assert "--jpeg-quality 90 --jpeg-crop" in cfg.command()
    assert BuildConfig(root=str(tmp_path), pixels="jpeg", jpeg_quality=90).out.endswith("_jpeg90.h5")
    for kw in ({"pixels": "jpeg", "jpeg_crop": True}, {"jpeg_crop": True}):
        with pytest.raises(InvalidArgumentError, match="--jpeg-quality 90 --jpeg-crop"):
            BuildConfig(root=str(tmp_path), **kw)
    code = cli_main(["build", "--root", str(tmp_path), "--pixels", "jpeg", "--jpeg-crop", "--dry-run"])
    assert code != 0 and not os.listdir(tmp_path)
