"""The one place that turns store rows into samples: one (``ds[i]``), a list, or a batch.

:class:`SampleReader` reads a store as :class:`DatasetOptions` say. Tensor images are
channels-last views of their own storage: no strided copy per sample.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from .. import format as fmt
from ..errors import ImageUnavailableError
from ..format import ImageStatus
from ..layouts import get_layout
from ..pixels.pil import rgb_image
from .dna_plan import DnaPlan
from .labels import LabelSpace
from .options import DatasetOptions

__all__ = ["SampleReader", "batch_targets", "collate"]

_OK = int(ImageStatus.OK)


def collate(values: list) -> Any:
    """Per-sample values (of a transform) collated as ``DataLoader``'s default ``collate_fn`` does."""
    from torch.utils.data import default_collate

    return default_collate(values)


def batch_targets(labels: LabelSpace, opts: DatasetOptions, rows: np.ndarray, tables: dict) -> dict[str, Any]:
    """The target keys of a batch of ``rows``: ``<rank>``, ``<rank>_index`` and ``target``.

    ``tables`` caches each rank's names (a trailing NaN for code -1).
    """
    import torch

    out: dict[str, Any] = {}
    codes = []
    for t in opts.target_type:
        c = labels.codes(t, rows)
        codes.append(c)
        if t not in tables:
            tables[t] = np.asarray([*labels.vocab(t), float("nan")], dtype=object)
        out[f"{t}_index"] = torch.from_numpy(c)
        out[t] = tables[t][c].tolist()
    if not codes:
        return out
    text = opts.target_format != "index"
    if opts.target_transform is not None or text:
        per_rank = [out[t] for t in opts.target_type] if text else [c.tolist() for c in codes]
        targets = list(zip(*per_rank)) if len(per_rank) > 1 else per_rank[0]
        tf = opts.target_transform
        out["target"] = targets if tf is None else collate([tf(t) for t in targets])
    elif len(codes) == 1:
        out["target"] = out[f"{opts.target_type[0]}_index"]
    else:
        out["target"] = torch.from_numpy(np.stack(codes, axis=1))
    return out


