#!/usr/bin/env python
"""Run the fault suite and write ``docs/reliability.md`` from what it recorded.

Usage::

    python tools/make_reliability_doc.py                 # run tests/faults, write docs/reliability.md
    python tools/make_reliability_doc.py --log rows.jsonl --no-run   # rewrite from a saved log

Each case of ``tests/faults/`` appends one row (fault, what the program did, what was lost)
to the JSON-lines file named by ``$BIOSCAN_H5_RELIABILITY_LOG``, after its checks have
passed. This tool runs the suite with that variable set (slow cases included) and refuses to
write the page if any test failed, so the page only ever shows a matrix that passed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG_ENV = "BIOSCAN_H5_RELIABILITY_LOG"

#: Sections in page order, each with the sentence that introduces it.
SECTIONS = {
    "Builder interrupted": (
        "Real `bioscan-h5 build` subprocesses, killed, signalled, starved of file space or doubled up."
        " Each case ends by comparing every dataset and root attribute of the store with an uninterrupted"
        " build of the same root."
    ),
    "Bad images": (
        "One real build of a clean generated root into which these files were planted by hand (not the"
        " sample generator's own faults), with two decoding workers. Rows whose file still holds an image"
        " are compared with an independent decode; every row's metadata is compared with a build of the"
        " untouched root."
    ),
    "Bad metadata files": (
        "`bioscan-h5 build --no-images` on a copy of a generated root whose metadata file was edited. The"
        " error's `path`, `row`, `column` and `value` attributes are checked on an in-process build of the"
        ' same file; rows are 0-based there and 1-based ("data row N") in messages.'
    ),
    "Bad or foreign store files": (
        "Each file is opened and read in full (pixels, every column, vocabularies, labels, barcodes,"
        " `info`) by `open_store` in a separate subprocess with a timeout, so that a crash (a signal) or a"
        " hang would show."
    ),
    "Concurrency": "Every reader is its own process; what it read is compared with the store's contents.",
    "Downloads": (
        "A real HTTP server on 127.0.0.1 serves a mirror (its `manifest.json` gives each archive's size and"
        " MD5) and misbehaves on the archive itself; `bioscan_h5.download.download` runs against it."
    ),
    "Bad arguments": (
        "Values a caller passes to the Python API that are not what it takes: each is given to every entry"
        " point that accepts it, in-process."
    ),
    "User files": (
        "`bioscan-h5 build --out` pointed at paths that are not a store, and archives extracted into a root that"
        " already holds files under their members' names. Each path is compared (bytes, node type, link"
        " target) before and after."
    ),
    "No code execution from data": (
        "A parse of the package's source for every way of running code taken from a file, the bandit rules"
        " configured for ruff, and files carrying bait run through the real programs."
    ),
}

HOW = """\
## How the faults are caused

- Every program under test runs as a real subprocess on real files: `bioscan-h5 build`, `bioscan-h5 info`,
  or a short `python -c` reader. A return code below zero means the process died of a signal (a segfault
  is -11); every run has a timeout, so a hang fails the test instead of stalling it.
- The kill and signal cases run the builder through `tests/faults/_instrumented_build.py`, which prints a
  marker as each stage starts and stretches the stages with sleeps *between* the builder's own steps:
  after each metadata column, before each pixel write, before each fsync, and while HDF5 has the file open
  for writing to set attributes. This lets a random moment fall inside the finish stage, which otherwise
  takes milliseconds. It changes nothing the builder writes, nor the order of the writes. Where each kill
  really landed is read from the files it left behind.
- Full disks: `RLIMIT_FSIZE` set on the builder subprocess gives a real `EFBIG` from the kernel. Where
  mounting is allowed, a 6 MB tmpfs gives a real `ENOSPC`, and a tmpfs remounted read-only gives a real
  `EROFS`.
- Read-only files: root ignores permission bits, and the tests ran as root. The reader therefore imports
  what it needs, then switches to uid/gid 65534 (nobody) before it opens the store. It first checks that
  opening the file for writing is refused.
"""

NOT_TESTED = """\
## What is not tested, and why

- **Power loss or a kernel crash.** `kill -9` leaves the page cache intact, so it cannot lose writes the
  way a power cut can. The builder `fdatasync`s pixels before it marks their rows done, and `fsync`s the
  file before renaming it. No test here can cut the power to check that ordering.
- **Network and other file systems** (NFS, SMB, FUSE), where `flock` and `rename` behave differently. Only
  the local ext4 and tmpfs were used.
