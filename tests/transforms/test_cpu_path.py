"""The CPU path of ``TrainTransform`` (``bioscan_h5.transforms.cpu``, issue 20) against torchvision.

uint8 images on the CPU are cropped and resized one sample at a time by torch's uint8
antialiased kernel, the one torchvision's ``resized_crop(..., antialias=True)`` runs for a
uint8 tensor on a CPU with AVX2, so the pixels are torchvision's uint8 output exactly; the
normalisation computes ``level * (1 / 255 / std) + (-mean / std)`` in float32 (a multiply, then an
add: torch's ``addcmul`` fuses them, 1 ulp away at most) and rounds to bfloat16 as torch does, so
the output equals torch's ``levels * scale + shift`` bit for bit.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.bioscan5m import RGB_MEAN, RGB_STDEV
from bioscan_h5.errors import InvalidArgumentError
from bioscan_h5.transforms import TrainTransform, random_resized_crop_boxes, resized_crop
from bioscan_h5.transforms.cpu import normalise_rows, normalise_rows_bf16, one_thread, resized_crop_cpu

CL = torch.channels_last
HAND_BOXES = [
    (0, 0, 256, 256),  # the whole image: downscaled by 256/224
    (0, 0, 224, 224),  # same size: a plain crop
    (255, 255, 1, 1),  # one pixel in the corner
    (10, 200, 3, 56),  # flat and wide: upscaled 75x in height, 4x in width
    (40, 17, 150, 231),  # downscaled in width only
]
AVX2 = (
    "AVX2" in torch.backends.cpu.get_cpu_capability() or "AVX512" in torch.backends.cpu.get_cpu_capability()
)


def _images(n: int, height: int = 256, width: int = 256, *, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, height, width), generator=torch.Generator().manual_seed(seed)).to(
        torch.uint8
    )


def _boxes(n: int, seed: int) -> torch.Tensor:
    drawn = random_resized_crop_boxes(n, 256, 256, generator=torch.Generator().manual_seed(seed))
    return torch.cat([drawn, torch.tensor(HAND_BOXES)])


def _affine(mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    std = torch.as_tensor(std, dtype=torch.float32)
    return (1 / 255) / std, -torch.as_tensor(mean, dtype=torch.float32) / std


@pytest.mark.parametrize("layout", [torch.contiguous_format, CL], ids=["nchw", "channels_last"])
def test_pixels_are_torch_uint8_interpolate_of_each_box(layout):
    """Without torchvision: the crop's pixels are torch's own uint8 antialiased bilinear resize."""
    boxes = _boxes(20, seed=1)
    images = _images(len(boxes)).contiguous(memory_format=layout)
    ours = resized_crop_cpu(images, boxes, 224)
    assert ours.shape == (len(boxes), 3, 224, 224) and ours.is_contiguous(memory_format=CL)
    for b, (top, left, h, w) in enumerate(boxes.tolist()):
        crop = images[b : b + 1, :, top : top + h, left : left + w]
        ref = F.interpolate(crop, (224, 224), mode="bilinear", antialias=True, align_corners=False)[0]
        assert torch.equal(ours[b], ref.float() * (1 / 255)), (top, left, h, w)


@pytest.mark.skipif(not AVX2, reason="torchvision resizes uint8 through float on CPUs without AVX2")
@pytest.mark.parametrize("size", [224, (96, 64)], ids=["224", "96x64"])
def test_pixels_equal_torchvision_uint8_resized_crop(size):
    TF = pytest.importorskip("torchvision.transforms.v2.functional")
    boxes = _boxes(20, seed=2)
    images = _images(len(boxes), seed=3).contiguous(memory_format=CL)
    out = [size, size] if isinstance(size, int) else list(size)
    ours = resized_crop_cpu(images, boxes, size)
    for b, box in enumerate(boxes.tolist()):
        ref = TF.resized_crop(images[b], *box, out, antialias=True)
        assert ref.dtype == torch.uint8
        levels = (ours[b] * 255 - ref.float()).abs()
        assert levels.max() <= 1e-4, (box, levels.max())  # float rounding of v / 255 * 255 only


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_normalisation_and_flip_are_exact_in_the_output_dtype(dtype):
    boxes = _boxes(11, seed=4)
    images = _images(len(boxes), seed=5).contiguous(memory_format=CL)
    flip = torch.arange(len(boxes)) % 3 == 0
    levels = resized_crop_cpu(images, boxes, 224) * 255  # exact integers (checked above)
    scale, shift = _affine(RGB_MEAN, RGB_STDEV)
    expected = (levels.round() * scale[:, None, None] + shift[:, None, None]).to(dtype)
    expected = torch.where(flip[:, None, None, None], expected.flip(-1), expected)
    ours = resized_crop_cpu(images, boxes, 224, flip=flip, mean=RGB_MEAN, std=RGB_STDEV, dtype=dtype)
    assert ours.dtype == dtype and ours.is_contiguous(memory_format=CL)
    assert torch.equal(ours, expected)


def test_train_transform_takes_the_cpu_path_with_the_batched_paths_draws():
    """uint8 on the CPU: the CPU path; float input: the batched path; the same boxes and flips."""
    images = _images(12, seed=6)
    cpu = TrainTransform(224, generator=torch.Generator().manual_seed(7))(images)
    batched = TrainTransform(224, generator=torch.Generator().manual_seed(7))(images.float() / 255)
    boxes, flips = TrainTransform(224, generator=torch.Generator().manual_seed(7)).draw(12, 256, 256)
    direct = resized_crop_cpu(images, boxes, 224, flip=flips, mean=RGB_MEAN, std=RGB_STDEV)
    assert torch.equal(cpu, direct)
    # the two paths differ by torch's uint8 rounding only: at most ~1 level (see test_transforms.py)
    levels = ((cpu - batched) * RGB_STDEV[:, None, None] * 255).abs()
    assert levels.max() <= 1.05 and levels.mean() <= 0.35
    ref = resized_crop(images, boxes, 224, flip=flips, mean=RGB_MEAN, std=RGB_STDEV)
    assert torch.allclose(batched, ref, atol=1e-5)


def test_torch_thread_setting_is_restored_and_per_thread():
    before = torch.get_num_threads()
    seen = []
    inside = threading.Event()
    release = threading.Event()

    def in_thread():
        with one_thread():
            seen.append(torch.get_num_threads())
            inside.set()
            release.wait(10)

    worker = threading.Thread(target=in_thread)
    worker.start()
    inside.wait(10)
    seen.append(torch.get_num_threads())  # the main thread's, while the worker holds one thread
    release.set()
    worker.join()
    assert seen == [1, before] and torch.get_num_threads() == before
    TrainTransform(64)(_images(2))
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bfloat16"])
def test_kernels_equal_their_python_twins_and_torch(bf16):
    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 256, (5, 7 * 3), dtype=np.uint8)
    scale = np.tile(rng.normal(0, 0.05, 3).astype(np.float32), 7)
    shift = np.tile(rng.normal(0, 3, 3).astype(np.float32), 7)
    kernel, kind = (normalise_rows_bf16, np.int16) if bf16 else (normalise_rows, np.float32)
    fast, slow = np.empty((5, 21), kind), np.empty((5, 21), kind)
    kernel(pixels, scale, shift, fast)
    kernel.py_func(pixels, scale, shift, slow)
    assert np.array_equal(fast, slow)
    src = pixels.reshape(5, 7, 3)
    value = torch.from_numpy(src.astype(np.float32)) * torch.from_numpy(scale[:3]) + torch.from_numpy(
        shift[:3]
    )
    expected = value.to(torch.bfloat16).view(torch.int16) if bf16 else value
    assert np.array_equal(fast, expected.reshape(5, 21).numpy())


def test_bfloat16_rounding_ties_to_even():
    """Values half way between two bfloat16s, and either side of them, round as torch rounds."""
    base = torch.tensor([1.0, 1.5, -2.25, 3.0e-3, 200.0], dtype=torch.float32).view(torch.int32)
    near = torch.cat([base + d for d in (0x7FFF, 0x8000, 0x8001, 0x18000, 0x17FFF)]).view(torch.float32)
    pixels = np.ones((1, len(near)), np.uint8)
    out = np.empty((1, len(near)), np.int16)
    normalise_rows_bf16(pixels, near.numpy(), np.zeros(len(near), np.float32), out)
    assert np.array_equal(out[0], near.to(torch.bfloat16).view(torch.int16).numpy())


def test_bad_input_is_rejected_with_the_fix():
    boxes = torch.tensor([[0, 0, 8, 8]])
    with pytest.raises(InvalidArgumentError, match="resized_crop"):
        resized_crop_cpu(torch.zeros(1, 3, 8, 8), boxes, 4)
    for dtype in (torch.float64, torch.float16):
        with pytest.raises(InvalidArgumentError, match="dtype"):
            resized_crop_cpu(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), boxes, 4, dtype=dtype)
    # float16 from TrainTransform on the CPU: the batched path, still correct
    images = _images(2, seed=9)
    half = TrainTransform(64, dtype=torch.float16, generator=torch.Generator().manual_seed(1))(images)
    full = TrainTransform(64, generator=torch.Generator().manual_seed(1))(images.float() / 255)
    assert half.dtype == torch.float16 and torch.allclose(half.float(), full, atol=2e-2)


def test_in_batch_loader_gathering_threads(sample_root_5m, store_5m):
    """Two gathering threads run the CPU path at once; a fixed box (the whole image, always
    flipped) makes every sample checkable against torchvision's resize of the image itself."""
    kw = dict(split="train", modality=("image",), target_type="species", image_format="tensor", build=False)
    ds = BIOSCAN5M(str(sample_root_5m.root), **kw)
    t = TrainTransform(96, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=1.0, dtype=torch.bfloat16)
    before = torch.get_num_threads()
    seen = 0
    for batch in batch_loader(ds, batch_size=8, num_workers=2, batch_transform=t):
        image = batch["image"]
        assert image.dtype == torch.bfloat16 and image.is_contiguous(memory_format=CL)
        for i, index in enumerate(batch["index"].tolist()):
            raw = ds[index][0]
            ref = F.interpolate(raw[None], (96, 96), mode="bilinear", antialias=True)[0].flip(-1)
            scale, shift = _affine(RGB_MEAN, RGB_STDEV)
            expected = (ref.float() * scale[:, None, None] + shift[:, None, None]).to(torch.bfloat16)
            assert torch.equal(image[i], expected)
        seen += len(batch["index"])
    assert seen == len(ds) and torch.get_num_threads() == before


