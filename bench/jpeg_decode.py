"""Benchmark: decoding a JPEG store's images, per decoder, per image, one thread.

The images are a generated root's ``cropped_256`` JPEGs (256 px on the short side, like the
real package), read back from a ``--pixels jpeg`` store. Each decoder turns the stored bytes
into the ``(S, S, 3)`` pixels a raw store holds (:class:`bioscan_h5.pixels.jpeg_decode.RowDecoder`):

- at S = 256 (no resize, a centre crop): Pillow alone vs simplejpeg (the same pixels);
- at S = 128 (the source is 2x the target): Pillow with JPEG DCT scaling (draft mode, the raw
  builder's default and so the store's) vs Pillow decoding at full scale (``--no-draft``)
  vs simplejpeg at full scale + Pillow's resize (the same pixels as ``--no-draft``).

Rounds interleave the decoders; the table gives medians of microseconds per image.

Usage::

    python bench/jpeg_decode.py [--images 512] [--rounds 7] [--work DIR]
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
sys.path.insert(0, REPO)

import argparse
import statistics
import tempfile
import time

import numpy as np


def _encoded(work: str, n: int) -> tuple[list[bytes], list[bytes], list[tuple[int, int]]]:
    """``n`` stored images (bytes), their modes and sizes, from a JPEG store of a generated root."""
    from bioscan_h5 import open_store
    from bioscan_h5.build import BuildConfig, build
    from tools import make_sample_data

    root = os.path.join(work, f"decode-root{n}")
    store = os.path.join(root, "jpeg.h5")
    if not os.path.exists(store):
        make_sample_data.make_bioscan5m_root(root, n_rows=n, seed=1, faults=False, overwrite=True)
        build(BuildConfig(root=root, out=store, pixels="jpeg", progress=False, workers=1))
    with open_store(store) as st:
        rows = np.flatnonzero(st.image_ok)
        jp = st.pixel_block
        return [jp.encoded(int(r)) for r in rows], [bytes(jp.modes[r]) for r in rows], jp.sizes[rows].tolist()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bioscan-h5-bench"))
    args = p.parse_args(argv)
    from bioscan_h5.pixels.jpeg_decode import RowDecoder, simplejpeg_module

    datas, modes, sizes = _encoded(args.work, args.images)
    fast = simplejpeg_module() is not None
    cases = {
        "S=256, Pillow": RowDecoder(256, "crop", True, fast=False),
        "S=128, Pillow, draft (DCT scaling 1/2)": RowDecoder(128, "crop", True, fast=False),
        "S=128, Pillow, full scale (--no-draft)": RowDecoder(128, "crop", False, fast=False),
    }
    if fast:
        cases["S=256, simplejpeg"] = RowDecoder(256, "crop", True, fast=True)
        cases["S=128, simplejpeg full scale + Pillow resize (--no-draft)"] = RowDecoder(
            128, "crop", False, fast=True
        )
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(args.rounds):
        names = list(cases)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            dec = cases[name]
            out = np.empty((dec.size, dec.size, 3), np.uint8)
            t0 = time.perf_counter()
            for data, mode, size in zip(datas, modes, sizes):
                dec.into(data, mode, size, out)
            times[name].append((time.perf_counter() - t0) / len(datas) * 1e6)
    print(
        f"decoding {len(datas)} cropped_256 JPEGs (mean {np.mean([len(d) for d in datas]):,.0f} B), one thread,"
        f" median of {args.rounds} rounds{'' if fast else '; simplejpeg not installed'}"
    )
    base = {
        "S=256": statistics.median(times["S=256, Pillow"]),
        "S=128": statistics.median(times["S=128, Pillow, full scale (--no-draft)"]),
    }
    for name, t in times.items():
        med = statistics.median(t)
        print(f"  {name:<60} {med:8.0f} us/image  {base[name[:5]] / med:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
