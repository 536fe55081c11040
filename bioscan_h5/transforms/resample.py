"""The batched crop-and-resize: each sample's box resampled by two dense weight matrices, any device.

The weights are torch's antialiased bilinear ones on the cropped image, so a sample equals
torchvision's ``resized_crop(..., antialias=True)`` up to float rounding; normalisation and
flip are folded into the weights. Why not kornia: see ``bench/README.md``.
"""

from __future__ import annotations

import math

import torch

__all__ = ["axis_weights", "resample"]


def axis_weights(
    start: torch.Tensor,
    length: torch.Tensor,
    out: int,
    size: int,
    *,
    resized: int | None = None,
    offset: int = 0,
) -> torch.Tensor:
    """Antialiased bilinear weights that resize ``length`` inputs from ``start`` along one axis.

    Each sample's box ``[start, start + length)`` (int64 ``(B,)`` each) on an axis of ``size``
    inputs is resized to ``resized`` outputs (default ``out``), of which outputs ``offset ..
    offset + out - 1`` are kept (a centre crop after a resize), as torch's antialiased bilinear
    ``interpolate`` computes them (``align_corners=False``): float32 ``(B, out, size)`` on
    ``start``'s device, each row summing to 1 and zero outside its sample's box.
    """
    resized = out if resized is None else resized
    device = start.device
    length = length.to(torch.float64)
    scale = (length / resized)[:, None]
    support = scale.clamp(min=1.0)
    center = scale * (torch.arange(offset, offset + out, device=device, dtype=torch.float64) + 0.5)
    # torch truncates the window's ends towards zero (C++ int64 casts), then clips it to the box
    first = torch.trunc(center - support + 0.5).clamp(min=0)
    stop = torch.minimum(torch.trunc(center + support + 0.5), length[:, None])
    # a window of width 2 * support holds at most ceil(2 * support) inputs; bound it without a sync
    taps = math.ceil(2 * max(size / resized, 1.0))
    index = first[..., None] + torch.arange(taps, device=device, dtype=torch.float64)
    weight = (1 - ((index - center[..., None] + 0.5) / support[..., None]).abs()).clamp(min=0)
    weight = torch.where(index < stop[..., None], weight, 0.0)
    weight = weight / weight.sum(dim=-1, keepdim=True)
    index = (index.to(torch.int64) + start[:, None, None]).clamp(max=size - 1)
    matrix = torch.zeros(len(start), out, size, device=device, dtype=torch.float32)
    return matrix.scatter_add_(2, index, weight.to(torch.float32))


def resample(
    images: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    scale: torch.Tensor,
    shift: torch.Tensor,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``(images * scale + shift)`` resampled by per-sample row and column weights.

    ``images`` is ``(B, C, H, W)``, any dtype and memory format (channels-last avoids a copy);
    ``rows`` and ``cols`` are float32 ``(B, out_h, H)`` and ``(B, out_w, W)`` from
    :func:`axis_weights`; ``scale`` and ``shift`` float32 ``(C,)``, applied to the input values.
    The result is ``(B, C, out_h, out_w)`` of ``dtype``, channels-last.
    """
    n, channels, height, width = images.shape
    out_h, out_w = rows.shape[1], cols.shape[1]
    pixels = torch.addcmul(shift, images.permute(0, 2, 3, 1).contiguous(), scale)  # (B, H, W, C) float32
    tall = torch.bmm(rows, pixels.view(n, height, width * channels))  # (B, out_h, W * C)
    tall = tall.view(n, out_h, width, channels).transpose(1, 2).reshape(n, width, out_h * channels)
    done = torch.bmm(cols, tall).view(n, out_w, out_h, channels)  # (B, out_w, out_h, C)
    result = torch.empty(
        n, channels, out_h, out_w, dtype=dtype, device=images.device, memory_format=torch.channels_last
    )
    return result.copy_(done.permute(0, 3, 2, 1))
