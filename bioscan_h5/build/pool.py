"""Parallel image decoding for the builder: batches of rows to spawned workers, results in order.

Uncompressed stores: workers ``pwrite`` pixels into the block; compressed: a shared-memory ring.
Workers import only :mod:`bioscan_h5._decode_worker`, never the user's ``__main__``.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

import numpy as np

from .._decode_worker import decode_into_slot, init_reader, init_worker, read_batch
from .._spawn import worker_context
from ..checksums import pixels_crc
from ..format import ImageStatus
from ..images import decode_image

__all__ = ["decode_batches", "read_batches"]

Row = tuple[int, int, np.ndarray | None, tuple[int, int], str, int | None]


def decode_batches(
    jobs: Sequence[tuple[int, str]],
    size: int,
    fit: str,
    draft: bool,
    image_dir: str,
    workers: int,
    batch: int = 32,
    direct: tuple[str, int] | None = None,
) -> Iterator[Row]:
    """Decode ``(row, path)`` jobs, yielding ``(row, status, pixels, (w, h), detail, crc)`` in order.

    ``crc`` is the pixels' CRC-32 (None for a bad image). ``pixels`` is valid until the next item
    (a view of a reused buffer). With ``direct=(store_path, pixel_offset)`` and several workers,
    the workers write the pixels into the file themselves and ``pixels`` is None.
    """
    real_dir = os.path.realpath(image_dir)
    if workers <= 1 or len(jobs) <= batch:
        for row, path in jobs:
            status, pixels, src, detail = decode_image(path, size, fit, draft, real_dir)
            yield row, int(status), pixels, src, detail, None if pixels is None else pixels_crc(pixels)
        return
    n_slots = 2 * workers + 1
    ring_batch = 1 if direct is not None else batch  # direct mode needs no pixel ring
    shm = shared_memory.SharedMemory(create=True, size=n_slots * ring_batch * size * size * 3)
    ring = np.ndarray((n_slots, ring_batch, size, size, 3), dtype=np.uint8, buffer=shm.buf)
    try:
        yield from _run_pool(
            jobs, ring, shm.name, n_slots, batch, ring_batch, size, fit, draft, real_dir, workers, direct
        )
    finally:
        del ring
        shm.close()
        shm.unlink()


def _submit(pool: ProcessPoolExecutor, *args):
    """``pool.submit(*args)`` with SIGINT blocked, so that a worker started by it inherits the mask.

    A Ctrl-C while a worker still imports (before its initializer ignores SIGINT) waits in the builder.
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(*args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _run_pool(
    jobs, ring, shm_name, n_slots, batch, ring_batch, size, fit, draft, real_dir, workers, direct
) -> Iterator[Row]:
    with ProcessPoolExecutor(
        workers,
        mp_context=worker_context(),
        initializer=init_worker,
        initargs=(shm_name, n_slots, ring_batch, size, os.getpid(), direct),
    ) as pool:
        free = deque(range(n_slots))
        inflight: deque = deque()
        batches = iter([jobs[i : i + batch] for i in range(0, len(jobs), batch)])
        try:
            while True:
                while free and len(inflight) < n_slots - 1:
                    nxt = next(batches, None)
                    if nxt is None:
                        break
                    slot = free.popleft()
                    inflight.append(_submit(pool, decode_into_slot, slot, nxt, size, fit, draft, real_dir))
                if not inflight:
                    break
                slot, results = inflight.popleft().result()
                for j, (row, status, src, detail, crc) in enumerate(results):
                    pixels = ring[slot, j] if status == ImageStatus.OK and direct is None else None
                    yield row, status, pixels, src, detail, crc
                free.append(slot)
        except BaseException:
            for fut in inflight:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def read_batches(
    jobs: Sequence[tuple[int, str]], reader: Callable, workers: int, batch: int = 32
) -> Iterator[tuple]:
    """``(row, *reader(path))`` for each ``(row, path)`` job, in order, read by ``workers`` processes.

    ``reader`` must pickle and live in a module as light as :mod:`bioscan_h5._decode_worker`
    (:mod:`bioscan_h5.images`, for one); its results travel back through the pool's pipe.
    """
    if workers <= 1 or len(jobs) <= batch:
        yield from read_batch(reader, jobs)
        return
    chunks = iter([jobs[i : i + batch] for i in range(0, len(jobs), batch)])
    with ProcessPoolExecutor(
        workers, mp_context=worker_context(), initializer=init_reader, initargs=(os.getpid(),)
    ) as pool:
        inflight: deque = deque()
        try:
            while True:
                while len(inflight) < 2 * workers:
                    nxt = next(chunks, None)
                    if nxt is None:
                        break
                    inflight.append(_submit(pool, read_batch, reader, nxt))
                if not inflight:
                    break
                yield from inflight.popleft().result()
        except BaseException:
            for fut in inflight:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
