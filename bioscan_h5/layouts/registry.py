"""Every dataset layout this package knows, and its store schema, by dataset name."""

from __future__ import annotations

from ..errors import InvalidArgumentError
from ..format import DatasetSchema
from .base import SourceLayout
from .bioscan1m_layout import BIOSCAN1M_LAYOUT
from .bioscan5m_layout import BIOSCAN5M_LAYOUT
from .canadian_invertebrates_layout import CANADIAN_INVERTEBRATES_LAYOUT

__all__ = ["LAYOUTS", "SCHEMAS", "get_layout"]

#: The layouts, by dataset name (``"bioscan5m"``, ``"bioscan1m"``, ``"canadian_invertebrates"``).
LAYOUTS: dict[str, SourceLayout] = {
    layout.name: layout for layout in (BIOSCAN5M_LAYOUT, BIOSCAN1M_LAYOUT, CANADIAN_INVERTEBRATES_LAYOUT)
}
#: The store schemas, by dataset name (a store's ``dataset`` attribute is one of these keys).
SCHEMAS: dict[str, DatasetSchema] = {name: layout.schema for name, layout in LAYOUTS.items()}


def get_layout(dataset: str) -> SourceLayout:
    """The layout of a dataset (:class:`InvalidArgumentError` listing the valid names otherwise)."""
    try:
        return LAYOUTS[dataset]
    except KeyError:
        raise InvalidArgumentError(
            f"Unknown dataset {dataset!r}. Valid datasets are: {', '.join(map(repr, LAYOUTS))}."
        ) from None
