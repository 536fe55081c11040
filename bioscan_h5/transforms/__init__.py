"""Batched image augmentation on any device: per-sample RandomResizedCrop, flip, normalisation.

>>> from bioscan_h5.transforms import TrainTransform, EvalTransform
>>> loader = batch_loader(ds, batch_size=256, batch_transform=TrainTransform(224))  # doctest: +SKIP
"""

from .boxes import center_crop_offset, random_resized_crop_boxes
from .functional import resize_center_crop, resized_crop
from .presets import BatchTransform, EvalTransform, TrainTransform

__all__ = [
    "BatchTransform",
    "EvalTransform",
    "TrainTransform",
    "center_crop_offset",
    "random_resized_crop_boxes",
    "resize_center_crop",
    "resized_crop",
]
