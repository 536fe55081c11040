"""The DNA tokenizers (``bioscan_h5.tokenizers``)."""
