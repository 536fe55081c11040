"""Whole-batch loading (``from bioscan_h5.loader import batch_loader``): see :mod:`bioscan_h5.datasets.loader`."""

from .datasets.loader import BatchLoader, BatchView, batch_loader, gather_batch

__all__ = ["batch_loader", "BatchLoader", "BatchView", "gather_batch"]
