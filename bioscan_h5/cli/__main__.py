"""``python -m bioscan_h5.cli``: the ``bioscan-h5`` command."""

import sys

from .main import main

sys.exit(main())
