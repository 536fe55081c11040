#!/usr/bin/env python
"""CLIBD-style image-DNA contrastive training, then the BIOSCAN-5M retrieval evaluation.

Trains on CLIBD's ``no_split_and_seen_train`` group (a split name here); evaluates image
queries of ``val_seen`` / ``val_unseen`` against the DNA keys of ``all_keys``: top-1/5 micro
and macro accuracy per rank and the seen/unseen harmonic mean, as CLIBD's ``util.py``.
``taxon_text`` gives the "order family genus species" text CLIBD feeds its text encoder.

    python examples/clibd_contrastive.py --root demo --steps 20
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.label_views import taxon_text
from bioscan_h5.retrieval import evaluate_seen_unseen
from bioscan_h5.tokenizers import clibd_tokenizer

RANKS = ("order", "family", "genus", "species")


def encoders(vocab: int, width: int = 32):
    image = nn.Sequential(
        nn.AdaptiveAvgPool2d(16),
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.LazyLinear(width),
    )
    dna = nn.Sequential(nn.EmbeddingBag(vocab, width))
    return image, dna


def features(batch, image_enc, dna_enc):
    img = nn.functional.normalize(image_enc(batch["image"].float() / 255), dim=1)
    dna = nn.functional.normalize(dna_enc(batch["dna"]), dim=1)
    return img, dna


def split(root, name, tok):
    kw = dict(image_format="tensor", dna_transform=tok, target_type=list(RANKS), drop_bad_images=True)
    return BIOSCAN5M(root, split=name, build=False, **kw)


def embed(ds, image_enc, dna_enc):
    imgs, dnas = [], []
    with torch.no_grad():
        for batch in batch_loader(ds, batch_size=64):
            i, d = features(batch, image_enc, dna_enc)
            imgs.append(i)
            dnas.append(d)
    labels = {r: ds.label_indices(r) for r in RANKS}
    return torch.cat(imgs), torch.cat(dnas), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="demo")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)

    tok = clibd_tokenizer()
    train = split(args.root, "no_split_and_seen_train", tok)
    image_enc, dna_enc = encoders(tok.vocab_size)
    image_enc(torch.zeros(1, 3, 16, 16))  # materialise the lazy layer
    opt = torch.optim.Adam([*image_enc.parameters(), *dna_enc.parameters()], lr=1e-2)
    step = 0
    while step < args.steps:
        for batch in batch_loader(train, batch_size=32, shuffle=True, drop_last=True):
            if step == 0:
                print("text input:", taxon_text(train, batch)[0])
            img, dna = features(batch, image_enc, dna_enc)
            logits = img @ dna.T / 0.07
            target = torch.arange(len(logits))
            loss = (
                nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)
            ) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step >= args.steps:
                break
    print(f"step {step}: contrastive loss {loss.item():.3f}")

    _, key_dna, key_labels = embed(split(args.root, "all_keys", tok), image_enc, dna_enc)
    seen_img, seen_dna, seen_labels = embed(split(args.root, "val_seen", tok), image_enc, dna_enc)
    unseen_img, unseen_dna, unseen_labels = embed(split(args.root, "val_unseen", tok), image_enc, dna_enc)
    for query, seen, unseen in (("image", seen_img, unseen_img), ("DNA", seen_dna, unseen_dna)):
        res = evaluate_seen_unseen(key_dna, key_labels, seen, seen_labels, unseen, unseen_labels, ks=(1, 5))
        print(f"{query} -> DNA keys, micro top-1: seen / unseen / harmonic mean")
        for r in RANKS:
            row = [res[s][r]["micro"][1] for s in ("seen", "unseen", "harmonic_mean")]
            print(f"  {r:<8} {row[0]:.3f} / {row[1]:.3f} / {row[2]:.3f}")


if __name__ == "__main__":
    main()
