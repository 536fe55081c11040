"""Helpers shared by the download tests (their network guard is the autouse fixture of ``conftest.py``)."""

from __future__ import annotations

import hashlib


def md5(data: bytes) -> str:
    """Hex MD5 of some bytes (as the archive table records them)."""
    return hashlib.md5(data).hexdigest()
