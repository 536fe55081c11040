"""Reading a JPEG store (issue 12): ``Store.images`` and :class:`JpegBlock` give a raw store's pixels
(both decoders: Pillow, and simplejpeg where it is used), open-time checks, pickling."""

from __future__ import annotations

import pickle
import shutil

import h5py
import numpy as np
import pytest

from bioscan_h5 import StoreFormatError, open_store
from bioscan_h5 import format as fmt
from bioscan_h5.pixels.jpeg import JpegBlock, JpegImages
from bioscan_h5.pixels.jpeg_decode import RowDecoder, simplejpeg_module

#: (image_size, fit): no resize and a crop; a downscale and a pad; a draft decode (>= 2x);
#: an upscale.
GEOMETRIES = [(256, "crop"), (200, "pad"), (128, "crop"), (300, "crop")]


@pytest.fixture(scope="module", params=GEOMETRIES, ids=lambda g: f"{g[0]}-{g[1]}")
def pair(request, sample_root_5m, build_store, tmp_path_factory):
    """A raw store and a JPEG store of ``sample_root_5m`` built with the same arguments."""
    size, fit = request.param
    folder = tmp_path_factory.mktemp(f"pair{size}{fit}")
    kw = dict(image_size=size, fit=fit, splits="val+test+train", workers=2)
    raw = build_store(sample_root_5m, out=folder / "raw.h5", **kw).store
    jpeg = build_store(sample_root_5m, out=folder / "jpeg.h5", pixels="jpeg", **kw).store
    return raw, jpeg


def test_images_equal_a_raw_stores(pair):
    raw, jpeg = pair
    with open_store(raw) as a, open_store(jpeg) as b:
        assert isinstance(b.images, JpegImages) and not b.memory_mapped
        assert b.images.shape == a.images.shape and len(b.images) == len(a.images)
        assert np.array_equal(b.images[:], np.asarray(a.images))  # zeros where a row has no image
        assert np.array_equal(np.asarray(b.images), np.asarray(a.images))
        rows = np.array([5, 3, 5, a.n_rows - 1])
        assert np.array_equal(b.images[rows], np.asarray(a.images)[rows])
        assert np.array_equal(b.images[-1], np.asarray(a.images[-1]))


@pytest.mark.parametrize("fast", [False, True], ids=["pillow", "simplejpeg"])
def test_both_decoders_give_the_raw_pixels(pair, fast):
    if fast and simplejpeg_module() is None:
        pytest.skip("simplejpeg is not installed")
    raw, jpeg = pair
    with open_store(raw) as a, open_store(jpeg) as b:
        block = b.pixel_block
        dec = RowDecoder(b.image_size, block.fit, block.draft, fast=fast)
        assert (dec.simplejpeg is not None) == fast
        out = np.empty(block.row_shape, dtype=np.uint8)
        # a strided destination (every other column of a wider array) gets the same pixels
        wide = np.zeros((block.row_shape[0], 2 * block.row_shape[1], 3), dtype=np.uint8)
        for row in np.flatnonzero(b.image_ok).tolist():
            args = (block.encoded(row), bytes(block.modes[row]), tuple(block.sizes[row]))
            dec.into(*args, out)
            assert np.array_equal(out, a.images[row]), row
            dec.into(*args, wide[:, ::2])
            assert np.array_equal(wide[:, ::2], a.images[row]) and not wide[:, 1::2].any(), row


def test_the_block_reads_rows_in_any_order(jpeg_store_5m, store_5m):
    with open_store(jpeg_store_5m) as b, open_store(store_5m) as a:
        ok = np.flatnonzero(b.image_ok)
        rows = np.r_[ok[::-7], ok[:3], ok[:3]]
        out = b.pixel_block.read(rows, np.empty((len(rows), 256, 256, 3), dtype=np.uint8))
        assert np.array_equal(out, np.asarray(a.images)[rows])
        with pytest.raises(ValueError, match="out must be"):
            b.pixel_block.read(rows, np.empty((1, 256, 256, 3), dtype=np.uint8))
        with pytest.raises(IndexError):
            b.pixel_block.encoded(b.n_rows)


def test_pil_is_the_stored_image(sample_root_5m, jpeg_store_5m):
    from PIL import Image

    with open_store(jpeg_store_5m) as st:
        for kind in ("grayscale", "cmyk", "png_named_jpg"):
            row = sample_root_5m.fault_row(kind)
            with Image.open(sample_root_5m.fault_path(kind)) as want:
                got = st.pixel_block.pil(row)
                assert (got.mode, got.size) == (want.mode, want.size)
                assert np.array_equal(np.asarray(got), np.asarray(want))


def test_a_raw_store_has_no_jpeg_block(store_5m):
    with open_store(store_5m) as st:
        assert st.codec.name == "raw"
        with pytest.raises(StoreFormatError, match="is a raw store"):
            st.pixel_block  # noqa: B018


def test_pickles_as_its_store(jpeg_store_5m):
    with open_store(jpeg_store_5m) as st:
        block = st.pixel_block
        row = int(np.flatnonzero(st.image_ok)[0])
        again = pickle.loads(pickle.dumps(block))  # noqa: S301 - our own object
        assert isinstance(again, JpegBlock) and again.encoded(row) == block.encoded(row)
        again.close()


def test_damaged_tables_are_refused(jpeg_store_5m, tmp_path):
    bad = tmp_path / "bad.h5"
    shutil.copy(jpeg_store_5m, bad)
    with h5py.File(bad, "r+") as f:
        f[fmt.JPEG_OFFSETS][3] = 10**12
    with open_store(bad) as st, pytest.raises(StoreFormatError, match="point outside"):
        st.pixel_block  # noqa: B018
    with h5py.File(bad, "r+") as f:
        f.attrs[fmt.ATTR_PIXELS] = "webp"
    with pytest.raises(StoreFormatError, match="'pixels' attribute is 'webp'"):
        open_store(bad)
    with h5py.File(bad, "r+") as f:
        f.attrs[fmt.ATTR_PIXELS] = "jpeg"
        del f[fmt.JPEG_BYTES]
    with pytest.raises(StoreFormatError, match="'jpeg/bytes' is missing"):
        open_store(bad)
