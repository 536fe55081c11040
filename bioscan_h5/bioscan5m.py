"""BIOSCAN-5M (``from bioscan_h5.bioscan5m import BIOSCAN5M``): see :mod:`bioscan_h5.datasets.bioscan5m`.

The module-level names of ``bioscan_dataset.bioscan5m`` are here too, with the same values.
"""

from .datasets.bioscan5m import (
    BIOSCAN5M,
    COLUMN_DTYPES,
    RGB_MEAN,
    RGB_STDEV,
    SEEN_SPLITS,
    SPLIT_ALIASES,
    UNSEEN_SPLITS,
    USECOLS,
    VALID_METASPLITS,
    VALID_SPLITS,
    MetadataDtype,
    explode_metasplit,
    get_image_path,
    load_bioscan5m_metadata,
    load_metadata,
)

__all__ = [
    "BIOSCAN5M",
    "load_bioscan5m_metadata",
    "RGB_MEAN",
    "RGB_STDEV",
    "COLUMN_DTYPES",
    "USECOLS",
    "VALID_SPLITS",
    "SPLIT_ALIASES",
    "VALID_METASPLITS",
    "SEEN_SPLITS",
    "UNSEEN_SPLITS",
    "MetadataDtype",
    "explode_metasplit",
    "get_image_path",
    "load_metadata",
]
