"""The developer tools in ``tools/``: the sample-data generator every other test builds on."""
