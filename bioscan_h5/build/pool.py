"""Parallel image decoding for the builder.

With one worker everything runs in the calling process (no pickling, no copies). With more,
each task is a batch of rows, and results come back in submission order. Where the pixels go:

- **direct** (uncompressed stores): each worker ``pwrite``s its decoded pixels straight into
  the store's pre-allocated pixel block and returns only the small per-row results, so the
  builder process never touches pixels and both cores decode. The builder still decides
  when rows count as done: only after it has synced the file (which covers pages written
  through any descriptor of it) does it mark them in ``/image_status``.
- **shared memory** (compressed stores, which HDF5 must write): a worker decodes into a slot
  of one shared-memory ring and the builder writes from there.
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

from .._files import pwrite_all
from ..crc import pixels_crc
from ..format import ImageStatus
from ..images import decode_image

__all__ = ["decode_batches"]

Row = tuple[int, int, np.ndarray | None, tuple[int, int], str, int | None]

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


def _init_worker(
    shm_name: str, n_slots: int, batch: int, size: int, parent: int, direct: tuple[str, int] | None = None
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and shuts us down
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit is an EFBIG error, not death
    if direct is not None:
        _worker_state["fd"] = os.open(direct[0], os.O_RDWR)
        _worker_state["pixel_offset"] = direct[1]
        _worker_state["nbytes"] = size * size * 3
    # The parent's pid comes from the parent: it may already be gone when this runs.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    shm = shared_memory.SharedMemory(name=shm_name)
    _worker_state["shm"] = shm
    _worker_state["ring"] = np.ndarray((n_slots, batch, size, size, 3), dtype=np.uint8, buffer=shm.buf)


def _decode_into_slot(slot: int, jobs: Sequence[tuple[int, str]], size, fit, draft, image_dir):
    ring = _worker_state["ring"]
    direct = "fd" in _worker_state
    out = []
    for j, (row, path) in enumerate(jobs):
        status, pixels, src, detail = decode_image(path, size, fit, draft, image_dir)
        crc = None
        if pixels is not None:
            crc = pixels_crc(pixels)  # here, in parallel, while the pixels are in the cache
            if direct:
                offset = _worker_state["pixel_offset"] + row * _worker_state["nbytes"]
                pwrite_all(_worker_state["fd"], np.ascontiguousarray(pixels), offset)
            else:
                ring[slot, j] = pixels
        out.append((row, int(status), src, detail, crc))
    return slot, out


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

    ``crc`` is the CRC-32 of the pixels (None for a bad image).

    ``pixels`` is only valid until the next item is requested (it may be a view of a reused
    buffer); copy it to keep it. With ``direct=(store_path, pixel_offset)`` and several
    workers, the workers write the pixels into the file themselves and ``pixels`` is None.
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


def _run_pool(
    jobs, ring, shm_name, n_slots, batch, ring_batch, size, fit, draft, real_dir, workers, direct
) -> Iterator[Row]:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers,
        mp_context=ctx,
        initializer=_init_worker,
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
                    inflight.append(_submit(pool, _decode_into_slot, slot, nxt, size, fit, draft, real_dir))
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
