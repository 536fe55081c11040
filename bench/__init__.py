"""The benchmark programs (``bench/*.py``) and their shared kit; not part of the package."""
