"""Fixtures of the dataset tests (the shared ones, ``store_5m``, ``full_store_5m``, ..., are in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def store_600(sample_root_5m, build_store, tmp_path_factory) -> Path:
    """A metadata-only store of ``sample_root_5m`` that cuts barcodes at 600 letters.

    Built with ``--max-nucleotides 600 --no-full-barcodes`` (a default build keeps every
    barcode whole beside its 600-wide array).
    """
    out = tmp_path_factory.mktemp("store-nt600") / "nt600.h5"
    build_store(sample_root_5m, out=out, workers=2, max_nucleotides=600, no_images=True, full_barcodes=False)
    return out
