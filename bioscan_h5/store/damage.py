"""The :func:`reads` decorator: low-level read failures of a store reader become :class:`StoreFormatError`.

:func:`~bioscan_h5.errors.damage_reported` and its helpers live in :mod:`bioscan_h5.errors`
(the checksums use them too, below the store); they are re-exported here.
"""

from __future__ import annotations

import functools

from ..errors import damage_error, damage_reported, out_of_descriptors

__all__ = ["damage_error", "damage_reported", "out_of_descriptors", "reads"]


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
