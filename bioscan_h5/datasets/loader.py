""":func:`batch_loader`: whole collated batches gathered by threads of the consuming process.

Pixels go into a ring of buffers reused only once no batch made from them is referenced (:mod:`.ring`).
"""

from __future__ import annotations

import itertools
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch.utils.data import BatchSampler, ConcatDataset, RandomSampler, Sampler, SequentialSampler, Subset

from ..errors import InvalidArgumentError, KeptBatchWarning
from ..pixels.gpu_jpeg import check_gpu_decode
from .base import StoreDataset
from .indices import as_indices
from .loader_state import LoaderCursor
from .ring import LIFETIME, Ring, Slot, ring_size

__all__ = ["BatchLoader", "batch_loader", "gather_batch", "resolve_dataset"]

#: Batches with the ring slot each was gathered into (None: not into a ring).
_Batches = Generator[tuple[dict, Slot | None], None, None]


def gather_batch(dataset, indices) -> dict[str, object]:
    """Collate the samples ``indices`` of ``dataset`` into one dict of new tensors.

    ``dataset`` is one of our datasets, or a ``Subset`` / ``ConcatDataset`` / ``random_split``
    part of them. Keys: ``"index"`` (int64); ``"image"`` (uint8 ``(B, 3, S, S)``, channels-last;
    with a ``transform``, its results collated as ``DataLoader`` does); ``"dna"`` and
    ``"dna_length"`` (uint8 codes, int64 lengths, ``-1`` = missing), or ``"dna"`` and
    ``"dna_mask"`` (int64 tokens and mask) when ``dna_transform`` is a
    :class:`~bioscan_h5.tokenizers.Tokenizer` or its ``encode`` (any other: its results
    collated); per target rank ``"<rank>"`` (label names) and ``"<rank>_index"`` (int64);
    ``"target"`` (int64 ``(B,)`` or ``(B, n_targets)``, names with ``target_format="text"``,
    ``target_transform``'s results collated); other modalities (numbers as tensors, text as lists).
    """
    base, rows = resolve_dataset(dataset)
    idx = as_indices(indices, len(rows))
    return {"index": torch.from_numpy(idx), **base.reader.batch(rows[idx])}


def resolve_dataset(dataset) -> tuple[StoreDataset, np.ndarray]:
    """Our dataset behind ``dataset`` (or a ``Subset`` / ``ConcatDataset``), and each index's store row.

    :class:`InvalidArgumentError` for another dataset, or ``ConcatDataset`` parts that serve
    different samples (another store or options).
    """
    if isinstance(dataset, StoreDataset):
        return dataset, dataset.rows
    if isinstance(dataset, Subset):
        base, rows = resolve_dataset(dataset.dataset)
        return base, rows[as_indices(dataset.indices, len(rows))]
    if isinstance(dataset, ConcatDataset):
        parts = [resolve_dataset(d) for d in dataset.datasets]
        base = parts[0][0]
        for other, _ in parts[1:]:
            if not _same_samples(base, other):
                raise InvalidArgumentError(
                    "batch_loader reads a ConcatDataset only where every part serves the same samples (one"
                    f" store and equal options); got {base!r} and {other!r}. Read their union as one dataset"
                    " (split='train+val', for one), or give each part a batch_loader of its own."
                )
        return base, np.concatenate([rows for _, rows in parts])
    raise InvalidArgumentError(
        f"batch_loader reads BIOSCAN5M, BIOSCAN1M and CanadianInvertebrates datasets, and Subset,"
        f" random_split and ConcatDataset parts of them; got {type(dataset).__name__}. Wrap other datasets"
        " in torch.utils.data.DataLoader."
    )


def _same_samples(a: StoreDataset, b: StoreDataset) -> bool:
    """Whether two datasets turn a store row into the same sample."""
    if type(a) is not type(b) or a.store_path != b.store_path or a.options != b.options:
        return False
    ra, rb = a.label_space.remap, b.label_space.remap
    return ra.keys() == rb.keys() and all(np.array_equal(ra[k], rb[k]) for k in ra)


