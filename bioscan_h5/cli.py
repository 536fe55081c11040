"""The ``bioscan-h5`` command: ``build``, ``info``, ``verify`` and ``download``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from . import __version__
from . import format as fmt
from .errors import BioscanH5Error

__all__ = ["main"]

log = logging.getLogger("bioscan_h5")


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def _max_nucleotides(value: str) -> int | None:
    if value.lower() in ("none", "full", "all"):
        return None
    try:
        return positive_int(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {value!r}") from None


def _add_build(sub) -> None:
    p = sub.add_parser(
        "build",
        help="build a store from an official dataset root",
        description="Read the metadata file and the image package of an official BIOSCAN root once, and write"
        " one HDF5 store. Safe to interrupt: rerun the same command to resume.",
    )
    p.add_argument(
        "--root", required=True, help="folder holding bioscan5m/ (or bioscan1m/), as for bioscan-dataset"
    )
    p.add_argument("--dataset", default="bioscan5m", choices=sorted(fmt.SCHEMAS), help="default: %(default)s")
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
        type=_max_nucleotides,
        default=fmt.DEFAULT_MAX_NUCLEOTIDES,
        help="barcode width kept (default 660; 'none' keeps them whole)",
    )
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores)")
    p.add_argument(
        "--out", default=None, help="store path (default: ROOT/<dataset>/h5/<dataset>_<package>_<S>px.h5)"
    )
    p.add_argument("--overwrite", action="store_true", help="delete an existing store or partial build first")
    p.add_argument("--dry-run", action="store_true", help="print what would be done and write nothing")
    p.add_argument("--no-images", action="store_true", help="store metadata, labels and barcodes only")
    p.add_argument(
        "--compression", choices=("lzf", "gzip"), default=None, help="compress pixels (slower reads)"
    )
    p.add_argument("--no-draft", action="store_true", help="never use JPEG draft (reduced-scale) decoding")
    p.add_argument("--strict", action="store_true", help="stop at the first bad image instead of flagging it")
    p.add_argument("--no-space-check", action="store_true", help="skip the free-disk-space check")
    p.add_argument(
        "--tokenize",
        default="",
        help="precompute token arrays, e.g. 'barcodebert,clibd' (see bioscan_h5.tokenizers)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _run_build(args) -> int:
    from .builder import BuildConfig, build

    cfg = BuildConfig(
        root=args.root,
        dataset=args.dataset,
        image_package=args.image_package,
        image_size=args.image_size,
        fit=args.fit,
        splits=args.splits,
        max_nucleotides=args.max_nucleotides,
        workers=args.workers,
        out=args.out,
        overwrite=args.overwrite,
        dry_run=args.dry_run,
        no_images=args.no_images,
        compression=args.compression,
        draft=not args.no_draft,
        strict=args.strict,
        check_space=not args.no_space_check,
        tokenize=tuple(t for t in args.tokenize.split(",") if t),
        progress=not args.no_progress,
    )
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
    print(f"wrote {res.store}: {res.n_rows} rows, {res.decoded_now} images decoded in {res.seconds:.1f} s")
    counts = {k: v for k, v in res.counts.items() if v and k not in ("PENDING",)}
    print(f"  images: {counts}" if counts else "  images: none decoded (metadata only)")
    if res.bad_rows:
        print(
            f"  {len(res.bad_rows)} bad image(s) flagged (rows kept, image zeros); details in {res.report}:"
        )
        for b in res.bad_rows[:10]:
            print(f"    row {b['row']} {b['id']!r} {b['path']}: {b['reason']}")
        if len(res.bad_rows) > 10:
            print(f"    ... and {len(res.bad_rows) - 10} more")
    return 0


def _run_info(args) -> int:
    from .store import open_store

    with open_store(args.store, allow_incomplete=True) as st:
        info = st.info()
    if args.json:
        print(json.dumps(info, indent=1, ensure_ascii=False))
        return 0
    print(f"{info['path']}")
    print(f"  dataset {info['dataset']}, format v{info['format_version']}, {info['rows']} rows")
    print(
        f"  images {info['image_package']} -> {tuple(info['image_shape'])} ({info['fit']}),"
        f" {'memory-mapped' if info['memory_mapped'] else 'compressed: ' + str(info['compression'])}"
    )
    print(
        f"  size {info['size_bytes'] / 1e6:.1f} MB apparent, {info['size_on_disk_bytes'] / 1e6:.1f} MB on disk"
    )
    print(
        f"  images decoded: {info['images']['ok']}, bad: {info['bad_images']}, not built: {info['images']['pending']}"
    )
    print(f"  barcodes: max_nucleotides={info['max_nucleotides']}; tokens: {info['tokenizations'] or 'none'}")
    print("  rows per split:")
    for name, d in info["rows_per_split"].items():
        print(f"    {name:<16} {d['rows']:>9} rows {d['images']:>9} images")
    print("  labelled fraction:")
    for rank, frac in info["labelled_fraction"].items():
        print(f"    {rank:<16} {100 * frac:6.1f} %")
    if not info["complete"]:
        print("  INCOMPLETE: the build has not finished; rerun it to complete the store.")
    return 0


def _run_verify(args) -> int:
    from .verify import verify_store

    problems = verify_store(args.store, args.root, sample=args.sample, seed=args.seed)
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        return 1
    print(f"OK {args.store}: format, completeness and {args.sample} re-decoded rows match the sources")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bioscan-h5", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bioscan-h5 {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_build(sub)
    p = sub.add_parser("info", help="summarise a store")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("verify", help="check a store against its sources")
    p.add_argument("store")
    p.add_argument("--root", required=True, help="the dataset root the store was built from")
    p.add_argument("--sample", type=int, default=64, help="rows to re-decode (default 64)")
    p.add_argument("--seed", type=int, default=0)
    try:
        from . import _download_cli
    except ImportError:  # pragma: no cover - the download module is optional at runtime
        _download_cli = None
    if _download_cli is not None:
        _download_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bioscan-h5`` console command."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    runners = {"build": _run_build, "info": _run_info, "verify": _run_verify}
    from .builder import BuildInterrupted

    try:
        if args.command == "download":
            from . import _download_cli

            return _download_cli.run(args)
        return runners[args.command](args)
    except BuildInterrupted as exc:
        print(f"bioscan-h5 {args.command}: {exc}", file=sys.stderr)
        return 130
    except BioscanH5Error as exc:
        print(f"bioscan-h5 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"bioscan-h5 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - interactive
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
