"""Decoding a JPEG store's batches on the GPU: ``batch_loader(..., decode="cuda")``.

One batched nvJPEG call (``torchvision.io.decode_jpeg``), then the raw builder's resize and crop
or pad, into ``(B, 3, S, S)`` uint8 channels-last; what nvJPEG cannot decode goes through the
CPU path. The pixels are close to a raw store's, not equal (another IDCT and resize).
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InvalidArgumentError
from ..images import center_crop_box, resized_size

__all__ = ["GpuJpegDecoder", "check_gpu_decode"]

_JPEG_MAGIC = (0xFF, 0xD8)
_GPU_MODES = (b"RGB", b"L")


def check_gpu_decode(dataset, decode) -> torch.device | None:
    """The device of ``decode`` (None: decode on the CPU), or :class:`InvalidArgumentError`."""
    if decode is None or str(decode) == "cpu":
        return None
    try:
        dev = torch.device(decode)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type != "cuda":
        raise InvalidArgumentError(f"Unknown decode={decode!r}. Valid values are 'cpu', 'cuda' or 'cuda:N'.")
    if not torch.cuda.is_available():
        raise InvalidArgumentError(
            f"decode={decode!r} decodes JPEG batches on the GPU, but torch.cuda.is_available() is False here"
            f" (torch {torch.__version__}). Pass decode='cpu' (the default) to decode in the gathering threads."
        )
    if "image" not in dataset.options.modality or not dataset.store.codec.gpu_decode:
        raise InvalidArgumentError(
            f"decode={decode!r} needs a JPEG store and the image modality; {dataset.store_path!r} is a"
            f" {dataset.store.codec.name} store. Build one with `bioscan-h5 build --pixels jpeg`, or leave decode out."
        )
    return dev


class GpuJpegDecoder:
    """Decodes the encoded images of a batch into ``(B, 3, S, S)`` uint8 on ``device`` (``block``: the store's JpegBlock)."""

    def __init__(self, block, device: torch.device) -> None:
        from torchvision.io import ImageReadMode, decode_jpeg

        self.block, self.device = block, device
        self._decode, self._rgb = decode_jpeg, ImageReadMode.RGB
        self.size, self.fit = block.row_shape[0], block.fit

    def __call__(self, encoded: list[torch.Tensor], rows: np.ndarray) -> torch.Tensor:
        s, n = self.size, len(encoded)
        out = torch.zeros((n, 3, s, s), dtype=torch.uint8, device=self.device)
        out = out.contiguous(memory_format=torch.channels_last)
        on_gpu = [
            k
            for k in range(n)
            if len(encoded[k]) > 2
            and tuple(encoded[k][:2].tolist()) == _JPEG_MAGIC
            and bytes(self.block.modes[rows[k]]) in _GPU_MODES
        ]
        if on_gpu:
            images = self._decode([encoded[k] for k in on_gpu], mode=self._rgb, device=self.device)
            for k, img in zip(on_gpu, images):
                self._fit_into(img, out[k])
        cpu = np.empty(self.block.row_shape, dtype=np.uint8)
        for k in sorted(set(range(n)) - set(on_gpu)):
            self.block.read_one(int(rows[k]), cpu)
            out[k].copy_(torch.from_numpy(cpu).permute(2, 0, 1))
        return out

    def _fit_into(self, img: torch.Tensor, dest: torch.Tensor) -> None:
        """Resize ``img`` (3, H, W) as the raw builder does, then crop or pad it into ``dest``."""
        s = self.size
        h, w = img.shape[1:]
        new_w, new_h = resized_size(w, h, s, self.fit)
        if (new_w, new_h) != (w, h):
            x = torch.nn.functional.interpolate(
                img[None].float(), size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
            )
            img = x[0].round_().clamp_(0, 255).to(torch.uint8)
        if self.fit == "crop":
            left, top, _, _ = center_crop_box(new_w, new_h, s)
            dest.copy_(img[:, top : top + s, left : left + s])
        else:
            top, left = (s - new_h) // 2, (s - new_w) // 2
            dest[:, top : top + new_h, left : left + new_w].copy_(img)
