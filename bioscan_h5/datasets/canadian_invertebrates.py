"""Canadian Invertebrates as a PyTorch dataset over a DNA-only store.

A drop-in for ``bioscan_dataset.CanadianInvertebrates`` (the development branch of
``bioscan-dataset``): DNA barcodes and taxonomic labels of about a million invertebrate
specimens, from ``<root>/CanadianInvertebrates/CanInv_metadata.csv``, without images.
"""

from __future__ import annotations

import os

import numpy as np

from .. import format as fmt
from ..layouts import CANADIAN_INVERTEBRATES_LAYOUT
from ..splits import (
    CANINV_METASPLITS,
    CANINV_SEEN_SPLITS,
    CANINV_SPLIT_ALIASES,
    CANINV_UNSEEN_SPLITS,
    explode_metasplit_caninv,
)
from ..store import Store
from .base import StoreDataset
from .describe import option_lines
from .frames import FrameRules
from .metadata_files import default_dtype_enum, metadata_loader
from .peer_columns import COLUMN_DTYPES_CANINV, LABELS_CANINV, PEER_MODULE_NAMES, USECOLS_CANINV
from .provision import download_root
from .signature import dataset_init, positional

__all__ = [
    "COLUMN_ALIASES",
    "CanadianInvertebrates",
    "SEEN_SPLITS",
    "UNSEEN_SPLITS",
    "load_canadian_invertebrates_metadata",
    *PEER_MODULE_NAMES,
]

# The names the peer's ``bioscan_dataset.canadian_invertebrates`` defines, with the same values.
COLUMN_DTYPES = COLUMN_DTYPES_CANINV
USECOLS = USECOLS_CANINV
#: Other names of columns, accepted as ``target_type`` (and as ``column`` of the label methods).
COLUMN_ALIASES = {"bin_uri": "dna_bin", "nucleotides": "dna_barcode"}
VALID_SPLITS = list(fmt.CANADIAN_INVERTEBRATES_SPLITS)
SPLIT_ALIASES = dict(CANINV_SPLIT_ALIASES)
VALID_METASPLITS = list(CANINV_METASPLITS)
SEEN_SPLITS = list(CANINV_SEEN_SPLITS)
UNSEEN_SPLITS = list(CANINV_UNSEEN_SPLITS)
_FRAME_RULES = FrameRules(COLUMN_DTYPES_CANINV, tuple(USECOLS_CANINV), LABELS_CANINV)


#: ``MetadataDtype.DEFAULT``, the default ``dtype`` of :func:`load_canadian_invertebrates_metadata`, means :data:`COLUMN_DTYPES`.
MetadataDtype = default_dtype_enum("CanadianInvertebrates", __name__)


def explode_metasplit(metasplit: str | None, verify: bool = False) -> set[str]:
    """The splits of a (meta)split name, see :func:`bioscan_h5.splits.explode_metasplit_caninv` (``verify`` off by default)."""
    return explode_metasplit_caninv(metasplit, verify=verify)


