"""The ``bioscan-h5`` command (``bioscan_h5.cli``), run as a real subprocess."""
