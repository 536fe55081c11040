"""Decoding and resizing (issue 2): crop mode is pixel-identical to torchvision
``v2.Resize(S)`` + ``v2.CenterCrop(S)`` on the PIL image when no draft applies; pad geometry;
every input mode becomes RGB; JPEG draft mode changes the pixels slightly, and only when the
source is at least twice the target."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from torchvision.transforms import v2

from bioscan_h5.format import ImageStatus
from bioscan_h5.images import center_crop_box, decode_image, fit_image, resized_size, to_rgb

SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "tools" / "sample_images"
REAL_256 = sorted(SAMPLE_IMAGES.glob("*.jpg"))  # cropped_256 (h 256) and original_256 (341x256)
REAL_FULL = sorted((SAMPLE_IMAGES / "original_full").glob("*.jpg"))  # 2880x2160

SIZES = [1, 16, 64, 100, 224, 255, 256, 257, 384]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def torchvision_crop(img: Image.Image, size: int) -> np.ndarray:
    """What the peer's usual transform gives: ``Resize(size)`` then ``CenterCrop(size)``."""
    out = v2.Compose([v2.Resize(size), v2.CenterCrop(size)])(img)
    assert isinstance(out, Image.Image)
    return np.asarray(out)


def decode(path, size: int, fit: str = "crop", draft: bool = False) -> np.ndarray:
    status, pixels, _, detail = decode_image(str(path), size, fit, draft)
    assert status == ImageStatus.OK, detail
    return pixels


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=75, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def full_root(tmp_path_factory):
    """A generated root with the ``original_full`` package (1024x768 JPEGs)."""
    from tools import make_sample_data

    root = tmp_path_factory.mktemp("full") / "root"
    make_sample_data.make_bioscan5m_root(root, n_rows=64, packages=("original_full",), faults=False)
    return sorted((root / "bioscan5m" / "images" / "original_full").rglob("*.jpg"))


# ------------------------------------------------------------------------------ crop: pixel identity
def test_real_images_are_what_the_sample_tool_says():
    assert len(REAL_256) == 10 and len(REAL_FULL) == 6
    with Image.open(REAL_FULL[0]) as im:
        assert im.size == (2880, 2160)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("path", REAL_256, ids=lambda p: p.stem)
def test_crop_equals_torchvision_on_real_images(path, size):
    with Image.open(path) as im:
        ref = torchvision_crop(im.convert("RGB"), size)
    assert ref.shape == (size, size, 3)
    assert np.array_equal(decode(path, size, draft=False), ref)


@pytest.mark.parametrize("size", [64, 224, 256, 512])
def test_crop_equals_torchvision_on_generated_original_full(full_root, size):
    for path in full_root[:4]:
        with Image.open(path) as im:
            assert im.size == (1024, 768)
            ref = torchvision_crop(im.convert("RGB"), size)
        assert np.array_equal(decode(path, size, draft=False), ref), path.name


@pytest.mark.parametrize("size", [256, 1000])
def test_crop_equals_torchvision_on_real_original_full(size):
    path = REAL_FULL[1]
    with Image.open(path) as im:
        ref = torchvision_crop(im.convert("RGB"), size)
    assert np.array_equal(decode(path, size, draft=False), ref)


@pytest.mark.parametrize("size", [200, 256, 400])
def test_no_draft_below_twice_the_target(size):
    """Draft mode only applies when the source is at least twice the target: then identical."""
    for path in REAL_256[:4]:
        with Image.open(path) as im:
            ref = torchvision_crop(im.convert("RGB"), size)
        assert np.array_equal(decode(path, size, draft=True), ref), path.name


@SETTINGS
@given(w=st.integers(1, 400), h=st.integers(1, 400), size=st.integers(1, 300))
def test_resize_and_crop_geometry_match_torchvision(w, h, size):
    img = Image.new("RGB", (w, h))
    resized = v2.Resize(size)(img)
    assert resized_size(w, h, size, "crop") == resized.size
    rw, rh = resized.size
    left, top, right, bottom = center_crop_box(rw, rh, size)
    assert (right - left, bottom - top) == (size, size)
    assert 0 <= left <= rw - size and 0 <= top <= rh - size