def batch_loader(
    dataset: StoreDataset | Subset | ConcatDataset,
    batch_size: int = 256,
    *,
    shuffle: bool = False,
    drop_last: bool = False,
    sampler: Sampler | None = None,
    batch_sampler: Sampler | None = None,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    batch_transform: Callable | None = None,
    copy: bool = False,
    device: str | torch.device | None = None,
    decode: str | torch.device | None = None,
    prefetch_factor: int | None = None,
    pin_memory: bool = False,
    timeout: float = 0,
    worker_init_fn: Callable[[int], None] | None = None,
) -> BatchLoader:
    """An iterable of collated batch dicts (see :func:`gather_batch`: every per-sample option honoured).

    Parameters
    ----------
    dataset : BIOSCAN5M, BIOSCAN1M, CanadianInvertebrates, or a Subset / ConcatDataset of them
    shuffle, drop_last : bool
        Random order each epoch (ignored with ``sampler``); drop the last batch if it is smaller.
    sampler : Sampler, optional
        A per-sample sampler, e.g. :class:`~torch.utils.data.DistributedSampler`.
    batch_sampler : Sampler of index lists, optional
        Each batch's indices (which set the batch size); excludes ``shuffle``, ``sampler``, ``drop_last``.
    generator : torch.Generator, optional
        The same generator state gives ``DataLoader``'s order.
    num_workers : int
        Threads that gather batches; 0 gathers each batch when it is asked for.
    batch_transform : callable, optional
        Applied to each batch dict: in the gathering thread, or, with ``device``, on the device.
    copy : bool
        New buffers for every batch. By default pixels live in a ring of reused buffers: a batch
        you keep stays intact, with a :class:`~bioscan_h5.errors.KeptBatchWarning` once.
    device : str or torch.device, optional
        ``"cuda"`` (``"cuda:1"``, ...): batches copied to the GPU on a side stream, one ahead.
    decode : {"cpu", "cuda"}, optional
        JPEG stores: decode in the gathering threads, or on the GPU.
    prefetch_factor : int, optional
        Batches in flight per thread (default: ``num_workers + 1`` in all, none with no workers).
    pin_memory : bool
        Page-locked buffers; implied by ``device="cuda"``, ignored with a warning without CUDA.
    timeout : float
        Seconds to wait for a gathered batch (0: no limit); then ``RuntimeError``.
    worker_init_fn : callable, optional
        Called once in each gathering thread with its number.

    Raises
    ------
    InvalidArgumentError
        An argument is not valid (``device="cuda"`` without CUDA, a dataset not of ours, ...).
    """
    if batch_sampler is None:
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        batch_sampler = BatchSampler(sampler, batch_size, drop_last)
    elif shuffle or sampler is not None or drop_last:
        raise InvalidArgumentError(
            "batch_sampler= gives each batch's indices: pass it without shuffle, sampler or drop_last"
            f" (got shuffle={shuffle!r}, sampler={sampler!r}, drop_last={drop_last!r}), as with DataLoader."
        )
    return BatchLoader(
        dataset,
        batch_sampler,
        num_workers=num_workers,
        batch_transform=batch_transform,
        copy=copy,
        device=device,
        decode=decode,
        prefetch_factor=prefetch_factor,
        pin_memory=pin_memory,
        timeout=timeout,
        worker_init_fn=worker_init_fn,
        generator=generator,
    )


def _check_device(device) -> torch.device | None:
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidArgumentError(
            f"Unknown device: {device!r}. Valid values are None, 'cpu', 'cuda' or 'cuda:N' (or a torch.device)."
        ) from None
    if dev.type == "cpu":
        return None
    if dev.type != "cuda":
        raise InvalidArgumentError(
            f"device={device!r} is not supported: pass None, 'cpu', 'cuda' or 'cuda:N'."
        )
    if not torch.cuda.is_available():
        raise InvalidArgumentError(
            f"device={device!r} asks for CUDA, but torch.cuda.is_available() is False here (torch"
            f" {torch.__version__}). Pass device=None for CPU batches, or install a CUDA build of torch."
        )
    return dev


