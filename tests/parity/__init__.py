"""Parity with bioscan-dataset 1.3.0 (the peer): same samples, splits, labels and errors."""