# ------------------------------------------------------------------------- reused output memory
def test_a_kept_batch_view_or_array_is_never_overwritten():
    t = TrainTransform(64, generator=torch.Generator().manual_seed(10))
    first = t(_images(4, seed=11))
    kept = first.clone()
    second = t(_images(4, seed=12))  # `first` is alive: new memory
    assert second.data_ptr() != first.data_ptr() and torch.equal(first, kept)
    view, array = second[1:3], second.numpy()  # the batch dropped, a slice and an array of it kept
    view_kept, array_kept = view.clone(), array.copy()
    del first, second
    for seed in (13, 14):
        t(_images(4, seed=seed))
    assert torch.equal(view, view_kept) and np.array_equal(array, array_kept)


def test_a_dropped_batch_is_reused_and_a_pickled_transform_starts_empty():
    import copy
    import pickle

    t = TrainTransform(64)
    ptr = t(_images(4)).data_ptr()
    assert t(_images(4, seed=1)).data_ptr() == ptr  # nothing held the first: its memory again
    again = pickle.loads(pickle.dumps(t))  # noqa: S301 - our own bytes
    assert again.outputs._buffers == [] and copy.deepcopy(t).outputs._buffers == []
    assert again(_images(4)).shape == (4, 3, 64, 64)


def test_without_the_jit_the_batched_path_runs():
    """``BIOSCAN_H5_DISABLE_JIT=1`` would run the kernels as Python loops: the preset falls back
    to the batched path (torchvision's float pixels, not uint8-rounded ones)."""
    import os
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from bioscan_h5.transforms import TrainTransform, resized_crop\n"
        "x = torch.randint(0, 256, (3, 3, 64, 64), generator=torch.Generator().manual_seed(0)).to(torch.uint8)\n"
        "t = TrainTransform(32, mean=(0, 0, 0), std=(1, 1, 1), generator=torch.Generator().manual_seed(1))\n"
        "boxes, flips = TrainTransform(32, generator=torch.Generator().manual_seed(1)).draw(3, 64, 64)\n"
        "print(torch.equal(t(x), resized_crop(x, boxes, 32, flip=flips)))\n"
    )
    env = {**os.environ, "BIOSCAN_H5_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
