"""BIOSCAN-1M (``from bioscan_h5.bioscan1m import BIOSCAN1M``): see :mod:`bioscan_h5.datasets.bioscan1m`.

The module-level names of ``bioscan_dataset.bioscan1m`` are here too, with the same values.
"""

from .datasets.bioscan1m import *  # noqa: F403 - the peer's names, as its module has them
from .datasets.bioscan1m import __all__  # noqa: F401
