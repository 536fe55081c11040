"""What the BIOSCAN-1M test modules share: the sample-data tool and the peer's names.

The names are written out here (not imported from ``bioscan_h5``) so the tests check the
package against an independent statement of bioscan-dataset 1.3.0's partitionings and ranks.
The CLIBD partitions come from the sample-data tool, which writes one file per partition.
"""

from __future__ import annotations

from pathlib import Path

from tools import make_sample_data
from tools.make_sample_data import CLIBD_BASE_SPLITS as CLIBD_BASE

TOOLS = Path(__file__).resolve().parents[2] / "tools"

__all__ = ["CLIBD_BASE", "PV_1M", "RANKS", "TOOLS", "make_sample_data"]

#: The six BIOSCAN-1M partitioning versions (partition columns of the TSV).
PV_1M = (
    "large_diptera_family",
    "medium_diptera_family",
    "small_diptera_family",
    "large_insect_order",
    "medium_insect_order",
    "small_insect_order",
)
#: The label columns of BIOSCAN-1M, coarse to fine, then the BIN ("uri").
RANKS = ("phylum", "class", "order", "family", "subfamily", "tribe", "genus", "species", "uri")
