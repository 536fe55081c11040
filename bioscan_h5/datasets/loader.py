"""Whole collated batches, gathered by threads of the consuming process into reused buffers.

``DataLoader(ds, batch_size=256)`` builds 256 samples (PIL images, strings, ints), collates
them, and with workers sends every batch through a pipe. :func:`batch_loader` instead gathers
each batch straight from the store into one tensor per field, with positional reads, in
threads of the process that consumes the batches: nothing is pickled or copied between
processes::

    loader = batch_loader(BIOSCAN5M(root, split="train"), batch_size=256, shuffle=True, num_workers=2)
    for batch in loader:
        batch["image"]    # uint8 (B, 3, S, S), channels-last memory
        batch["dna"]      # uint8 (B, W) ASCII codes, or int64 (B, T) tokens with a Tokenizer dna_transform
        batch["target"]   # int64 (B,) or (B, n_targets)

Batches live in a ring of reused buffers (:mod:`.ring`): a yielded batch stays intact until
the consumer takes :data:`~.ring.LIFETIME` (2) more batches; pass ``copy=True`` to own each
batch. Per-sample ``transform``/``target_transform`` are not applied (they work on single
samples); pass ``batch_transform`` to act on the batch dict.

Why threads and not processes: ``num_workers=N`` could also mean N forked processes that
read into shared-memory slots allocated once and send back only slot numbers. Both were
measured with ``bench/engine_probe.py`` (8,192 random rows per epoch, a fresh process per
side, batch 256, cache warm, sides interleaved, medians of 7 rounds, on the 2-core
development VM while other jobs ran). In the first epoch, which starts the workers and makes
the buffers, threads gathered 1.53x (N=1) and 1.88x (N=2) as many samples per second as
processes; in the second epoch of the same loader 1.12x and 1.17x. The threads are also at
the floor: 1.00x (N=0), 0.99x (N=1) of a one-thread ``os.preadv`` loop and 0.92x (N=2) of
two such loops. So ``num_workers`` means threads.
"""

from __future__ import annotations

import itertools
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.utils.data import BatchSampler, RandomSampler, Sampler, SequentialSampler

from ..errors import InvalidArgumentError
from .base import StoreDataset
from .decode import GpuJpegDecoder, check_gpu_decode
from .indices import as_indices
from .ring import LIFETIME, Ring, Slot, ring_size

__all__ = ["BatchLoader", "BatchView", "batch_loader", "gather_batch"]

#: Batches with the ring slot each was gathered into (None: not into a ring).
_Batches = Generator[tuple[dict, Slot | None], None, None]


def gather_batch(ds: StoreDataset, indices) -> dict[str, object]:
    """Collate the samples ``indices`` of ``ds`` into one dict of new tensors.

    Keys: ``"index"`` (int64 dataset indices), ``"image"`` (uint8 ``(B, 3, S, S)``,
    channels-last) when the dataset has the image modality, ``"dna"`` and ``"dna_length"``
    (uint8 codes and int64 lengths, ``-1`` = missing) or ``"dna"`` and ``"dna_mask"`` (int64
    tokens and attention mask) when ``dna_transform`` is a
    :class:`~bioscan_h5.tokenizers.Tokenizer`, one int64 tensor per target rank,
    ``"target"``, and each other modality (numeric columns as tensors, text columns as lists).
    """
    idx = as_indices(indices, len(ds))
    return {"index": torch.from_numpy(idx), **ds.reader.batch(ds.rows[idx])}


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
    copy: bool = False,
    device: str | torch.device | None = None,
    decode: str | torch.device | None = None,
    prefetch_factor: int | None = None,
    pin_memory: bool = False,
    timeout: float = 0,
    worker_init_fn: Callable[[int], None] | None = None,
    persistent_workers: bool = False,
    multiprocessing_context=None,
    pin_memory_device: str = "",
    in_order: bool = True,
) -> BatchLoader:
    """An iterable of collated batch dicts (see :func:`gather_batch`), gathered by threads.

    Parameters
    ----------
    dataset : BIOSCAN5M or BIOSCAN1M
    batch_size : int
    shuffle : bool
        Random order each epoch (ignored when ``sampler`` is given): for the same ``generator``
        seed, the order of a ``DataLoader`` over ``BatchSampler(RandomSampler(dataset, generator))``.
    drop_last : bool
    sampler : Sampler, optional
        A per-sample sampler, e.g. :class:`~torch.utils.data.DistributedSampler` (``set_epoch`` as usual).
    generator : torch.Generator, optional
        Used as ``DataLoader(generator=...)`` uses it: one draw per epoch, then the shuffle's
        permutation, so both give the same order for the same generator state.
    num_workers : int
        Threads that gather batches in this process (the reads release the GIL); 0 gathers
        each batch in the consuming thread when it is asked for.
    batch_transform : callable, optional
        Applied to each batch dict: in the gathering thread, or, with ``device``, to the
        batch on the device in the consuming thread.
    copy : bool
        Each batch in buffers of its own, kept as long as the consumer likes. By default
        batches live in a ring of reused buffers: a yielded batch stays intact until the
        consumer takes ``LIFETIME`` (2) more batches; then its buffers are refilled (keep a
        batch longer with ``copy=True`` or ``.clone()``). Batches on a ``device`` are always
        the consumer's own.
    device : str or torch.device, optional
        ``"cuda"`` (or ``"cuda:1"``, a ``torch.device``): batches are gathered into
        page-locked buffers and copied to the GPU without blocking, on a side stream, one
        batch in flight ahead of the one yielded. ``None`` or ``"cpu"``: CPU tensors.
    decode : {"cpu", "cuda"}, optional
        JPEG stores: decode in the gathering threads, or on the GPU (:mod:`~bioscan_h5.datasets.decode`).
    prefetch_factor : int, optional
        Batches in flight per thread. By default ``num_workers + 1`` batches are in flight in
        all (each thread starts its next batch while you use the last one); every batch in
        flight is a buffer of the ring. With ``num_workers=0`` nothing is gathered ahead.
    pin_memory : bool
        Page-locked ring buffers (for your own ``.to("cuda", non_blocking=True)``, finished within the
        batch's lifetime). Implied by ``device="cuda"``; ignored with a warning without CUDA.
    timeout : float
        Seconds to wait for a gathered batch (0: no limit); then ``RuntimeError``.
    worker_init_fn : callable, optional
        Called once in each gathering thread with its number (0, 1, ...).
    persistent_workers, multiprocessing_context, pin_memory_device, in_order
        Accepted as the DataLoader it used to return took them; they change nothing (threads
        start each epoch, buffers are kept across epochs, batches always come in order).

    Returns
    -------
    BatchLoader

    Raises
    ------
    InvalidArgumentError
        ``num_workers``, ``prefetch_factor``, ``device`` or ``decode`` is not valid
        (``device="cuda"`` where CUDA is not available, for one).
    """
    options = {k: v for k, v in locals().items() if k in _LOADER_OPTIONS}  # the others: see above
    batches = _batch_sampler(dataset, batch_size, shuffle, drop_last, sampler, generator)
    return BatchLoader(dataset, batches, generator=generator, **options)


