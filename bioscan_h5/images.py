"""Decoding and resizing source images for the builder (Pillow): every mode becomes RGB.

``fit="crop"`` gives torchvision's ``Resize(S)`` + ``CenterCrop(S)`` pixels; ``fit="pad"``
resizes the longer side and pads with black. JPEGs at least twice the target decode at a
reduced DCT scale first (``draft=False`` turns that off).
"""

from __future__ import annotations

import functools
import io
import os
import stat
import warnings

import numpy as np
from PIL import Image

from .format import PAD_FILL, ImageStatus

__all__ = [
    "SOURCE_FORMATS",
    "center_crop_box",
    "decode_image",
    "draft_for",
    "failure",
    "fit_decoded",
    "fit_image",
    "ingest",
    "open_encoded",
    "open_source",
    "resize_step",
    "resized_size",
    "to_rgb",
]

#: The only formats Pillow may open a source file as, whatever its name: a hostile file must not
#: choose its decoder freely (Pillow picks a plugin by the first bytes; EPS runs Ghostscript).
SOURCE_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "GIF", "WEBP", "PPM")


@functools.cache
def _open_formats() -> tuple[str, ...]:
    """:data:`SOURCE_FORMATS` that this Pillow has (WebP support is optional)."""
    Image.init()
    return tuple(f for f in SOURCE_FORMATS if f in Image.OPEN)


def resized_size(width: int, height: int, size: int, fit: str) -> tuple[int, int]:
    """``(width, height)`` after the resize step, with torchvision's rounding.

    For ``fit="crop"`` the shorter side becomes ``size`` and the longer one
    ``int(size * long / short)``; for ``fit="pad"`` the longer side becomes ``size``.
    """
    short, long = (width, height) if width <= height else (height, width)
    if fit == "crop":
        new_short, new_long = size, int(size * long / short)
    else:
        new_long, new_short = size, max(1, int(size * short / long))
    return (new_short, new_long) if width <= height else (new_long, new_short)


