"""The reliability matrix (issue 6): faults, bad input and hostile files, caused for real.

Each module causes one family of faults with real subprocesses and real files and checks
what the program did and that nothing was lost. Run with ``BIOSCAN_H5_RELIABILITY_LOG`` set
(``tools/make_reliability_doc.py`` does), every case also appends a row to that log, from
which ``docs/reliability.md`` is generated.
"""