class CanadianInvertebrates(StoreDataset):
    r"""`Canadian Invertebrates <https://huggingface.co/datasets/bioscan-ml/CanadianInvertebrates-ML>`_, from a bioscan-h5 store.

    Same arguments, defaults, samples, order and label indices as
    ``bioscan_dataset.CanadianInvertebrates`` (the development branch of bioscan-dataset).
    The store is DNA-only: ``bioscan-h5 build --dataset canadian_invertebrates --root ROOT``
    writes ``ROOT/CanadianInvertebrates/h5/canadian_invertebrates.h5`` (the dataset builds it
    itself when it is missing).

    Parameters
    ----------
    root : str
        The folder holding ``CanadianInvertebrates/CanInv_metadata.csv``.
    split : str, default="train"
        ``"pretrain"``, ``"train"``, ``"val"`` (alias ``"validation"``), ``"test"``,
        ``"test_unseen"``, ``"all"``, ``"seen"`` (train+val+test), ``"unseen"``
        (test_unseen), or splits joined by ``"+"``.
    modality : str or Iterable[str], default="dna"
        ``"dna"`` and/or any stored metadata column (``"processid"``, ``"sequence_len"``...).
    reduce_repeated_barcodes : bool, default=False
        Keep one sample per barcode (cut to ``max_nucleotides``, trailing N stripped; the
        first after a shuffle with seed 0). The file already holds one row per whole barcode.
    max_nucleotides : int or None, default=660
        Cut barcodes to this many letters; None keeps them whole.
    target_type : str or Iterable[str], default="species"
        ``phylum``, ``class``, ``order``, ``family``, ``genus``, ``species``, ``dna_bin``
        (alias ``bin_uri``).
    target_format : {"index", "text"}, default="index"
    output_format : {"tuple", "dict"}, default="tuple"
        ``"dictionary"`` is accepted for ``"dict"``.
    dna_transform, target_transform : callable, optional
        A :class:`bioscan_h5.tokenizers.Tokenizer` as ``dna_transform`` receives the stored
        codes directly.
    download : bool, default=False
        Download the metadata file first (from Hugging Face, or ``mirror``).
    store : str or Store, optional
        The store to read (default: the one under ``root``).
    build : {"auto", True, False}, default="auto"
        Build a missing store now, or (``False``) raise an error that gives the command.
    mirror : str, optional
        With ``download=True``: fetch from this base URL (or folder) instead.

    Attributes
    ----------
    metadata : pandas.DataFrame
        The selected rows, as the peer's frame.
    """

    dataset_name = "canadian_invertebrates"
    base_folder = "CanadianInvertebrates"
    rank_aliases = COLUMN_ALIASES
    frame_rules = _FRAME_RULES

    @dataset_init(
        [positional("split", "train", "str")],
        exclude=("image_package", "transform", "image_size", "image_format", "drop_bad_images"),
        defaults={"modality": "dna", "target_type": "species"},
    )
    def __init__(self, arguments: dict) -> None:
        split = arguments["split"]
        self.split = CANINV_SPLIT_ALIASES.get(split, split)
        explode_metasplit_caninv(self.split, verify=True)
        if arguments["download"]:
            download_root(self.dataset_name, arguments, "all")
        self._setup(arguments["root"], arguments)

    def _select_rows(self, st: Store) -> np.ndarray:
        return CANADIAN_INVERTEBRATES_LAYOUT.split_rows(st, self.split)

    def extra_repr(self) -> str:
        return option_lines(self, [f"split: {self.split!r}"])

    def __repr__(self) -> str:
        lines = [
            f"Number of samples: {len(self)}",
            f"Root location: {self.root}",
            *self.extra_repr().split("\n"),
        ]
        return f"{type(self).__name__} Dataset\n" + "\n".join("    " + line for line in lines)


def _store_folders(metadata_path: str) -> list[str]:
    """``CanadianInvertebrates/h5``, beside the metadata file."""
    return [os.path.join(os.path.dirname(os.path.abspath(metadata_path)), fmt.STORE_DIRNAME)]


load_canadian_invertebrates_metadata = metadata_loader(
    "load_canadian_invertebrates_metadata",
    CanadianInvertebrates,
    _store_folders,
    _FRAME_RULES,
    check_barcodes=False,
    default_dtype=MetadataDtype.DEFAULT,
    doc="""Load Canadian Invertebrates metadata as the peer's ``load_canadian_invertebrates_metadata`` does.

A store built from this metadata file (under ``CanadianInvertebrates/h5/``, or given as
``store=``) supplies the frame; with extra ``pandas.read_csv`` keyword arguments, a
non-default ``dtype``, or no store, the CSV is parsed with pandas as the peer does.

Returns
-------
pandas.DataFrame
    Every column of the file (with the peer's dtypes) and ``<rank>_index`` columns; index
    = row number in the file.
""",
)

#: The peer's other name of :func:`load_canadian_invertebrates_metadata`.
load_metadata = load_canadian_invertebrates_metadata