def center_crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """The ``(left, top, right, bottom)`` box of torchvision's CenterCrop (Python ``round``)."""
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return left, top, left + size, top + size


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB (see the module notes)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.uint16) >> 8
        return Image.fromarray(arr.astype(np.uint8), mode="L").convert("RGB")
    if img.mode == "I":
        arr = np.asarray(img)
        arr = arr >> 8 if arr.max(initial=0) > 255 else arr
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L").convert("RGB")
    if img.mode == "F":
        arr = np.clip(np.asarray(img), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    return img.convert("RGB")


def resize_step(img: Image.Image, size: int, fit: str = "crop") -> Image.Image:
    """The resize of :func:`fit_image` alone: to :func:`resized_size` (bilinear, antialiased)."""
    w, h = img.size
    new_w, new_h = resized_size(w, h, size, fit)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    return img


def fit_image(img: Image.Image, size: int, fit: str = "crop") -> np.ndarray:
    """Resize an RGB image and crop or pad it to ``(size, size, 3)`` uint8."""
    img = resize_step(img, size, fit)
    new_w, new_h = img.size
    if fit == "crop":
        if (new_w, new_h) != (size, size):
            img = img.crop(center_crop_box(new_w, new_h, size))
        return np.asarray(img, dtype=np.uint8)
    out = np.full((size, size, 3), PAD_FILL, dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = np.asarray(img, dtype=np.uint8)
    return out


def _file_status(st: os.stat_result) -> ImageStatus | None:
    if not stat.S_ISREG(st.st_mode):
        return ImageStatus.NOT_A_FILE
    return ImageStatus.EMPTY if st.st_size == 0 else None


def open_within(path: str, image_dir_real: str) -> tuple[ImageStatus | None, io.BufferedReader | None]:
    """Open a source file, then check what was opened: ``(None, file)``, or ``(status, None)``.

    The file really opened (its descriptor's path, links resolved) must lie in ``image_dir_real``,
    else ``OUTSIDE_ROOT``: the check and the open are one step. Opened non-blocking, so a pipe
    swapped in is never waited on.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:  # a dangling link out of the folder is still a link out of it
        return (ImageStatus.OUTSIDE_ROOT if _links_out(path, image_dir_real) else ImageStatus.MISSING), None
    except OSError:
        return ImageStatus.UNDECODABLE, None
    try:
        status = _opened_status(fd, path, image_dir_real)
    except BaseException:
        os.close(fd)
        raise
    if status is not None:
        os.close(fd)
        return status, None
    raw = io.FileIO(fd, "rb", closefd=True)
    raw.name = path  # decoders' messages name the file, not the descriptor number
    return None, io.BufferedReader(raw)


def _links_out(path: str, image_dir_real: str) -> bool:
    try:
        real = os.path.realpath(path) if os.path.islink(path) else None
    except OSError:  # swapped meanwhile
        return False
    return real is not None and os.path.commonpath([real, image_dir_real]) != image_dir_real


def _opened_status(fd: int, path: str, image_dir_real: str) -> ImageStatus | None:
    st = os.fstat(fd)
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: resolve the path, and require that it is the file opened
        real = os.path.realpath(path)
        try:
            same = os.path.samestat(os.stat(real), st)
        except OSError:
            same = False
        if not same:
            return ImageStatus.OUTSIDE_ROOT
    if os.path.commonpath([real, image_dir_real]) != image_dir_real:
        return ImageStatus.OUTSIDE_ROOT
    return _file_status(st)


def decode_image(
    path: str, size: int, fit: str = "crop", draft: bool = True, image_dir_real: str | None = None
) -> tuple[ImageStatus, np.ndarray | None, tuple[int, int], str]:
    """Decode one source file into a ``(size, size, 3)`` uint8 array.

    ``draft`` allows JPEG reduced-scale decoding for sources at least twice the target; links
    resolving outside ``image_dir_real`` (the image folder's realpath) are refused. Returns
    ``(status, pixels or None, source (width, height) or (0, 0), the decoder's message or "")``.
    """
    status, fh = open_within(path, image_dir_real or os.path.realpath(os.path.dirname(path)))
    if fh is None:
        return status or ImageStatus.UNDECODABLE, None, (0, 0), ""
    try:
        with fh, open_source(fh) as img:
            src = img.size
            pixels = fit_decoded(img, size, fit, draft)
        return ImageStatus.OK, pixels, src, ""
    except Exception as exc:  # any decoder failure on a hostile file is a bad row, not a crash
        return failure(exc)


def ingest(
    path: str,
    image_dir_real: str,
    size: int,
    fit: str,
    draft: bool,
    quality: int | None,
    crop: bool = False,
) -> tuple[ImageStatus, tuple | None, tuple[int, int], str]:
    """Read one source file for a JPEG store: ``(status, (bytes, mode, (w, h)) or None, source size, detail)``.

    The file is decoded as a raw build decodes it (flagging the same bad files); its bytes are
    kept, or with ``quality`` the RGB image resized (``crop``: fitted as a raw store) is re-encoded.
    """
    status, fh = open_within(path, image_dir_real)
    if fh is None:
        return status or ImageStatus.UNDECODABLE, None, (0, 0), ""
    try:
        with fh:
            data = fh.read()
        with open_source(io.BytesIO(data)) as img:
            src, mode = img.size, img.mode
            if not quality:
                fit_decoded(img, size, fit, draft)  # the check: pixels not kept
                return ImageStatus.OK, (data, mode, src), src, ""
            if draft:
                draft_for(img, size, fit)
            img.load()
            rgb = to_rgb(img)
            small = Image.fromarray(fit_image(rgb, size, fit)) if crop else resize_step(rgb, size, fit)
        buf = io.BytesIO()
        small.save(buf, format="JPEG", quality=quality)
        return ImageStatus.OK, (buf.getvalue(), "RGB", small.size), src, ""
    except Exception as exc:  # any decoder failure on a hostile file is a bad row, not a crash
        return failure(exc)


def failure(exc: BaseException) -> tuple[ImageStatus, None, tuple[int, int], str]:
    """The :func:`decode_image` result for a decoder's exception: too large or undecodable."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ImageStatus.TOO_LARGE, None, (0, 0), str(exc)
    return ImageStatus.UNDECODABLE, None, (0, 0), f"{type(exc).__name__}: {exc}"


def open_source(fp) -> Image.Image:
    """Open a source image (a path or a file) as :data:`SOURCE_FORMATS` allow; a decompression bomb raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(fp, formats=_open_formats())


def open_encoded(data) -> Image.Image:
    """Open image bytes of a JPEG store (thread-safe: they passed the bomb check at build time)."""
    return Image.open(io.BytesIO(data), formats=_open_formats())


def draft_for(img: Image.Image, size: int, fit: str) -> None:
    """Before loading, ask a JPEG decoder for a reduced scale if the source is twice the target."""
    if img.format != "JPEG":
        return
    w, h = img.size
    need_w, need_h = resized_size(w, h, size, fit)
    if min(w / need_w, h / need_h) >= 2:
        img.draft("RGB", (need_w, need_h))


def fit_decoded(img: Image.Image, size: int, fit: str = "crop", draft: bool = True) -> np.ndarray:
    """An opened, not yet loaded, source image as a raw store holds it: ``(S, S, 3)`` uint8."""
    if draft:
        draft_for(img, size, fit)
    img.load()
    return fit_image(to_rgb(img), size, fit)
