"""The machinery the PyTorch datasets share: the base class, options, samples, labels, batch loading.

The dataset classes themselves are :mod:`bioscan_h5.bioscan5m`, :mod:`bioscan_h5.bioscan1m`
and :mod:`bioscan_h5.canadian_invertebrates`.
"""

from .base import ImageStoreDataset, StoreDataset
from .labels import LabelSpace
from .loader import BatchLoader, batch_loader, gather_batch
from .options import DatasetOptions
from .samples import SampleReader

__all__ = [
    "BatchLoader",
    "DatasetOptions",
    "ImageStoreDataset",
    "LabelSpace",
    "SampleReader",
    "StoreDataset",
    "batch_loader",
    "gather_batch",
]
