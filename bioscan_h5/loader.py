"""Whole-batch loading (``from bioscan_h5.loader import batch_loader``): see :mod:`bioscan_h5.datasets.loader`."""

from .datasets.loader import BatchLoader, batch_loader, gather_batch

__all__ = ["BatchLoader", "batch_loader", "gather_batch"]
