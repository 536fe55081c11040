"""The dataset base class: a split of a store, served as ``bioscan-dataset`` serves it.

:class:`StoreDataset` composes :class:`~.options.DatasetOptions`, :mod:`.provision` (the store),
the layout (split rows), :class:`~.labels.LabelSpace` and :class:`~.samples.SampleReader`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .. import format as fmt
from ..barcode_codes import first_unique_rows
from ..errors import ResizedImagesWarning
from ..format import ImageStatus
from ..layouts import get_layout
from ..store import Store
from .describe import StandardTransformRepr, dataset_repr
from .frames import FrameRules, file_columns, peer_frame
from .indices import as_indices, check_index
from .labels import LabelSpace, resolve_column
from .options import DatasetOptions, check_against_store
from .provision import StoreRequest, ensure_images, provide_store
from .samples import SampleReader

__all__ = ["FULL_RESOLUTION_PACKAGES", "ImageStoreDataset", "StoreDataset"]

#: Image packages at full resolution (the peer serves these images at their own size).
FULL_RESOLUTION_PACKAGES = ("original_full", "cropped")


def _option(name: str, settable: bool = False) -> property:
    """The peer's attribute ``name``: a view of ``options.<name>`` (assignable where ``settable``)."""

    def get(self):
        return getattr(self.options, name)

    def set_(self, value) -> None:
        self._set_option(**{name: value})

    return property(get, set_ if settable else None, doc=f"The ``{name}`` option (the peer's attribute).")


class PeerAttributes:
    """The peer's option attributes (``ds.modality``, ...), views of ``options``.

    The transforms can be assigned, as on the peer's datasets (``ds.transform = t``); the others
    are read-only.
    """

    options: DatasetOptions
    _reader: Any

    def _set_option(self, **change: Any) -> None:
        """Replace options (checked again) and serve samples with them from now on."""
        self.options = dataclasses.replace(self.options, **change)
        self._reader = None  # made again, from the new options, on the next sample or batch

    @property
    def modality(self) -> list[str]:
        """The modalities of a sample, as a list (the peer's attribute)."""
        return list(self.options.modality)

    @property
    def target_type(self) -> list[str]:
        """The target ranks, as a list (the peer's attribute)."""
        return list(self.options.target_type)

    target_format = _option("target_format")
    output_format = _option("output_format")
    reduce_repeated_barcodes = _option("reduce_repeated_barcodes")
    max_nucleotides = _option("max_nucleotides")
    dna_transform = _option("dna_transform", settable=True)
    target_transform = _option("target_transform", settable=True)


