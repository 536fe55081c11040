"""Crop boxes for a batch: torchvision's RandomResizedCrop rule drawn for every sample at once.

A box is one row ``(top, left, height, width)`` of an int64 ``(B, 4)`` tensor, in pixels of
the input image, as torchvision's ``RandomResizedCrop.get_params`` returns it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import InvalidArgumentError

__all__ = ["center_crop_offset", "check_range", "random_resized_crop_boxes"]

#: Attempts at an area and aspect ratio before the centre-crop fallback (torchvision's 10).
ATTEMPTS = 10


def check_range(name: str, value: Sequence[float]) -> tuple[float, float]:
    """``value`` as a ``(low, high)`` pair of floats with ``0 < low <= high``; raises
    :class:`InvalidArgumentError` naming ``name`` otherwise."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name}={value!r} is not a pair of numbers; pass (low, high).") from None
    if not 0 < low <= high:
        raise InvalidArgumentError(
            f"{name}={value!r} must satisfy 0 < low <= high; pass e.g. {name}=(0.08, 1.0) or (3/4, 4/3)."
        )
    return low, high


def random_resized_crop_boxes(
    n: int,
    height: int,
    width: int,
    *,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw ``n`` independent RandomResizedCrop boxes on a ``height x width`` image: int64 ``(n, 4)``,
    ``top, left, height, width`` per sample, on the generator's device.

    torchvision's ``RandomResizedCrop.get_params`` rule (10 attempts, then the centre-crop
    fallback); every sample draws all its attempts up front (four random numbers each).

    Parameters
    ----------
    n, height, width : int
        Number of boxes (the batch size); size of the input images in pixels.
    scale, ratio : tuple of float, default (0.08, 1.0) and (3/4, 4/3)
        Ranges of the crop's area (a fraction of the image's) and aspect ratio (width / height).
    generator : torch.Generator, optional
        The draws happen on its device; ``None`` uses torch's default CPU generator.
    """
    device = generator.device if generator is not None else torch.device("cpu")
    low, high = check_range("scale", scale)
    ratio = check_range("ratio", ratio)
    log_low, log_high = (math.log(r) for r in ratio)
    draws = torch.rand(4, n, ATTEMPTS, generator=generator, device=device, dtype=torch.float64)
    area = height * width * (low + (high - low) * draws[0])
    aspect = torch.exp(log_low + (log_high - log_low) * draws[1])
    w = torch.round(torch.sqrt(area * aspect))
    h = torch.round(torch.sqrt(area / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)
    w, h, u, v = (t.gather(1, first).squeeze(1) for t in (w, h, draws[2], draws[3]))
    top = torch.floor(u * (height - h + 1))
    left = torch.floor(v * (width - w + 1))
    boxes = torch.stack([top, left, h, w], dim=1).to(torch.int64)
    # filled on the device, not copied there: a copy from the host would wait for a GPU's queue
    fallback = [torch.full((n,), v, device=device) for v in _fallback_box(height, width, ratio)]
    return torch.where(fits.any(dim=1, keepdim=True), boxes, torch.stack(fallback, dim=1))


def _fallback_box(height: int, width: int, ratio: tuple[float, float]) -> tuple[int, int, int, int]:
    """torchvision's fallback: the centred box whose ratio is the image's clamped to ``ratio``."""
    in_ratio = width / height
    h, w = height, width
    if in_ratio < min(ratio):
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        w = int(round(h * max(ratio)))
    return (height - h) // 2, (width - w) // 2, h, w


def center_crop_offset(height: int, width: int, size: tuple[int, int]) -> tuple[int, int]:
    """``(top, left)`` of torchvision's ``center_crop`` of ``size`` (``(crop_height, crop_width)``,
    at most the image's) on a ``height x width`` image."""
    return int(round((height - size[0]) / 2.0)), int(round((width - size[1]) / 2.0))
