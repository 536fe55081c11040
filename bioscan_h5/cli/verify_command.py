"""The ``bioscan-h5 verify`` subcommand: its arguments and exit status (the checks: :mod:`bioscan_h5.verify`)."""

from __future__ import annotations

import argparse

from ..errors import InvalidArgumentError
from .args import non_negative_int

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to ``sub`` and return its parser (its ``func`` is :func:`run`)."""
    p = sub.add_parser(
        "verify",
        help="check a store against its sources (--root) or against its checksums (--full)",
        description=(
            "Exit status: 0 sound; 1 problems found, each printed as FAIL (a store that cannot be"
            " opened is one); 2 a usage error."
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
    """Run ``bioscan-h5 verify``, print what it found; 0: sound, 1: problems (``FAIL`` lines).

    Neither ``--root`` nor ``--full`` is a usage error (exit status 2).
    """
    from ..verify import run_verify

    if args.root is None and not args.full:
        message = "the following arguments are required: --root (re-decode rows from the sources), or --full"
        if getattr(args, "verify_parser", None) is not None:
            args.verify_parser.error(message)  # prints the usage, exits with status 2
        raise InvalidArgumentError(message)
    verdict = run_verify(
        args.store,
        args.root,
        full=args.full,
        sample=args.sample,
        seed=args.seed,
        progress=not args.no_progress,
    )
    for line in verdict.lines:
        print(line)
    return 0 if verdict.sound else 1
