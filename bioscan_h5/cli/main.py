"""The parser of the ``bioscan-h5`` command and :func:`main`, which runs a subcommand.

Each subcommand module has an ``add_parser(subparsers)`` setting ``func`` to its ``run``; this
module puts them together and turns errors into exit codes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import BioscanH5Error, BuildInterrupted
from .build import add_parser as add_build
from .download import add_parser as add_download
from .info import add_parser as add_info
from .verify_command import add_parser as add_verify

__all__ = ["build_parser", "main"]

DESCRIPTION = "The ``bioscan-h5`` command: ``build``, ``info``, ``verify`` and ``download``."


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bioscan-h5``, with every subcommand."""
    parser = argparse.ArgumentParser(prog="bioscan-h5", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"bioscan-h5 {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (add_build, add_info, add_verify, add_download):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bioscan-h5`` console command (``argv``: default ``sys.argv[1:]``).

    Returns the exit status: 0 success; 1 ``verify`` found problems, or ``download`` failed;
    2 a usage error or a bioscan-h5 error (its message on stderr, no traceback); 130
    interrupted (rerun to resume). Any other exception is a bug and keeps its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except BuildInterrupted as exc:
        print(f"bioscan-h5 {args.command}: {exc}", file=sys.stderr)
        return 130
    except BioscanH5Error as exc:
        print(f"bioscan-h5 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - interactive
        return 130
