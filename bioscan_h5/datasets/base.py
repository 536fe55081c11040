"""The dataset base class: a split of a store, served as ``bioscan-dataset`` serves it.

:class:`StoreDataset` composes small collaborators and holds no logic of its own:
:class:`~.options.DatasetOptions` (the constructor arguments, checked once),
:mod:`.provision` (find, download or build the store), the dataset's layout (which rows a
split stands for), :class:`~.labels.LabelSpace` (label indices and names),
:class:`~.samples.SampleReader` (rows -> samples) and :func:`~.frames.metadata_frame`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..dna import first_unique_rows
from ..format import ImageStatus
from ..store import Store
from .describe import StandardTransformRepr, dataset_repr
from .frames import metadata_frame
from .labels import LabelSpace, resolve_column
from .options import DatasetOptions, check_against_store
from .provision import StoreRequest, ensure_images, provide_store
from .samples import SampleReader

__all__ = ["StoreDataset"]


class StoreDataset(torch.utils.data.Dataset):
    """Base class: a split of a store, served as samples like ``bioscan-dataset``.

    Subclasses set the class attributes below and implement :meth:`_select_rows`,
    :meth:`_build_splits` and :meth:`extra_repr`.

    Attributes
    ----------
    options : DatasetOptions
        The constructor arguments, normalised.
    """

    dataset_name: str = ""
    base_folder: str = ""
    #: target_type aliases (the peer maps "uri" <-> "dna_bin")
    rank_aliases: Mapping[str, str] = {}
    #: columns the peer's ``metadata`` frame holds as text rather than categories
    text_columns: tuple[str, ...] = ()
    split: str

    def _setup(self, root, arguments: Mapping[str, Any]) -> None:
        """Finish construction from the constructor's ``locals()``."""
        opts = DatasetOptions.from_arguments(arguments, self.rank_aliases)
        self.options = opts
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        for name in opts.names():  # the peer's attributes, as the peer spells them
            value = getattr(opts, name)
            setattr(self, name, list(value) if name in ("modality", "target_type") else value)
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
        st = provide_store(request, arguments["store"], opts.wants_image)
        if opts.verify_reads:
            st.checksums  # noqa: B018 - refuses a store without checksums (format 1), here
        check_against_store(opts, st)
        rows = self._select_rows(st)
        keep = None
        if opts.reduce_repeated_barcodes:
            keep = first_unique_rows(st.dna_codes, st.dna_lengths, opts.max_nucleotides)
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
        self._remap = labels.remap
        self._labels: LabelSpace | None = labels
        self._reader: SampleReader | None = None
        self._rows = np.ascontiguousarray(rows, dtype=np.int64)
        self._metadata = None

    # ------------------------------------------------------------------ per dataset
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

    # ------------------------------------------------------------------ the store, rows, metadata
    @property
    def store(self) -> Store:
        """The open :class:`~bioscan_h5.store.Store` (opened lazily in each process)."""
        if self._store is None:
            self._store = Store(self.store_path)
        return self._store

    @property
    def labels(self) -> LabelSpace:
        """Label indices and names (a :class:`~.labels.LabelSpace`)."""
        if self._labels is None:
            self._labels = LabelSpace(self.store, self._remap)
        return self._labels

    @property
    def reader(self) -> SampleReader:
        """Turns store rows into samples (a :class:`~.samples.SampleReader`)."""
        if self._reader is None:
            self._reader = SampleReader(self.store, self.options, self.labels)
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
        """The selected rows as a pandas DataFrame (built on first access, like the peer's)."""
        if self._metadata is None:
            self._metadata = metadata_frame(
                self.store, self._rows, self.options, self.labels, self.text_columns
            )
        return self._metadata

    # ------------------------------------------------------------------ labels
    def index2label(self, index, column: str | None = None):
        """Convert target index (or indices) to text label(s); negative indices map to ``""``.

        Parameters
        ----------
        index : int or array_like of int
        column : str, optional
            The rank; by default the single ``target_type``.

        Returns
        -------
        str or numpy.ndarray of object
        """
        return self.labels.index2label(
            index, resolve_column(column, self.options.target_type, self.rank_aliases)
        )

    def label2index(self, label, column: str | None = None):
        """Convert text label(s) to target index (indices); ``""`` and NaN map to -1.

        Unlike ``bioscan-dataset`` 1.3.0 under pandas >= 2, a list of labels returns an array.

        Raises
        ------
        KeyError
            A label is not in the column's vocabulary.
        """
        return self.labels.label2index(
            label, resolve_column(column, self.options.target_type, self.rank_aliases)
        )

    # ------------------------------------------------------------------ samples
    def __getitem__(self, index: int):
        """One sample, as ``bioscan-dataset`` returns it (see the class docstring)."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an integer, not {type(index).__name__}")
        return self.reader.one(int(self._rows[index]))

    def __getitems__(self, indices: Sequence[int]) -> list:
        """A batch of samples, with the pixels of all of them read in one pass."""
        return self.reader.many(self._rows[np.asarray(indices, dtype=np.int64)])

    def __repr__(self) -> str:
        return dataset_repr(self)
