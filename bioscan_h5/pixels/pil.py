"""Store rows as PIL ``RGB`` images without Pillow's pixel-by-pixel unpacking.

:func:`rgb_image` spreads a row into RGBX with a nogil kernel (where numba is loaded) and hands
Pillow that memory (no copy); otherwise it is ``Image.frombytes``. The images are equal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import partial

import numpy as np

from .._jit import JIT_DISABLED, kernel, numba_loaded

__all__ = ["rgb_image", "rgb_to_rgbx", "zero_copy_rgb"]


@kernel
def rgb_to_rgbx(src: np.ndarray, dst: np.ndarray) -> None:  # pragma: no cover - compiled
    """Spread packed RGB bytes ``src`` (3 per pixel) into ``dst`` (4 per pixel, the 4th 255)."""
    for i in range(src.shape[0] // 3):
        dst[4 * i] = src[3 * i]
        dst[4 * i + 1] = src[3 * i + 1]
        dst[4 * i + 2] = src[3 * i + 2]
        dst[4 * i + 3] = 255


def _wrap(buf: np.ndarray, size: tuple[int, int]):
    """An RGB image whose memory is ``buf`` (RGBX bytes), made without copying them."""
    from PIL import Image

    return Image.fromarrow(Image.frombuffer("RGBX", size, buf, "raw", "RGBX", 0, 1), "RGB", size)


@functools.cache
def zero_copy_rgb() -> bool:
    """True when this Pillow makes an RGB image from RGBX memory without a copy, correctly."""
    from PIL import Image

    if not hasattr(Image, "fromarrow"):
        return False
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    buf = np.empty(2 * 3 * 4, dtype=np.uint8)
    rgb_to_rgbx.py_func(pixels.reshape(-1), buf)
    try:
        img = _wrap(buf, (3, 2))
        want = Image.frombytes("RGB", (3, 2), pixels)
        return img.mode == "RGB" and img.tobytes("raw", "RGBX") == want.tobytes("raw", "RGBX")
    except Exception:  # any failure of the check leaves the copying path
        return False


def rgb_image(shape: tuple[int, ...]) -> Callable[[np.ndarray], object]:
    """A function: HWC uint8 pixels of ``shape`` -> a new PIL ``RGB`` image (never sharing their memory).

    The kernel is used only where numba is loaded already: loading it would cost each worker more than it saves.
    """
    from PIL import Image

    h, w = int(shape[0]), int(shape[1])
    size = (w, h)
    plain = partial(Image.frombytes, "RGB", size)
    if JIT_DISABLED:
        return plain

    def make(pixels: np.ndarray):
        pixels = np.ascontiguousarray(pixels)
        if not numba_loaded():
            return plain(pixels)
        buf = np.empty(h * w * 4, dtype=np.uint8)  # the image's own memory
        rgb_to_rgbx(pixels.reshape(-1), buf)
        if zero_copy_rgb():
            return _wrap(buf, size)
        return Image.frombytes("RGB", size, buf, "raw", "RGBX")

    return make
