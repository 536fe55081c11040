"""Batched augmentation (``bioscan_h5.transforms``)."""
