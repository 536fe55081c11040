"""``rgb_image``: store rows as PIL images through the RGBX kernel, equal to ``Image.frombytes``."""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from bioscan_h5.pixels import pil
from bioscan_h5.pixels.pil import rgb_image, rgb_to_rgbx


@pytest.fixture(params=["zero-copy", "copied", "plain"])
def path(request, monkeypatch):
    """Every way to the image: Pillow's memory is the RGBX buffer, or a copy of it, or Pillow
    unpacks the RGB row itself (numba not loaded)."""
    monkeypatch.setattr(pil, "numba_loaded", lambda: request.param != "plain")
    if request.param == "zero-copy":
        if not pil.zero_copy_rgb():
            pytest.skip("this Pillow has no Image.fromarrow")
    elif request.param == "copied":
        monkeypatch.setattr(pil, "zero_copy_rgb", lambda: False)
    return request.param


@pytest.mark.parametrize("shape", [(256, 256, 3), (7, 5, 3), (1, 1, 3)])
def test_rgb_image_is_pillows_own_image(path, shape):
    rng = np.random.default_rng(sum(shape))
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    got = rgb_image(shape)(pixels)
    want = Image.frombytes("RGB", (shape[1], shape[0]), pixels)
    assert got.mode == "RGB" and got.size == want.size
    assert got.tobytes() == want.tobytes()
    assert got.tobytes("raw", "RGBX") == want.tobytes("raw", "RGBX")  # the pad byte too
    assert np.array_equal(np.asarray(got), pixels)
    assert np.array_equal(np.asarray(got.resize((3, 2))), np.asarray(want.resize((3, 2))))


def test_images_own_their_pixels_are_writable_and_outlive_their_buffers(path):
    shape = (64, 48, 3)
    make = rgb_image(shape)
    rows = [np.full(shape, k, dtype=np.uint8) for k in range(32)]
    first, second = make(rows[0]), make(rows[0])
    rows[0][:] = 99  # the caller's buffer is reused
    assert np.asarray(first).max() == 0
    first.putpixel((0, 0), (1, 2, 3))  # a mapped image copies itself before the first write
    assert first.getpixel((0, 0)) == (1, 2, 3) and second.getpixel((0, 0)) == (0, 0, 0)
    with ThreadPoolExecutor(4) as pool:
        images = list(pool.map(make, rows[1:]))
    gc.collect()  # nothing but the images keeps their memory alive
    assert [int(np.asarray(im).min()) for im in images] == list(range(1, 32))
    assert [int(np.asarray(im).max()) for im in images] == list(range(1, 32))


def test_kernel_matches_its_python_twin():
    src = np.random.default_rng(1).integers(0, 256, 5 * 3, dtype=np.uint8)
    fast, slow = np.zeros(20, np.uint8), np.zeros(20, np.uint8)
    rgb_to_rgbx(src, fast)
    rgb_to_rgbx.py_func(src, slow)
    assert np.array_equal(fast, slow)
    assert np.array_equal(fast.reshape(5, 4)[:, :3].reshape(-1), src) and (fast[3::4] == 255).all()
