"""No test touches the internet: the guard shared by the download tests.

A test module imports the autouse fixture below (``from _network_guard import
_loopback_only``); every test of that module then runs with it: it refuses any connection that is not
to this machine, clears proxies and ``$BIOSCAN_H5_MIRROR``, and makes retries immediate.
"""

from __future__ import annotations

import hashlib
import socket

import pytest

from bioscan_h5 import download as dl
from bioscan_h5.download import network, transfer

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def md5(data: bytes) -> str:
    """Hex MD5 of some bytes (as the archive table records them)."""
    return hashlib.md5(data).hexdigest()


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
