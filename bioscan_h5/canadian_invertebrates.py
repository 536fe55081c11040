"""Canadian Invertebrates (``from bioscan_h5.canadian_invertebrates import CanadianInvertebrates``).

See :mod:`bioscan_h5.datasets.canadian_invertebrates`. The module-level names of the peer's
``bioscan_dataset.canadian_invertebrates`` are here too, with the same values.
"""

from .datasets.canadian_invertebrates import (
    COLUMN_ALIASES,
    COLUMN_DTYPES,
    SEEN_SPLITS,
    SPLIT_ALIASES,
    UNSEEN_SPLITS,
    USECOLS,
    VALID_METASPLITS,
    VALID_SPLITS,
    CanadianInvertebrates,
    MetadataDtype,
    explode_metasplit,
    load_canadian_invertebrates_metadata,
    load_metadata,
)

__all__ = [
    "CanadianInvertebrates",
    "load_canadian_invertebrates_metadata",
    "COLUMN_ALIASES",
    "COLUMN_DTYPES",
    "USECOLS",
    "VALID_SPLITS",
    "SPLIT_ALIASES",
    "VALID_METASPLITS",
    "SEEN_SPLITS",
    "UNSEEN_SPLITS",
    "MetadataDtype",
    "explode_metasplit",
    "load_metadata",
]