class StoreDataset(PeerAttributes, torch.utils.data.Dataset):
    """Base class: a split of a store, served as samples like ``bioscan-dataset``.

    Subclasses set the class attributes below and implement :meth:`_select_rows`,
    :meth:`_build_splits` and :meth:`extra_repr`; ``options`` holds the constructor arguments.
    """

    dataset_name: str = ""
    base_folder: str = ""
    #: target_type aliases (the peer maps "uri" <-> "dna_bin")
    rank_aliases: Mapping[str, str] = {}
    #: how the peer reads the metadata file into its ``metadata`` frame
    frame_rules: FrameRules
    split: str

    def _setup(self, root, options: DatasetOptions, store) -> None:
        """Finish construction: find (or build) the store and select the split's rows."""
        self.options = opts = options
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        self._set_paths(opts)
        self.transforms = (
            StandardTransformRepr(opts.transform, opts.target_transform)
            if opts.transform or opts.target_transform
            else None
        )
        request = StoreRequest(
            owner=type(self).__name__,
            dataset=self.dataset_name,
            root=self.root,
            image_package=opts.image_package,
            image_size=opts.image_size,
            build=opts.build,
            splits=self._build_splits(),
        )
        st = provide_store(request, store, opts.wants_image)
        if opts.verify_reads:
            st.checksums  # noqa: B018 - refuses a store without checksums (damaged), here
        check_against_store(opts, st)
        rows = self._select_rows(st)
        self._warn_if_resized(opts, st)
        keep = None
        if opts.reduce_repeated_barcodes:
            keep = first_unique_rows(st.dna_codes, st.dna_lengths, opts.max_nucleotides, tail=st.dna_tail)
            rows = rows[np.isin(rows, keep)]
        if opts.wants_image:
            st = ensure_images(request, st, rows, self.split)
            if opts.drop_bad_images:
                rows = rows[st.image_status[rows] == ImageStatus.OK]
        self._store: Store | None = st
        self.store_path = st.path
        self.image_size = st.image_size
        labels = LabelSpace(st)
        if keep is not None:
            labels = self._label_space(labels, keep)
        if opts.dense_labels:  # every rank renumbered 0..n-1 over the labels these rows hold
            labels = LabelSpace(st).reduced(rows)
        self._remap = labels.remap
        self._labels: LabelSpace | None = labels
        self._reader: SampleReader | None = None
        self._rows = np.ascontiguousarray(rows, dtype=np.int64)
        self._kept = keep
        self._metadata = None

    def _set_paths(self, opts: DatasetOptions) -> None:
        """The peer's path attributes: ``base_folder``, ``metadata_path`` and ``image_dir``."""
        layout = get_layout(self.dataset_name)
        if self.root is None:
            self.metadata_path = None
            if layout.schema.has_images:
                self.image_dir = None
            return
        self.base_folder = os.path.basename(layout.dataset_dir(self.root))
        self.metadata_path = layout.metadata_path(self.root)
        if layout.schema.has_images:
            self.image_dir = layout.image_dir(self.root, opts.image_package)

    def _warn_if_resized(self, opts: DatasetOptions, st: Store) -> None:
        """Say so when a full-resolution package is served as the store's small images."""
        if (
            not opts.wants_image
            or opts.image_size is not None
            or opts.image_package not in FULL_RESOLUTION_PACKAGES
        ):
            return
        warnings.warn(
            f"image_package={opts.image_package!r} holds full-resolution images, but {st.path!r} serves"
            f" them resized to {st.image_size}x{st.image_size} px ({st.attrs.get(fmt.ATTR_FIT)})."
            " bioscan-dataset returns the original JPEG. Pass image_size= to choose the size (for example"
            f" image_size={st.image_size} to keep these), which also silences this warning; a store of"
            f" another size is built with `bioscan-h5 build --image-package {opts.image_package}"
            " --image-size S`.",
            ResizedImagesWarning,
            stacklevel=4,
        )

    def _select_rows(self, st: Store) -> np.ndarray:  # pragma: no cover - overridden
        """The store rows of the dataset's split, in the peer's order."""
        raise NotImplementedError

    def _build_splits(self) -> str:
        """The ``--splits`` of a build that covers the dataset's split."""
        return "all"

    def _label_space(self, labels: LabelSpace, keep: np.ndarray) -> LabelSpace:
        """The label space after ``reduce_repeated_barcodes`` kept the rows ``keep`` (whole file)."""
        return labels

    def extra_repr(self) -> str:  # pragma: no cover - overridden
        return ""

    @property
    def store(self) -> Store:
        """The open :class:`~bioscan_h5.store.Store` (opened lazily in each process)."""
        if self._store is None:
            self._store = Store(self.store_path)
        return self._store

    @property
    def label_space(self) -> LabelSpace:
        """Label indices and names of every rank (a :class:`~.labels.LabelSpace`)."""
        if self._labels is None:
            self._labels = LabelSpace(self.store, self._remap)
        return self._labels

    @property
    def taxonomy(self):
        """The tree of the label space (a :class:`~bioscan_h5.taxonomy.Taxonomy`, majority rule)."""
        from ..taxonomy import taxonomy_of

        return taxonomy_of(self.label_space)

    def label_indices(self, rank: str) -> np.ndarray:
        """The label index of every sample at ``rank`` (int64, ``-1`` = missing), as targets with
        ``target_type=rank`` hold them, for any rank the store holds."""
        return self.label_space.codes(self.target_rank(rank), self._rows)

    @property
    def targets(self) -> np.ndarray:
        """The target label index of every sample, as torchvision datasets expose them.

        int64 ``(N,)`` for one ``target_type``, ``(N, n_targets)`` for several (``-1`` = missing).
        """
        ranks = self.options.target_type
        if not ranks:
            raise AttributeError(f"{type(self).__name__} has no targets: target_type is empty.")
        cols = [self.label_indices(r) for r in ranks]
        return cols[0] if len(cols) == 1 else np.stack(cols, axis=1)

    def target_rank(self, rank: str | None = None) -> str:
        """``rank`` as the store names it (an alias such as ``"uri"`` resolved); by default the
        single ``target_type`` (:class:`InvalidArgumentError` if there are several)."""
        return resolve_column(rank, self.options.target_type, self.rank_aliases)

    def num_classes(self, rank: str | None = None) -> int:
        """The number of label indices at ``rank`` (by default the single ``target_type``): a
        classifier's output width, labels absent from this split included."""
        return len(self.label_space.vocab(self.target_rank(rank)))

    def class_counts(self, rank: str | None = None) -> np.ndarray:
        """Samples per label index at ``rank`` (int64, length :meth:`num_classes`; missing labels not counted)."""
        codes = self.label_indices(self.target_rank(rank))
        return np.bincount(codes[codes >= 0], minlength=self.num_classes(rank)).astype(np.int64)

    @property
    def reader(self) -> SampleReader:
        """Turns store rows into samples (a :class:`~.samples.SampleReader`)."""
        if self._reader is None:
            self._reader = SampleReader(self.store, self.options, self.label_space)
        return self._reader

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        # the store is reopened, and what reads it rebuilt, in the process that unpickles
        state.update(_store=None, _labels=None, _reader=None, _metadata=None)
        return state

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> np.ndarray:
        """The store rows of this dataset, in sample order."""
        return self._rows

    @property
    def metadata(self):
        """The selected rows as the peer's ``metadata`` DataFrame (built on first access).

        ``bioscan-dataset``'s columns, order, dtypes, index and values; every column of the
        file: :meth:`file_metadata`.
        """
        if self._metadata is None:
            self._metadata = self._peer_frame(every_column=False)
        return self._metadata

    def file_metadata(self):
        """The selected rows with every column of the metadata file, as a pandas DataFrame, as the
        peer's ``load_*_metadata`` returns them (dtypes, ``<label>_index`` columns)."""
        return self._peer_frame(every_column=True)

    @classmethod
    def store_file_metadata(
        cls: Any, store, split: str | None, max_nucleotides: int | None, reduce_repeated_barcodes: bool
    ):
        """:meth:`file_metadata` of a store's split: what the ``load_*_metadata`` functions return
        (``cls`` is typed ``Any``: this base class has no constructor)."""
        ds = cls(
            None,
            split=split if split is not None else "all",
            modality=(),
            reduce_repeated_barcodes=reduce_repeated_barcodes,
            max_nucleotides=max_nucleotides,
            target_type=[],
            store=store,
        )
        return ds.file_metadata()

    def _peer_frame(self, every_column: bool):
        """The frame of :attr:`metadata` (or, ``every_column``, of :meth:`file_metadata`)."""
        columns = file_columns(self.store) if every_column else None
        return peer_frame(
            self.store, self._rows, self.frame_rules, self.options.max_nucleotides, self.label_space, columns
        )

    def index2label(self, index, column: str | None = None):
        """Convert target index (or indices) to text label(s); negative indices map to ``""``.

        ``column`` is the rank (by default the single ``target_type``); an array of indices gives
        an object array of labels.
        """
        return self.label_space.index2label(index, self.target_rank(column))

    def label2index(self, label, column: str | None = None):
        """Convert text label(s) to target index (indices); ``""`` and NaN map to -1.

        Unlike ``bioscan-dataset`` 1.3.0 under pandas >= 2, a list of labels returns an array.

        Raises
        ------
        KeyError
            A label is not in the column's vocabulary.
        """
        return self.label_space.label2index(label, self.target_rank(column))

    def __getitem__(self, index: int):
        """One sample, as ``bioscan-dataset`` returns it (see the class docstring)."""
        return self.reader.one(int(self._rows[check_index(index, len(self._rows))]))

    def __getitems__(self, indices: Sequence[int]) -> list:
        """A batch of samples, with the pixels of all of them read in one pass."""
        return self.reader.many(self._rows[as_indices(indices, len(self._rows))])

    def __repr__(self) -> str:
        return dataset_repr(self)


class ImageStoreDataset(StoreDataset):
    """A dataset with images (BIOSCAN-5M, BIOSCAN-1M): the peer's image attributes too."""

    image_package = _option("image_package")
    transform = _option("transform", settable=True)
