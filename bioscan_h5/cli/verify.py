"""``bioscan-h5 verify``: check a store against its sources (``--root``) or its checksums (``--full``)."""

from __future__ import annotations

import argparse

from ..errors import InvalidArgumentError
from .args import non_negative_int

__all__ = ["NO_CHECKSUMS", "add_parser", "run"]

#: Exit status of ``verify --full`` on a store without checksums (format version 1), when
#: nothing else was wrong: distinct from 0, so that a script can tell "sound" from "could
#: not be checked".
NO_CHECKSUMS = 3


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to ``sub`` and return its parser (its ``func`` is :func:`run`)."""
    p = sub.add_parser(
        "verify",
        help="check a store against its sources (--root) or against its checksums (--full)",
        description=(
            "Exit status: 0 sound; 1 problems found, each printed as FAIL (a store that cannot be"
            f" opened is one); 2 a usage error; {NO_CHECKSUMS} --full on a store without checksums"
            " (format version 1) in which nothing else was found."
        ),
    )
    p.add_argument("store")
    p.add_argument("--root", help="the dataset root the store was built from: re-decode --sample rows")
    p.add_argument(
        "--full",
        action="store_true",
        help="check every row and array against the store's checksums (format 2), naming each damaged row",
    )
    p.add_argument("--sample", type=non_negative_int, default=64, help="rows to re-decode (default 64)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (--full)")
    p.set_defaults(func=run, verify_parser=p)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``bioscan-h5 verify`` with parsed arguments.

    Returns
    -------
    int
        0 when the store is sound, 1 when problems were found (printed as ``FAIL``),
        :data:`NO_CHECKSUMS` when ``--full`` found nothing wrong in a store without checksums.

    Neither ``--root`` nor ``--full`` is a usage error (exit status 2).
    """
    from ..verify import verify_full, verify_store

    if args.root is None and not args.full:
        message = "the following arguments are required: --root (re-decode rows from the sources), or --full"
        if getattr(args, "verify_parser", None) is not None:
            args.verify_parser.error(message)  # prints the usage, exits with status 2
        raise InvalidArgumentError(message)
    problems: list[str] = []
    done: list[str] = []
    unchecked = False
    if args.full:
        report = verify_full(args.store, progress=not args.no_progress)
        problems += report.problems
        unchecked = not report.checked
        done.append(
            "every row and array matches its checksum"
            if report.checked
            else "the structure and the bounds of every array are sound"
        )
    if args.root is not None:
        problems += verify_store(args.store, args.root, sample=args.sample, seed=args.seed)
        done.insert(0, f"format, completeness and {args.sample} re-decoded rows match the sources")
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        return 1
    if unchecked:
        print(
            f"NOTE {args.store} has no checksums (store format version 1): its pixels and values could not"
            " be checked. Rebuild it with `bioscan-h5 build --overwrite` to add them."
        )
        print(f"OK {args.store}: {'; '.join(done)}")
        return NO_CHECKSUMS
    print(f"OK {args.store}: {'; '.join(done)}")
    return 0
