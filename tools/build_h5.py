#!/usr/bin/env python
"""Build a bioscan-h5 store: the same as ``bioscan-h5 build`` (see ``--help``)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bioscan_h5.cli import main

if __name__ == "__main__":
    sys.exit(main(["build", *sys.argv[1:]]))
