"""Pixel kinds as codecs: how a store keeps its images, one module per kind behind :class:`PixelCodec`.

:data:`CODECS` is the registry (a new kind is one module and one line here); :func:`codec_of`
reads a store's kind from its root attributes. The read engine (:mod:`.rows`) is the raw kind's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import format as fmt
from ..errors import REBUILD, StoreFormatError
from .base import PixelCodec
from .jpeg import JpegCodec
from .raw import RawCodec

__all__ = ["CODECS", "DEFAULT_KIND", "PixelCodec", "codec", "codec_of"]

#: name (the root attribute ``pixels``, ``--pixels``) -> its codec.
CODECS: dict[str, PixelCodec] = {c.name: c for c in (RawCodec(), JpegCodec())}
#: The kind of a store built without ``--pixels``, and of every store without images.
DEFAULT_KIND = RawCodec.name


def codec(name: str) -> PixelCodec:
    """The codec of the kind ``name`` (a :class:`KeyError` naming the kinds otherwise)."""
    try:
        return CODECS[name]
    except KeyError:
        raise KeyError(f"unknown pixel kind {name!r}; the kinds are {', '.join(CODECS)}") from None


def codec_of(attrs: Mapping[str, Any], path: str = "the store") -> PixelCodec:
    """The codec of a store with these root attributes (``pixels`` absent: raw; unknown: a :class:`StoreFormatError`)."""
    kind = attrs.get(fmt.ATTR_PIXELS, DEFAULT_KIND)
    kind = kind.decode("utf-8", "replace") if isinstance(kind, bytes) else str(kind)
    if kind not in CODECS:
        raise StoreFormatError(
            f"{path!r} is damaged: its {fmt.ATTR_PIXELS!r} attribute is {kind!r}, expected one of"
            f" {', '.join(map(repr, CODECS))}. {REBUILD}"
        )
    return CODECS[kind]
