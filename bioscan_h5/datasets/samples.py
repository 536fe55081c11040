"""The one place that turns store rows into samples: one at a time, a list of them, or a batch.

:class:`SampleReader` serves ``dataset[i]`` (:meth:`~SampleReader.one`), ``__getitems__``
(:meth:`~SampleReader.many`) and :func:`~bioscan_h5.batch_loader` (:meth:`~SampleReader.batch`).
It reads a :class:`~bioscan_h5.store.Store` according to :class:`DatasetOptions`; it never
sees the dataset.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import format as fmt
from ..errors import ImageUnavailableError
from ..format import ImageStatus
from ..layouts import get_layout
from .dna import DnaPlan
from .labels import LabelSpace
from .options import DatasetOptions

__all__ = ["SampleReader", "take_rows"]


def take_rows(images, rows: np.ndarray) -> np.ndarray:
    """The pixels of ``rows`` (in that order) from a memory map or an h5py dataset."""
    if isinstance(images, np.ndarray):
        return np.asarray(images)[rows]
    out = np.empty((len(rows), *images.shape[1:]), dtype=images.dtype)
    for i, r in enumerate(rows):
        images.read_direct(out, np.s_[int(r)], np.s_[i])
    return out


class SampleReader:
    """Reads samples of a store as ``bioscan-dataset`` returns them.

    Parameters
    ----------
    store : Store
    options : DatasetOptions
    labels : LabelSpace
    """

    def __init__(self, store, options: DatasetOptions, labels: LabelSpace) -> None:
        self.store = store
        self.options = options
        self.labels = labels
        self.dna = DnaPlan.choose(store, options.max_nucleotides, options.dna_transform)
        self._barcode = store.schema.barcode_column
        self._ranks = set(store.schema.ranks)

    def __getstate__(self) -> dict:
        return {"store": self.store, "options": self.options, "labels": self.labels}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["store"], state["options"], state["labels"])

    # ------------------------------------------------------------ public
    def one(self, row: int):
        """The sample of one store row."""
        if self.options.verify_reads:
            self.store.verify_rows(row, images=self.options.wants_image)
        pixels = self.store.images[row] if self.options.wants_image else None
        return self._sample(row, pixels)

    def many(self, rows: np.ndarray) -> list:
        """The samples of ``rows``, with the pixels of all of them read in one pass."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.options.verify_reads:
            self.store.verify_rows(rows, images=self.options.wants_image)
        if not self.options.wants_image:
            return [self._sample(int(r), None) for r in rows]
        # read in row order (sequential in the file), once; sample i's pixels are pix[rank[i]],
        # a row of this batch's own copy (no second copy per sample)
        order = np.argsort(rows, kind="stable")
        pix = take_rows(self.store.images, rows[order])
        if self.options.image_format == "tensor":
            # one CHW copy of the block: contiguous samples, as one() returns
            pix = np.ascontiguousarray(pix.transpose(0, 3, 1, 2))
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return [self._sample(int(r), pix[k], private=True) for r, k in zip(rows, rank)]

    def batch(self, rows: np.ndarray) -> dict[str, Any]:
        """The samples of ``rows`` collated into one dict of tensors (see :func:`~bioscan_h5.gather_batch`)."""
        import torch

        st, out = self.store, {}
        if self.options.verify_reads:
            st.verify_rows(rows, images=self.options.wants_image)
        for m in self.options.modality:
            if m == "image":
                self.check_images(rows)
                # One gather into memory numpy allocates: numpy asks for transparent huge pages
                # for large blocks and torch.empty does not, which makes first-touch page faults
                # of a fresh 50 MB batch cost more than the copy itself.
                out["image"] = torch.from_numpy(take_rows(st.images, rows)).permute(0, 3, 1, 2)
            elif self.options.is_dna(m, self._barcode):
                out.update(self.dna.batch(st, rows))
            elif self._rank_index(m):
                out[m] = torch.from_numpy(self.labels.codes(m[: -len("_index")], rows))
            elif m in st.columns and st.column_kind(m) is fmt.Kind.FLOAT:
                out[m] = torch.from_numpy(np.asarray(st.column(m).values[rows]))
            else:
                out[m] = [self._value(m, int(r)) for r in rows]
        targets = []
        for t in self.options.target_type:
            codes = torch.from_numpy(self.labels.codes(t, rows))
            out[t] = codes
            targets.append(codes)
        if targets:
            out["target"] = targets[0] if len(targets) == 1 else torch.stack(targets, dim=1)
        return out

    def check_images(self, rows: np.ndarray) -> None:
        """Raise :class:`ImageUnavailableError` for the first row whose image is not in the store."""
        bad = np.flatnonzero(self.store.image_status[rows] != ImageStatus.OK)
        if bad.size:
            raise self._unavailable(int(rows[bad[0]]))

    # ------------------------------------------------------------ parts of a sample
    def _unavailable(self, row: int) -> ImageUnavailableError:
        st = self.store
        status = ImageStatus(int(st.image_status[row]))
        pid = st.column_values(st.schema.id_column, [row])[0]
        return ImageUnavailableError(
            f"The image of row {row} ({st.schema.id_column} {pid!r}) is not in the store: "
            f"{status.reason} (recorded at build time; see the build report"
            f" {fmt.report_path(st.path)!r}). Pass drop_bad_images=True to leave such rows out of the split."
        )

    def _image(self, row: int, pixels: np.ndarray, private: bool = False):
        """The image of ``row`` in the requested format; ``private``: ``pixels`` is our own copy."""
        if int(self.store.image_status[row]) != ImageStatus.OK:
            raise self._unavailable(row)
        fmt_ = self.options.image_format
        if fmt_ == "pil":
            from PIL import Image

            # PIL copies the pixels into its own storage: no intermediate numpy copy needed
            img = Image.frombuffer("RGB", (pixels.shape[1], pixels.shape[0]), pixels, "raw", "RGB", 0, 1)
        elif fmt_ == "numpy":
            img = pixels if private else np.array(pixels, copy=True)
        else:
            import torch

            # contiguous CHW, copied by numpy (a torch copy may start its thread pool per sample)
            img = torch.from_numpy(pixels if private else np.ascontiguousarray(np.moveaxis(pixels, -1, 0)))
        if self.options.transform is not None:
            img = self.options.transform(img)
        return img

    def _rank_index(self, name: str) -> bool:
        return name.endswith("_index") and name[: -len("_index")] in self._ranks

    def _value(self, name: str, row: int):
        st = self.store
        if self._rank_index(name):
            return self.labels.code(name[: -len("_index")], row)
        if name == "image_path":
            return get_layout(st.dataset).image_relpaths(st, np.array([row]))[0]
        if st.column_kind(name) is fmt.Kind.FLOAT:
            return st.column(name).values[row]
        return st.column_values(name, [row])[0]

    def _sample(self, row: int, pixels, private: bool = False) -> tuple | dict:
        opts = self.options
        values: list[tuple[str, Any]] = []
        for m in opts.modality:
            if m == "image":
                x = self._image(row, pixels, private)
            elif opts.is_dna(m, self._barcode):
                x = self.dna.one(self.store, row)
            else:
                x = self._value(m, row)
            values.append((m, x))
        target = []
        for t in opts.target_type:
            code = self.labels.code(t, row)
            target.append(code if opts.target_format == "index" else self.labels.name(t, code))
            if opts.output_format == "dict":
                values.append((t, self.labels.name(t, code)))
                values.append((f"{t}_index", code))
        tgt: Any = None
        if target:
            tgt = tuple(target) if len(target) > 1 else target[0]
            if opts.target_transform is not None:
                tgt = opts.target_transform(tgt)
        values.append(("target", tgt))
        if opts.output_format == "tuple":
            return tuple(v for _, v in values)
        return dict(values)