def _pinned(batch: dict) -> dict:
    return {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


class BatchLoader:
    """Iterable of collated batch dicts: what :func:`batch_loader` returns (see there).

    ``ring_size`` is the number of reused pixel buffers (0 with ``copy=True`` on the CPU).
    """

    lifetime = LIFETIME

    def __init__(
        self,
        dataset: StoreDataset | Subset | ConcatDataset,
        batch_sampler: BatchSampler | Sampler,
        *,
        num_workers: int = 0,
        batch_transform: Callable | None = None,
        copy: bool = False,
        device=None,
        decode=None,
        prefetch_factor: int | None = None,
        pin_memory: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
            raise InvalidArgumentError(f"num_workers must be an integer >= 0, got {num_workers!r}.")
        pf = prefetch_factor
        if pf is not None and (not isinstance(pf, int) or isinstance(pf, bool) or pf < 1):
            raise InvalidArgumentError(f"prefetch_factor must be an integer >= 1 or None, got {pf!r}.")
        self.dataset = dataset
        self._base, self._rows = resolve_dataset(dataset)
        self.batch_sampler = batch_sampler
        self.sampler = getattr(batch_sampler, "sampler", batch_sampler)
        self.batch_size = getattr(batch_sampler, "batch_size", None)
        self.drop_last = getattr(batch_sampler, "drop_last", False)
        self.num_workers = num_workers
        self.batch_transform = batch_transform
        self.device = _check_device(device)
        if decode is not None and str(decode) != "cpu" and self._base.options.transform is not None:
            raise InvalidArgumentError(
                f"decode={decode!r} decodes the images on the GPU, where the dataset's per-sample"
                f" transform={self._base.options.transform!r} cannot run. Pass the augmentation as"
                " batch_transform= (it receives the decoded batch on the GPU), or decode='cpu'."
            )
        self.decode_device = check_gpu_decode(self._base, decode)
        if self.decode_device is not None:  # the batches are decoded, and stay, on that GPU
            self.device = self.device or self.decode_device
            self._gpu = self._base.store.codec.gpu_decoder(self._base.store, self.decode_device)
        if pin_memory and self.device is None and not torch.cuda.is_available():
            warnings.warn("pin_memory=True is ignored: CUDA is not available here.", stacklevel=3)
            pin_memory = False
        self.pin_memory = pin_memory or self.device is not None
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.generator = generator
        # batches in flight: by default one more than the threads gather at once, so that a
        # thread starts its next batch while the consumer uses the one it just finished
        self.ahead = 1 if not num_workers else num_workers + 1 if pf is None else num_workers * pf
        self.copy = copy and self.device is None
        self.ring_size = 0 if self.copy else ring_size(self.ahead)
        self._free: list[Ring] = []
        self._kept: list[str] = []  # buffers a kept batch held, found by a gathering thread
        self._warned = False
        self._cursor = LoaderCursor(self)  # where the consumer is in the epoch (loader_state)

    def state_dict(self) -> dict:
        """Where the consumer is: load it into a new loader to go on from the next batch.

        As torchdata's ``StatefulDataLoader.state_dict``: a loader that loads the state taken
        after batch k of an epoch (in a new process, with any ``num_workers``) yields the
        batches after k, then the later epochs. Batches gathered ahead do not count. A plain
        dict of ints, strings, bools and uint8 tensors (the generators the epoch's order was
        drawn from): ``torch.save`` it, read it with ``torch.load(..., weights_only=True)``.

        Raises
        ------
        InvalidArgumentError
            The sampler is not one whose order the state can record (README, "Preemptible jobs").
        """
        return self._cursor.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Go on from ``state`` (from :meth:`state_dict`) at the next ``iter(loader)``.

        Raises
        ------
        InvalidArgumentError
            The state is from a loader with another dataset length, sampler, generator,
            ``batch_size`` or ``drop_last``, or a DistributedSampler with another number of ranks.
        """
        self._cursor.load_state_dict(state)

    def __len__(self) -> int:
        return len(self.batch_sampler)  # type: ignore[arg-type]  # a batch sampler without len: TypeError, as DataLoader's

    def __repr__(self) -> str:
        return (
            f"<BatchLoader {type(self.dataset).__name__} batch_size={self.batch_size}"
            f" num_workers={self.num_workers} ring_size={self.ring_size} device={self.device}>"
        )

    def __iter__(self) -> Iterator[dict]:
        self._cursor.begin()
        # One draw per epoch from the loader's generator (torch's global one without it), as a
        # DataLoader's iterator makes for its base seed before its sampler draws: the sampler
        # then draws what it draws under a DataLoader given the same generator.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        self._base.reader  # noqa: B018 - made here, before any thread needs it
        batches = self._batches()
        return self._cursor.track(self._on_host(batches) if self.device is None else self._on_device(batches))

    # ------------------------------------------------------------ gathering
    def _gather(self, slot: Slot | None, indices) -> dict:
        """One batch, into ``slot`` (or new buffers); runs in a gathering thread."""
        idx = as_indices(indices, len(self._rows))  # whatever the sampler gave
        reader = self._base.reader
        rows = self._rows[idx]
        encoded = self.decode_device is not None
        image = None
        if slot is not None:
            slot.wait()  # the GPU copy of the slot's last batch has finished
            kept = slot.release_kept()
            if kept:
                self._kept = kept  # warned about by the consuming thread
            if reader.pixels is not None and not encoded and self._base.options.transform is None:
                image = slot.buffer("image", (len(idx), *reader.pixels.row_shape), torch.uint8).numpy()
        batch = {
            "index": torch.from_numpy(idx),
            **reader.batch(rows, image_out=image, encoded=encoded, nogil=True),
        }
        if self.pin_memory:
            batch = slot.adopt(batch) if slot is not None else _pinned(batch)
        if self.batch_transform is not None and self.device is None:
            batch = self.batch_transform(batch)
        return batch

    def _warn_if_kept(self) -> None:
        """Say once that batches are being kept (found by :meth:`Slot.release_kept`); in the consumer's thread."""
        if not self._kept or self._warned:
            return
        self._warned = True
        warnings.warn(
            f"batch_loader: a batch you kept still references the loader's {' and '.join(map(repr, self._kept))}"
            " buffer (the tensor, or a view, .numpy() or .detach() of it). It stays intact: the loader made a"
            " new buffer instead, and does so for every batch kept this way. Pass copy=True to give every"
            " batch its own buffers without this warning, or keep .clone()s of what you need.",
            KeptBatchWarning,
            stacklevel=4,  # the consumer's frame: above _on_host and the cursor's count
        )

    def _take_ring(self) -> Ring | None:
        if not self.ring_size:
            return None
        # a batch is never larger than the dataset (a slot grows if a batch sampler's is)
        capacity = min(self.batch_size or 1, len(self._rows))
        return self._free.pop() if self._free else Ring(self.ring_size, capacity, self.pin_memory)

    def _batches(self) -> _Batches:
        """(batch, slot) pairs of one epoch, in order; the ring's numbering goes on across epochs."""
        ring = self._take_ring()
        start = ring.next if ring is not None else 0
        taken = 0
        indices = self._cursor.indices()
        source = (
            self._serial(indices, ring, start)
            if self.num_workers == 0
            else self._threaded(indices, ring, start)
        )
        try:
            for pair in source:
                taken += 1
                yield pair
        finally:
            source.close()  # joins the gathering threads before the ring is handed back
            if ring is not None and not self._free:  # one ring kept for the next epoch
                ring.next = start + taken  # prefetched, never yielded batches' slots are free
                self._free.append(ring)

    def _serial(self, indices, ring: Ring | None, start: int) -> _Batches:
        for n, idx in enumerate(indices):
            slot = ring.slot(start + n) if ring is not None else None
            yield self._gather(slot, idx), slot

    def _threaded(self, indices, ring: Ring | None, start: int) -> _Batches:
        counter = itertools.count()
        init = self.worker_init_fn
        pool = ThreadPoolExecutor(
            self.num_workers,
            thread_name_prefix="bioscan-h5-gather",
            initializer=None if init is None else lambda: init(next(counter)),
        )
        futures: deque = deque()
        submitted = 0

        def submit_through(limit: int) -> None:
            nonlocal submitted
            while submitted < limit:
                idx = next(indices, None)
                if idx is None:
                    return
                slot = ring.slot(start + submitted) if ring is not None else None
                futures.append((pool.submit(self._gather, slot, idx), slot))
                submitted += 1

        try:
            submit_through(self.ahead)
            taken = 0
            while futures:
                future, slot = futures.popleft()
                try:
                    batch = future.result(timeout=self.timeout or None)
                except TimeoutError:
                    raise RuntimeError(f"batch_loader timed out after {self.timeout} seconds") from None
                taken += 1
                yield batch, slot
                submit_through(taken + self.ahead)  # the consumer asked for the next batch
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _on_host(self, batches: _Batches) -> Iterator[dict]:
        try:
            for batch, _ in batches:
                self._warn_if_kept()
                yield batch
        finally:
            batches.close()

    # ------------------------------------------------------------ to the GPU
    def _on_device(self, batches: _Batches) -> Iterator[dict]:
        """Copy each batch to the device on a side stream; yield it once the next one is on its way."""
        dev = self.device
        stream = torch.cuda.Stream(device=dev)
        held = None
        try:
            for batch, slot in batches:
                with torch.cuda.stream(stream):
                    moved = {
                        k: v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v
                        for k, v in batch.items()
                    }
                if self.decode_device is not None:  # decoded in _arrived, on the consumer's stream
                    moved["image"] = (batch["image"], self._rows[batch["index"].numpy()])
                copied = torch.cuda.Event()
                copied.record(stream)
                if slot is not None:
                    slot.event = copied  # the slot is refilled only after this copy
                if held is not None:
                    yield self._arrived(*held)
                held = (moved, copied)
            if held is not None:
                yield self._arrived(*held)
        finally:
            batches.close()

    def _arrived(self, batch: dict, copied) -> dict:
        """``batch`` for use on the current stream, which waits for its copy (and only for it)."""
        current = torch.cuda.current_stream(self.device)
        current.wait_event(copied)
        if self.decode_device is not None:
            batch["image"] = self._gpu(*batch["image"])
        for v in batch.values():
            if isinstance(v, torch.Tensor):
                v.record_stream(current)  # the allocator must not reuse it before `current` is done
        return batch if self.batch_transform is None else self.batch_transform(batch)
