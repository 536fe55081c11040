"""The ``bioscan-h5`` command: ``build``, ``info``, ``verify`` and ``download``.

Run it as ``bioscan-h5 ...`` or ``python -m bioscan_h5.cli ...``. :mod:`.main` holds the parser
and :func:`main`; each subcommand is a module of its own (``build``, ``info``,
``verify_command``, ``download``) and :mod:`.args` holds the argument types they share.
"""

from __future__ import annotations

from .args import positive_int as positive_int
from .main import main

__all__ = ["main"]
