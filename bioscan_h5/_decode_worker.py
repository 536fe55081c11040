"""What the builder's decoding processes run (the worker side of :mod:`bioscan_h5.build.pool`).

It never imports numba, h5py, pandas or :mod:`bioscan_h5.build`. Raw builds run :func:`init_worker`
and :func:`decode_into_slot`; JPEG builds :func:`init_reader` and :func:`read_batch`.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory

import numpy as np

from ._files import pwrite_all
from .checksums import pixels_crc
from .images import decode_image

__all__ = ["decode_into_slot", "init_reader", "init_worker", "read_batch"]

_state: dict = {}


def _exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """Exit when the builder dies without shutting the pool down (``kill -9``, OOM killer).

    An idle worker blocks on its task pipe, which every worker holds open: it would never see EOF.
    """
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


def init_reader(parent: int) -> None:
    """Set up a worker process: signals and the watch on the builder (pid ``parent``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and shuts us down
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit is an EFBIG error, not death
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def read_batch(reader: Callable, jobs: Sequence[tuple[int, str]]) -> list[tuple]:
    """``(row, *reader(path))`` for each ``(row, path)`` job of a batch."""
    return [(row, *reader(path)) for row, path in jobs]


def init_worker(
    shm_name: str, n_slots: int, batch: int, size: int, parent: int, direct: tuple[str, int] | None = None
) -> None:
    """Set up a decoding process: signals, the parent watch, the pixel ring ``shm_name``.

    The ring is ``(n_slots, batch, size, size, 3)`` uint8; ``direct``, ``(store path, pixel
    offset)``, writes the pixels into the store file instead.
    """
    init_reader(parent)
    if direct is not None:
        _state["fd"] = os.open(direct[0], os.O_RDWR)
        _state["pixel_offset"] = direct[1]
        _state["nbytes"] = size * size * 3
    shm = shared_memory.SharedMemory(name=shm_name)
    _state["shm"] = shm
    _state["ring"] = np.ndarray((n_slots, batch, size, size, 3), dtype=np.uint8, buffer=shm.buf)


def decode_into_slot(
    slot: int, jobs: Sequence[tuple[int, str]], size: int, fit: str, draft: bool, image_dir: str
) -> tuple[int, list[tuple[int, int, tuple[int, int], str, int | None]]]:
    """Decode a batch of ``(row, path)`` jobs into ring slot ``slot`` (or the store file).

    Returns ``slot`` and ``(row, status, (width, height), detail, crc)`` per job; ``crc``: of
    the row's pixels (None for a bad image), the start of its image checksum.
    """
    ring = _state["ring"]
    direct = "fd" in _state
    out = []
    for j, (row, path) in enumerate(jobs):
        status, pixels, src, detail = decode_image(path, size, fit, draft, image_dir)
        crc = None
        if pixels is not None:
            pixels = np.ascontiguousarray(pixels)
            crc = pixels_crc(pixels)  # here, in parallel, while the pixels are in the cache
            if direct:
                offset = _state["pixel_offset"] + row * _state["nbytes"]
                pwrite_all(_state["fd"], pixels, offset)
            else:
                ring[slot, j] = pixels
        out.append((row, int(status), src, detail, crc))
    return slot, out