- **Crafted HDF5 files aimed at bugs in the HDF5 C library.** The bad-store cases are truncations, flipped
  bytes (about 160 single-byte flips per run), foreign files and hand-edited structures. This is not
  fuzzing: beyond these cases, the reader relies on HDF5's own checks.
- **Large images under Pillow's limit.** A file that declares fewer than about 89 million pixels is
  decoded. At the limit that is roughly 270 MB of memory in one decoding worker. This is by design.
- **Windows and macOS.** The builder's lock (`fcntl.flock`), signal handling and the checks of the
  read-only reader are POSIX. They ran on Linux only.
"""

LIMITS = """\
## Known limits, shown above as they really behave

- **A plain read does not check array contents against their checksums.** A flipped bit in the pixels,
  or in a label code or a number, reads back as another valid value unless the store is checked:
  `bioscan-h5 verify --full STORE` checks every row and array (about 140 us per 196 KB row on the 2-core
  test machine, 1.5 GB/s), and `verify_reads=True` checks each row as it is served (about 60-90 us per
  256 px image, 6 us for a row's other values). Every store has checksums (a
  store without its `/checksums` group is damaged: `verify --full` fails it, exit status 1); `bioscan-h5
  verify --root ROOT` also re-decodes a sample of rows from the source images.
- **h5py/HDF5 cannot recover from a failed write while HDF5 manages the file's space.** This happens with
  compressed pixels, or in the metadata stage under a tiny file-size limit. The process can die of SIGSEGV
  as it lets go of the file. The builder refuses such builds up front, unless `--no-space-check` is given
  or another program fills the disk during the build. The rerun then discards the unreadable partial file
  and starts again: nothing is lost from the store, but the decoding work is done twice.
- **A resumed build's report has no decoder message for rows decoded before the interruption.** The
  report still gives each bad row's status and reason.
"""


def run_suite(log: Path, pytest_args: Sequence[str]) -> int:
    """Run ``tests/faults`` with the log variable set; the pytest exit code."""
    env = dict(os.environ, **{LOG_ENV: str(log)})
    argv = [sys.executable, "-m", "pytest", "tests/faults", "-q", "-p", "no:cacheprovider", *pytest_args]
    print("running:", " ".join(argv), flush=True)
    return subprocess.call(argv, cwd=REPO, env=env)


def read_rows(log: Path) -> list[dict]:
    with open(log, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[dict]) -> str:
    """The Markdown page for ``rows`` (in the order recorded, grouped by section)."""
    order = list(SECTIONS) + sorted({r["section"] for r in rows} - set(SECTIONS))
    out = [
        "# Reliability: faults, bad input and hostile files",
        "",
        "Each row below is a fault that the test suite in `tests/faults/` really causes. A row is recorded"
        " only after the test's checks have passed. The middle column comes from what the test observed:"
        " messages are quoted as the program printed them, with temporary folders shortened to `…/`.",
        "",
        "This page is generated by `python tools/make_reliability_doc.py`. The tool runs the whole fault suite,"
        " slow cases included, and refuses to write the page if any test fails. The same tests run in"
        " `make test`.",
        "",
        f"{len(rows)} cases in {sum(1 for s in order if any(r['section'] == s for r in rows))} families.",
        "",
        HOW,
    ]
    for section in order:
        picked = [r for r in rows if r["section"] == section]
        if not picked:
            continue
        out += [f"## {section}", ""]
        if section in SECTIONS:
            out += [SECTIONS[section], ""]
        out += ["| Fault | What the program did | What was lost |", "| --- | --- | --- |"]
        out += [f"| {_cell(r['fault'])} | {_cell(r['did'])} | {_cell(r['lost'])} |" for r in picked]
        out.append("")
    out += [LIMITS, NOT_TESTED]
    return "\n".join(out).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "docs" / "reliability.md", help="default: %(default)s"
    )
    parser.add_argument(
        "--log", type=Path, default=None, help="keep the recorded rows in this JSON-lines file"
    )
    parser.add_argument("--no-run", action="store_true", help="do not run the tests; render --log as it is")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.no_run and args.log is None:
        parser.error("--no-run needs --log")
    with tempfile.TemporaryDirectory() as tmp:
        log = args.log or Path(tmp) / "rows.jsonl"
        if not args.no_run:
            log.unlink(missing_ok=True)
            code = run_suite(log, args.pytest_args)
            if code != 0:
                print(
                    f"the fault suite failed (pytest exit code {code}): {args.out} not written",
                    file=sys.stderr,
                )
                return 1
        rows = read_rows(log)
    if not rows:
        print("no rows were recorded", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows), encoding="utf-8")
    print(f"wrote {args.out}: {len(rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
