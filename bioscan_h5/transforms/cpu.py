"""The CPU path of the presets: each sample cropped and resized on its own, then normalised in one pass.

The batched path (:mod:`.resample`) multiplies dense weight matrices, zeros included: cheap
on a GPU, slow on a CPU. Here each uint8 sample's box goes through torch's own uint8
antialiased bilinear kernel (the one torchvision's ``resized_crop(..., antialias=True)``
calls for uint8 tensors), and a compiled pass maps the resized uint8 pixels through a
256-entry table per channel (``(x / 255 - mean) / std`` already in the output dtype) into
the channels-last output, mirrored where the sample is flipped. Both steps release the GIL,
and the loop runs with one intra-op thread (torch's threads would contend with the gathering
threads that call it; the setting is per thread and restored after the batch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from .._jit import kernel
from ..errors import InvalidArgumentError
from .functional import Channels, _affine, check_size

__all__ = ["normalise_into", "one_thread", "resized_crop_cpu", "value_table"]

#: Output dtypes whose table is written through an integer view of the same width.
_BITS = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}


@kernel
def normalise_into(pixels: np.ndarray, table: np.ndarray, out: np.ndarray, flip: bool) -> None:
    """``out[y, x, c] = table[pixels[y, x', c], c]``, with ``x' = W - 1 - x`` where ``flip``.

    Parameters
    ----------
    pixels : numpy.ndarray
        uint8 ``(H, W, C)``, any strides.
    table : numpy.ndarray
        ``(256, C)``: the output value of each uint8 value, per channel (any dtype).
    out : numpy.ndarray
        ``(H, W, C)`` of ``table``'s dtype, any strides.
    flip : bool
        Mirror left to right.
    """
    height, width, channels = pixels.shape
    for y in range(height):
        for x in range(width):
            src = width - 1 - x if flip else x
            for c in range(channels):
                out[y, x, c] = table[pixels[y, src, c], c]


def value_table(scale: torch.Tensor, shift: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """``(256, C)`` numpy table of ``v * scale + shift`` in ``dtype``, as the bits of an int of its width.

    Parameters
    ----------
    scale, shift : torch.Tensor
        float32 ``(C,)`` on the CPU.
    dtype : torch.dtype
        ``torch.float32``, ``torch.bfloat16`` or ``torch.float16``.

    Returns
    -------
    numpy.ndarray
        int32 or int16 ``(256, C)``: entry ``[v, c]`` holds the bits of
        ``torch.addcmul(shift, v, scale)[c].to(dtype)``.
    """
    values = torch.arange(256, dtype=torch.float32)[:, None]
    return torch.addcmul(shift.cpu(), values, scale.cpu()).to(dtype).view(_BITS[dtype]).numpy()


def resized_crop_cpu(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: int | Sequence[int],
    *,
    flip: torch.Tensor | None = None,
    mean: Channels | None = None,
    std: Channels | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """:func:`~bioscan_h5.transforms.resized_crop` for uint8 images on the CPU, one sample at a time.

    Sample ``b`` is torchvision's ``resized_crop(images[b], *boxes[b], size, antialias=True)``
    of the uint8 image (so rounded to uint8 levels, exactly as torchvision rounds them),
    mirrored where ``flip[b]``, then ``(x / 255 - mean) / std`` in ``dtype``.

    Parameters
    ----------
    images : torch.Tensor
        uint8 ``(B, C, H, W)`` on the CPU, any memory format (channels-last is fastest).
    boxes : torch.Tensor
        int ``(B, 4)``: ``top, left, height, width`` of each box, inside the image.
    size : int or tuple of int
        Output ``(height, width)``; an int means a square.
    flip : torch.Tensor, optional
        bool ``(B,)``: mirror these samples left to right.
    mean, std : tensor or sequence of float, optional
        One value per channel, in [0, 1] units; default no normalisation (0 and 1).
    dtype : torch.dtype, default torch.float32
        ``torch.float32``, ``torch.bfloat16`` or ``torch.float16``.

    Returns
    -------
    torch.Tensor
        ``(B, C, height, width)`` of ``dtype`` in ``torch.channels_last`` memory format.
    """
    out_h, out_w = check_size("size", size)
    if images.dtype != torch.uint8 or images.device.type != "cpu" or dtype not in _BITS:
        raise InvalidArgumentError(
            f"resized_crop_cpu takes uint8 CPU images and one of {sorted(map(str, _BITS))} as dtype, got"
            f" {images.dtype} images on {images.device} and dtype={dtype!r}; use resized_crop for the others."
        )
    scale, shift = _affine(images, mean, std)
    table = value_table(scale, shift, dtype)
    n, channels = images.shape[:2]
    result = torch.empty(n, channels, out_h, out_w, dtype=dtype, memory_format=torch.channels_last)
    out = result.permute(0, 2, 3, 1).view(_BITS[dtype]).numpy()  # (B, H, W, C), the result's memory
    flips = [False] * n if flip is None else flip.tolist()
    with one_thread():
        for b, (top, left, height, width) in enumerate(boxes.tolist()):
            crop = images[b : b + 1, :, top : top + height, left : left + width]
            resized = F.interpolate(
                crop, (out_h, out_w), mode="bilinear", antialias=True, align_corners=False
            )
            normalise_into(resized[0].permute(1, 2, 0).numpy(), table, out[b], bool(flips[b]))
    return result


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch's CPU ops of the calling thread on one intra-op thread, then restore the setting.

    ``torch.set_num_threads`` sets the calling thread's OpenMP thread count (and the default
    of threads that have not yet run an op), so other threads keep theirs.
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
