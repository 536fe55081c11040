"""Downloading the archives (``bioscan_h5.download``), with no test touching the internet."""
