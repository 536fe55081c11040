"""Training and evaluation presets: ``nn.Module``\\ s for a batch dict or a batch of images.

Both take what :func:`~bioscan_h5.batch_loader` yields, so either works::

    loader = batch_loader(ds, batch_size=256, batch_transform=TrainTransform(224))
    images = TrainTransform(224)(batch["image"].to("cuda"))   # or on the device, after the copy
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from .._jit import JIT_DISABLED
from ..bioscan5m import RGB_MEAN, RGB_STDEV
from ..errors import InvalidArgumentError
from .boxes import check_range, random_resized_crop_boxes
from .cpu import CPU_DTYPES, OutputPool, resized_crop_cpu
from .functional import Channels, check_size, resize_center_crop, resized_crop

__all__ = ["BatchTransform", "EvalTransform", "TrainTransform"]


class BatchTransform(torch.nn.Module):
    """Base of the presets: applies :meth:`images` to ``batch[key]`` of a dict, or to a tensor.

    Parameters
    ----------
    size : int or tuple of int
        Output ``(height, width)``; an int means a square.
    mean, std : tensor or sequence of float
        Per-channel normalisation in [0, 1] units: the output is ``(x / 255 - mean) / std``
        for uint8 input, ``(x - mean) / std`` for floating input.
    dtype : torch.dtype
        Output dtype: ``torch.float32`` or ``torch.bfloat16`` (or ``torch.float16``).
    key : str
        The entry of a batch dict that holds the images.
    """

    #: Registered buffers (they follow the module to a device).
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self, size: int | Sequence[int], *, mean: Channels, std: Channels, dtype: torch.dtype, key: str
    ) -> None:
        super().__init__()
        self.size = check_size("size", size)
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise InvalidArgumentError(
                f"dtype={dtype!r} is not a floating torch dtype; pass torch.float32 or torch.bfloat16."
            )
        for name, value in (("mean", mean), ("std", std)):
            self.register_buffer(
                name, torch.as_tensor(value, dtype=torch.float32).flatten().clone(), persistent=False
            )
        self.dtype = dtype
        self.key = key

    def forward(self, batch: Mapping[str, Any] | torch.Tensor) -> dict[str, object] | torch.Tensor:
        """Transform a batch dict (a shallow copy, ``key`` transformed) or ``(B, C, H, W)`` images."""
        if isinstance(batch, torch.Tensor):
            return self.images(batch)
        if not isinstance(batch, Mapping) or self.key not in batch:
            found = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
            raise InvalidArgumentError(
                f"expected a tensor or a dict with a {self.key!r} entry, got {found!r}."
            )
        return {**batch, self.key: self.images(batch[self.key])}

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """Transform ``(B, C, H, W)`` images (implemented by the presets)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"size={self.size}, dtype={self.dtype}, key={self.key!r}"


