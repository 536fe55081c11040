"""bioscan-h5: BIOSCAN-1M, BIOSCAN-5M and Canadian Invertebrates as one HDF5 file each.

>>> from bioscan_h5 import BIOSCAN5M          # drop-in for bioscan_dataset.BIOSCAN5M
>>> from bioscan_h5 import open_store         # numpy arrays for notebooks

Importing it is light: torch, pandas and the builder load when a name that needs them is used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .errors import (
    BioscanH5Error,
    ChecksumError,
    ChecksumMismatchError,
    ImageUnavailableError,
    MetadataError,
    SplitNotBuiltError,
    StoreFormatError,
    StoreIncompleteError,
    StoreNotFoundError,
    StoreVersionError,
)

_LAZY = {
    "BIOSCAN5M": "bioscan_h5.bioscan5m",
    "load_bioscan5m_metadata": "bioscan_h5.bioscan5m",
    "BIOSCAN1M": "bioscan_h5.bioscan1m",
    "load_bioscan1m_metadata": "bioscan_h5.bioscan1m",
    "CanadianInvertebrates": "bioscan_h5.canadian_invertebrates",
    "load_canadian_invertebrates_metadata": "bioscan_h5.canadian_invertebrates",
    "Store": "bioscan_h5.store",
    "open_store": "bioscan_h5.store",
    "batch_loader": "bioscan_h5.datasets.loader",
}

__all__ = [
    "BIOSCAN1M",
    "BIOSCAN5M",
    "BioscanH5Error",
    "CanadianInvertebrates",
    "ChecksumError",
    "ChecksumMismatchError",
    "ImageUnavailableError",
    "MetadataError",
    "SplitNotBuiltError",
    "Store",
    "StoreFormatError",
    "StoreIncompleteError",
    "StoreNotFoundError",
    "StoreVersionError",
    "__version__",
    "batch_loader",
    "load_bioscan1m_metadata",
    "load_bioscan5m_metadata",
    "load_canadian_invertebrates_metadata",
    "open_store",
]


#: The peer's modules, as attributes of the package (``bioscan_h5.bioscan5m.RGB_MEAN``), imported on first use.
_SUBMODULES = {
    "bioscan1m": "bioscan_h5.bioscan1m",
    "bioscan5m": "bioscan_h5.bioscan5m",
    "canadian_invertebrates": "bioscan_h5.canadian_invertebrates",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bioscan_h5' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
