"""Building stores: ``bioscan_h5.builder``, extending a store, image decoding (``bioscan_h5.images``)."""
