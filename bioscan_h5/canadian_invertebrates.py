"""Canadian Invertebrates: the dataset class and the peer's module-level names (DNA barcodes only).

A drop-in for ``bioscan_dataset.canadian_invertebrates`` (bioscan-dataset's development
branch). Its file, split rules and columns (needed without torch by the builder and the
store) are in :mod:`bioscan_h5.layouts.canadian_invertebrates_layout`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import numpy as np

from .datasets.base import StoreDataset
from .datasets.describe import option_lines
from .datasets.frames import FrameRules
from .datasets.metadata_files import default_dtype_enum, is_path, load_peer_metadata
from .datasets.options import DatasetOptions
from .datasets.provision import download_root
from .layouts import canadian_invertebrates_layout as _layout
from .store import Store

__all__ = [
    "COLUMN_ALIASES",
    "COLUMN_DTYPES",
    "SEEN_SPLITS",
    "SPLIT_ALIASES",
    "UNSEEN_SPLITS",
    "USECOLS",
    "VALID_METASPLITS",
    "VALID_SPLITS",
    "CanadianInvertebrates",
    "MetadataDtype",
    "explode_metasplit",
    "load_canadian_invertebrates_metadata",
    "load_metadata",
]

# The names the peer's ``bioscan_dataset.canadian_invertebrates`` defines, with the same values.
COLUMN_DTYPES = _layout.COLUMN_DTYPES_CANINV
USECOLS = _layout.USECOLS_CANINV
#: Other names of columns, accepted as ``target_type`` (and as ``column`` of the label methods).
COLUMN_ALIASES = {"bin_uri": "dna_bin", "nucleotides": "dna_barcode"}
VALID_SPLITS = list(_layout.CANADIAN_INVERTEBRATES_SPLITS)
SPLIT_ALIASES = dict(_layout.CANINV_SPLIT_ALIASES)
VALID_METASPLITS = list(_layout.CANINV_METASPLITS)
SEEN_SPLITS = list(_layout.CANINV_SEEN_SPLITS)
UNSEEN_SPLITS = list(_layout.CANINV_UNSEEN_SPLITS)
_FRAME_RULES = FrameRules(_layout.COLUMN_DTYPES_CANINV, tuple(_layout.USECOLS_CANINV), _layout.LABELS_CANINV)


#: ``MetadataDtype.DEFAULT``, the default ``dtype`` of :func:`load_canadian_invertebrates_metadata`, means :data:`COLUMN_DTYPES`.
MetadataDtype = default_dtype_enum("CanadianInvertebrates", __name__)


#: The peer's name of :func:`~bioscan_h5.layouts.canadian_invertebrates_layout.explode_metasplit_caninv`.
explode_metasplit = _layout.explode_metasplit_caninv


class CanadianInvertebrates(StoreDataset):
    r"""`Canadian Invertebrates <https://huggingface.co/datasets/bioscan-ml/CanadianInvertebrates-ML>`_, from a bioscan-h5 store.

    Same arguments, defaults, samples, order and label indices as
    ``bioscan_dataset.CanadianInvertebrates`` (its development branch). The store is DNA-only
    (``ROOT/CanadianInvertebrates/h5/canadian_invertebrates.h5``, built when missing).

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
    target_type : str or Iterable[str], default="species"
        ``phylum``, ``class``, ``order``, ``family``, ``genus``, ``species``, ``dna_bin``
        (alias ``bin_uri``).
    reduce_repeated_barcodes, max_nucleotides, target_format, output_format, dna_transform,
    target_transform, download, store, build, mirror, verify_reads, dense_labels
        As :class:`~bioscan_h5.BIOSCAN5M` (``download`` fetches the metadata file only).

    Attributes
    ----------
    metadata : pandas.DataFrame
        The selected rows, as the peer's frame.
    """

    dataset_name = "canadian_invertebrates"
    base_folder = "CanadianInvertebrates"
    rank_aliases = COLUMN_ALIASES
    frame_rules = _FRAME_RULES

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        modality: str | Iterable[str] = "dna",
        reduce_repeated_barcodes: bool = False,
        max_nucleotides: int | None = 660,
        target_type: str | Iterable[str] = "species",
        target_format: str = "index",
        output_format: str = "tuple",
        dna_transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
        *,
        store: str | os.PathLike | Store | None = None,
        build: str | bool = "auto",
        mirror: str | None = None,
        verify_reads: bool = False,
        dense_labels: bool = False,
    ) -> None:
        self.split = _layout.CANINV_SPLIT_ALIASES.get(split, split)
        _layout.explode_metasplit_caninv(self.split, verify=True)
        options = DatasetOptions.from_arguments(locals(), self.rank_aliases)
        if download:
            download_root(self.dataset_name, root, options, mirror, "all")
        self._setup(root, options, store)

    def _select_rows(self, st: Store) -> np.ndarray:
        return _layout.CANADIAN_INVERTEBRATES_LAYOUT.split_rows(st, self.split)

    def extra_repr(self) -> str:
        return option_lines(self, [f"split: {self.split!r}"])

    def __repr__(self) -> str:  # the peer's form
        lines = [
            f"Number of samples: {len(self)}",
            f"Root location: {self.root}",
            *self.extra_repr().split("\n"),
        ]
        return f"{type(self).__name__} Dataset\n" + "\n".join("    " + line for line in lines)


def load_canadian_invertebrates_metadata(
    metadata_path,
    max_nucleotides: int | None = 660,
    reduce_repeated_barcodes: bool = False,
    split: str | None = None,
    dtype=MetadataDtype.DEFAULT,
    *,
    store: str | os.PathLike | None = None,
    **kwargs,
):
    """Load Canadian Invertebrates metadata as the peer's ``load_canadian_invertebrates_metadata`` does.

    As :func:`~bioscan_h5.bioscan5m.load_bioscan5m_metadata`, from a store under
    ``CanadianInvertebrates/h5/`` (the frame has no ``image_path``).
    """
    folders = (
        _layout.CANADIAN_INVERTEBRATES_LAYOUT.metadata_store_dirs(metadata_path)
        if is_path(metadata_path)
        else []
    )
    args = (metadata_path, max_nucleotides, reduce_repeated_barcodes, split, dtype, store, kwargs)
    return load_peer_metadata(CanadianInvertebrates, folders, *args, check_barcodes=False)


#: The peer's other name of :func:`load_canadian_invertebrates_metadata`.
load_metadata = load_canadian_invertebrates_metadata
