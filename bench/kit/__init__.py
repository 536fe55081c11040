"""Shared parts of the benchmark programs: page-cache control, I/O and memory counters, tables.

Modules run as fresh processes (``python -m bench.kit.cells SPEC``) import nothing from the
orchestrating program, so each measurement starts from a clean interpreter.
"""
