#!/usr/bin/env python
"""The end of ``make demo``: use the store built from the bundled sample root as a user would.

Prints a few samples of ``BIOSCAN5M``, runs a DataLoader, counts labels per order with the
store API, and writes a contact sheet of 16 validation images with their species to
``<root>/val_grid.png``.
"""

from __future__ import annotations

import argparse
import collections
import os
import time

import numpy as np
from PIL import Image, ImageDraw

from bioscan_h5 import BIOSCAN5M, batch_loader, open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="demo")
    args = parser.parse_args()

    ds = BIOSCAN5M(args.root, split="train", target_type=["order", "species"], build=False)
    print(ds)
    img, dna, (order, species) = ds[0]
    print(
        f"\nds[0]: image {img.size} {img.mode}, barcode {dna[:24]}... ({len(dna)} nt), order {order}, species {species}"
    )
    print(f"       order index {order} -> {ds.index2label(order, 'order')!r}")

    t0 = time.perf_counter()
    n = 0
    for batch in batch_loader(ds, batch_size=64, shuffle=True, num_workers=2):
        n += len(batch["index"])
    print(
        f"\nbatch_loader: {n} samples in {time.perf_counter() - t0:.2f} s; last batch image {tuple(batch['image'].shape)}"
    )

    with open_store(ds.store_path) as st:
        rows = st.indices("val")
        rows = rows[st.image_ok[rows]][:16]
        species = st.vocab["species"]
        names = [species[c] if c >= 0 else "(no species label)" for c in st.labels["species"][rows]]
        order_vocab = st.vocab["order"]
        counts = collections.Counter(order_vocab[c] if c >= 0 else "(missing)" for c in st.labels["order"])
        print("\nlabels per order (all splits):")
        for name, c in counts.most_common():
            print(f"  {name:<20} {c}")
        s = st.image_size
        n_rows = max(1, -(-len(rows) // 4))
        sheet = Image.new("RGB", (4 * s, n_rows * (s + 20)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, (r, name) in enumerate(zip(rows, names)):
            x, y = (i % 4) * s, (i // 4) * (s + 20)
            sheet.paste(Image.fromarray(np.asarray(st.images[r])), (x, y))
            draw.text((x + 4, y + s + 4), name[:40], fill="black")
        out = os.path.join(args.root, "val_grid.png")
        sheet.save(out)
        print(f"\nwrote {out}: {len(rows)} validation images with their species")


if __name__ == "__main__":
    main()
