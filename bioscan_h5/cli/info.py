"""``bioscan-h5 info``: summarise a store."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``info`` subcommand to ``sub`` and return its parser (its ``func`` is :func:`run`)."""
    p = sub.add_parser("info", help="summarise a store")
    p.add_argument("store")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``bioscan-h5 info`` with parsed arguments: print the store's summary (or its JSON)."""
    from ..pixels import codec
    from ..store import open_store

    with open_store(args.store, allow_incomplete=True) as st:
        info = st.info()
    if args.json:
        print(json.dumps(info, indent=1, ensure_ascii=False))
        return 0
    print(f"{info['path']}")
    print(f"  dataset {info['dataset']}, format v{info['format_version']}, {info['rows']} rows")
    if info["image_shape"] is None:
        print("  no images (a DNA-only dataset)")
    else:
        kind = codec(info["pixels"]).describe(info)
        print(f"  images {info['image_package']} -> {tuple(info['image_shape'])} ({info['fit']}), {kind}")
        print(f"  image bytes {info['image_bytes'] / 1e6:.1f} MB, {info['bytes_per_image']} per image")
    print(
        f"  size {info['size_bytes'] / 1e6:.1f} MB apparent, {info['size_on_disk_bytes'] / 1e6:.1f} MB on disk"
    )
    if info["image_shape"] is not None:
        print(
            f"  images decoded: {info['images']['ok']}, bad: {info['bad_images']},"
            f" not built: {info['images']['pending']}"
        )
    print(f"  barcodes: max_nucleotides={info['max_nucleotides']}; tokens: {info['tokenizations'] or 'none'}")
    print(
        "  whole barcodes: kept (any max_nucleotides is served)"
        if info["full_barcodes"]
        else f"  whole barcodes: no (cut at {info['max_nucleotides']} letters)"
    )
    print(
        "  checksums: CRC-32 of every row and array (`bioscan-h5 verify --full` checks them)"
        if info["checksums"]
        else "  checksums: MISSING (the store is damaged; rebuild it with --overwrite)"
    )
    print("  rows per split:")
    for name, d in info["rows_per_split"].items():
        print(f"    {name:<16} {d['rows']:>9} rows {d['images']:>9} images")
    print("  labelled fraction:")
    for rank, frac in info["labelled_fraction"].items():
        print(f"    {rank:<16} {100 * frac:6.1f} %")
    if not info["complete"]:
        print("  INCOMPLETE: the build has not finished; rerun it to complete the store.")
    return 0
