"""SIGINT and SIGTERM during a build: :class:`~bioscan_h5.errors.BuildInterrupted`, saying how to resume.

A file-size limit (``ulimit -f``) is reached as an ``EFBIG`` error, not as a SIGXFSZ death,
while the guard is in place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from ..errors import BuildInterrupted

__all__ = ["interruptible"]


def _raise_interrupted(signum: int, frame: object) -> None:
    raise BuildInterrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def interruptible(store: str, partial: str) -> Iterator[None]:
    """SIGINT/SIGTERM at any stage of a build become :class:`BuildInterrupted` saying how to resume.

    Signal handlers can only be set from the main thread; elsewhere the defaults stay.
    """
    main = threading.current_thread() is threading.main_thread()
    if main:
        old_term = signal.signal(signal.SIGTERM, _raise_interrupted)
        old_xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    except (KeyboardInterrupt, BuildInterrupted) as exc:
        if str(exc).startswith("Build interrupted"):
            raise
        raise BuildInterrupted(
            f"Build interrupted ({str(exc) or 'SIGINT'}): {_state(store, partial)}"
        ) from None
    finally:
        if main:
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGXFSZ, old_xfsz)


def _state(store: str, partial: str) -> str:
    """What an interrupted build leaves behind, and what to do next."""
    if os.path.exists(partial):
        kept = f"the work done so far is kept in {partial!r}. Run the same command again to resume."
        # Extending: readers keep the store, which the build never touches.
        return kept + (
            f" {store!r} is unchanged until the extension finishes." if os.path.exists(store) else ""
        )
    if os.path.exists(store):
        return f"{store!r} had already been written in full."
    return "nothing had been written yet. Run the same command again to start."
