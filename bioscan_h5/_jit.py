"""The numba switch: every kernel is written once in plain Python and compiled lazily on first call.

``BIOSCAN_H5_DISABLE_JIT=1`` (before import) runs the Python twins (``kernel.py_func``) instead.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from ._forksafe import fork_lock, jit_usable

__all__ = ["JIT_DISABLED", "kernel", "numba_loaded"]

#: True when ``BIOSCAN_H5_DISABLE_JIT`` is set to a true value.
JIT_DISABLED = os.environ.get("BIOSCAN_H5_DISABLE_JIT", "").strip().lower() in {"1", "true", "yes", "on"}

_lock = fork_lock()  # free in a forked child (see _forksafe)


def numba_loaded() -> bool:
    """Whether this process has imported numba (paths that gain little from a kernel use it only then)."""
    return "numba" in sys.modules


class _LazyKernel:
    """A plain-Python function that numba compiles on its first call."""

    def __init__(self, py_func: Callable[..., Any], **options: Any) -> None:
        self.py_func = py_func
        self._options = options
        self._compiled: Callable[..., Any] | None = None
        functools.update_wrapper(self, py_func)

    @property
    def jitted(self) -> Callable[..., Any]:
        """The compiled dispatcher (compiled now if needed), or the Python twin when disabled."""
        if JIT_DISABLED or not jit_usable():
            return self.py_func
        if self._compiled is None:
            with _lock:
                if self._compiled is None:
                    import numba

                    self._compiled = numba.njit(**self._options)(self.py_func)
        return self._compiled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.jitted(*args, **kwargs)

    def __repr__(self) -> str:
        state = "disabled" if JIT_DISABLED else ("compiled" if self._compiled is not None else "lazy")
        return f"<kernel {self.py_func.__qualname__} ({state})>"


def kernel(func: Callable[..., Any] | None = None, **options: Any):
    """Mark a plain-Python function as a numba kernel (``nogil``, ``cache`` on by default).

    ``func`` must not call other kernels (each is compiled on its own); ``options`` go to
    :func:`numba.njit`.
    """
    opts = {"nogil": True, "cache": True}
    opts.update(options)
    if func is None:
        return lambda f: _LazyKernel(f, **opts)
    return _LazyKernel(func, **opts)
