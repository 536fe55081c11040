"""BIOSCAN-1M (``from bioscan_h5.bioscan1m import BIOSCAN1M``): see :mod:`bioscan_h5.datasets.bioscan1m`.

The module-level names of ``bioscan_dataset.bioscan1m`` are here too, with the same values.
"""

from .datasets.bioscan1m import (
    BIOSCAN1M,
    CLIBD_PARTITIONING_DIRNAME,
    CLIBD_SPLIT_ALIASES,
    CLIBD_VALID_METASPLITS,
    CLIBD_VALID_SPLITS,
    COLUMN_DTYPES,
    PARTITIONING_VERSIONS,
    RGB_MEAN,
    RGB_STDEV,
    SPLIT_ALIASES,
    USECOLS,
    VALID_METASPLITS,
    VALID_SPLITS,
    MetadataDtype,
    explode_metasplit,
    extract_zip_without_prefix,
    load_bioscan1m_metadata,
    load_metadata,
)

__all__ = [
    "BIOSCAN1M",
    "load_bioscan1m_metadata",
    "RGB_MEAN",
    "RGB_STDEV",
    "COLUMN_DTYPES",
    "USECOLS",
    "PARTITIONING_VERSIONS",
    "VALID_SPLITS",
    "SPLIT_ALIASES",
    "VALID_METASPLITS",
    "CLIBD_PARTITIONING_DIRNAME",
    "CLIBD_VALID_SPLITS",
    "CLIBD_SPLIT_ALIASES",
    "CLIBD_VALID_METASPLITS",
    "MetadataDtype",
    "explode_metasplit",
    "extract_zip_without_prefix",
    "load_metadata",
]
