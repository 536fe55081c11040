"""The on-disk store format: the one place that names every path, dtype and attribute.

:mod:`.layout` (paths, dtypes, the schema classes, root attributes and their schema, limits,
checksums), :mod:`.jpeg_layout` (JPEG stores) and :mod:`.whole_barcodes` (the barcode tail
block), re-exported here (``from bioscan_h5 import format as fmt`` sees them all).
"""

from .jpeg_layout import *  # noqa: F403
from .layout import *  # noqa: F403
from .whole_barcodes import *  # noqa: F403
