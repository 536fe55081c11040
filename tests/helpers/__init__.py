"""Helpers shared by tests in several folders (fixtures live in the ``conftest.py`` files)."""
