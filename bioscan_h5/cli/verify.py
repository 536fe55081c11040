"""``bioscan-h5 verify``: check a store against its sources."""

from __future__ import annotations

import argparse

from .args import non_negative_int

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to ``sub`` and return its parser (its ``func`` is :func:`run`)."""
    p = sub.add_parser("verify", help="check a store against its sources")
    p.add_argument("store")
    p.add_argument("--root", required=True, help="the dataset root the store was built from")
    p.add_argument("--sample", type=non_negative_int, default=64, help="rows to re-decode (default 64)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``bioscan-h5 verify`` with parsed arguments.

    Returns
    -------
    int
        0 when the store matches its sources, 1 when problems were found (printed as ``FAIL``).
    """
    from ..verify import verify_store

    problems = verify_store(args.store, args.root, sample=args.sample, seed=args.seed)
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        return 1
    print(f"OK {args.store}: format, completeness and {args.sample} re-decoded rows match the sources")
    return 0
