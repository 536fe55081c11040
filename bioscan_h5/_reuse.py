"""Memory reused only once nothing made from it is alive: the one rule of the loader's ring and
the transforms' output pool.

A buffer is a numpy array; every tensor made from it (``torch.from_numpy``, then any view,
``.numpy()`` or ``.detach()``) holds a reference to that array, so its reference count says
whether a batch made from it is still in use. No private torch API is involved.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

__all__ = ["Buffer", "numpy_dtype"]


class Buffer:
    """A numpy array of its own, and whether anything outside this object references it.

    ``pinned``: page-locked host memory (for asynchronous copies to a GPU).
    """

    __slots__ = ("_alone", "_owner", "array")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, pinned: bool = False) -> None:
        self._owner: torch.Tensor | None = None
        if pinned:  # the page-locked tensor owns the memory; the array is a view of it
            self._owner = torch.empty(
                shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype, pin_memory=True
            )
            self.array = self._owner.numpy()
        else:  # numpy asks for transparent huge pages for large blocks
            self.array = np.empty(shape, dtype=dtype)
        self._alone = sys.getrefcount(self.array)  # the count while only this object holds it

    def in_use(self) -> bool:
        """Whether a tensor, view or array made from the buffer is still alive somewhere."""
        return sys.getrefcount(self.array) > self._alone

    def fits(self, shape: tuple[int, ...], dtype: np.dtype) -> bool:
        """Whether the first ``shape[0]`` rows of the buffer can hold ``shape`` of ``dtype``."""
        a = self.array
        return a.dtype == dtype and a.shape[1:] == tuple(shape[1:]) and len(a) >= shape[0]


def numpy_dtype(dtype: torch.dtype) -> np.dtype | None:
    """The numpy dtype of a torch dtype (None for those numpy lacks, such as bfloat16)."""
    try:
        return torch.empty((), dtype=dtype).numpy().dtype
    except TypeError:
        return None
