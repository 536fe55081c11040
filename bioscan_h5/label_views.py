"""Label views clients build by hand: dense labels of a split (0..n-1), and label text with a fill
value for missing ranks, joined as CLIBD feeds its text encoder ("order family genus species")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CLIBD_FILL", "CLIBD_TEXT_RANKS", "DenseLabels", "label_text", "relabel", "taxon_text"]

#: What CLIBD writes for a missing rank.
CLIBD_FILL = "not_classified"
#: The ranks CLIBD joins into its text input, in order.
CLIBD_TEXT_RANKS = ("order", "family", "genus", "species")


def relabel(table: np.ndarray, labels: Any) -> Any:
    """``table[labels]`` with -1 kept, for numpy arrays and torch tensors (on their device)."""
    if hasattr(labels, "device") and hasattr(labels, "clamp"):
        import torch

        t = torch.as_tensor(table, device=labels.device)
        return torch.where(labels >= 0, t[labels.clamp(min=0).long()], -1)
    labels = np.asarray(labels)
    return np.where(labels >= 0, table[np.maximum(labels, 0)], -1)


def _indices(batch_or_indices: Any) -> np.ndarray:
    """Dataset indices from a batch dict (its ``"index"``), a tensor or an array."""
    x = batch_or_indices["index"] if isinstance(batch_or_indices, dict) else batch_or_indices
    return x.cpu().numpy() if hasattr(x, "cpu") else np.asarray(x)


class DenseLabels:
    """A split's labels at ``rank`` renumbered ``0 .. n - 1`` over the labels it holds.

    ``rank`` defaults to the dataset's single ``target_type``. ``labels`` (int64, ``(N,)``) is
    the dense label of every sample (-1 where missing); ``classes`` (int64, ``(n,)``) the
    dataset's label index of each dense label, ``names`` their names.
    """

    def __init__(self, dataset, rank: str | None = None) -> None:
        rank = dataset.target_rank(rank)
        codes = dataset.label_indices(rank)
        self.rank = rank
        self.classes = np.unique(codes[codes >= 0])
        self.table = np.full(dataset.num_classes(rank), -1, dtype=np.int64)
        self.table[self.classes] = np.arange(len(self.classes))
        self.labels = relabel(self.table, codes)
        vocab = dataset.label_space.vocab(rank)
        self.names = [vocab[c] for c in self.classes]

    @property
    def num_classes(self) -> int:
        """n, the number of dense labels."""
        return len(self.classes)

    def __call__(self, targets: Any) -> Any:
        """Label indices (an int, array or tensor) -> dense labels (-1: missing, or outside the split).

        Usable as a ``target_transform`` or on a batch's ``"target"``.
        """
        if np.ndim(targets) == 0 and not hasattr(targets, "clamp"):  # not a tensor
            return int(relabel(self.table, targets))
        return relabel(self.table, targets)

    def __repr__(self) -> str:
        return f"DenseLabels(rank={self.rank!r}, num_classes={self.num_classes})"


def label_text(dataset, rank: str, batch_or_indices: Any, fill: str = CLIBD_FILL) -> list[str]:
    """The label names at ``rank`` of some samples, ``fill`` where the label is missing.

    ``batch_or_indices``: dataset indices, or a batch from ``batch_loader`` (its ``"index"``).
    """
    rank = dataset.target_rank(rank)
    names = np.asarray([*dataset.label_space.vocab(rank), fill], dtype=object)
    codes = dataset.label_indices(rank)[_indices(batch_or_indices)]
    return list(names[np.where(codes >= 0, codes, len(names) - 1)])


def taxon_text(
    dataset, batch_or_indices: Any, ranks: Sequence[str] = CLIBD_TEXT_RANKS, fill: str = CLIBD_FILL
) -> list[str]:
    """CLIBD's text input per sample: the names at ``ranks`` joined by spaces, ``fill`` where missing."""
    cols = [label_text(dataset, r, batch_or_indices, fill) for r in ranks]
    return [" ".join(parts) for parts in zip(*cols)]
