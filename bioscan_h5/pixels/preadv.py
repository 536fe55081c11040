"""Runs of adjacent rows read without the GIL: one ``preadv2`` per run, looped in a nogil numba kernel.

Where the kernel cannot be used (not Linux, no ``preadv2``, ``BIOSCAN_H5_DISABLE_JIT``) or numba
is not loaded and not asked for (``load=True``), :func:`read_runs` is the same loop in Python.
The kernel never raises: a failed run is recorded as ``-1`` and repeated with ``os.preadv``.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .._forksafe import fork_lock, jit_usable
from .._jit import JIT_DISABLED, numba_loaded

__all__ = ["native", "read_runs", "read_runs_py", "runs"]

_log = logging.getLogger(__name__)
_lock = fork_lock()  # free in a forked child: a fork waits for a compile in progress
_impl: Callable[..., int] | None = None
_preadv2: Any = None  # the C library's preadv2, bound for numba by _compile


def runs(values: np.ndarray, cap: int | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of ``values`` that follow each other, at most ``cap`` long."""
    cuts = [0, *(np.flatnonzero(np.diff(values) != 1) + 1).tolist(), len(values)]
    step = cap or max(len(values), 1)
    return [(a2, min(b, a2 + step)) for a, b in itertools.pairwise(cuts) for a2 in range(a, b, step)]


def read_runs_py(fd, dst, rows, dest, row_bytes, base, flags, cap, iov, runs) -> int:
    """Read sorted ``rows`` into ``dst[dest[i]]``, one ``preadv`` per run of adjacent rows: the kernel's twin.

    ``dst`` is C-contiguous uint8 (``row_bytes`` a row), ``base`` the offset of row 0, ``flags``
    the ``preadv2`` flags, ``cap`` the most rows per call, ``iov`` the kernel's scratch
    (``2 * cap``). ``runs`` (``(len(rows), 3)``) gets ``start, stop, bytes read`` (``-1``: the call
    failed) per run; returns the number of runs.
    """
    mv = dst.data.cast("B")
    n, m, i = len(rows), 0, 0
    srt, to = rows.tolist(), dest.tolist()
    while i < n:
        j = i + 1
        while j < n and j - i < cap and srt[j] == srt[j - 1] + 1:
            j += 1
        bufs = [mv[k * row_bytes : (k + 1) * row_bytes] for k in to[i:j]]
        try:
            got = os.preadv(fd, bufs, base + srt[i] * row_bytes, flags)
        except OSError:
            got = -1
        runs[m, 0], runs[m, 1], runs[m, 2] = i, j, got
        m += 1
        i = j
    return m


def _read_runs_native(
    fd, dst, rows, dest, row_bytes, base, flags, cap, iov, runs
):  # pragma: no cover - compiled
    addr = dst.ctypes.data
    n = rows.shape[0]
    m = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and j - i < cap and rows[j] == rows[j - 1] + 1:
            j += 1
        for k in range(i, j):
            iov[2 * (k - i)] = addr + dest[k] * row_bytes
            iov[2 * (k - i) + 1] = row_bytes
        runs[m, 0] = i
        runs[m, 1] = j
        runs[m, 2] = _preadv2(fd, iov.ctypes.data, j - i, base + rows[i] * row_bytes, flags)
        m += 1
        i = j
    return m


def _compile() -> Callable[..., int]:
    """The nogil kernel, or the Python loop where it cannot be had (the reason is logged)."""
    if JIT_DISABLED or not sys.platform.startswith("linux") or not hasattr(os, "preadv"):
        return read_runs_py
    try:
        import ctypes

        ctypes.CDLL(None).preadv2  # noqa: B018 - the C library has it (glibc >= 2.26, musl >= 1.1.24)
        import numba
        from numba import types

        i64 = types.int64
        globals()["_preadv2"] = types.ExternalFunction(
            "preadv2", types.intp(types.int32, types.intp, types.int32, i64, types.int32)
        )
        a1 = types.Array(i64, 1, "C")
        sig = types.intp(
            i64, types.Array(types.uint8, 4, "C"), a1, a1, i64, i64, i64, i64, a1, types.Array(i64, 2, "C")
        )
        return numba.njit(sig, nogil=True, cache=True)(_read_runs_native)
    except Exception as exc:  # any failure leaves the correct Python loop
        _log.info("bioscan-h5 reads rows with the Python preadv loop: %s", exc)
        return read_runs_py


def _implementation() -> Callable[..., int]:
    global _impl
    if _impl is None:
        with _lock:
            if _impl is None:
                _impl = _compile()
    return _impl


def native() -> bool:
    """True when the compiled nogil kernel is available (loading numba and it now if needed)."""
    return _implementation() is not read_runs_py


def _chosen(load: bool) -> Callable[..., int]:
    """The kernel if loaded, or if ``load`` or numba is in this process already; else the loop."""
    if not jit_usable():  # forked while a compile could not be waited for
        return read_runs_py
    if _impl is not None:
        return _impl
    if load or numba_loaded():
        return _implementation()
    return read_runs_py


def read_runs(
    fd: int,
    dst: np.ndarray,
    rows: np.ndarray,
    dest: np.ndarray,
    row_bytes: int,
    base: int,
    flags: int,
    cap: int,
    load: bool = False,
) -> np.ndarray:
    """Read sorted ``rows`` into ``dst[dest[i]]``, one ``preadv2`` per run of adjacent rows.

    Arguments as :func:`read_runs_py`'s (``dst``: ``(n, S, S, 3)``); ``load`` loads numba if this
    process has not. Returns int64 ``(n_runs, 3)``: ``start, stop, bytes read`` (``-1``: failed).
    """
    runs = np.empty((len(rows), 3), dtype=np.int64)
    iov = np.empty(2 * min(cap, max(len(rows), 1)), dtype=np.int64)
    m = _chosen(load)(fd, dst, rows, dest, row_bytes, base, flags, cap, iov, runs)
    return runs[:m]
