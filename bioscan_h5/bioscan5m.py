"""BIOSCAN-5M (``from bioscan_h5.bioscan5m import BIOSCAN5M``): see :mod:`bioscan_h5.datasets.bioscan5m`."""

from .datasets.bioscan5m import BIOSCAN5M, RGB_MEAN, RGB_STDEV, load_bioscan5m_metadata

__all__ = ["BIOSCAN5M", "load_bioscan5m_metadata", "RGB_MEAN", "RGB_STDEV"]
