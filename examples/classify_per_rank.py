#!/usr/bin/env python
"""Image classification per rank: one head per rank, class-balanced batches, per-rank accuracy.

A tiny CNN on BIOSCAN-5M images predicts order, family and genus at once; batches are balanced
over families (``BalancedSampler``). The genus predictions are also lifted to family with the
taxonomy, as hierarchical evaluation does.

    python examples/classify_per_rank.py --root demo --epochs 1
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.samplers import BalancedSampler

RANKS = ("order", "family", "genus")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="demo")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)

    kw = dict(modality=("image",), target_type=list(RANKS), image_format="tensor", drop_bad_images=True)
    train = BIOSCAN5M(args.root, split="train", build=False, **kw)
    val = BIOSCAN5M(args.root, split="val", build=False, **kw)
    widths = [train.num_classes(r) for r in RANKS]  # every label of the store has an index

    body = nn.Sequential(
        nn.AdaptiveAvgPool2d(32),
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    heads = nn.ModuleList(nn.Linear(16, w) for w in widths)
    opt = torch.optim.Adam([*body.parameters(), *heads.parameters()], lr=1e-2)
    sampler = BalancedSampler(train, "family", seed=0)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-1)  # -1: the rank is missing for that sample

    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for batch in batch_loader(train, batch_size=args.batch_size, sampler=sampler):
            feats = body(batch["image"].float() / 255)
            loss = sum(loss_fn(h(feats), batch[f"{r}_index"]) for h, r in zip(heads, RANKS))
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch}: loss {loss.item():.3f}")

    correct = dict.fromkeys(RANKS, 0)
    lifted = total = 0
    tax = val.taxonomy
    with torch.no_grad():
        for batch in batch_loader(val, batch_size=64):
            feats = body(batch["image"].float() / 255)
            for h, r in zip(heads, RANKS):
                correct[r] += int((h(feats).argmax(1) == batch[f"{r}_index"]).sum())
            genus = heads[2](feats).argmax(1)
            lifted += int((tax.lift(genus, "genus", "family") == batch["family_index"]).sum())
            total += len(batch["index"])
    for r in RANKS:
        print(f"val top-1 {r:<7} {correct[r] / total:.3f}")
    print(f"val family from the genus head (taxonomy lift) {lifted / total:.3f}")


if __name__ == "__main__":
    main()
