"""The CPU path of the presets: each uint8 sample's box resized by torch's antialiased kernel, then
normalised (and flipped) in one nogil pass into channels-last buffers of an :class:`OutputPool`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from .._jit import kernel
from .._reuse import Buffer
from ..errors import InvalidArgumentError
from .functional import Channels, affine, check_size

__all__ = [
    "CPU_DTYPES",
    "OutputPool",
    "normalise_rows",
    "normalise_rows_bf16",
    "one_thread",
    "resized_crop_cpu",
]

#: Output dtypes of the CPU path, with the numpy dtype its kernels write each as.
CPU_DTYPES = {torch.float32: torch.float32, torch.bfloat16: torch.int16}


@kernel
def normalise_rows(pixels: np.ndarray, scale: np.ndarray, shift: np.ndarray, out: np.ndarray) -> None:
    """``out[y, k] = pixels[y, k] * scale[k] + shift[k]`` in float32: ``pixels`` uint8 and ``out``
    float32 ``(H, W * C)`` rows of channels-last pixels, C-contiguous; ``scale`` and ``shift`` float32
    ``(W * C,)``, the per-channel constants repeated along a row."""
    height, row = pixels.shape
    for y in range(height):
        src, dst = pixels[y], out[y]
        for k in range(row):  # a loop the compiler vectorises
            dst[k] = np.float32(src[k]) * scale[k] + shift[k]


@kernel
def normalise_rows_bf16(pixels: np.ndarray, scale: np.ndarray, shift: np.ndarray, out: np.ndarray) -> None:
    """:func:`normalise_rows` rounded to bfloat16 as torch rounds a float32 (to nearest, ties to
    even); ``out`` is int16 ``(H, W * C)`` and receives the bfloat16 bits."""
    height, row = pixels.shape
    values = np.empty(row, np.float32)
    bits = values.view(np.uint32)
    for y in range(height):
        src, dst = pixels[y], out[y]
        for k in range(row):
            values[k] = np.float32(src[k]) * scale[k] + shift[k]
        for k in range(row):
            b = np.int64(bits[k])
            v = (b + 0x7FFF + ((b >> 16) & 1)) >> 16  # the bfloat16's 16 bits, 0 .. 65535
            dst[k] = v - 65536 if v >= 32768 else v


def resized_crop_cpu(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: int | Sequence[int],
    *,
    flip: torch.Tensor | None = None,
    mean: Channels | None = None,
    std: Channels | None = None,
    dtype: torch.dtype = torch.float32,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`~bioscan_h5.transforms.resized_crop` for uint8 images on the CPU, one sample at a time.

    Sample ``b`` is torchvision's uint8 ``resized_crop(images[b], *boxes[b], size, antialias=True)``
    exactly, mirrored where ``flip[b]``, normalised in float32 and rounded to ``dtype``
    (``torch.float32`` or ``torch.bfloat16``), written into ``out`` (a channels-last
    ``(B, C, height, width)`` tensor of ``dtype``, e.g. from an :class:`OutputPool`) or a new
    tensor. Other images (uint8 on the CPU only), dtypes, or an ``out`` that does not fit raise
    :class:`InvalidArgumentError`.
    """
    out_h, out_w = check_size("size", size)
    if images.dtype != torch.uint8 or images.device.type != "cpu" or dtype not in CPU_DTYPES:
        raise InvalidArgumentError(
            f"resized_crop_cpu takes uint8 CPU images and one of {sorted(map(str, CPU_DTYPES))} as dtype, got"
            f" {images.dtype} images on {images.device} and dtype={dtype!r}; use resized_crop for the others."
        )
    scale, shift = affine(images, mean, std)
    n, channels = images.shape[:2]
    scale_row, shift_row = (v.cpu().repeat(out_w).numpy() for v in (scale, shift))
    shape = (n, channels, out_h, out_w)
    cl = torch.channels_last
    result = torch.empty(shape, dtype=dtype, memory_format=cl) if out is None else out
    if result.shape != shape or result.dtype != dtype or not result.is_contiguous(memory_format=cl):
        raise InvalidArgumentError(
            f"out is {result.dtype} {tuple(result.shape)} with strides {result.stride()}; pass a channels-last"
            f" {dtype} tensor of shape {shape}, or none."
        )
    dest = result.permute(0, 2, 3, 1).view(CPU_DTYPES[dtype]).view(n, out_h, out_w * channels).numpy()
    normalise = normalise_rows if dtype == torch.float32 else normalise_rows_bf16
    flips = [False] * n if flip is None else flip.tolist()
    with one_thread():
        for b, (top, left, height, width) in enumerate(boxes.tolist()):
            crop = images[b : b + 1, :, top : top + height, left : left + width]
            resized = F.interpolate(crop, (out_h, out_w), mode="bilinear", antialias=True)[0]
            if flips[b]:  # mirrored as uint8 by torch: a third of the cost of a mirrored normalisation
                resized = resized.flip(-1)
            rows = resized.permute(1, 2, 0).contiguous().view(out_h, out_w * channels).numpy()
            normalise(rows, scale_row, shift_row, dest[b])
    return result


class OutputPool:
    """Channels-last output batches whose memory is reused once nothing references it.

    A buffer (a :class:`~bioscan_h5._reuse.Buffer`) is handed out again only when no tensor
    made from it (the batch itself, a slice, a view, a ``.numpy()`` array) is alive, so a batch
    the consumer keeps is never overwritten; it only costs a new buffer. Thread-safe; copies
    and pickles of a pool start empty.

    Parameters
    ----------
    keep : int, default 8
        Buffers kept for reuse; beyond them, batches get buffers of their own.
    """

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._buffers: list[Buffer] = []
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type[OutputPool], tuple[int]]:
        return OutputPool, (self.keep,)

    def empty(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised channels-last ``(B, C, H, W)`` tensor of a :data:`CPU_DTYPES` dtype, on reused
        memory where some is free."""
        n, c, h, w = shape
        store = np.dtype(np.float32) if dtype == torch.float32 else np.dtype(np.int16)  # bfloat16's bits
        with self._lock:  # the tensor exists before the lock is released: the buffer is taken
            buf = next((b for b in self._buffers if b.fits((n, h, w, c), store) and not b.in_use()), None)
            if buf is None:
                buf = Buffer((n, h, w, c), store)
                if len(self._buffers) < self.keep:
                    self._buffers.append(buf)
            return torch.from_numpy(buf.array[:n]).view(dtype).permute(0, 3, 1, 2)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch's CPU ops of the calling thread on one intra-op thread, then restore the setting.

    ``torch.set_num_threads`` sets the calling thread's OpenMP thread count (and the default
    of threads that have not yet run an op), so other threads keep theirs.
    """
    before = torch.get_num_threads()
    if before == 1:  # nothing to set or restore, on a per-batch path
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
