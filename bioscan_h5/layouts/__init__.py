"""Dataset layouts: where each dataset's files are, and which rows a split name stands for.

One :class:`SourceLayout` per dataset owns its official root layout and its split rules; the
builder, the store (:meth:`bioscan_h5.store.Store.indices`) and the datasets all ask it.
"""

from .base import ColumnSource, FrameSource, SourceLayout, rows_in
from .bioscan1m import BIOSCAN1M_LAYOUT, OLD_1M_FOLDER, Bioscan1MLayout, clean_labels_1m
from .bioscan5m import BIOSCAN5M_LAYOUT, Bioscan5MLayout
from .canadian_invertebrates import CANADIAN_INVERTEBRATES_LAYOUT, CanadianInvertebratesLayout
from .clibd import CLIBD_DIRNAME, CLIBD_FILES
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
    "clean_labels_1m",
    "get_layout",
    "rows_in",
    "unsafe_components",
]
