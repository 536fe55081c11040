"""bioscan-h5: BIOSCAN-1M and BIOSCAN-5M as one HDF5 file, read at memory-mapped speed."""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    BioscanH5Error,
    ImageUnavailableError,
    MetadataError,
    SplitNotBuiltError,
    StoreFormatError,
    StoreIncompleteError,
    StoreNotFoundError,
    StoreVersionError,
)

__all__ = [
    "__version__",
    "BioscanH5Error",
    "ImageUnavailableError",
    "MetadataError",
    "SplitNotBuiltError",
    "StoreFormatError",
    "StoreIncompleteError",
    "StoreNotFoundError",
    "StoreVersionError",
]
