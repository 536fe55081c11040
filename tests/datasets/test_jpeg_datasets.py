"""Datasets and ``batch_loader`` on a JPEG store (issue 12): numpy/tensor samples and batches equal a raw
store's, PIL samples are the stored images, ``decode="cuda"`` is refused clearly, discovery finds it."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from bioscan_h5 import BIOSCAN5M, ImageUnavailableError, batch_loader
from bioscan_h5.errors import InvalidArgumentError
from tests.helpers.dataset import BASE_SPLITS, CLEAN, norm


def _ds(root, store, **kw) -> BIOSCAN5M:
    return BIOSCAN5M(str(root.root), store=str(store), build=False, **kw)


@pytest.mark.parametrize("image_format", ["numpy", "tensor"])
def test_samples_equal_a_raw_stores(sample_root_5m, store_5m, jpeg_store_5m, image_format):
    for split in BASE_SPLITS:
        kw = dict(split=split, image_format=image_format, target_type="species")
        a, b = _ds(sample_root_5m, store_5m, **kw), _ds(sample_root_5m, jpeg_store_5m, **kw)
        assert len(a) == len(b) > 0
        for i in range(len(a)):
            try:
                x = a[i]
            except ImageUnavailableError:
                with pytest.raises(ImageUnavailableError):
                    b[i]
                continue
            y = b[i]
            assert type(x[0]) is type(y[0]) and x[1] == y[1]
            if image_format == "tensor":
                assert y[0].shape == (3, 256, 256) and y[0].stride() == x[0].stride()
            assert np.array_equal(np.asarray(x[0]), np.asarray(y[0])), (split, i)


def test_getitems_in_a_dataloader(sample_root_5m, store_5m, jpeg_store_5m):
    kw = dict(split=CLEAN, image_format="tensor")
    a, b = _ds(sample_root_5m, store_5m, **kw), _ds(sample_root_5m, jpeg_store_5m, **kw)
    idx = list(range(0, len(a), 5))
    for x, y in zip(a.__getitems__(idx), b.__getitems__(idx)):
        assert torch.equal(x[0], y[0]) and x[1:] == y[1:]
    pil = _ds(sample_root_5m, jpeg_store_5m, split=CLEAN)
    images = [s[0] for s in pil.__getitems__(idx[:4])]
    assert [im.size for im in images] == [pil[i][0].size for i in idx[:4]]


@pytest.mark.parametrize("num_workers", [0, 1, 2])
def test_batches_equal_a_raw_stores(sample_root_5m, store_5m, jpeg_store_5m, num_workers):
    kw = dict(split=CLEAN, modality=("image", "dna"), target_type=["genus", "species"])
    a, b = _ds(sample_root_5m, store_5m, **kw), _ds(sample_root_5m, jpeg_store_5m, **kw)

    def batches(ds):
        g = torch.Generator().manual_seed(7)
        loader = batch_loader(
            ds, batch_size=24, shuffle=True, generator=g, num_workers=num_workers, copy=True
        )
        return list(loader)

    got, want = batches(b), batches(a)
    assert len(got) == len(want) > 2
    for x, y in zip(want, got):
        assert x.keys() == y.keys()
        for key in x:
            assert (
                torch.equal(x[key], y[key])
                if isinstance(x[key], torch.Tensor)
                else norm(x[key]) == norm(y[key])
            ), key
        assert y["image"].is_contiguous(memory_format=torch.channels_last)


def test_a_bad_row_in_a_batch_is_named(sample_root_5m, jpeg_store_5m):
    ds = _ds(sample_root_5m, jpeg_store_5m, split="val")
    with pytest.raises(ImageUnavailableError, match="is not in the store"):
        for _ in batch_loader(ds, batch_size=64):
            pass


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where CUDA is absent")
def test_gpu_decode_is_refused_without_cuda(sample_root_5m, jpeg_store_5m, store_5m):
    ds = _ds(sample_root_5m, jpeg_store_5m, split="train")
    with pytest.raises(
        InvalidArgumentError, match=r"decode='cuda' decodes JPEG batches on the GPU.*is False"
    ):
        batch_loader(ds, decode="cuda")
    with pytest.raises(InvalidArgumentError, match="Unknown decode='gpu'"):
        batch_loader(ds, decode="gpu")
    assert batch_loader(ds, decode="cpu").device is None
    raw = _ds(sample_root_5m, store_5m, split="train")
    with pytest.raises(InvalidArgumentError):
        batch_loader(raw, decode="cuda:0")


def test_discovery_finds_a_jpeg_store(make_root, build_store):
    root = make_root()
    res = build_store(root, pixels="jpeg", splits="train", workers=1)
    assert os.path.basename(res.store) == "bioscan5m_cropped_256_256px_jpeg.h5"
    for kw in ({}, {"image_size": 256}):
        ds = BIOSCAN5M(str(root.root), split="train", build=False, **kw)
        assert ds.store_path == res.store and ds.store.codec.name == "jpeg"
    shutil.copy(res.store, res.store.replace("_jpeg.h5", "_jpeg90.h5"))
    with pytest.raises(InvalidArgumentError, match="Several JPEG stores"):
        BIOSCAN5M(str(root.root), split="train", build=False, image_size=256)
    # both kinds: the raw store is the default
    raw = build_store(root, splits="train", workers=1)
    assert BIOSCAN5M(str(root.root), split="train", build=False).store_path == raw.store


def test_a_missing_split_is_added_to_the_jpeg_store(make_root, build_store):
    root = make_root()
    res = build_store(root, pixels="jpeg", splits="train", workers=1)
    ds = BIOSCAN5M(str(root.root), split="val_unseen", build="auto", store=None)
    assert ds.store_path == res.store and ds.store.codec.name == "jpeg"
    assert ds.store.image_ok[ds.rows].all()


@pytest.mark.parametrize(("size", "fit"), [(256, "crop"), (200, "pad")])
def test_the_gpu_decoder_on_the_cpu(sample_root_5m, build_store, tmp_path, size, fit):
    """``decode="cuda"``'s decoder, run on the CPU (torchvision decodes with libjpeg-turbo there)."""
    pytest.importorskip("torchvision")
    from bioscan_h5 import open_store
    from bioscan_h5.pixels.gpu_jpeg import GpuJpegDecoder

    kw = dict(image_size=size, fit=fit, splits="val+test", workers=1)
    raw = build_store(sample_root_5m, out=tmp_path / "r.h5", **kw).store
    jpeg = build_store(sample_root_5m, out=tmp_path / "j.h5", pixels="jpeg", **kw).store
    with open_store(raw) as a, open_store(jpeg) as b:
        rows = np.flatnonzero(b.image_ok)
        encoded = [
            torch.frombuffer(bytearray(b.pixel_block.encoded(int(r))), dtype=torch.uint8) for r in rows
        ]
        got = GpuJpegDecoder(b.pixel_block, torch.device("cpu"))(encoded, rows)
        want = torch.from_numpy(np.asarray(a.images)[rows]).permute(0, 3, 1, 2)
        assert got.shape == want.shape and got.is_contiguous(memory_format=torch.channels_last)
        diff = (got.int() - want.int()).abs()
        if size == 256:  # no resize: libjpeg-turbo's pixels, the same as Pillow's
            assert torch.equal(got, want)
        else:  # torch's antialiased bilinear resize against Pillow's
            assert diff.float().mean() < 1 and diff.max() <= 8
