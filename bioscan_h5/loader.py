"""A DataLoader that yields whole collated batches, assembled without per-sample Python objects.

``DataLoader(ds, batch_size=256)`` builds 256 samples (PIL images, strings, ints) and then
collates them. :func:`batch_loader` instead gathers each batch straight from the store's
memory maps into one tensor per field::

    loader = batch_loader(BIOSCAN5M(root, split="train"), batch_size=256, shuffle=True, num_workers=2)
    for batch in loader:
        batch["image"]    # uint8 (B, 3, S, S), channels-last memory (zero-copy view of the gather)
        batch["dna"]      # uint8 (B, W) ASCII codes, or int64 (B, T) tokens with a Tokenizer dna_transform
        batch["target"]   # int64 (B,) or (B, n_targets)

Per-sample ``transform``/``target_transform`` are not applied (they work on single samples);
pass ``batch_transform`` to act on the batch dict (e.g. GPU augmentation after ``.to(device)``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler, SequentialSampler

from . import format as fmt
from ._base import DNA_MODALITIES, StoreDataset
from .format import ImageStatus

__all__ = ["batch_loader", "BatchView", "gather_batch"]


def gather_batch(ds: StoreDataset, indices) -> dict[str, object]:
    """Collate the samples ``indices`` of ``ds`` into one dict of tensors.

    Keys: ``"index"`` (int64 dataset indices), ``"image"`` (uint8 ``(B, 3, S, S)``) when
    the dataset has the image modality, ``"dna"`` and ``"dna_length"`` (uint8 codes and
    int64 lengths, ``-1`` = missing) or ``"dna"`` and ``"dna_mask"`` (int64 tokens and
    attention mask) when ``dna_transform`` is a :class:`~bioscan_h5.tokenizers.Tokenizer`,
    one int64 tensor per target rank, ``"target"``, and each other modality (numeric
    columns as tensors, text columns as lists).
    """
    idx = np.asarray(indices, dtype=np.int64)
    rows = ds.rows[idx]
    st = ds.store
    out: dict[str, object] = {"index": torch.from_numpy(idx)}
    for m in ds.modality:
        if m == "image":
            bad = np.flatnonzero(st.image_status[rows] != ImageStatus.OK)
            if bad.size:
                r = int(rows[bad[0]])
                ds._image(st, r, None)  # raises ImageUnavailableError naming the row
            # One gather into memory numpy allocates: numpy asks for transparent huge pages for
            # large blocks and torch.empty does not, which makes first-touch page faults of a
            # fresh 50 MB batch cost more than the copy itself.
            if isinstance(st.images, np.ndarray):
                pix = np.asarray(st.images)[rows]
            else:
                from ._base import _h5_take

                pix = _h5_take(st.images, rows)
            out["image"] = torch.from_numpy(pix).permute(0, 3, 1, 2)
        elif m in DNA_MODALITIES or m == st.schema.barcode_column:
            codes = np.asarray(st.dna_codes[rows])
            lengths = np.asarray(st.dna_lengths[rows]).astype(np.int64)
            if ds.max_nucleotides is not None:
                np.minimum(lengths, ds.max_nucleotides, out=lengths)
                codes = codes[:, : ds.max_nucleotides]
            tok = ds._tokenizer
            if ds._stored_tokens is not None:
                ids, mask = st.tokens(ds._stored_tokens)
                out["dna"] = torch.from_numpy(np.asarray(ids[rows]).astype(np.int64))
                out["dna_mask"] = torch.from_numpy(np.asarray(mask[rows]).astype(np.int64))
            elif tok is not None:
                ids, mask = tok.encode_batch(codes, lengths)
                out["dna"], out["dna_mask"] = ids, mask
            else:
                out["dna"] = torch.from_numpy(np.ascontiguousarray(codes))
                out["dna_length"] = torch.from_numpy(lengths)
        elif m.endswith("_index") and m[: -len("_index")] in st.schema.ranks:
            out[m] = torch.from_numpy(ds.label_codes(m[: -len("_index")], rows))
        else:
            kind = st.column_kind(m) if m in st.columns else None
            if kind is fmt.Kind.FLOAT:
                out[m] = torch.from_numpy(np.asarray(st.array(fmt.column_path(m, "values"))[rows]))
            else:
                out[m] = [ds._value(st, m, int(r)) for r in rows]
    targets = []
    for t_name in ds.target_type:
        codes = torch.from_numpy(ds.label_codes(t_name, rows))
        out[t_name] = codes
        targets.append(codes)
    if targets:
        out["target"] = targets[0] if len(targets) == 1 else torch.stack(targets, dim=1)
    return out


class BatchView(torch.utils.data.Dataset):
    """A view of a dataset whose items are whole batches: ``view[list_of_indices] -> dict``."""

    def __init__(self, dataset: StoreDataset, batch_transform: Callable | None = None) -> None:
        self.dataset = dataset
        self.batch_transform = batch_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices):
        batch = gather_batch(self.dataset, indices)
        if self.batch_transform is not None:
            batch = self.batch_transform(batch)
        return batch


def batch_loader(
    dataset: StoreDataset,
    batch_size: int = 256,
    *,
    shuffle: bool = False,
    drop_last: bool = False,
    sampler: Sampler | None = None,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    batch_transform: Callable | None = None,
    **loader_kwargs,
) -> DataLoader:
    """A :class:`~torch.utils.data.DataLoader` yielding collated batch dicts (see :func:`gather_batch`).

    Parameters
    ----------
    dataset : BIOSCAN5M or BIOSCAN1M
    batch_size : int
    shuffle : bool
        Random order each epoch (ignored when ``sampler`` is given).
    drop_last : bool
    sampler : Sampler, optional
        A per-sample sampler, e.g. :class:`~torch.utils.data.DistributedSampler`.
    generator : torch.Generator, optional
        For the shuffle.
    num_workers : int
    batch_transform : callable, optional
        Applied to each batch dict in the worker.
    **loader_kwargs
        Passed to ``DataLoader`` (``pin_memory``, ``persistent_workers``,
        ``multiprocessing_context``, ``prefetch_factor``, ...).
    """
    if sampler is None:
        sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    batches = BatchSampler(sampler, batch_size, drop_last)
    return DataLoader(
        BatchView(dataset, batch_transform),
        sampler=batches,
        batch_size=None,
        num_workers=num_workers,
        **loader_kwargs,
    )
