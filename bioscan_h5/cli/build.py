"""``bioscan-h5 build``: write one store from an official dataset root."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .. import format as fmt
from ..layouts import SCHEMAS, get_layout
from ..pixels import CODECS, DEFAULT_KIND
from .args import build_config, checked_tokenizers, max_nucleotides, positive_int

if TYPE_CHECKING:
    from ..build import BuildConfig

__all__ = ["add_parser", "run", "to_config"]

_JPEG_CROP = (
    "with --jpeg-quality: encode the S x S image of a raw store (the centre crop, or the padded image with"
    " --fit pad) instead of the resized one: smaller, and decoded without a crop"
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``build`` subcommand to ``sub`` and return its parser (its ``func`` is :func:`run`)."""
    p = sub.add_parser(
        "build",
        help="build a store from an official dataset root",
        description="Read the metadata file and the image package of an official BIOSCAN root once, and write"
        " one HDF5 store. Safe to interrupt: rerun the same command to resume.",
    )
    p.add_argument(
        "--root",
        required=True,
        help="folder holding bioscan5m/ (or bioscan1m/, CanadianInvertebrates/), as for bioscan-dataset",
    )
    p.add_argument("--dataset", default="bioscan5m", choices=sorted(SCHEMAS), help="default: %(default)s")
    p.add_argument(
        "--image-package", default="cropped_256", choices=fmt.IMAGE_PACKAGES, help="default: %(default)s"
    )
    p.add_argument(
        "--image-size", type=int, default=fmt.DEFAULT_IMAGE_SIZE, help="output side S (default 256)"
    )
    p.add_argument(
        "--fit",
        default="crop",
        choices=fmt.FITS,
        help="crop: shorter side to S then centre crop (default); pad: longer side to S, black padding",
    )
    p.add_argument(
        "--splits", default="all", help="splits whose images to decode, e.g. 'val', 'pretrain+train'"
    )
    p.add_argument(
        "--max-nucleotides",
        type=max_nucleotides,
        default=fmt.DEFAULT_MAX_NUCLEOTIDES,
        help="width of the fixed barcode array (default 660; 'none': as wide as the longest barcode);"
        " the letters beyond it are kept too, unless --no-full-barcodes",
    )
    p.add_argument(
        "--no-full-barcodes",
        action="store_true",
        help="keep only the first --max-nucleotides letters of each barcode (a smaller store that cannot"
        " serve longer barcodes)",
    )
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores)")
    p.add_argument(
        "--out",
        default=None,
        help="store path (default: ROOT/<dataset>/h5/<dataset>_<package>_<S>px.h5; JPEG stores end in"
        " _jpeg.h5, _jpeg<Q>.h5 or _jpeg<Q>crop.h5)",
    )
    p.add_argument("--overwrite", action="store_true", help="delete an existing store or partial build first")
    p.add_argument("--dry-run", action="store_true", help="print what would be done and write nothing")
    p.add_argument("--no-images", action="store_true", help="store metadata, labels and barcodes only")
    p.add_argument(
        "--compression", choices=("lzf", "gzip"), default=None, help="compress pixels (slower reads)"
    )
    p.add_argument(
        "--pixels",
        default=DEFAULT_KIND,
        choices=tuple(CODECS),
        help="raw: decoded S x S pixels (default, fastest reads); jpeg: each source file's bytes unchanged"
        " (about 28x smaller for cropped_256), decoded when read",
    )
    p.add_argument(
        "--jpeg-quality",
        type=positive_int,
        default=None,
        help="with --pixels jpeg: resize each image as the raw store does (no crop) and encode it once at"
        " this quality, e.g. 90 (for the large packages)",
    )
    p.add_argument("--jpeg-crop", action="store_true", help=_JPEG_CROP)
    p.add_argument("--no-draft", action="store_true", help="never use JPEG draft (reduced-scale) decoding")
    p.add_argument("--strict", action="store_true", help="stop at the first bad image instead of flagging it")
    p.add_argument("--no-space-check", action="store_true", help="skip the free-disk-space check")
    p.add_argument(
        "--tokenize",
        default="",
        help="precompute token arrays, e.g. 'barcodebert,clibd' (see bioscan_h5.tokenizers)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def to_config(args: argparse.Namespace) -> BuildConfig:
    """The build configuration of parsed ``bioscan-h5 build`` arguments (or :class:`InvalidArgumentError`)."""
    return build_config(
        args,
        fit=args.fit,
        max_nucleotides=args.max_nucleotides,
        compression=args.compression,
        draft=not args.no_draft,
        tokenize=tuple(t for t in args.tokenize.split(",") if t),
        pixels=args.pixels,
        jpeg_quality=args.jpeg_quality,
        jpeg_crop=args.jpeg_crop,
        full_barcodes=not args.no_full_barcodes,
        out=args.out,
        overwrite=args.overwrite,
        dry_run=args.dry_run,
        strict=args.strict,
        check_space=not args.no_space_check,
        progress=not args.no_progress,
    )


def images_done(res) -> str:
    """``N images decoded, M missing, K bad`` for a build's result."""
    return f"{res.decoded_now} images decoded, {res.missing_now} missing, {res.bad_now} bad"


def run(args: argparse.Namespace) -> int:
    """Run ``bioscan-h5 build`` with parsed arguments, print what was done and return 0."""
    from ..build import build

    cfg = to_config(args)
    if not cfg.no_images:
        get_layout(cfg.dataset).explode(cfg.splits)
    checked_tokenizers(cfg.tokenize)
    res = build(cfg)
    if res.dry_run:
        print(f"dry run: would write {res.store}")
        print(f"  rows: {res.n_rows}")
        print(f"  images to decode: {res.decoded_now} ({'none' if cfg.no_images else cfg.splits})")
        print(f"  estimated size: {res.estimated_bytes / 1e9:.2f} GB")
        return 0
    if res.up_to_date:
        print(f"{res.store} is up to date (nothing to do)")
        return 0
    print(f"wrote {res.store}: {res.n_rows} rows in {res.seconds:.1f} s; {images_done(res)}")
    if res.left_out:
        print(
            f"  left out (their image files are absent): {', '.join(res.left_out)}; download them"
            f" (bioscan-h5 download --dataset {cfg.dataset} --splits {'+'.join(res.left_out)}) and run this"
            " command again to add them"
        )
    counts = {k: v for k, v in res.counts.items() if v and k != "PENDING"}
    print(f"  images: {counts}" if counts else "  images: none decoded (metadata only)")
    if res.bad_rows:
        print(
            f"  {len(res.bad_rows)} bad image(s) flagged (rows kept, image zeros); details in {res.report}:"
        )
        for b in res.bad_rows[:10]:
            print(f"    row {b['row']} {b['id']!r} {_one_line(b['path'])}: {_one_line(b['reason'])}")
        if len(res.bad_rows) > 10:
            print(f"    ... and {len(res.bad_rows) - 10} more")
    return 0


def _one_line(text: object) -> str:
    """``text`` as printed in the summary: control characters escaped, so a value never fakes a line."""
    text = str(text)
    return text if text.isprintable() else repr(text)[1:-1]
