"""Canadian Invertebrates (``from bioscan_h5.canadian_invertebrates import CanadianInvertebrates``).

See :mod:`bioscan_h5.datasets.canadian_invertebrates`. The module-level names of the peer's
``bioscan_dataset.canadian_invertebrates`` are here too, with the same values.
"""

from .datasets.canadian_invertebrates import *  # noqa: F403 - the peer's names, as its module has them
from .datasets.canadian_invertebrates import __all__  # noqa: F401
