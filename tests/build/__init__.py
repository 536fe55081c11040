"""Building stores: ``bioscan_h5.build``, extending a store, image decoding (``bioscan_h5.images``)."""
