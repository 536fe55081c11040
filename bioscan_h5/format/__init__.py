"""The on-disk store format: the one place that names every path, dtype and attribute.

Paths, dtypes, the schema classes, root attributes and their schema, limits, checksums, JPEG
stores and the barcode tail block (``from bioscan_h5 import format as fmt`` sees them all).
"""

from .layout import *  # noqa: F403
