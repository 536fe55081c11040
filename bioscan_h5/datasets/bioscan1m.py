"""BIOSCAN-1M as a PyTorch dataset over a bioscan-h5 store (drop-in for ``bioscan_dataset.BIOSCAN1M``)."""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from ..layouts import BIOSCAN1M_LAYOUT, CLIBD_DIRNAME
from ..splits import BIOSCAN1M_SPLIT_ALIASES, CLIBD_SPLIT_ALIASES, check_partitioning_version
from ..store import Store
from .base import StoreDataset
from .describe import option_lines
from .labels import LabelSpace
from .metadata_files import holds_barcodes, matching_store
from .provision import download_root
from .signature import dataset_init, positional

__all__ = ["BIOSCAN1M", "load_bioscan1m_metadata", "RGB_MEAN", "RGB_STDEV"]

#: Per-channel mean of the BIOSCAN-1M images (as published with bioscan-dataset).
RGB_MEAN = torch.tensor([0.72510918, 0.72891550, 0.72956181])
#: Per-channel standard deviation of the BIOSCAN-1M images.
RGB_STDEV = torch.tensor([0.12654378, 0.14301962, 0.16103319])

_FINE_RANKS = {"subfamily", "tribe", "genus", "species"}
_ORDER_PARTITIONINGS = {"large_insect_order", "medium_insect_order", "small_insect_order"}


class BIOSCAN1M(StoreDataset):
    r"""`BIOSCAN-1M <https://github.com/bioscan-ml/BIOSCAN-1M>`_ dataset, read from a bioscan-h5 store.

    Same arguments, defaults, samples, order and label indices as
    ``bioscan_dataset.BIOSCAN1M`` 1.3.0 (label clean-up rules included; with
    ``reduce_repeated_barcodes`` the indices are computed over the de-duplicated file, as
    the peer does).

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
    modality, image_package, reduce_repeated_barcodes, max_nucleotides, target_format,
    output_format, transform, dna_transform, target_transform, download
        As :class:`~bioscan_h5.BIOSCAN5M`.
    target_type : str or Iterable[str], default="family"
        ``phylum``, ``class``, ``order``, ``family``, ``subfamily``, ``tribe``, ``genus``,
        ``species``, ``uri`` (alias ``dna_bin``).
    store, image_size, image_format, build, drop_bad_images, mirror, verify_reads
        As :class:`~bioscan_h5.BIOSCAN5M`.
    """

    dataset_name = "bioscan1m"
    base_folder = "bioscan1m"
    rank_aliases = {"dna_bin": "uri"}
    text_columns = ("clibd_split",)

    @dataset_init(
        [
            positional("split", "train", "str"),
            positional("partitioning_version", "large_diptera_family", "str"),
        ],
        defaults={"target_type": "family"},
    )
    def __init__(self, arguments: dict) -> None:
        self.partitioning_version = check_partitioning_version(arguments["partitioning_version"])
        aliases = CLIBD_SPLIT_ALIASES if self.partitioning_version == "clibd" else BIOSCAN1M_SPLIT_ALIASES
        self.split = aliases.get(arguments["split"], arguments["split"])
        target_type = ["uri" if t == "dna_bin" else t for t in _as_list(arguments["target_type"])]
        _warn_if_too_fine(self.partitioning_version, target_type)
        arguments["target_type"] = target_type
        if arguments["download"]:  # BIOSCAN-1M's images come in one archive per package, for every split
            download_root(self.dataset_name, arguments, "all")
        self._setup(arguments["root"], arguments)

    def _select_rows(self, st: Store) -> np.ndarray:
        if self.partitioning_version == "clibd" and not st.partition_names:
            where = os.path.join(self.root or "<root>", self.base_folder, CLIBD_DIRNAME)
            raise OSError(
                f"clibd partitioning requested, but the corresponding partitioning data could not be found at:"
                f" {where!r} (the store {st.path!r} holds no CLIBD partition files). Extract"
                " CLIBD_partitioning.zip there and rebuild the store with --overwrite."
            )
        return BIOSCAN1M_LAYOUT.split_rows(st, self.split, self.partitioning_version)

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


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _warn_if_too_fine(partitioning_version: str, target_type: list[str]) -> None:
    """The peer's warning for ranks finer than the partitioning was designed for."""
    too_fine = set() if partitioning_version == "clibd" else set(_FINE_RANKS)
    if partitioning_version in _ORDER_PARTITIONINGS:
        too_fine.add("family")
    bad = too_fine.intersection(target_type)
    if bad:
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
    dtype="BIOSCAN1M_default_dtypes",
    *,
    store: str | os.PathLike | None = None,
    **kwargs,
):
    """Load BIOSCAN-1M metadata as ``bioscan_dataset.load_bioscan1m_metadata`` does, from a store.

    The store built from ``metadata_path`` (found under ``<root>/bioscan1m/h5/`` or given as
    ``store=``) supplies the frame; without one, the peer package's own loader is used if it
    is installed.

    Returns
    -------
    pandas.DataFrame
    """
    path = short = None
    if not kwargs and dtype == "BIOSCAN1M_default_dtypes" and clibd_partitioning_path is None:
        path = matching_store(metadata_path, store, levels=1)
    if path is not None and store is None and not holds_barcodes(path, max_nucleotides):
        short, path = path, None  # its barcodes are cut shorter than asked: parse the file
    if path is None:
        try:
            from bioscan_dataset import load_bioscan1m_metadata as peer_loader
        except ImportError:
            if short is not None:
                path = short  # the dataset below raises the error saying how to rebuild it
            else:
                raise FileNotFoundError(
                    f"No bioscan-h5 store built from {metadata_path!r} was found. Build one with `bioscan-h5"
                    " build --dataset bioscan1m --root ROOT --no-images`, or pass store=."
                ) from None
    if path is None:
        extra = {} if dtype == "BIOSCAN1M_default_dtypes" else {"dtype": dtype}
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
    return ds.metadata
