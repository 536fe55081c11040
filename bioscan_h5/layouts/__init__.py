"""Dataset layouts: each dataset's root, split rules and peer columns, one module per dataset.

One :class:`SourceLayout` per dataset; the builder, the store (:meth:`bioscan_h5.store.Store.indices`)
and the datasets all ask it. Shared: :mod:`.base` (the protocol), :mod:`.paths`, :mod:`.registry`.
"""

from .base import ColumnSource, FrameSource, SourceLayout, rows_in
from .bioscan1m_layout import BIOSCAN1M_LAYOUT, CLIBD_DIRNAME, CLIBD_FILES, OLD_1M_FOLDER, Bioscan1MLayout
from .bioscan5m_layout import BIOSCAN5M_LAYOUT, Bioscan5MLayout
from .canadian_invertebrates_layout import CANADIAN_INVERTEBRATES_LAYOUT, CanadianInvertebratesLayout
from .paths import check_path_component, unsafe_components
from .registry import LAYOUTS, get_layout

__all__ = [
    "BIOSCAN1M_LAYOUT",
    "BIOSCAN5M_LAYOUT",
    "CANADIAN_INVERTEBRATES_LAYOUT",
    "CLIBD_DIRNAME",
    "CLIBD_FILES",
    "LAYOUTS",
    "OLD_1M_FOLDER",
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
