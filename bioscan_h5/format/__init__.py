"""The on-disk store format: the one place that names every path, dtype and attribute.

:mod:`.layout` (paths, dtypes, root attributes and their schema, limits, checksums), :mod:`.jpeg_layout`
(JPEG stores) and :mod:`.dna` (whole barcodes, DNA-only datasets), re-exported here
(``from bioscan_h5 import format as fmt`` sees them all).
"""

from .dna import *  # noqa: F403
from .jpeg_layout import *  # noqa: F403
from .layout import *  # noqa: F403
