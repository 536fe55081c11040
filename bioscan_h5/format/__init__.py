"""The on-disk store format: the one place that names every path, dtype and attribute.

Re-exported here (``from bioscan_h5 import format as fmt``): :mod:`.layout` (paths, dtypes,
dataset schemas), :mod:`.jpeg` (JPEG stores), :mod:`.whole_barcodes` (the barcode tail block)
and :mod:`.integrity` (format 2: the attribute schema and the checksums).
"""

from .integrity import *  # noqa: F403
from .jpeg import *  # noqa: F403
from .layout import *  # noqa: F403
from .whole_barcodes import *  # noqa: F403
