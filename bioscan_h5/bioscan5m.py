"""BIOSCAN-5M: the dataset class and the module-level names of ``bioscan_dataset.bioscan5m``.

A drop-in for the peer's module. Its files, split rules and columns (needed without torch by
the builder and the store) are in :mod:`bioscan_h5.layouts.bioscan5m_layout`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch

from .datasets.base import ImageStoreDataset
from .datasets.describe import option_lines
from .datasets.frames import FrameRules
from .datasets.metadata_files import default_dtype_enum, is_path, load_peer_metadata
from .datasets.options import DatasetOptions
from .datasets.provision import download_root
from .layouts import bioscan5m_layout as _layout
from .store import Store

__all__ = [
    "BIOSCAN5M",
    "COLUMN_DTYPES",
    "RGB_MEAN",
    "RGB_STDEV",
    "SEEN_SPLITS",
    "SPLIT_ALIASES",
    "UNSEEN_SPLITS",
    "USECOLS",
    "VALID_METASPLITS",
    "VALID_SPLITS",
    "MetadataDtype",
    "explode_metasplit",
    "get_image_path",
    "load_bioscan5m_metadata",
    "load_metadata",
]

#: Per-channel mean of the BIOSCAN-5M images (as published with bioscan-dataset).
RGB_MEAN = torch.tensor([0.76281859, 0.76503749, 0.76373138])
#: Per-channel standard deviation of the BIOSCAN-5M images.
RGB_STDEV = torch.tensor([0.14205404, 0.15642502, 0.17309470])

# The names ``bioscan_dataset.bioscan5m`` defines, with the same values.
#: The dtypes the metadata CSV is read with.
COLUMN_DTYPES = _layout.COLUMN_DTYPES_5M
#: The columns :class:`BIOSCAN5M`'s ``metadata`` frame holds (in the file's order).
USECOLS = _layout.USECOLS_5M
VALID_SPLITS = list(_layout.BIOSCAN5M_SPLITS)
SPLIT_ALIASES = dict(_layout.SPLIT_ALIASES_5M)
VALID_METASPLITS = list(_layout.VALID_METASPLITS_5M)
SEEN_SPLITS = list(_layout.SEEN_SPLITS_5M)
UNSEEN_SPLITS = list(_layout.UNSEEN_SPLITS_5M)


#: ``MetadataDtype.DEFAULT``, the default ``dtype`` of :func:`load_bioscan5m_metadata`, means :data:`COLUMN_DTYPES`.
MetadataDtype = default_dtype_enum("BIOSCAN5M", __name__)


#: The peer's name of :func:`~bioscan_h5.layouts.bioscan5m_layout.explode_metasplit_5m`.
explode_metasplit = _layout.explode_metasplit_5m


def get_image_path(row) -> str:
    """The image file of a metadata row (``split``, ``chunk``, ``processid``), relative to the image package folder.

    ``<split>/<chunk>/<processid>.jpg``, without the chunk folder where the row has none.
    """
    import pandas as pd

    chunk = row["chunk"]
    return _layout.image_path_5m(row["split"], chunk if pd.notna(chunk) else "", row["processid"])


_FRAME_RULES = FrameRules(
    _layout.COLUMN_DTYPES_5M, tuple(_layout.USECOLS_5M), _layout.LABELS_5M, image_path=_layout.image_paths_5m
)


class BIOSCAN5M(ImageStoreDataset):
    r"""`BIOSCAN-5M <https://github.com/bioscan-ml/BIOSCAN-5M>`_ dataset, read from a bioscan-h5 store.

    Same arguments, defaults, samples, sample order and label indices as
    ``bioscan_dataset.BIOSCAN5M`` 1.3.0; images are the store's ``S x S`` pixels (by default
    ``Resize(256)`` + ``CenterCrop(256)`` of the peer's image).

    Parameters
    ----------
    root : str
        The root directory holding ``bioscan5m/`` (metadata, images and the ``h5/`` stores).
    split : str, default="train"
        ``"pretrain"``, ``"train"``, ``"val"`` (alias ``"validation"``), ``"test"``, ``"key_unseen"``,
        ``"val_unseen"``, ``"test_unseen"``, ``"other_heldout"``, ``"all"``, ``"seen"`` (train+val+test),
        ``"unseen"`` (key_unseen+val_unseen+test_unseen), or splits joined by ``"+"``.
    modality : str or Iterable[str], default=("image", "dna")
        ``"image"``, ``"dna"`` and/or any stored metadata column (also ``<rank>_index`` and
        ``image_path``).
    image_package : str, default="cropped_256"
        ``"cropped_256"``, ``"original_256"``, ``"cropped"`` or ``"original_full"``.
    reduce_repeated_barcodes : bool, default=False
        Keep one sample per barcode (the peer's rule: truncated, trailing N stripped, first
        after a seeded shuffle of the whole file).
    max_nucleotides : int or None, default=660
        Truncate barcodes; ``None`` keeps them whole (the store must hold them whole).
    target_type : str or Iterable[str], default="species"
        Ranks: ``phylum``, ``class``, ``order``, ``family``, ``subfamily``, ``genus``,
        ``species``, ``dna_bin`` (alias ``uri``).
    target_format : {"index", "text"}, default="index"
    output_format : {"tuple", "dict"}, default="tuple"
    transform, dna_transform, target_transform : callable, optional
        A :class:`bioscan_h5.tokenizers.Tokenizer` as ``dna_transform`` receives the stored
        codes directly.
    download : bool, default=False
        Download the metadata (and the images of the split) first, then build the store.
    store : str or Store, optional
        The store to read. Default: ``<root>/bioscan5m/h5/bioscan5m_<package>_<S>px.h5``.
    image_size : int, optional
        Choose among stores of several sizes (default: the only one, else 256).
    image_format : {"pil", "numpy", "tensor"}, default="pil"
        PIL image (as the peer), HWC uint8 array, or CHW uint8 tensor.
    build : {"auto", True, False}, default="auto"
        With no store (or no images for the split) but raw data present, build it now, or
        (``False``) raise an error that gives the build command.
    mirror : str, optional
        With ``download=True``: fetch the archives from this base URL (or folder) instead of
        the public URLs; default: the environment variable ``BIOSCAN_H5_MIRROR``.
    drop_bad_images : bool, default=False
        Leave out rows whose image could not be decoded at build time (by default they stay,
        as in the peer, and reading one raises :class:`~bioscan_h5.ImageUnavailableError`).
    verify_reads : bool, default=False
        Check every sample served against the store's checksums (format 2 stores): a damaged
        row raises :class:`~bioscan_h5.ChecksumMismatchError` naming it.
    dense_labels : bool, default=False
        Renumber every rank's labels ``0 .. n - 1`` over the labels this split holds (in the
        store's order); ``index2label``, ``ds.metadata`` and batches use the same numbering.

    Attributes
    ----------
    metadata : pandas.DataFrame
        The selected rows (built on first access).
    """

    dataset_name = "bioscan5m"
    base_folder = "bioscan5m"
    rank_aliases: Mapping[str, str] = {"uri": "dna_bin"}
    frame_rules = _FRAME_RULES

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        modality: str | Iterable[str] = ("image", "dna"),
        image_package: str = "cropped_256",
        reduce_repeated_barcodes: bool = False,
        max_nucleotides: int | None = 660,
        target_type: str | Iterable[str] = "species",
        target_format: str = "index",
        output_format: str = "tuple",
        transform: Callable | None = None,
        dna_transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
        *,
        store: str | os.PathLike | Store | None = None,
        image_size: int | None = None,
        image_format: str = "pil",
        build: str | bool = "auto",
        drop_bad_images: bool = False,
        mirror: str | None = None,
        verify_reads: bool = False,
        dense_labels: bool = False,
    ) -> None:
        self.split = _layout.SPLIT_ALIASES_5M.get(split, split)
        self._split_set = _layout.explode_metasplit_5m(self.split, verify=True)
        options = DatasetOptions.from_arguments(locals(), self.rank_aliases)
        if download:
            download_root(self.dataset_name, root, options, mirror, self.split)
        self._setup(root, options, store)

    def _select_rows(self, st: Store) -> np.ndarray:
        return _layout.BIOSCAN5M_LAYOUT.split_rows(st, self.split)

    def _build_splits(self) -> str:
        return "+".join(sorted(self._split_set))

    def extra_repr(self) -> str:
        return option_lines(self, [f"split: {self.split!r}"])


def load_bioscan5m_metadata(
    metadata_path,
    max_nucleotides: int | None = 660,
    reduce_repeated_barcodes: bool = False,
    split: str | None = None,
    dtype=MetadataDtype.DEFAULT,
    *,
    store: str | os.PathLike | None = None,
    **kwargs,
):
    """Load BIOSCAN-5M metadata as ``bioscan_dataset.load_bioscan5m_metadata`` does.

    A store built from this metadata file (under ``<root>/bioscan5m/h5/``, or given as
    ``store=``) supplies the frame: every column of the file, ``<rank>_index`` columns and
    ``image_path``; index = row number. With extra ``pandas.read_csv`` keyword arguments, a
    non-default ``dtype``, or whole barcodes a found store does not hold, the CSV is parsed
    with pandas as the peer does.
    """
    folders = _layout.BIOSCAN5M_LAYOUT.metadata_store_dirs(metadata_path) if is_path(metadata_path) else []
    args = (metadata_path, max_nucleotides, reduce_repeated_barcodes, split, dtype, store, kwargs)
    return load_peer_metadata(BIOSCAN5M, folders, *args, check_barcodes=True)


#: The peer's other name of :func:`load_bioscan5m_metadata`.
load_metadata = load_bioscan5m_metadata
