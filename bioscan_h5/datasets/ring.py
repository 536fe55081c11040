"""Reused batch buffers for :func:`~bioscan_h5.batch_loader`: a ring of slots, and their order.

A :class:`Slot` holds one batch: the pixel block the read engine fills, and one buffer per
other tensor of the batch (labels, barcodes, the index), each allocated once at the batch
size: only the first batch written into a buffer pays its page faults. Slots of a
loader that moves batches to a GPU are page-locked, and remember the CUDA event of the copy
that reads them.

The schedule: with ``ahead`` batches in flight (the one the consumer asks for included) and a
lifetime of :data:`LIFETIME` batches, a ring has ``LIFETIME + ahead - 1`` slots
(:func:`ring_size`); batch ``b`` lives in slot ``b % size`` and is gathered when the consumer
asks for batch ``b - ahead + 1``. Its slot was last used by batch ``b - size``, the batch the
consumer took ``LIFETIME`` batches before that request.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["LIFETIME", "Ring", "Slot", "ring_size"]

#: A yielded batch stays intact until the consumer takes this many more batches.
LIFETIME = 2


class Slot:
    """The buffers of one batch of at most ``capacity`` samples.

    Parameters
    ----------
    capacity : int
        The batch size.
    pinned : bool
        Page-locked host memory (for asynchronous copies to a GPU).
    """

    def __init__(self, capacity: int, pinned: bool = False) -> None:
        self.capacity = capacity
        self.pinned = pinned
        self.tensors: dict[str, torch.Tensor] = {}
        self.event = None  # the CUDA event of the last copy out of this slot

    def wait(self) -> None:
        """Block until the last asynchronous copy out of this slot has finished."""
        if self.event is not None:
            self.event.synchronize()
            self.event = None

    def buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """The first ``shape[0]`` rows of the slot's buffer ``name`` (made on first use)."""
        buf = self.tensors.get(name)
        if buf is None or tuple(buf.shape[1:]) != tuple(shape[1:]) or buf.dtype != dtype:
            buf = _host_buffer((max(self.capacity, shape[0]), *shape[1:]), dtype, self.pinned)
            self.tensors[name] = buf
        return buf[: shape[0]]

    def adopt(self, batch: dict) -> dict:
        """``batch`` with every tensor that is not already in the slot copied into the slot's buffers."""
        out = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                own = self.tensors.get(key)
                if own is None or value.untyped_storage().data_ptr() != own.untyped_storage().data_ptr():
                    dest = self.buffer(key, tuple(value.shape), value.dtype)
                    dest.copy_(value)
                    value = dest
            out[key] = value
        return out


def _host_buffer(shape: tuple[int, ...], dtype: torch.dtype, pinned: bool) -> torch.Tensor:
    """A new host buffer. Its pages are faulted in by the first batch written into it, once.

    numpy asks for transparent huge pages for large blocks (torch.empty does not): a batch of
    images then costs a few dozen 2 MB page faults, once per loader, not tens of thousands.
    Touching the pages here would only add a pass over them.
    """
    if pinned:
        return torch.empty(shape, dtype=dtype, pin_memory=True)
    return torch.from_numpy(np.empty(shape, dtype=torch.empty((), dtype=dtype).numpy().dtype))


class Ring:
    """``size`` slots, used in turn, kept by a loader across epochs.

    Parameters
    ----------
    size : int
    capacity : int
        The batch size.
    pinned : bool
    """

    def __init__(self, size: int, capacity: int, pinned: bool = False) -> None:
        self.slots = [Slot(capacity, pinned) for _ in range(size)]
        self.next = 0  # the number of the next batch (counted across epochs)

    def __len__(self) -> int:
        return len(self.slots)

    def slot(self, batch_number: int) -> Slot:
        """The slot of the ``batch_number``-th batch of an epoch."""
        return self.slots[batch_number % len(self.slots)]


def ring_size(ahead: int) -> int:
    """Slots needed for ``ahead`` batches in flight and a lifetime of :data:`LIFETIME` batches."""
    return LIFETIME + ahead - 1
