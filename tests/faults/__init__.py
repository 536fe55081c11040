"""The reliability matrix (issue 6): faults, bad input and hostile files, caused for real.

Each module causes one family of faults with real subprocesses and real files and checks
what the program did and that nothing was lost. Run with ``BIOSCAN_H5_RELIABILITY_LOG`` set
(``tools/make_reliability_doc.py`` does), every case also appends a row to that log, from
which ``docs/reliability.md`` is generated.

``test_bad_images_flagged.py``, ``test_bad_metadata_errors.py`` and ``test_build_resume.py``
are the first generation of these tests (issue 2, once ``tests/test_build_faults.py``): they
check the same families from other angles (in-process builds and the error objects, killing
the builder alone, extensions under a file-size limit) and record no rows.
"""
