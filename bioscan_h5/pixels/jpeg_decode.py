"""One stored image of a JPEG store -> the ``(S, S, 3)`` uint8 pixels a raw store holds for it.

Pillow with the raw builder's own code (:func:`bioscan_h5.images.fit_decoded`) always;
simplejpeg (libjpeg-turbo, straight into numpy) where it gives the very same pixels: full-scale
RGB JPEGs (``BIOSCAN_H5_JPEG_DECODER=pillow`` turns it off). Both release the GIL.
"""

from __future__ import annotations

import functools
import os
import threading

import numpy as np

from ..images import center_crop_box, fit_decoded, fit_image, open_encoded, resized_size

__all__ = ["RowDecoder", "simplejpeg_module"]

_JPEG_MAGIC = b"\xff\xd8"


@functools.cache
def simplejpeg_module():
    """The ``simplejpeg`` module, or None where it is not installed or ``BIOSCAN_H5_JPEG_DECODER=pillow``."""
    if os.environ.get("BIOSCAN_H5_JPEG_DECODER", "").lower() == "pillow":
        return None
    try:
        import simplejpeg
    except ImportError:
        return None
    return simplejpeg


class RowDecoder:
    """Decodes stored images to ``(size, size, 3)`` uint8 as the raw builder stores them.

    ``fit`` is ``"crop"`` or ``"pad"``; ``draft`` the store's ``jpeg_draft`` (sources twice the
    target or more decoded at a reduced scale); ``fast``: use simplejpeg where it gives the same
    pixels (default: when it is installed).
    """

    def __init__(self, size: int, fit: str, draft: bool, fast: bool | None = None) -> None:
        self.size, self.fit, self.draft = size, fit, draft
        self.simplejpeg = simplejpeg_module() if fast is not False else None
        self._local = threading.local()

    def __repr__(self) -> str:
        how = "simplejpeg + Pillow" if self.simplejpeg is not None else "Pillow"
        return f"<RowDecoder {self.size}px {self.fit} draft={self.draft}: {how}>"

    def into(self, data: bytes, mode: bytes, size: tuple[int, int], out: np.ndarray) -> np.ndarray:
        """Decode ``data`` (a stored image: its Pillow ``mode`` and ``(width, height)``) into ``out``."""
        if self.simplejpeg is not None and mode == b"RGB" and data[:2] == _JPEG_MAGIC:
            pixels = self._fast(data, *size)
            if pixels is not None:
                if out.flags.c_contiguous:  # copied a line at a time ((S, 3 S) views), not by pixel
                    s = self.size
                    out.reshape(s, 3 * s)[...] = pixels.reshape(s, 3 * s)
                else:
                    out[...] = pixels
                return out
        with open_encoded(data) as img:
            if img.size != tuple(size):  # before anything is decoded: a bomb, or bytes not the table's
                raise ValueError(
                    f"the image declares {img.size[0]} x {img.size[1]} px, the table {size[0]} x {size[1]}"
                )
            out[...] = fit_decoded(img, self.size, self.fit, self.draft)
        return out

    def crops(self, sizes: np.ndarray, modes: list[bytes]) -> np.ndarray | None:
        """Where :meth:`crop_into` serves a row: its ``(top, left)``, else ``-1``; None without simplejpeg.

        Those are RGB rows whose shorter side is the store's size with ``fit="crop"`` (a centre crop,
        no resize: ``cropped_256`` at 256 px). ``sizes`` is ``(n, 2)`` width, height.
        """
        if self.simplejpeg is None or self.fit != "crop":
            return None
        s = self.size
        w, h = sizes[:, 0].astype(np.int64), sizes[:, 1].astype(np.int64)
        ok = (np.minimum(w, h) == s) & np.array([m == b"RGB" for m in modes], dtype=bool)
        # torchvision's CenterCrop rounds as Python's round(): half to even, as np.round
        top, left = np.round((h - s) / 2.0).astype(np.int64), np.round((w - s) / 2.0).astype(np.int64)
        return np.where(ok[:, None], np.stack([top, left], axis=1), -1)

    def crop_into(self, data: bytes, w: int, h: int, top: int, left: int, out: np.ndarray) -> bool:
        """Decode a row :meth:`crops` marked into C-contiguous ``out``; False: use :meth:`into`."""
        if data[:2] != _JPEG_MAGIC:
            return False
        arr = self._decode(data, w, h)
        if arr is None:
            return False
        s = self.size
        out.reshape(s, 3 * s)[...] = arr.reshape(h, 3 * w)[top : top + s, 3 * left : 3 * (left + s)]
        return True

    def _decode(self, data: bytes, w: int, h: int) -> np.ndarray | None:
        """``(h, w, 3)`` pixels by simplejpeg, in this thread's buffer; None where it cannot."""
        if self.simplejpeg is None:
            return None
        try:
            arr = self.simplejpeg.decode_jpeg(
                data, colorspace="RGB", fastdct=False, fastupsample=False, buffer=self._scratch(h * w * 3)
            )
        except Exception:  # whatever simplejpeg cannot read, Pillow may
            return None
        if arr.shape[:2] != (h, w):  # pragma: no cover - a table that disagrees with the bytes
            return None
        return arr

    def _scratch(self, n: int) -> np.ndarray:
        """This thread's reused decode buffer, at least ``n`` bytes (no new pages per image)."""
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) < n:
            buf = self._local.buf = np.empty(max(n, 256 * 384 * 3), dtype=np.uint8)
        return buf[:n]

    def _fast(self, data: bytes, w: int, h: int) -> np.ndarray | None:
        """The pixels through simplejpeg (maybe a view of this thread's buffer), or None where only Pillow gives the builder's."""
        assert self.simplejpeg is not None, "into() takes this path only with simplejpeg"
        s = self.size
        new_w, new_h = resized_size(w, h, s, self.fit)
        if self.draft and min(w / new_w, h / new_h) >= 2:
            return None  # Pillow's draft decode: its scale choice and its pixels
        arr = self._decode(data, w, h)
        if arr is None:
            return None
        if (new_w, new_h) != (w, h):
            from PIL import Image

            return fit_image(Image.fromarray(arr), s, self.fit)
        if self.fit == "crop":
            left, top, _, _ = center_crop_box(w, h, s)
            return arr[top : top + s, left : left + s]
        out = np.zeros((s, s, 3), dtype=np.uint8)
        top, left = (s - h) // 2, (s - w) // 2
        out[top : top + h, left : left + w] = arr
        return out