@SETTINGS
@given(
    w=st.integers(1, 120),
    h=st.integers(1, 120),
    size=st.integers(1, 160),
    seed=st.integers(0, 2**32 - 1),
)
def test_crop_equals_torchvision_on_random_pixels(w, h, size, seed):
    pixels = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    assert np.array_equal(fit_image(img, size, "crop"), torchvision_crop(img, size))


# ------------------------------------------------------------------------------ pad
def pad_reference(img: Image.Image, size: int) -> np.ndarray:
    """Longer side to ``size`` (shorter: ``int(size * short / long)``, at least 1), centred on black."""
    w, h = img.size
    if w >= h:
        nw, nh = size, max(1, int(size * h / w))
    else:
        nw, nh = max(1, int(size * w / h)), size
    small = img.resize((nw, nh), Image.Resampling.BILINEAR) if (nw, nh) != (w, h) else img
    out = np.zeros((size, size, 3), np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top : top + nh, left : left + nw] = np.asarray(small)
    return out


@pytest.mark.parametrize(
    ("w", "h"), [(341, 256), (256, 341), (300, 300), (1000, 10), (10, 1000), (1, 1), (64, 64)]
)
@pytest.mark.parametrize("size", [1, 31, 64, 256])
def test_pad_geometry(w, h, size):
    rng = np.random.default_rng(w * 1000 + h)
    img = Image.fromarray(rng.integers(1, 256, size=(h, w, 3), dtype=np.uint8))
    out = fit_image(img, size, "pad")
    assert out.shape == (size, size, 3) and out.dtype == np.uint8
    assert np.array_equal(out, pad_reference(img, size))
    nw, nh = resized_size(w, h, size, "pad")
    assert max(nw, nh) == size and min(nw, nh) >= 1
    top, left = (size - nh) // 2, (size - nw) // 2
    # Black outside the image, nothing black inside (the image has no zero pixel... almost).
    mask = np.zeros((size, size), bool)
    mask[top : top + nh, left : left + nw] = True
    assert not out[~mask].any()
    assert out[mask].any(axis=-1).mean() > 0.9


def test_pad_on_real_images():
    for path in REAL_256:
        with Image.open(path) as im:
            ref = pad_reference(im.convert("RGB"), 100)
        out = decode(path, 100, "pad", draft=False)
        assert np.array_equal(out, ref), path.name
        with Image.open(path) as im:
            nw, nh = resized_size(*im.size, 100, "pad")
        top = (100 - nh) // 2
        assert nw == 100 and top > 0  # landscape sources: black bars above and below
        assert not out[:top].any() and not out[top + nh :].any() and out[top : top + nh].any()


# ------------------------------------------------------------------------------ modes
def _modes() -> dict[str, Image.Image]:
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8))
    gray16 = Image.fromarray(rng.integers(0, 65536, size=(20, 30), dtype=np.uint16))
    return {
        "RGB": rgb,
        "L": rgb.convert("L"),
        "LA": rgb.convert("LA"),
        "RGBA": rgb.convert("RGBA"),
        "P": rgb.convert("P"),
        "PA": rgb.convert("PA"),
        "CMYK": rgb.convert("CMYK"),
        "YCbCr": rgb.convert("YCbCr"),
        "1": rgb.convert("1"),
        "I;16": gray16,
        "I": Image.fromarray(rng.integers(0, 65536, size=(20, 30), dtype=np.int32)),
        "F": Image.fromarray(rng.uniform(-10, 300, size=(20, 30)).astype(np.float32)),
    }


