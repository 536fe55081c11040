"""Reused batch buffers for :func:`~bioscan_h5.batch_loader`: a ring of slots that knows what you kept.

A slot's buffers are handed out again only once nothing outside the slot references them: a
batch (or any view, ``.numpy()`` or ``.detach()`` of it) that the consumer keeps is never
overwritten; its slot gets a new buffer instead, and the loader warns once.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

__all__ = ["LIFETIME", "Ring", "Slot", "ring_size"]

#: Batches a training loop holds while it asks for the next one: the ring is sized so that a
#: loop that keeps no more than this many never makes a new buffer.
LIFETIME = 2


class Slot:
    """The buffers of one batch of at most ``capacity`` samples.

    Each buffer is a numpy array owned by the slot; a batch gets ``torch.from_numpy`` views of
    it. Every tensor, view or array derived from those holds a reference to the buffer, so the
    buffer's reference count says whether a batch made from it is still alive.

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
        self.arrays: dict[str, np.ndarray] = {}
        self._alive: dict[str, int] = {}  # the reference count of each buffer when nothing else holds it
        self._owners: dict[str, torch.Tensor] = {}  # page-locked tensors behind pinned buffers
        self.event: torch.cuda.Event | None = None  # the CUDA event of the last copy out of this slot

    def wait(self) -> None:
        """Block until the last asynchronous copy out of this slot has finished."""
        if self.event is not None:
            self.event.synchronize()
            self.event = None

    def kept(self) -> list[str]:
        """The names of buffers that something outside the slot still references."""
        return [name for name in self.arrays if self._refs(name) > self._alive[name]]

    def release_kept(self) -> list[str]:
        """Drop the buffers a kept batch still references (new ones are made on use); their names."""
        kept = self.kept()
        for name in kept:
            del self.arrays[name], self._alive[name]
            self._owners.pop(name, None)
        return kept

    def buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A tensor over the first ``shape[0]`` rows of the slot's buffer ``name`` (made on first use)."""
        arr = self.arrays.get(name)
        np_dtype = _numpy_dtype(dtype)
        if np_dtype is None:
            raise TypeError(f"A ring buffer holds numpy dtypes, not {dtype}.")
        if arr is None or arr.shape[1:] != tuple(shape[1:]) or arr.dtype != np_dtype or len(arr) < shape[0]:
            self._allocate(name, (max(self.capacity, shape[0]), *shape[1:]), np_dtype)
        return torch.from_numpy(self.arrays[name][: shape[0]])

    def adopt(self, batch: dict) -> dict:
        """``batch`` with every tensor copied into the slot's buffers (page-locked slots: for the GPU copy)."""
        out = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor) and _numpy_dtype(value.dtype) is None:  # bfloat16, ...
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
        own = self.arrays.get(name)
        return own is not None and value.untyped_storage().data_ptr() == own.ctypes.data

    def _allocate(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.arrays.pop(name, None)
        self._owners.pop(name, None)
        if self.pinned:
            owner = torch.empty(shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype, pin_memory=True)
            self._owners[name] = owner
            self.arrays[name] = owner.numpy()
        else:
            # numpy asks for transparent huge pages for large blocks: a few dozen faults, once
            self.arrays[name] = np.empty(shape, dtype=dtype)
        self._alive[name] = self._refs(name)

    def _refs(self, name: str) -> int:
        return sys.getrefcount(self.arrays[name])


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
        """The slot of the ``batch_number``-th batch (counted across epochs)."""
        return self.slots[batch_number % len(self.slots)]


def _numpy_dtype(dtype: torch.dtype) -> np.dtype | None:
    """The numpy dtype of a torch dtype (None for those numpy lacks, such as bfloat16)."""
    try:
        return torch.empty((), dtype=dtype).numpy().dtype
    except TypeError:
        return None


def ring_size(ahead: int) -> int:
    """Slots for ``ahead`` batches in flight while the consumer holds :data:`LIFETIME` batches."""
    return LIFETIME + ahead - 1
