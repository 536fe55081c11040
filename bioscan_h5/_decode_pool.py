"""Parallel image decoding for the builder: worker processes write pixels into shared memory.

With one worker everything runs in the calling process (no pickling, no copies). With more,
each task is a batch of rows; a worker decodes it into a slot of one shared-memory ring and
returns only the small per-row results, so pixels cross process boundaries without pickling.
Results come back in submission order.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import shared_memory

import numpy as np

from .format import ImageStatus
from .images import decode_image

__all__ = ["decode_batches"]

Row = tuple[int, int, np.ndarray | None, tuple[int, int], str]

_worker_state: dict = {}


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """Exit when the builder dies without shutting the pool down (``kill -9``, OOM killer).

    An idle worker blocks reading its task pipe, which every worker also holds open, so it
    would never see end-of-file and would wait forever (keeping the shared memory alive).
    """
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(shm_name: str, n_slots: int, batch: int, size: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and shuts us down
    # The parent's pid comes from the parent: it may already be gone when this runs.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    shm = shared_memory.SharedMemory(name=shm_name)
    _worker_state["shm"] = shm
    _worker_state["ring"] = np.ndarray((n_slots, batch, size, size, 3), dtype=np.uint8, buffer=shm.buf)


def _decode_into_slot(slot: int, jobs: Sequence[tuple[int, str]], size, fit, draft, image_dir):
    ring = _worker_state["ring"]
    out = []
    for j, (row, path) in enumerate(jobs):
        status, pixels, src, detail = decode_image(path, size, fit, draft, image_dir)
        if pixels is not None:
            ring[slot, j] = pixels
        out.append((row, int(status), src, detail))
    return slot, out


def decode_batches(
    jobs: Sequence[tuple[int, str]],
    size: int,
    fit: str,
    draft: bool,
    image_dir: str,
    workers: int,
    batch: int = 32,
) -> Iterator[Row]:
    """Decode ``(row, path)`` jobs, yielding ``(row, status, pixels, (w, h), detail)`` in order.

    ``pixels`` is only valid until the next item is requested (it may be a view of a reused
    buffer); copy it to keep it.
    """
    import os

    real_dir = os.path.realpath(image_dir)
    if workers <= 1 or len(jobs) <= batch:
        for row, path in jobs:
            status, pixels, src, detail = decode_image(path, size, fit, draft, real_dir)
            yield row, int(status), pixels, src, detail
        return
    n_slots = 2 * workers + 1
    shm = shared_memory.SharedMemory(create=True, size=n_slots * batch * size * size * 3)
    ring = np.ndarray((n_slots, batch, size, size, 3), dtype=np.uint8, buffer=shm.buf)
    try:
        yield from _run_pool(jobs, ring, shm.name, n_slots, batch, size, fit, draft, real_dir, workers)
    finally:
        del ring
        shm.close()
        shm.unlink()


def _submit(pool: ProcessPoolExecutor, *args):
    """``pool.submit(*args)`` with SIGINT blocked: a worker started by this call inherits the mask.

    Workers ignore SIGINT once their initializer has run, but a Ctrl-C (sent to the whole
    process group) while one is still importing would print a KeyboardInterrupt traceback from
    it. Blocked, the signal waits in the builder until this returns, and never reaches a worker.
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(*args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _run_pool(jobs, ring, shm_name, n_slots, batch, size, fit, draft, real_dir, workers) -> Iterator[Row]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(shm_name, n_slots, batch, size, os.getpid()),
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
                    inflight.append(_submit(pool, _decode_into_slot, slot, nxt, size, fit, draft, real_dir))
                if not inflight:
                    break
                slot, results = inflight.popleft().result()
                for j, (row, status, src, detail) in enumerate(results):
                    pixels = ring[slot, j] if status == ImageStatus.OK else None
                    yield row, status, pixels, src, detail
                free.append(slot)
        except BaseException:
            for fut in inflight:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
