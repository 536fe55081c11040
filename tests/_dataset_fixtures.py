"""Fixtures shared by the dataset, parity, worker and store-API tests.

A test module loads them with ``pytest_plugins = ["_dataset_fixtures"]``, so each is set up
once per session whichever modules use it (helpers live in ``_dataset_helpers``). The
stores are built from ``sample_root_5m`` of ``conftest.py`` into private folders; treat
them as read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _dataset_helpers import Peer


def _build_store(tmp_path_factory, root, name: str, **kw) -> Path:
    from bioscan_h5.builder import BuildConfig, build

    out = tmp_path_factory.mktemp(f"store-{name}") / f"{name}.h5"
    build(BuildConfig(root=str(root.root), out=str(out), progress=False, workers=2, **kw))
    return out


@pytest.fixture(scope="session")
def full_store_5m(sample_root_5m, tmp_path_factory) -> Path:
    """A metadata-only store of ``sample_root_5m`` keeping whole barcodes (``--max-nucleotides none``)."""
    return _build_store(tmp_path_factory, sample_root_5m, "full", max_nucleotides=None, no_images=True)


@pytest.fixture(scope="session")
def store_600(sample_root_5m, tmp_path_factory) -> Path:
    """A metadata-only store of ``sample_root_5m`` built with ``--max-nucleotides 600``."""
    return _build_store(tmp_path_factory, sample_root_5m, "nt600", max_nucleotides=600, no_images=True)


@pytest.fixture(scope="session")
def lzf_store(sample_root_5m, tmp_path_factory) -> Path:
    """A store of ``sample_root_5m`` with every split's images, ``--compression lzf``."""
    return _build_store(tmp_path_factory, sample_root_5m, "lzf", compression="lzf")


@pytest.fixture(scope="session")
def peer_factory(sample_root_5m) -> Callable[..., Peer]:
    """``peer_factory(**kwargs) -> Peer`` on ``sample_root_5m`` (constructions cached by arguments)."""
    cache: dict = {}

    def make(**kw) -> Peer:
        key = repr(sorted(kw.items()))
        if key not in cache:
            cache[key] = Peer(str(sample_root_5m.root), **kw)
        return cache[key]

    return make
