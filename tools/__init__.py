"""Developer tools: the sample-data generator and the scripts of ``make demo`` and the docs.

A package so that the tests import the generator as ``from tools import make_sample_data``
(the repository root is on the test path through ``pythonpath`` in ``pyproject.toml``). The
modules still run as scripts: ``python tools/make_sample_data.py --out demo``.
"""
