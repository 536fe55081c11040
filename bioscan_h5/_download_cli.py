"""The ``bioscan-h5 download`` subcommand (the main CLI imports :func:`add_parser` and :func:`run`)."""

from __future__ import annotations

import argparse
import sys

from .download import MIRROR_ENV, download
from .errors import BioscanH5Error
from .format import SCHEMAS

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``download`` subcommand to ``subparsers`` and return its parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers()`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The subcommand's parser; its ``func`` default is :func:`run`.
    """
    parser = subparsers.add_parser(
        "download",
        help="download and extract the BIOSCAN archives into the official layout",
        description=(
            "Download the metadata and the image archives a dataset needs for some splits and an image"
            " package, check their MD5 checksums and extract them into ROOT as bioscan-dataset lays them"
            " out. Archives already in place are not fetched again; interrupted transfers resume."
        ),
    )
    parser.add_argument("--dataset", required=True, choices=tuple(SCHEMAS), help="the dataset")
    parser.add_argument("--root", required=True, help="the download root (ROOT/<dataset>/... is created)")
    parser.add_argument(
        "--splits",
        default="all",
        help="splits or metasplits joined with '+': all (default), seen, unseen, pretrain+train, val, ...",
    )
    parser.add_argument("--image-package", default="cropped_256", help="image package (default: cropped_256)")
    parser.add_argument(
        "--mirror",
        default=None,
        help=f"base URL or folder serving the archives under their file names (default: ${MIRROR_ENV})",
    )
    parser.add_argument("--no-images", action="store_true", help="fetch the metadata only")
    parser.add_argument(
        "--keep-archives", action="store_true", help="keep the archive files after extraction"
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the MD5 checks (not recommended)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``bioscan-h5 download`` with parsed arguments.

    Parameters
    ----------
    args : argparse.Namespace
        The arguments parsed by the parser of :func:`add_parser`.

    Returns
    -------
    int
        0 on success, 1 when the download failed, 2 for invalid arguments.
    """
    try:
        paths = download(
            args.dataset,
            args.root,
            splits=args.splits,
            image_package=args.image_package,
            images=not args.no_images,
            mirror=args.mirror,
            progress=not args.quiet,
            verify=not args.no_verify,
            keep_archives=args.keep_archives,
        )
    except (BioscanH5Error, OSError) as exc:
        print(f"bioscan-h5 download: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"bioscan-h5 download: error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0
