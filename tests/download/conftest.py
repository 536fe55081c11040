"""No test touches the internet: the guard every download test runs with.

``_loopback_only`` is autouse for this folder: it refuses any connection that is not to this
machine, clears proxies and ``$BIOSCAN_H5_MIRROR``, and makes retries immediate.
"""

from __future__ import annotations

import socket

import pytest

from bioscan_h5 import download as dl
from bioscan_h5.download import network, transfer

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Refuse any connection that is not to this machine; no proxy, no mirror from outside, no waits."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        if address[0] not in LOOPBACK:
            raise AssertionError(f"a test tried to reach {address!r}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv(dl.MIRROR_ENV, raising=False)
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.0, 0.0))
    monkeypatch.setattr(network, "TIMEOUT", 10.0)
