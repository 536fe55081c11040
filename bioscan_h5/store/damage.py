"""The :func:`reads` decorator: low-level read failures of a store reader become :class:`StoreFormatError`."""

from __future__ import annotations

import functools

from ..errors import damage_error

__all__ = ["reads"]


def reads(what):
    """Decorator for a store reader method: damage in the file becomes a :class:`StoreFormatError`.

    ``what`` is a description, or a callable ``(self, *args) -> description`` (only called on
    failure: the decorated readers are on per-sample paths).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:
                err = damage_error(self.path, what(self, *args, **kwargs) if callable(what) else what, exc)
                if err is None:
                    raise
                raise err from exc

        return wrapper

    return decorate
