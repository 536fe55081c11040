"""The store API: open a store file and slice its arrays as numpy arrays.

>>> from bioscan_h5 import open_store
>>> with open_store("bioscan5m_cropped_256_256px.h5") as st:  # doctest: +SKIP
...     imgs = st.images[st.indices("val")[:16]]  # (16, 256, 256, 3) uint8
"""

from .core import Store, open_store
from .tables import load_table_columns

__all__ = ["Store", "load_table_columns", "open_store"]