class SampleReader:
    """Reads samples of a store as ``bioscan-dataset`` returns them.

    What depends only on the options is chosen here, once; :meth:`one` only reads. ``pixels``
    is the read engine (None without the image modality).
    """

    def __init__(self, store, options: DatasetOptions, labels: LabelSpace) -> None:
        self.store = store
        self.options = options
        self.labels = labels
        self.dna = DnaPlan.choose(store, options.max_nucleotides, options.dna_transform)
        self._barcode = store.schema.barcode_column
        self._ranks = set(store.schema.ranks)
        self.pixels = store.pixel_reader() if options.wants_image else None
        #: check each row served against the checksums (the dataset's or the store's verify_reads)
        self._verify = bool(options.verify_reads or getattr(store, "verify_reads", False))
        self._local = threading.local()
        # a plain array: no memmap subclass made per lookup
        self._status = np.asarray(store.image_status) if options.wants_image else None
        self._as_image = self._image_maker() if options.wants_image else None
        self._one_image = self._image_reader() if options.wants_image else None
        # per modality: row -> value (None: the image, made by the caller)
        self._getters = [None if m == "image" else self._getter(m) for m in options.modality]
        self._codes = [self._code_getter(t) for t in options.target_type]
        self._text = options.target_format != "index"
        self._dict = options.output_format == "dict"
        self._name_tables: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict:
        return {"store": self.store, "options": self.options, "labels": self.labels}

    def __setstate__(self, state: dict) -> None:
        SampleReader.__init__(self, state["store"], state["options"], state["labels"])

    def one(self, row: int):
        """The sample of one store row."""
        self.store.check_unchanged()  # a store written over in place: never a signal, nor a mix
        if self._verify:
            self.store.verify_rows(row, images=self.options.wants_image)
        sample = self._sample(row, None if self._one_image is None else self._one_image(row))
        self.store.check_unchanged()
        return sample

    def many(self, rows: np.ndarray) -> list:
        """The samples of ``rows``, with the pixels of all of them read in one engine call."""
        rows = np.asarray(rows, dtype=np.int64)
        self.store.check_unchanged()
        if self._verify:
            self.store.verify_rows(rows, images=self.options.wants_image)
        if self._as_image is None:
            samples = [self._sample(r, None) for r in rows.tolist()]
        else:
            self.check_images(rows)
            samples = [self._sample(r, im) for r, im in zip(rows.tolist(), self.many_images(rows))]
        self.store.check_unchanged()
        return samples

    def batch(
        self,
        rows: np.ndarray,
        image_out: np.ndarray | None = None,
        encoded: bool = False,
        nogil: bool = False,
    ) -> dict[str, Any]:
        """The samples of store ``rows`` collated into one dict (see :func:`~bioscan_h5.gather_batch`).

        Pixels are read into ``image_out`` (C-contiguous uint8 ``(len(rows), S, S, 3)``, default
        new) with the nogil kernel if ``nogil``; ``encoded``: each row's stored bytes instead.
        """
        import torch

        st = self.store
        out: dict[str, Any] = {}
        st.check_unchanged()
        if self._verify:
            st.verify_rows(rows, images=self.options.wants_image)
        for m, getter in zip(self.options.modality, self._getters):
            if getter is None:  # the image
                assert self.pixels is not None  # made for the image modality
                self.check_images(rows)
                if encoded:
                    out["image"] = [
                        torch.frombuffer(bytearray(self.pixels.encoded(int(r))), dtype=torch.uint8)
                        for r in rows
                    ]
                elif self.options.transform is not None:  # per sample, as the dataset serves them
                    out["image"] = collate(self.many_images(rows))
                else:
                    if image_out is None:
                        image_out = np.empty((len(rows), *self.pixels.row_shape), dtype=np.uint8)
                    self.pixels.read(rows, image_out, nogil=nogil)
                    out["image"] = torch.from_numpy(image_out).permute(0, 3, 1, 2)
            elif self.options.is_dna(m, self._barcode):
                if self.dna.per_sample:
                    out["dna"] = collate([getter(int(r)) for r in rows])
                else:
                    out.update(self.dna.batch(st, rows))
            elif self._rank_index(m):
                out[m] = torch.from_numpy(self.labels.codes(m[: -len("_index")], rows))
            elif m in st.columns and st.column_kind(m) is fmt.Kind.FLOAT:
                out[m] = torch.from_numpy(np.asarray(st.column(m).values[rows]))
            else:
                out[m] = [getter(int(r)) for r in rows]
        out.update(batch_targets(self.labels, self.options, rows, self._name_tables))
        st.check_unchanged()
        return out

    def many_images(self, rows: np.ndarray) -> list:
        """The images of ``rows`` as samples hold them (``image_format``, then ``transform``)."""
        assert self.pixels is not None and self._as_image is not None and self._one_image is not None
        pil = self.options.image_format == "pil"
        if pil and self.store.codec.stored_pil:
            return [self._one_image(r) for r in rows.tolist()]
        # PIL copies out of a reused buffer; other images are views of one new block (no copy each)
        n = len(rows)
        block = self._scratch(n) if pil else np.empty((n, *self.pixels.row_shape), dtype=np.uint8)
        self.pixels.read(rows, block)
        return [self._as_image(block[k]) for k in range(n)]

    def check_images(self, rows: np.ndarray) -> None:
        """Raise :class:`ImageUnavailableError` for the first row whose image is not in the store."""
        bad = np.flatnonzero(self.store.image_status[rows] != ImageStatus.OK)
        if bad.size:
            raise self._unavailable(int(rows[bad[0]]))

    def _image_maker(self) -> Callable[[np.ndarray], Any]:
        """HWC uint8 pixels the sample may keep -> the image in the requested format, transformed."""
        fmt_, tf = self.options.image_format, self.options.transform
        make: Callable[[np.ndarray], Any] | None
        if fmt_ == "pil":
            assert self.pixels is not None  # made for the image modality
            make = rgb_image(self.pixels.row_shape)
        elif fmt_ == "numpy":
            make = None
        else:
            import torch

            def make(pixels: np.ndarray):
                return torch.from_numpy(pixels).permute(2, 0, 1)  # CHW view, channels-last strides

        if tf is None:
            return make or (lambda pixels: pixels)
        if make is None:
            return tf
        return lambda pixels: tf(make(pixels))

    def _image_reader(self) -> Callable[[int], Any]:
        """row -> its image: one positional read into the sample's own storage (PIL: a reused buffer)."""
        assert self.pixels is not None and self._status is not None and self._as_image is not None
        status, make, unavailable, scratch = self._status, self._as_image, self._unavailable, self._scratch
        read_one, shape = self.pixels.read_one, self.pixels.row_shape
        if self.options.image_format == "pil" and self.store.codec.stored_pil:
            pil, tf = self.store.codec.pil(self.store), self.options.transform

            def read(row: int) -> Any:  # the stored image itself, as the peer decodes it
                return pil(row) if tf is None else tf(pil(row))

        elif self.options.image_format == "pil":

            def read(row: int) -> Any:
                return make(read_one(row, scratch(1)[0]))  # PIL copies into its own storage

        else:

            def read(row: int) -> Any:
                return make(read_one(row, np.empty(shape, dtype=np.uint8)))

        def image(row: int) -> Any:
            if status[row] != _OK:
                raise unavailable(row)
            return read(row)

        return image

    def _getter(self, name: str) -> Callable[[int], Any]:
        """row -> the value of one (non-image) modality."""
        st = self.store
        if self.options.is_dna(name, self._barcode):
            return self.dna.getter(st)
        if self._rank_index(name):
            return self._code_getter(name[: -len("_index")])
        if name == "image_path":
            layout = get_layout(st.dataset)
            return lambda row: layout.image_relpaths(st, np.array([row]))[0]
        if st.column_kind(name) is fmt.Kind.FLOAT:
            return st.column(name).values.__getitem__
        return lambda row: st.column_values(name, [row])[0]

    def _code_getter(self, rank: str) -> Callable[[int], int]:
        """row -> label index of ``rank`` (a Python int)."""
        if rank in self.labels.remap:
            return partial(self.labels.code, rank)
        codes = np.asarray(self.store.codes(rank))
        return lambda row: int(codes[row])

    def _scratch(self, n: int) -> np.ndarray:
        """A reused ``(n, S, S, 3)`` buffer of this thread (for PIL, which copies out of it)."""
        buf = getattr(self._local, "buf", None)
        if buf is None or len(buf) < n:
            assert self.pixels is not None  # a buffer for the image modality
            buf = self._local.buf = np.empty((n, *self.pixels.row_shape), dtype=np.uint8)
        return buf[:n]

    def _unavailable(self, row: int) -> ImageUnavailableError:
        st = self.store
        status = ImageStatus(int(st.image_status[row]))
        pid = st.column_values(st.schema.id_column, [row])[0]
        return ImageUnavailableError(
            f"The image of row {row} ({st.schema.id_column} {pid!r}) is not in the store: "
            f"{status.reason} (recorded at build time; see the build report"
            f" {fmt.report_path(st.path)!r}). Pass drop_bad_images=True to leave such rows out of the split."
        )

    def _rank_index(self, name: str) -> bool:
        return name.endswith("_index") and name[: -len("_index")] in self._ranks

    def _sample(self, row: int, image) -> tuple | dict:
        values = [image if g is None else g(row) for g in self._getters]
        opts = self.options
        codes = [c(row) for c in self._codes]
        if self._dict:
            sample = dict(zip(opts.modality, values))
            for t, code in zip(opts.target_type, codes):
                sample[t] = self.labels.name(t, code)
                sample[f"{t}_index"] = code
        if self._text:
            target = [self.labels.name(t, c) for t, c in zip(opts.target_type, codes)]
        else:
            target = codes
        tgt: Any = None
        if target:
            tgt = tuple(target) if len(target) > 1 else target[0]
            if opts.target_transform is not None:
                tgt = opts.target_transform(tgt)
        if self._dict:
            sample["target"] = tgt
            return sample
        return (*values, tgt)
