"""The ``bioscan-h5`` command: ``build``, ``info``, ``verify`` and ``download``.

Run it as ``bioscan-h5 ...`` (the console script) or ``python -m bioscan_h5.cli ...``.
:mod:`~bioscan_h5.cli.main` holds the parser and :func:`main`; each subcommand is a module of
its own (:mod:`~bioscan_h5.cli.build`, :mod:`~bioscan_h5.cli.info`,
:mod:`~bioscan_h5.cli.verify`, :mod:`~bioscan_h5.cli.download`), and
:mod:`~bioscan_h5.cli.args` holds the argument types they share.
"""

from __future__ import annotations

from .args import positive_int as positive_int
from .main import main

__all__ = ["main"]
