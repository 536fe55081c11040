"""``bioscan-h5 download``: fetch, check and extract a dataset's archives, then build the store.

Split names are those of ``bioscan-h5 build --splits`` (BIOSCAN-5M: only the image archives
holding them are fetched; BIOSCAN-1M: one image archive holds every split); ``--no-build``
stops after the extraction.
"""

from __future__ import annotations

import argparse
import sys

from ..download import MIRROR_ENV, download
from ..errors import BioscanH5Error, BuildInterrupted, InvalidArgumentError
from ..format import DEFAULT_IMAGE_SIZE
from ..layouts import SCHEMAS, get_layout
from .args import build_config, positive_int

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``download`` subcommand to ``subparsers`` and return its parser (``func``: :func:`run`)."""
    parser = subparsers.add_parser(
        "download",
        help="download and extract the BIOSCAN archives, then build the store",
        description=(
            "Download the metadata and the image archives a dataset needs for some splits and an image"
            " package, check their MD5 checksums and extract them into ROOT as bioscan-dataset lays them"
            " out, then build the store (ROOT/<dataset>/h5/...) with the images of those splits, as"
            " `bioscan-h5 build` does. Archives already in place are not fetched again, interrupted"
            " transfers resume, and a store already holding the splits is left as it is."
        ),
    )
    parser.add_argument("--dataset", required=True, choices=tuple(SCHEMAS), help="the dataset")
    parser.add_argument("--root", required=True, help="the download root (ROOT/<dataset>/... is created)")
    parser.add_argument(
        "--splits",
        default="all",
        help=(
            "splits or metasplits joined with '+': all (default), seen, unseen, pretrain+train, val, ...;"
            " for bioscan1m [<partitioning>:]<split>, e.g. clibd:train_seen (default partitioning:"
            " large_diptera_family)"
        ),
    )
    parser.add_argument("--image-package", default="cropped_256", help="image package (default: cropped_256)")
    parser.add_argument(
        "--mirror",
        default=None,
        help=f"base URL or folder serving the archives under their file names (default: ${MIRROR_ENV})",
    )
    parser.add_argument(
        "--no-images", action="store_true", help="fetch the metadata only (and build a store without images)"
    )
    parser.add_argument(
        "--keep-archives", action="store_true", help="keep the archive files after extraction"
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the MD5 checks (not recommended)")
    parser.add_argument("--no-build", action="store_true", help="download and extract only; build no store")
    parser.add_argument(
        "--image-size",
        type=positive_int,
        default=DEFAULT_IMAGE_SIZE,
        help=f"side S of the stored images (default {DEFAULT_IMAGE_SIZE})",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=None, help="decoding processes (default: all cores)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    return parser


def _download_splits(dataset: str, splits: str) -> str:
    """The splits to download, checked with the builder's rules (BIOSCAN-1M: all, since each of its
    image archives holds every split)."""
    try:
        get_layout(dataset).explode(splits)
    except InvalidArgumentError as exc:
        if dataset != "bioscan1m":
            raise
        raise InvalidArgumentError(
            f"{exc} Name the split of another partitioning as <partitioning>:<split>, e.g. clibd:train_seen."
        ) from None
    return "all" if dataset == "bioscan1m" else splits


def _build(args: argparse.Namespace) -> str:
    """Build (or extend) the store of the downloaded root for ``args.splits``; return its path."""
    from ..build import build
    from .build import images_done

    cfg = build_config(args, progress=not args.quiet)
    what = "metadata only" if args.no_images else f"images of {args.splits}"
    print(f"bioscan-h5 download: building {cfg.out} ({what})", file=sys.stderr)
    result = build(cfg)
    if result.up_to_date:
        print(f"bioscan-h5 download: {result.store} is up to date", file=sys.stderr)
    else:
        print(
            f"bioscan-h5 download: wrote {result.store}: {result.n_rows} rows in {result.seconds:.1f} s;"
            f" {images_done(result)}",
            file=sys.stderr,
        )
        if result.bad_rows:
            print(
                f"bioscan-h5 download: {len(result.bad_rows)} bad image(s) flagged (rows kept, image zeros);"
                f" details in {result.report}",
                file=sys.stderr,
            )
    return result.store


def run(args: argparse.Namespace) -> int:
    """Run ``bioscan-h5 download``: print the paths put in place, then (unless ``--no-build``) the store's.

    Returns 0 on success, 1 when the download or the build failed, 2 for invalid arguments
    (the error printed on stderr); :class:`BuildInterrupted` propagates (exit status 130).
    """
    try:
        splits = _download_splits(args.dataset, args.splits)
        paths = download(
            args.dataset,
            args.root,
            splits=splits,
            image_package=args.image_package,
            images=not args.no_images,
            mirror=args.mirror,
            progress=not args.quiet,
            verify=not args.no_verify,
            keep_archives=args.keep_archives,
        )
        for path in paths:
            print(path)
        if not args.no_build:
            print(_build(args))
    except InvalidArgumentError as exc:
        print(f"bioscan-h5 download: error: {exc}", file=sys.stderr)
        return 2
    except BuildInterrupted:
        raise
    except BioscanH5Error as exc:  # a DownloadError (checksums too), InsufficientSpaceError, a failed build
        print(f"bioscan-h5 download: error: {exc}", file=sys.stderr)
        return 1
    return 0
