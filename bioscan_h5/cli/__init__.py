"""The ``bioscan-h5`` command (``build``, ``info``, ``verify``, ``download``): one module per subcommand.

Run it as ``bioscan-h5 ...`` or ``python -m bioscan_h5.cli ...``; :mod:`.main` holds the parser.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
