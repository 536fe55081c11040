"""The PyTorch datasets: drop-ins for ``bioscan_dataset``'s ``BIOSCAN5M``, ``BIOSCAN1M`` and ``CanadianInvertebrates``."""

from .base import StoreDataset
from .bioscan1m import BIOSCAN1M, load_bioscan1m_metadata
from .bioscan5m import BIOSCAN5M, load_bioscan5m_metadata
from .canadian_invertebrates import CanadianInvertebrates, load_canadian_invertebrates_metadata
from .labels import LabelSpace
from .loader import BatchLoader, batch_loader, gather_batch
from .options import DatasetOptions
from .samples import SampleReader

__all__ = [
    "BIOSCAN1M",
    "BIOSCAN5M",
    "BatchLoader",
    "CanadianInvertebrates",
    "DatasetOptions",
    "LabelSpace",
    "SampleReader",
    "StoreDataset",
    "batch_loader",
    "gather_batch",
    "load_bioscan1m_metadata",
    "load_bioscan5m_metadata",
    "load_canadian_invertebrates_metadata",
]
