"""The on-disk store format: the one place that names every path, dtype and attribute.

A package of four parts, re-exported here (``from bioscan_h5 import format as fmt`` sees them
all): :mod:`.layout` (the layout of format 1, described in its docstring), :mod:`.jpeg` (JPEG
stores), :mod:`.dna` (whole barcodes, DNA-only datasets) and :mod:`.integrity` (format 2:
the attribute schema and the checksums).
"""

from .dna import *  # noqa: F403
from .integrity import *  # noqa: F403
from .jpeg_layout import *  # noqa: F403
from .layout import *  # noqa: F403
