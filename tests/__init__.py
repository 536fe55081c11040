"""The test suite of bioscan-h5 (a package, so that same-named modules in its folders never clash)."""
