"""BIOSCAN-1M (``from bioscan_h5.bioscan1m import BIOSCAN1M``): see :mod:`bioscan_h5.datasets.bioscan1m`."""

from .datasets.bioscan1m import BIOSCAN1M, RGB_MEAN, RGB_STDEV, load_bioscan1m_metadata

__all__ = ["BIOSCAN1M", "load_bioscan1m_metadata", "RGB_MEAN", "RGB_STDEV"]
