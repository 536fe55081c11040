"""The PyTorch datasets (``bioscan_h5.datasets``): BIOSCAN-5M, BIOSCAN-1M, DataLoader workers."""