@pytest.mark.parametrize("mode", list(_modes()))
def test_every_mode_becomes_rgb(mode):
    img = _modes()[mode]
    assert img.mode == mode
    out = to_rgb(img)
    assert out.mode == "RGB" and out.size == img.size
    arr = np.asarray(out)
    if mode in ("L", "LA", "1", "I;16", "I", "F"):
        assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    if mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "L", "LA", "1"):
        assert np.array_equal(arr, np.asarray(img.convert("RGB")))
    if mode == "RGBA":  # alpha is dropped, not composited
        assert np.array_equal(arr, np.asarray(_modes()["RGB"]))
    if mode == "I;16":  # the high byte
        assert np.array_equal(arr[..., 0], (np.asarray(img, dtype=np.uint16) >> 8).astype(np.uint8))
    if mode == "I":
        assert np.array_equal(arr[..., 0], np.clip(np.asarray(img) >> 8, 0, 255).astype(np.uint8))
    if mode == "F":
        assert np.array_equal(arr[..., 0], np.clip(np.asarray(img), 0, 255).astype(np.uint8))
    assert fit_image(out, 8).shape == (8, 8, 3)


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("grayscale-jpeg", lambda im: jpeg(im.convert("L"))),
        ("cmyk-jpeg", lambda im: jpeg(im.convert("CMYK"))),
        ("progressive-jpeg", lambda im: jpeg(im, progressive=True)),
        ("png", lambda im: _save(im, "PNG")),
        ("palette-png", lambda im: _save(im.convert("P"), "PNG")),
        ("rgba-png", lambda im: _save(im.convert("RGBA"), "PNG")),
        (
            "16-bit-png",
            lambda im: _save(Image.fromarray(np.asarray(im.convert("L"), np.uint16) * 257), "PNG"),
        ),
        ("bmp", lambda im: _save(im, "BMP")),
        ("tiff", lambda im: _save(im, "TIFF")),
        ("gif", lambda im: _save(im, "GIF")),
    ],
)
def test_decoded_files_of_any_mode_are_rgb(tmp_path, kind, make):
    with Image.open(REAL_256[0]) as im:
        src = im.convert("RGB")
    path = tmp_path / "x.jpg"  # the name does not matter
    path.write_bytes(make(src))
    status, pixels, size, detail = decode_image(str(path), 64, "crop", draft=False)
    assert status == ImageStatus.OK, detail
    assert size == src.size
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    with Image.open(path) as im:
        ref = torchvision_crop(to_rgb(im), 64)
    assert np.array_equal(pixels, ref)
    if kind in ("grayscale-jpeg", "16-bit-png"):
        assert (pixels[..., 0] == pixels[..., 2]).all()


def _save(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


# ------------------------------------------------------------------------------ draft
@pytest.mark.parametrize("size", [64, 256, 341])
def test_draft_changes_original_full_pixels_slightly(full_root, size):
    worst = np.inf
    differ = 0
    for path in full_root[:6]:
        fast = decode(path, size, draft=True)
        exact = decode(path, size, draft=False)
        differ += not np.array_equal(fast, exact)
        worst = min(worst, psnr(fast, exact))
    assert differ == 6, "1024x768 sources are at least twice these targets: draft applies"
    assert worst > 30, worst


def test_draft_on_real_full_size_originals():
    for path in REAL_FULL[:2]:
        _status, fast, size, _ = decode_image(str(path), 256, "crop", True)
        exact = decode(path, 256, draft=False)
        assert size == (2880, 2160)  # the source size, not the reduced decode
        assert not np.array_equal(fast, exact)
        assert psnr(fast, exact) > 30


def test_no_draft_when_the_source_is_less_than_twice_the_target(full_root):
    for path in full_root[:3]:  # 1024x768 -> 512: 683x512 needed, a ratio of 1.5
        assert np.array_equal(decode(path, 512, draft=True), decode(path, 512, draft=False))


def test_draft_is_only_for_jpeg(tmp_path, full_root):
    with Image.open(full_root[0]) as im:
        png = _save(im.convert("RGB"), "PNG")
    path = tmp_path / "x.jpg"
    path.write_bytes(png)
    assert np.array_equal(decode(path, 64, draft=True), decode(path, 64, draft=False))


# ------------------------------------------------------------------------------ failures
def test_failures_are_statuses_not_exceptions(tmp_path):
    with Image.open(REAL_256[0]) as im:
        data = jpeg(im.convert("RGB"))
    cases = {
        "missing.jpg": (None, ImageStatus.MISSING),
        "empty.jpg": (b"", ImageStatus.EMPTY),
        "truncated.jpg": (data[: len(data) // 3], ImageStatus.UNDECODABLE),
        "text.jpg": (b"hello\n" * 10, ImageStatus.UNDECODABLE),
        "header.jpg": (data[:20], ImageStatus.UNDECODABLE),
    }
    for name, (content, want) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        status, pixels, size, detail = decode_image(str(path), 32)
        assert status == want, name
        assert pixels is None and size == (0, 0)
        if want == ImageStatus.UNDECODABLE:
            assert detail
    (tmp_path / "dir.jpg").mkdir()
    assert decode_image(str(tmp_path / "dir.jpg"), 32)[0] == ImageStatus.NOT_A_FILE
