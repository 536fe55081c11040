"""Dataset layouts: each dataset's store schema, root, split rules and peer columns, one module each.

One :class:`SourceLayout` per dataset; the builder, the store (:meth:`bioscan_h5.store.Store.indices`)
and the datasets all ask it. Shared: :mod:`.base` (the protocol), :mod:`.paths`, :mod:`.registry`.
"""

from .base import ColumnSource, FrameSource, SourceLayout, rows_in
from .bioscan1m_layout import (
    BIOSCAN1M_LAYOUT,
    BIOSCAN1M_PARTITIONINGS,
    BIOSCAN1M_RANKS,
    BIOSCAN1M_SCHEMA,
    CLIBD_DIRNAME,
    CLIBD_FILES,
    OLD_1M_FOLDER,
    Bioscan1MLayout,
)
from .bioscan5m_layout import (
    BIOSCAN5M_LAYOUT,
    BIOSCAN5M_RANKS,
    BIOSCAN5M_SCHEMA,
    BIOSCAN5M_SPLITS,
    Bioscan5MLayout,
)
from .canadian_invertebrates_layout import (
    CANADIAN_INVERTEBRATES_LAYOUT,
    CANADIAN_INVERTEBRATES_RANKS,
    CANADIAN_INVERTEBRATES_SCHEMA,
    CANADIAN_INVERTEBRATES_SPLITS,
    CanadianInvertebratesLayout,
)
from .paths import check_path_component, unsafe_components
from .registry import LAYOUTS, SCHEMAS, get_layout

__all__ = [
    "BIOSCAN1M_LAYOUT",
    "BIOSCAN1M_PARTITIONINGS",
    "BIOSCAN1M_RANKS",
    "BIOSCAN1M_SCHEMA",
    "BIOSCAN5M_LAYOUT",
    "BIOSCAN5M_RANKS",
    "BIOSCAN5M_SCHEMA",
    "BIOSCAN5M_SPLITS",
    "CANADIAN_INVERTEBRATES_LAYOUT",
    "CANADIAN_INVERTEBRATES_RANKS",
    "CANADIAN_INVERTEBRATES_SCHEMA",
    "CANADIAN_INVERTEBRATES_SPLITS",
    "CLIBD_DIRNAME",
    "CLIBD_FILES",
    "LAYOUTS",
    "OLD_1M_FOLDER",
    "SCHEMAS",
    "Bioscan1MLayout",
    "Bioscan5MLayout",
    "CanadianInvertebratesLayout",
    "ColumnSource",
    "FrameSource",
    "SourceLayout",
    "check_path_component",
    "get_layout",
    "rows_in",
    "unsafe_components",
]