def _batch_sampler(dataset, batch_size, shuffle, drop_last, sampler, generator) -> BatchSampler:
    if sampler is None:
        sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    return BatchSampler(sampler, batch_size, drop_last)


#: The keyword arguments of :class:`BatchLoader` that :func:`batch_loader` passes on.
_LOADER_OPTIONS = frozenset(
    (
        "num_workers",
        "batch_transform",
        "copy",
        "device",
        "decode",
        "prefetch_factor",
        "pin_memory",
        "timeout",
        "worker_init_fn",
    )
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


class BatchLoader:
    """Iterable of collated batch dicts: what :func:`batch_loader` returns (see there).

    Attributes
    ----------
    dataset, batch_sampler, num_workers, device
    ring_size : int
        Reused batch buffers (0 with ``copy=True`` on the CPU). A kept batch is overwritten at
        the latest when the consumer takes its ``ring_size``-th successor.
    """

    lifetime = LIFETIME

    def __init__(
        self,
        dataset: StoreDataset,
        batch_sampler: BatchSampler,
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
        self.batch_sampler = batch_sampler
        self.sampler = batch_sampler.sampler
        self.batch_size = batch_sampler.batch_size
        self.drop_last = batch_sampler.drop_last
        self.num_workers = num_workers
        self.batch_transform = batch_transform
        self.device = _check_device(device)
        self.decode_device = check_gpu_decode(dataset, decode)
        if self.decode_device is not None:  # the batches are decoded, and stay, on that GPU
            self.device = self.device or self.decode_device
            self._gpu = GpuJpegDecoder(dataset.store.jpeg, self.decode_device)
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

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __repr__(self) -> str:
        return (
            f"<BatchLoader {type(self.dataset).__name__} batch_size={self.batch_size}"
            f" num_workers={self.num_workers} ring_size={self.ring_size} device={self.device}>"
        )

    def __iter__(self) -> Iterator[dict]:
        # One draw per epoch from the loader's generator (torch's global one without it), as a
        # DataLoader's iterator makes for its base seed before its sampler draws: the sampler
        # then draws what it draws under a DataLoader given the same generator.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        self.dataset.reader  # noqa: B018 - made here, before any thread needs it
        batches = self._batches()
        return self._on_host(batches) if self.device is None else self._on_device(batches)

    # ------------------------------------------------------------ gathering
    def _gather(self, slot: Slot | None, indices) -> dict:
        """One batch, into ``slot`` (or new buffers); runs in a gathering thread."""
        idx = as_indices(indices, len(self.dataset))  # whatever the sampler gave
        ds = self.dataset
        rows = ds.rows[idx]
        if slot is None:
            batch = {
                "index": torch.from_numpy(idx),
                **ds.reader.batch(rows, encoded=self.decode_device is not None, nogil=True),
            }
            if self.pin_memory:
                batch = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        else:
            slot.wait()  # the GPU copy of the slot's last batch has finished
            image = None
            if ds.reader.pixels is not None:
                image = slot.buffer("image", (len(idx), *ds.reader.pixels.row_shape), torch.uint8).numpy()
            encoded = self.decode_device is not None
            if encoded:
                image = None
            batch = slot.adopt(
                {
                    "index": torch.from_numpy(idx),
                    **ds.reader.batch(rows, image_out=image, encoded=encoded, nogil=True),
                }
            )
        if self.batch_transform is not None and self.device is None:
            batch = self.batch_transform(batch)
        return batch

    def _take_ring(self) -> Ring | None:
        if not self.ring_size:
            return None
        capacity = min(self.batch_size, len(self.dataset))  # a batch is never larger (a slot grows if it is)
        return self._free.pop() if self._free else Ring(self.ring_size, capacity, self.pin_memory)

    def _batches(self) -> _Batches:
        """(batch, slot) pairs of one epoch, in order; the ring's numbering goes on across epochs."""
        ring = self._take_ring()
        start = ring.next if ring is not None else 0
        taken = 0
        indices = iter(self.batch_sampler)
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

    @staticmethod
    def _on_host(batches: _Batches) -> Iterator[dict]:
        try:
            for batch, _ in batches:
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
                    moved["image"] = (batch["image"], self.dataset.rows[batch["index"].numpy()])
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
