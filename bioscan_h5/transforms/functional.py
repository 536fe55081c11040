"""Batched crop-and-resize and resize-and-centre-crop as functions: the presets' working parts."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InvalidArgumentError
from .boxes import center_crop_offset
from .resample import axis_weights, resample

__all__ = ["affine", "check_size", "resize_center_crop", "resized_crop", "resized_shape", "to_device"]

#: A per-channel constant: a tensor, or a sequence of floats, one per channel.
Channels = torch.Tensor | Sequence[float]


def check_size(name: str, size: int | Sequence[int]) -> tuple[int, int]:
    """``size`` as a ``(height, width)`` pair of positive ints (an int means a square); raises
    :class:`InvalidArgumentError` naming ``name`` otherwise."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair):
        raise InvalidArgumentError(
            f"{name}={size!r} is not a positive int or a (height, width) pair of them."
        )
    return pair


def resized_shape(height: int, width: int, shorter: int) -> tuple[int, int]:
    """The size torchvision's ``Resize(shorter)`` gives a ``height x width`` image (shorter side, ratio kept)."""
    if width <= height:
        return int(shorter * height / width), shorter
    return shorter, int(shorter * width / height)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; CPU to GPU through pinned memory, so the copy queues behind the GPU's
    work instead of waiting for it (a pageable copy synchronises)."""
    if tensor.device == device:
        return tensor
    if tensor.device.type == "cpu" and device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def affine(
    images: torch.Tensor, mean: Channels | None, std: Channels | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``scale, shift`` so that ``x * scale + shift`` is ``(x / 255 - mean) / std`` (uint8),
    ``(x - mean) / std`` (floating), on ``images``' device; checks the images and the channel counts."""
    if images.ndim != 4 or not (images.dtype == torch.uint8 or images.dtype.is_floating_point):
        raise InvalidArgumentError(
            f"expected uint8 or floating images of shape (B, C, H, W), got {images.dtype} {tuple(images.shape)}."
        )
    channels = images.shape[1]
    mean = torch.zeros(channels) if mean is None else torch.as_tensor(mean, dtype=torch.float32).flatten()
    std = torch.ones(channels) if std is None else torch.as_tensor(std, dtype=torch.float32).flatten()
    if mean.numel() != channels or std.numel() != channels:
        raise InvalidArgumentError(
            f"mean has {mean.numel()} and std {std.numel()} values for images with {channels} channels; "
            "pass one value per channel."
        )
    unit = 1 / 255 if images.dtype == torch.uint8 else 1.0
    mean, std = to_device(mean, images.device), to_device(std, images.device)
    return unit / std, -mean / std


def resized_crop(
    images: torch.Tensor,
    boxes: torch.Tensor,
    size: int | Sequence[int],
    *,
    flip: torch.Tensor | None = None,
    mean: Channels | None = None,
    std: Channels | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Crop every image to its own box, resize it to ``size`` (bilinear, antialiased), normalise:
    ``(B, C, height, width)`` of ``dtype``, channels-last.

    Sample ``b`` is torchvision's ``resized_crop(images[b], *boxes[b], size, antialias=True)``
    (up to float rounding), mirrored left-right where ``flip[b]``.

    Parameters
    ----------
    images : torch.Tensor
        uint8 or floating ``(B, C, H, W)`` on any device, any memory format.
    boxes : torch.Tensor
        int ``(B, 4)``: ``top, left, height, width`` of each box, inside the image.
    size : int or tuple of int
        Output ``(height, width)``; an int means a square.
    flip : torch.Tensor, optional
        bool ``(B,)``: mirror these samples left to right.
    mean, std : tensor or sequence of float, optional
        One value per channel, in [0, 1] units: ``(x / 255 - mean) / std`` for uint8 input,
        ``(x - mean) / std`` for floating input; default no normalisation (0 and 1).
    dtype : torch.dtype, default torch.float32
    """
    out_h, out_w = check_size("size", size)
    scale, shift = affine(images, mean, std)
    boxes = to_device(boxes.to(torch.int64), images.device)
    rows = axis_weights(boxes[:, 0], boxes[:, 2], out_h, images.shape[-2])
    cols = axis_weights(boxes[:, 1], boxes[:, 3], out_w, images.shape[-1])
    if flip is not None:
        cols = torch.where(to_device(flip, images.device)[:, None, None], cols.flip(1), cols)
    return resample(images, rows, cols, scale, shift, dtype)


def resize_center_crop(
    images: torch.Tensor,
    size: int | Sequence[int],
    resize: int,
    *,
    mean: Channels | None = None,
    std: Channels | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """torchvision's ``Resize(resize)`` (antialiased) then ``CenterCrop(size)``, on a batch, normalised
    (the output of :func:`resized_crop`).

    Parameters
    ----------
    images, size, mean, std, dtype
        As in :func:`resized_crop` (``size``: the crop).
    resize : int
        Length of the shorter side after resizing (the longer one keeps the aspect ratio).

    Raises
    ------
    InvalidArgumentError
        When the crop is larger than the resized image.
    """
    out_h, out_w = check_size("size", size)
    check_size("resize", resize)
    scale, shift = affine(images, mean, std)
    n, _, height, width = images.shape
    new_h, new_w = resized_shape(height, width, resize)
    if out_h > new_h or out_w > new_w:
        raise InvalidArgumentError(
            f"size={size!r} does not fit in the {new_h}x{new_w} image that resize={resize!r} makes of "
            f"{height}x{width} inputs; pass resize >= {max(out_h, out_w)}."
        )
    top, left = center_crop_offset(new_h, new_w, (out_h, out_w))
    zeros = torch.zeros(n, dtype=torch.int64, device=images.device)
    rows = axis_weights(zeros, zeros + height, out_h, height, resized=new_h, offset=top)
    cols = axis_weights(zeros, zeros + width, out_w, width, resized=new_w, offset=left)
    return resample(images, rows, cols, scale, shift, dtype)
