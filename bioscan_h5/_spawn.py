"""A spawn start method for the package's worker processes that never imports ``__main__``.

A script without a ``__main__`` guard must not run again in each worker; this module imports
only the standard library, so a child starts cheaply.
"""

from __future__ import annotations

import contextlib
import multiprocessing.context
import sys
import types
from collections.abc import Iterator

__all__ = ["worker_context"]


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Show ``multiprocessing`` an empty ``__main__`` while a child launches (it then imports none)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is None:
            del sys.modules["__main__"]
        else:
            sys.modules["__main__"] = main


class _WorkerProcess(multiprocessing.context.SpawnProcess):
    """A spawned process that does not import the parent's ``__main__`` module."""

    @staticmethod
    def _Popen(process_obj):
        with _main_hidden():
            return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _WorkerContext(multiprocessing.context.SpawnContext):
    """The spawn context, with processes that leave the user's main module alone."""

    Process = _WorkerProcess


def worker_context() -> multiprocessing.context.BaseContext:
    """The ``multiprocessing`` context (``mp_context``) of the package's worker processes.

    The functions the workers run must be importable by name (not defined in ``__main__``).
    """
    return _WorkerContext()
