"""Helpers shared by the dataset, parity, worker and store-API tests (their fixtures: ``tests/conftest.py``)."""

from __future__ import annotations

import math

import bioscan_dataset
import numpy as np
import pandas as pd

#: Every split name and metasplit the datasets accept.
BASE_SPLITS = ("pretrain", "train", "val", "test", "key_unseen", "val_unseen", "test_unseen", "other_heldout")
ALL_SPLITS = (*BASE_SPLITS, "all", "seen", "unseen", "pretrain+train", "validation", "train+val_unseen")
RANKS = ("phylum", "class", "order", "family", "subfamily", "genus", "species", "dna_bin")
#: Splits the sample-data tool never gives a bad image.
CLEAN = "pretrain+train+key_unseen+val_unseen+test_unseen+other_heldout"


class Peer(bioscan_dataset.BIOSCAN5M):
    """``bioscan_dataset.BIOSCAN5M`` 1.3.0 without its MD5 check of the real files (the only change)."""

    def _check_integrity(self, verbose=1):
        return True


MISSING = "<missing>"


def norm(value):
    """A sample value in a form both implementations agree on.

    numpy scalars become Python numbers, NaN / None / pd.NA become :data:`MISSING`, tuples
    and dicts are normalised item by item; anything else is returned as it is.
    """
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(norm(v) for v in value)
    if value is None or value is pd.NA:
        return MISSING
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return MISSING
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def column_values(series: pd.Series) -> list:
    """A column as a list of normalised Python values (for comparing frames across dtypes)."""
    return [norm(v) for v in series.astype(object).tolist()]


def assert_frames_match(ours: pd.DataFrame, peer: pd.DataFrame, columns=None) -> None:
    """Same row labels and, for ``columns`` (default: the peer's), the same values and categories."""
    assert list(ours.index) == list(peer.index)
    for c in columns if columns is not None else peer.columns:
        assert c in ours.columns, c
        assert column_values(ours[c]) == column_values(peer[c]), c
        if isinstance(peer[c].dtype, pd.CategoricalDtype):
            assert isinstance(ours[c].dtype, pd.CategoricalDtype), c
            assert list(ours[c].cat.categories) == list(peer[c].cat.categories), c


def peer_image(img):
    """What the store holds for a peer image: RGB, ``Resize(256)`` then ``CenterCrop(256)``."""
    from torchvision.transforms import v2

    return np.asarray(v2.CenterCrop(256)(v2.Resize(256)(img.convert("RGB"))))
