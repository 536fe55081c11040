"""Stores read back in full: every dataset and root attribute, and the check that two stores agree."""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np


def store_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every dataset of an HDF5 file read into memory, and its root attributes (text decoded)."""
    datasets: dict[str, np.ndarray] = {}
    with h5py.File(path, "r", locking=False) as f:

        def visit(name: str, obj) -> None:
            if isinstance(obj, h5py.Dataset):
                datasets[name] = obj[()]

        f.visititems(visit)
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in f.attrs.items()}
    return datasets, attrs


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    """Both dicts hold the same names, and equal arrays (dtype and shape included)."""
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        nan = a[name].dtype.kind in "fc"
        assert np.array_equal(a[name], b[name], equal_nan=nan), f"{name} differs"


def assert_stores_equal(
    a: str | os.PathLike, b: str | os.PathLike, ignore_attrs: tuple[str, ...] = (), attrs: bool = True
) -> None:
    """Same datasets (value by value, dtype and shape included), same root attributes.

    Whatever their storage (chunking, compression); ``attrs=False`` skips the root attributes.
    """
    da, aa = store_arrays(a)
    db, ab = store_arrays(b)
    assert_same_arrays(da, db)
    if not attrs:
        return
    for k in ignore_attrs:
        aa.pop(k, None)
        ab.pop(k, None)
    assert aa.keys() == ab.keys()
    for k in aa:
        assert np.array_equal(np.asarray(aa[k]), np.asarray(ab[k])), f"attribute {k}: {aa[k]!r} != {ab[k]!r}"