class TrainTransform(BatchTransform):
    """RandomResizedCrop, random horizontal flip and normalisation, with parameters per sample.

    Each sample gets its own box (torchvision's ``RandomResizedCrop`` rule,
    :func:`~bioscan_h5.transforms.random_resized_crop_boxes`) and flip. uint8 images on the CPU
    with float32/bfloat16 output match torchvision's uint8 ``resized_crop(..., antialias=True)``
    pixel for pixel (:func:`~bioscan_h5.transforms.cpu.resized_crop_cpu`; the batched path with
    ``BIOSCAN_H5_DISABLE_JIT=1``); other input (a GPU, floating images) matches its float
    ``resized_crop`` up to rounding (:func:`~bioscan_h5.transforms.resized_crop`). A CPU output
    batch is reused only once nothing refers to it (:class:`~bioscan_h5.transforms.cpu.OutputPool`).

    Parameters
    ----------
    size : int or tuple of int, default 224
        As in :class:`BatchTransform`.
    scale : tuple of float, default (0.08, 1.0)
        Range of the crop's area as a fraction of the image's.
    ratio : tuple of float, default (3/4, 4/3)
        Range of the crop's aspect ratio (width / height), sampled log-uniformly.
    flip : float, default 0.5
        Probability that a sample is mirrored left to right.
    mean, std, dtype, key
        As in :class:`BatchTransform`; default BIOSCAN-5M's ``RGB_MEAN`` and ``RGB_STDEV``,
        ``torch.float32`` and ``"image"``.
    generator : torch.Generator, optional
        The randomness of boxes and flips. ``None`` uses torch's default generator (different
        in each DataLoader worker); a generator given here is copied into each worker, which
        would then repeat one another's draws.

    Examples
    --------
    >>> t = TrainTransform(224, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(0))
    >>> t(torch.zeros(8, 3, 256, 256, dtype=torch.uint8)).shape
    torch.Size([8, 3, 224, 224])
    """

    def __init__(
        self,
        size: int | Sequence[int] = 224,
        *,
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        flip: float = 0.5,
        mean: Channels = RGB_MEAN,
        std: Channels = RGB_STDEV,
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
        key: str = "image",
    ) -> None:
        super().__init__(size, mean=mean, std=std, dtype=dtype, key=key)
        self.scale = check_range("scale", scale)
        self.ratio = check_range("ratio", ratio)
        if not 0.0 <= flip <= 1.0:
            raise InvalidArgumentError(f"flip={flip!r} is a probability; pass a value in [0, 1].")
        self.flip = float(flip)
        self.generator = generator
        self.outputs = OutputPool()

    def draw(self, n: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw the boxes (int64 ``(n, 4)``: ``top, left, height, width``) and flips (bool ``(n,)``)
        of ``n`` samples of ``height x width`` images."""
        boxes = random_resized_crop_boxes(
            n, height, width, scale=self.scale, ratio=self.ratio, generator=self.generator
        )
        flips = torch.rand(n, generator=self.generator, device=boxes.device) < self.flip
        return boxes, flips

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """Crop, resize, flip and normalise ``(B, C, H, W)`` images, each sample with its own draw."""
        if images.ndim != 4:
            raise InvalidArgumentError(f"expected images of shape (B, C, H, W), got {tuple(images.shape)}.")
        boxes, flips = self.draw(images.shape[0], images.shape[-2], images.shape[-1])
        crop: Callable[..., torch.Tensor] = resized_crop
        cpu = images.device.type == "cpu" and boxes.device.type == "cpu" and not JIT_DISABLED
        if cpu and images.dtype == torch.uint8 and self.dtype in CPU_DTYPES:
            out = self.outputs.empty((len(images), images.shape[1], *self.size), self.dtype)
            crop = functools.partial(resized_crop_cpu, out=out)
        return crop(images, boxes, self.size, flip=flips, mean=self.mean, std=self.std, dtype=self.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale}, ratio={self.ratio}, flip={self.flip}"


class EvalTransform(BatchTransform):
    """Resize (shorter side, antialiased), CenterCrop and normalisation, as torchvision's eval recipes.

    Parameters
    ----------
    size : int or tuple of int, default 224
        Crop ``(height, width)``; an int means a square.
    resize : int, optional
        Shorter side after resizing; default ``256 * max(size) // 224`` (256 for 224).
    mean, std, dtype, key
        As in :class:`TrainTransform`.
    """

    def __init__(
        self,
        size: int | Sequence[int] = 224,
        *,
        resize: int | None = None,
        mean: Channels = RGB_MEAN,
        std: Channels = RGB_STDEV,
        dtype: torch.dtype = torch.float32,
        key: str = "image",
    ) -> None:
        super().__init__(size, mean=mean, std=std, dtype=dtype, key=key)
        self.resize = 256 * max(self.size) // 224 if resize is None else check_size("resize", resize)[0]

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """Resize, centre-crop and normalise ``(B, C, H, W)`` images."""
        return resize_center_crop(
            images, self.size, self.resize, mean=self.mean, std=self.std, dtype=self.dtype
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, resize={self.resize}"
