"""Reused batch buffers for :func:`~bioscan_h5.batch_loader`: a ring of slots that knows what you kept.

A batch (or a view of it) that the consumer keeps is never overwritten: its slot gets a new
buffer instead, and the loader warns once.
"""

from __future__ import annotations

import torch

from .._reuse import Buffer, numpy_dtype

__all__ = ["LIFETIME", "Ring", "Slot", "ring_size"]

#: Batches a training loop holds while it asks for the next one (a ring this deep makes no new buffer).
LIFETIME = 2


class Slot:
    """The buffers of one batch of at most ``capacity`` samples, each a :class:`~bioscan_h5._reuse.Buffer`.

    A batch gets ``torch.from_numpy`` views of them, so a buffer knows whether a batch made from
    it is still alive. ``pinned``: page-locked host memory (for asynchronous copies to a GPU).
    """

    def __init__(self, capacity: int, pinned: bool = False) -> None:
        self.capacity = capacity
        self.pinned = pinned
        self.buffers: dict[str, Buffer] = {}
        self.event: torch.cuda.Event | None = None  # the CUDA event of the last copy out of this slot

    def wait(self) -> None:
        """Block until the last asynchronous copy out of this slot has finished."""
        if self.event is not None:
            self.event.synchronize()
            self.event = None

    def kept(self) -> list[str]:
        """The names of buffers that something outside the slot still references."""
        return [name for name, buf in self.buffers.items() if buf.in_use()]

    def release_kept(self) -> list[str]:
        """Drop the buffers a kept batch still references (new ones are made on use); their names."""
        kept = self.kept()
        for name in kept:
            del self.buffers[name]
        return kept

    def buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A tensor over the first ``shape[0]`` rows of the slot's buffer ``name`` (made on first use)."""
        np_dtype = numpy_dtype(dtype)
        if np_dtype is None:
            raise TypeError(f"A ring buffer holds numpy dtypes, not {dtype}.")
        buf = self.buffers.get(name)
        if buf is None or not buf.fits(shape, np_dtype):
            buf = self.buffers[name] = Buffer(
                (max(self.capacity, shape[0]), *shape[1:]), np_dtype, self.pinned
            )
        return torch.from_numpy(buf.array[: shape[0]])

    def adopt(self, batch: dict) -> dict:
        """``batch`` with every tensor copied into the slot's buffers (page-locked slots: for the GPU copy)."""
        out = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor) and numpy_dtype(value.dtype) is None:  # bfloat16, ...
                value = value.pin_memory() if self.pinned and value.device.type == "cpu" else value
            elif (
                isinstance(value, torch.Tensor) and value.device.type == "cpu" and not self._holds(key, value)
            ):
                dest = self.buffer(key, tuple(value.shape), value.dtype)
                dest.copy_(value)
                value = dest
            out[key] = value
        return out

    def _holds(self, name: str, value: torch.Tensor) -> bool:
        """Whether ``value`` lies in the slot's buffer ``name`` already."""
        own = self.buffers.get(name)
        return own is not None and value.untyped_storage().data_ptr() == own.array.ctypes.data


class Ring:
    """``size`` slots of ``capacity`` samples, used in turn, kept by a loader across epochs."""

    def __init__(self, size: int, capacity: int, pinned: bool = False) -> None:
        self.slots = [Slot(capacity, pinned) for _ in range(size)]
        self.next = 0  # the number of the next batch (counted across epochs)

    def slot(self, batch_number: int) -> Slot:
        """The slot of the ``batch_number``-th batch (counted across epochs)."""
        return self.slots[batch_number % len(self.slots)]


def ring_size(ahead: int) -> int:
    """Slots for ``ahead`` batches in flight while the consumer holds :data:`LIFETIME` batches."""
    return LIFETIME + ahead - 1
