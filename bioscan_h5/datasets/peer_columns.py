"""How ``bioscan-dataset`` reads each metadata file: its column dtypes and the columns its datasets use.

These are facts of the peer (``bioscan-dataset`` 1.3.0, and its development branch for Canadian
Invertebrates), written out once: the re-export modules (``bioscan_h5.bioscan5m``, ...) offer
them under the peer's names (``COLUMN_DTYPES``, ``USECOLS``), and :mod:`.frames` builds the
``metadata`` frames from them.
"""

from __future__ import annotations

from typing import Any

from .. import format as fmt

__all__ = [
    "COLUMN_DTYPES_1M",
    "COLUMN_DTYPES_5M",
    "COLUMN_DTYPES_CANINV",
    "LABELS_1M",
    "LABELS_5M",
    "LABELS_CANINV",
    "USECOLS_1M",
    "USECOLS_5M",
    "USECOLS_CANINV",
]

#: The dtypes ``load_bioscan5m_metadata`` reads the BIOSCAN-5M CSV with.
COLUMN_DTYPES_5M: dict[str, Any] = {
    "processid": str,
    "sampleid": str,
    "taxon": "category",
    **dict.fromkeys(fmt.BIOSCAN5M_RANKS, "category"),
    "dna_barcode": str,
    "country": "category",
    "province_state": "category",
    "coord-lat": float,
    "coord-lon": float,
    "image_measurement_value": float,
    "area_fraction": float,
    "scale_factor": float,
    "inferred_ranks": "uint8",
    "split": str,
    "index_bioscan_1M_insect": "Int64",
    "chunk": str,
}
#: The columns ``BIOSCAN5M`` reads (its frame keeps them in the file's order).
USECOLS_5M: list[str] = [
    "processid",
    "chunk",
    *fmt.BIOSCAN5M_RANKS,
    "dna_barcode",
    "country",
    "province_state",
    "coord-lat",
    "coord-lon",
    "image_measurement_value",
    "area_fraction",
    "scale_factor",
    "split",
]
#: The columns given a ``<column>_index`` column, in the order they are added.
LABELS_5M: tuple[str, ...] = fmt.BIOSCAN5M_RANKS

#: The dtypes ``load_bioscan1m_metadata`` reads the BIOSCAN-1M TSV with (the label columns
#: are read as text, cleaned up, and then made categories).
COLUMN_DTYPES_1M: dict[str, Any] = {
    "sampleid": str,
    "processid": str,
    "uri": str,
    "name": "category",
    **dict.fromkeys(fmt.BIOSCAN1M_RANKS[:-1], str),
    "subspecies": str,
    "nucraw": str,
    "image_file": str,
    **dict.fromkeys(fmt.BIOSCAN1M_PARTITIONINGS, "category"),
    "chunk_number": "uint8",
    "copyright_license": "category",
    "copyright_holder": "category",
    "copyright_institution": "category",
    "copyright_contact": "category",
    "photographer": "category",
    "author": "category",
}
#: The columns ``BIOSCAN1M`` reads, the partition columns aside.
USECOLS_1M: list[str] = [
    "processid",
    "sampleid",
    "uri",
    *fmt.BIOSCAN1M_RANKS[:-1],
    "nucraw",
    "image_file",
    "chunk_number",
]
LABELS_1M: tuple[str, ...] = (
    "phylum",
    "class",
    "order",
    "family",
    "subfamily",
    "tribe",
    "genus",
    "species",
    "uri",
)

#: The dtypes ``load_canadian_invertebrates_metadata`` reads the Canadian Invertebrates CSV with.
COLUMN_DTYPES_CANINV: dict[str, Any] = {
    "processid": str,
    "sampleid": str,
    "dna_bin": "category",
    **dict.fromkeys(fmt.CANADIAN_INVERTEBRATES_RANKS[:-1], "category"),
    "dna_barcode": str,
    "sequence_len": float,
    "split": "category",
}
#: The columns ``CanadianInvertebrates`` reads.
USECOLS_CANINV: list[str] = [
    "processid",
    "dna_bin",
    *fmt.CANADIAN_INVERTEBRATES_RANKS[:-1],
    "dna_barcode",
    "split",
]
LABELS_CANINV: tuple[str, ...] = fmt.CANADIAN_INVERTEBRATES_RANKS

#: Module-level names that each of the peer's dataset modules defines (BIOSCAN-5M, BIOSCAN-1M
#: and Canadian Invertebrates alike); ours define them too, with the same values.
PEER_MODULE_NAMES = (
    "COLUMN_DTYPES",
    "MetadataDtype",
    "SPLIT_ALIASES",
    "USECOLS",
    "VALID_METASPLITS",
    "VALID_SPLITS",
    "explode_metasplit",
    "load_metadata",
)
