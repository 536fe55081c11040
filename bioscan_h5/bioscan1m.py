"""BIOSCAN-1M: the dataset class and the module-level names of ``bioscan_dataset.bioscan1m``.

A drop-in for the peer's module. Its files, label clean-up, split rules, CLIBD partitions and
columns (needed without torch by the builder and the store) are in
:mod:`bioscan_h5.layouts.bioscan1m_layout`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch

from .datasets.base import ImageStoreDataset
from .datasets.describe import option_lines
from .datasets.frames import FrameRules, file_columns, peer_frame, text_series
from .datasets.labels import LabelSpace
from .datasets.metadata_files import default_dtype_enum, holds_barcodes, is_default_dtype, matching_store
from .datasets.options import DatasetOptions
from .datasets.provision import download_root
from .layouts import bioscan1m_layout as _layout
from .store import Store

__all__ = [
    "BIOSCAN1M",
    "CLIBD_PARTITIONING_DIRNAME",
    "CLIBD_SPLIT_ALIASES",
    "CLIBD_VALID_METASPLITS",
    "CLIBD_VALID_SPLITS",
    "COLUMN_DTYPES",
    "PARTITIONING_VERSIONS",
    "RGB_MEAN",
    "RGB_STDEV",
    "SPLIT_ALIASES",
    "USECOLS",
    "VALID_METASPLITS",
    "VALID_SPLITS",
    "MetadataDtype",
    "explode_metasplit",
    "extract_zip_without_prefix",
    "load_bioscan1m_metadata",
    "load_metadata",
]

#: Per-channel mean of the BIOSCAN-1M images (as published with bioscan-dataset).
RGB_MEAN = torch.tensor([0.72510918, 0.72891550, 0.72956181])
#: Per-channel standard deviation of the BIOSCAN-1M images.
RGB_STDEV = torch.tensor([0.12654378, 0.14301962, 0.16103319])

# The names ``bioscan_dataset.bioscan1m`` defines, with the same values.
#: The dtypes the metadata TSV is read with (the label columns become categories after clean-up).
COLUMN_DTYPES = _layout.COLUMN_DTYPES_1M
#: The columns :class:`BIOSCAN1M` reads, besides the six partition columns.
USECOLS = _layout.USECOLS_1M
PARTITIONING_VERSIONS = list(_layout.PARTITIONING_VERSIONS)
VALID_SPLITS = list(_layout.BIOSCAN1M_SPLITS)
SPLIT_ALIASES = dict(_layout.BIOSCAN1M_SPLIT_ALIASES)
VALID_METASPLITS = list(_layout.BIOSCAN1M_METASPLITS)
CLIBD_PARTITIONING_DIRNAME = _layout.CLIBD_DIRNAME
CLIBD_VALID_SPLITS = list(_layout.CLIBD_VALID_SPLITS)
CLIBD_SPLIT_ALIASES = dict(_layout.CLIBD_SPLIT_ALIASES)
CLIBD_VALID_METASPLITS = list(_layout.CLIBD_METASPLITS)


#: ``MetadataDtype.DEFAULT``, the default ``dtype`` of :func:`load_bioscan1m_metadata`, means :data:`COLUMN_DTYPES`.
MetadataDtype = default_dtype_enum("BIOSCAN1M", __name__)


#: The peer's name of :func:`~bioscan_h5.layouts.bioscan1m_layout.explode_metasplit_1m`.
explode_metasplit = _layout.explode_metasplit_1m


def extract_zip_without_prefix(
    from_path, to_path=None, drop_prefix: str | None = None, remove_finished: bool = False
):
    """Extract a zip file, dropping a leading folder (``drop_prefix``) from its member paths.

    Members that would land outside ``to_path`` (absolute paths, ``..``, links) are refused.

    Parameters
    ----------
    from_path, to_path : str or path-like
        The zip, and where to extract it (default: the zip's folder).
    drop_prefix : str, optional
        A leading folder of the member paths (``"bioscan"`` for BIOSCAN-1M's zips).
    remove_finished : bool, default=False
        Delete the zip afterwards.
    """
    from .download.extract import safe_extract

    from_path = os.fspath(from_path)
    dest = os.path.dirname(from_path) if to_path is None else os.fspath(to_path)
    safe_extract(from_path, dest, drop_prefix=drop_prefix.strip("/") if drop_prefix else None)
    if remove_finished:
        os.remove(from_path)


_FINE_RANKS = {"subfamily", "tribe", "genus", "species"}
_ORDER_PARTITIONINGS = {"large_insect_order", "medium_insect_order", "small_insect_order"}
#: The frame holds the label columns as categories (after clean-up), the rest as the peer reads them.
_FRAME_RULES = FrameRules(
    {**_layout.COLUMN_DTYPES_1M, **dict.fromkeys(_layout.LABELS_1M, "category")},
    (*_layout.USECOLS_1M, *_layout.BIOSCAN1M_PARTITIONINGS),
    _layout.LABELS_1M,
)


class BIOSCAN1M(ImageStoreDataset):
    r"""`BIOSCAN-1M <https://github.com/bioscan-ml/BIOSCAN-1M>`_ dataset, read from a bioscan-h5 store.

    Same arguments, defaults, samples, order and label indices as ``bioscan_dataset.BIOSCAN1M``
    1.3.0 (label clean-up included; with ``reduce_repeated_barcodes``, indices over the
    de-duplicated file).

    Parameters
    ----------
    root : str
        The folder holding ``bioscan1m/``.
    split : str, default="train"
        For the six BIOSCAN-1M partitionings: ``"train"``, ``"validation"`` (alias ``"val"``),
        ``"test"``, ``"no_split"``, ``"all"`` or a ``"+"`` union. For ``"clibd"``: the CLIBD
        partition names (``"train_seen"``, ``"val_seen"``, ``"all_keys"``, ...), with the
        BIOSCAN-5M names as aliases; a single CLIBD partition follows its file's row order.
    partitioning_version : str, default="large_diptera_family"
        One of the six ``{large,medium,small}_{diptera_family,insect_order}`` or ``"clibd"``.
    target_type : str or Iterable[str], default="family"
        ``phylum``, ``class``, ``order``, ``family``, ``subfamily``, ``tribe``, ``genus``,
        ``species``, ``uri`` (alias ``dna_bin``).
    modality, image_package, reduce_repeated_barcodes, max_nucleotides, target_format,
    output_format, transform, dna_transform, target_transform, download, store, image_size,
    image_format, build, drop_bad_images, mirror, verify_reads, dense_labels
        As :class:`~bioscan_h5.BIOSCAN5M`.
    """

    dataset_name = "bioscan1m"
    base_folder = "bioscan1m"
    rank_aliases: Mapping[str, str] = {"dna_bin": "uri"}
    frame_rules = _FRAME_RULES

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        partitioning_version: str = "large_diptera_family",
        modality: str | Iterable[str] = ("image", "dna"),
        image_package: str = "cropped_256",
        reduce_repeated_barcodes: bool = False,
        max_nucleotides: int | None = 660,
        target_type: str | Iterable[str] = "family",
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
        self.partitioning_version = _layout.check_partitioning_version(partitioning_version)
        clibd_pv = self.partitioning_version == "clibd"
        aliases = _layout.CLIBD_SPLIT_ALIASES if clibd_pv else _layout.BIOSCAN1M_SPLIT_ALIASES
        self.split = aliases.get(split, split)
        options = DatasetOptions.from_arguments(locals(), self.rank_aliases)
        _warn_if_too_fine(self.partitioning_version, options.target_type)
        if download:  # BIOSCAN-1M's images come in one archive per package, for every split
            download_root(self.dataset_name, root, options, mirror, "all")
        self._setup(root, options, store)
        clibd = (
            None if self.root is None else os.path.join(self.root, self.base_folder, _layout.CLIBD_DIRNAME)
        )
        self.clibd_partitioning_path = (
            clibd if clibd and (os.path.isdir(clibd) or self.partitioning_version == "clibd") else None
        )
        # whether the peer would find the CLIBD files (and merge their partitions in)
        self._clibd_files = bool(self.store.partition_names) and (clibd is None or os.path.isdir(clibd))

    def _select_rows(self, st: Store) -> np.ndarray:
        if self.partitioning_version == "clibd" and not st.partition_names:
            where = os.path.join(self.root or "<root>", self.base_folder, _layout.CLIBD_DIRNAME)
            raise OSError(
                f"clibd partitioning requested, but the corresponding partitioning data could not be found at:"
                f" {where!r} (the store {st.path!r} holds no CLIBD partition files). Extract"
                " CLIBD_partitioning.zip there and rebuild the store with --overwrite."
            )
        return _layout.BIOSCAN1M_LAYOUT.split_rows(st, self.split, self.partitioning_version)

    def _peer_frame(self, every_column: bool):
        """The peer's frame: its CLIBD merges add ``clibd_split`` last and renumber the index."""
        st = self.store
        columns = [
            c
            for c in file_columns(st)
            if c != "clibd_split" and (every_column or c in self.frame_rules.usecols)
        ]
        index, clibd, single = _clibd_parts(
            st, self._rows, self._kept, self.partitioning_version, self.split, self._clibd_files
        )
        if single:  # the peer merges the partition file (sampleids) with the metadata: sampleid first
            columns.sort(key=lambda c: c != "sampleid")
        df = peer_frame(
            st, self._rows, self.frame_rules, self.options.max_nucleotides, self.label_space, columns, index
        )
        if clibd is not None:
            df["clibd_split"] = text_series(clibd, df.index)
        return df

    def _label_space(self, labels: LabelSpace, keep: np.ndarray) -> LabelSpace:
        # The peer computes category codes after de-duplication: only labels of kept rows count.
        return labels.reduced(keep)

    def _build_splits(self) -> str:
        if self.split in (None, "all"):
            return "all"
        return "+".join(f"{self.partitioning_version}:{s.strip()}" for s in self.split.split("+"))

    def extra_repr(self) -> str:
        return option_lines(
            self, [f"partitioning_version: {self.partitioning_version!r}", f"split: {self.split!r}"]
        )


def _clibd_parts(
    st, rows: np.ndarray, kept: np.ndarray | None, partitioning_version: str, split: str, files: bool
):
    """What the peer's CLIBD merges make of its frame: ``(index, clibd_split values, single)``.

    With the CLIBD ``files`` the peer merges each row's partition in (``clibd_split``, index
    renumbered over the de-duplicated file); ``single``: a lone CLIBD split, in its file's order.
    """
    whole = split in (None, "all")
    single = partitioning_version == "clibd" and not whole and "+" not in split
    merged = files and (partitioning_version != "clibd" or whole or split not in CLIBD_VALID_SPLITS)
    if single:
        order = np.zeros(st.n_rows, dtype=np.int64)
        part = st.partition(split)
        order[part] = np.arange(len(part))
        index = order[rows]
    elif merged and kept is not None:
        index = np.searchsorted(np.sort(kept), rows)
    else:
        index = rows
    clibd = st.column_values("clibd_split", rows) if merged else None
    if single and not merged:
        clibd = np.full(len(rows), split, dtype=object)
    return index, clibd, single


def _warn_if_too_fine(partitioning_version: str, target_type: tuple[str, ...]) -> None:
    """The peer's warning for ranks finer than the partitioning was designed for."""
    too_fine = set() if partitioning_version == "clibd" else set(_FINE_RANKS)
    if partitioning_version in _ORDER_PARTITIONINGS:
        too_fine.add("family")
    if bad := too_fine.intersection(target_type):
        warnings.warn(
            f"The target_type includes taxonomic ranks {bad} that are more fine-grained than the partitioning"
            f" version ('{partitioning_version}') was designed for. This will mean the test partition"
            " contains categories which do not appear in the train partition.",
            UserWarning,
            stacklevel=3,
        )


def load_bioscan1m_metadata(
    metadata_path,
    max_nucleotides: int | None = 660,
    reduce_repeated_barcodes: bool = False,
    split: str | None = None,
    partitioning_version: str = "large_diptera_family",
    clibd_partitioning_path: str | None = None,
    dtype=MetadataDtype.DEFAULT,
    *,
    store: str | os.PathLike | None = None,
    **kwargs,
):
    """Load BIOSCAN-1M metadata as ``bioscan_dataset.load_bioscan1m_metadata`` does, from a store.

    The store built from ``metadata_path`` (under ``<root>/bioscan1m/h5/``, ``<root>/bioscan/h5/``
    in the layout of bioscan-dataset 1.1, or ``store=``) supplies the frame: every column of the
    file, ``<rank>_index`` columns and (with the CLIBD files) ``clibd_split``. Without one, the
    peer's own loader is used if it is installed.
    """
    path = short = None
    if not kwargs and is_default_dtype(dtype) and clibd_partitioning_path is None:
        path = matching_store(
            metadata_path, store, _layout.BIOSCAN1M_LAYOUT.metadata_store_dirs(metadata_path)
        )
    if path is not None and store is None and not holds_barcodes(path, max_nucleotides):
        short, path = path, None  # its barcodes are cut shorter than asked: parse the file
    if path is None:
        try:
            from bioscan_dataset import load_bioscan1m_metadata as peer_loader
        except ImportError:
            if short is None:
                raise FileNotFoundError(
                    f"No bioscan-h5 store built from {metadata_path!r} was found. Build one with `bioscan-h5"
                    " build --dataset bioscan1m --root ROOT --no-images`, or pass store=."
                ) from None
            path = short  # the dataset below raises the error saying how to rebuild it
        else:
            extra = {} if is_default_dtype(dtype) else {"dtype": dtype}
            return peer_loader(
                metadata_path,
                max_nucleotides=max_nucleotides,
                reduce_repeated_barcodes=reduce_repeated_barcodes,
                split=split,
                partitioning_version=partitioning_version,
                clibd_partitioning_path=clibd_partitioning_path,
                **extra,
                **kwargs,
            )
    # the peer looks for the CLIBD files beside the metadata file
    clibd = os.path.join(os.path.dirname(os.path.abspath(os.fspath(metadata_path))), _layout.CLIBD_DIRNAME)
    if not os.path.isdir(clibd) and str(partitioning_version).lower() == "clibd":
        raise OSError(
            f"clibd partitioning requested, but the corresponding partitioning data could not be found at: {clibd!r}"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = BIOSCAN1M(
            None,
            split=split if split is not None else "all",
            partitioning_version=partitioning_version,
            modality=("dna",),  # so that a store with too short barcodes is refused
            reduce_repeated_barcodes=reduce_repeated_barcodes,
            max_nucleotides=max_nucleotides,
            target_type=[],
            store=path,
        )
    ds._clibd_files = ds._clibd_files and os.path.isdir(clibd)  # the clibd_split column
    return ds.file_metadata()


#: The peer's other name of :func:`load_bioscan1m_metadata`.
load_metadata = load_bioscan1m_metadata
