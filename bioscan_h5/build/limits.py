"""Bounds on build options that set an allocation or a process count: the image side, the workers."""

from __future__ import annotations

import logging
import os

from .. import format as fmt
from ..errors import InvalidArgumentError

__all__ = ["capped_workers", "check_image_size", "usable_cores"]

_log = logging.getLogger(__name__)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def check_image_size(size: int) -> None:
    """Refuse an image side above :data:`~bioscan_h5.format.MAX_IMAGE_SIZE`."""
    if size > fmt.MAX_IMAGE_SIZE:
        raise InvalidArgumentError(
            f"image_size {size!r} is larger than the {fmt.MAX_IMAGE_SIZE} px a store may hold (one row would be"
            f" {size * size * 3 / 1e9:.1f} GB). The largest BIOSCAN images are 1024 x 768: choose an"
            f" --image-size of at most {fmt.MAX_IMAGE_SIZE}."
        )


def capped_workers(workers: int) -> int:
    """``workers``, or the usable cores if there are fewer (with a note on the log)."""
    cores = usable_cores()
    if workers <= cores:
        return workers
    message = "--workers %d is more than the %d usable cores: building with %d decoding workers"
    _log.warning(message + " (one per core; more only compete for the same cores).", workers, cores, cores)
    return cores
