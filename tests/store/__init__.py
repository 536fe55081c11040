"""The store format, the golden file of format version 1 and the reader (``bioscan_h5.store``)."""
