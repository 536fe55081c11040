#!/usr/bin/env python
"""Zero-shot clustering (as zs-ssl-clustering): embed barcodes with a frozen encoder, cluster,
score the clusters against each rank with adjusted mutual information.

The "encoder" here is 4-mer frequencies (no training); swap in any pretrained model.

    python examples/zero_shot_clustering.py --root demo
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.retrieval import adjusted_mutual_info
from bioscan_h5.tokenizers import KmerTokenizer

RANKS = ("order", "family", "genus", "species")


def kmeans(x: torch.Tensor, k: int, steps: int = 50, seed: int = 0) -> torch.Tensor:
    """Cluster ids of the rows of ``x`` (plain Lloyd iterations from random rows)."""
    g = torch.Generator().manual_seed(seed)
    centres = x[torch.randperm(len(x), generator=g)[:k]].clone()
    for _ in range(steps):
        assign = torch.cdist(x, centres).argmin(1)
        for c in range(k):
            if (assign == c).any():
                centres[c] = x[assign == c].mean(0)
    return assign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="demo")
    parser.add_argument("--split", default="test_unseen+val_unseen+test")
    args = parser.parse_args()

    tok = KmerTokenizer(4, stride=1)  # overlapping 4-mers
    ds = BIOSCAN5M(args.root, split=args.split, modality=("dna",), dna_transform=tok, build=False)
    rows = []
    for batch in batch_loader(ds, batch_size=128):
        counts = torch.zeros(len(batch["index"]), tok.vocab_size)
        counts.scatter_add_(1, batch["dna"], batch["dna_mask"].float())
        rows.append(counts[:, len(tok.specials) :])
    x = torch.nn.functional.normalize(torch.cat(rows), dim=1)

    species = ds.label_indices("species")
    k = max(2, len(np.unique(species[species >= 0])))
    clusters = kmeans(x, k).numpy()
    print(f"{len(ds)} barcodes, {k} clusters")
    for r in RANKS:
        labels = ds.label_indices(r)
        keep = labels >= 0  # score labelled samples, as zs-ssl-clustering does
        print(f"  AMI vs {r:<8} {adjusted_mutual_info(labels[keep], clusters[keep]):.3f}")


if __name__ == "__main__":
    main()
