"""Locks a forked child must never inherit held: taken around ``os.fork`` and made new in the child.

Where one cannot be had within :data:`WAIT_S`, the child runs the kernels' Python twins
(:func:`jit_usable` is False there) rather than wait.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

__all__ = ["WAIT_S", "fork_lock", "jit_usable"]

#: Longest wait of a fork for a lock held by another thread (a numba compile takes seconds).
WAIT_S = 120.0

_locks: list[Any] = []
_taken: list[Any] = []
_jit_usable = True


def fork_lock() -> threading.RLock:
    """A new lock taken around every fork of this process and free in the child.

    Reentrant: a thread that forks while holding it (``preexec_fn`` during a compile) takes it at once.
    """
    lock = threading.RLock()
    _locks.append(lock)
    return lock


def jit_usable() -> bool:
    """False in a child forked while a numba compile could not be waited for."""
    return _jit_usable


def _all_locks() -> list[Any]:
    """Ours and numba's compiler lock (once numba is imported)."""
    module = sys.modules.get("numba.core.compiler_lock")
    numba_lock = getattr(getattr(module, "global_compiler_lock", None), "_lock", None)
    return [*_locks, *([numba_lock] if hasattr(numba_lock, "_at_fork_reinit") else [])]


def _before() -> None:
    _taken.clear()
    for lock in _all_locks():
        if lock.acquire(timeout=WAIT_S):
            _taken.append(lock)


def _after_in_parent() -> None:
    for lock in reversed(_taken):
        lock.release()
    _taken.clear()


def _after_in_child() -> None:
    global _jit_usable
    every = _all_locks()
    if len(_taken) < len(every):  # one was not had: a compile may be cut short in this child
        _jit_usable = False
    for lock in every:
        lock._at_fork_reinit()
    _taken.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
