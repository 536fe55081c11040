"""Fixtures of the build tests (the shared ones, ``build_store``, ``assert_stores_equal``, ..., are in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers.stores import store_arrays as _store_arrays


@pytest.fixture(scope="session")
def store_arrays() -> Callable:
    """``store_arrays(path) -> (datasets, root_attrs)``: every dataset read into memory."""
    return _store_arrays
