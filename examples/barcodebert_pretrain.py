#!/usr/bin/env python
"""BarcodeBERT-style DNA pretraining: masked k-mer prediction, then a 1-NN genus probe.

Tokens come from BarcodeBERT's tokenizer on the batched path (trailing Ns stripped, a random
start offset below k per sequence); ``MaskTokens`` masks 50% of the k-mers inside the loader.

    python examples/barcodebert_pretrain.py --root demo --steps 20
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.retrieval import knn_probe
from bioscan_h5.tokenizers import MaskTokens, barcodebert_tokenizer


class Encoder(nn.Module):
    def __init__(self, vocab: int, width: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        layer = nn.TransformerEncoderLayer(width, 4, 64, batch_first=True)
        self.body = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(width, vocab)

    def forward(self, ids, mask):
        return self.body(self.embed(ids), src_key_padding_mask=mask == 0)


def embed(model, ds, tokenizer):
    """Mean-pooled embeddings and genus labels of a dataset (BarcodeBERT's probe input)."""
    out = []
    with torch.no_grad():
        for batch in batch_loader(ds, batch_size=64):
            h = model(batch["dna"], batch["dna_mask"])
            m = batch["dna_mask"].unsqueeze(-1).float()
            out.append((h * m).sum(1) / m.sum(1).clamp(min=1))
    genus = ds.label_indices("genus")
    keep = genus >= 0  # the probe scores labelled samples only
    return torch.cat(out)[torch.from_numpy(keep)], genus[keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default="demo")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)

    tok = barcodebert_tokenizer()
    train_tok = tok.with_options(strip_trailing_n=True, random_offset=True)
    kw = dict(modality=("dna",), max_nucleotides=None, build=False)
    pretrain = BIOSCAN5M(args.root, split="pretrain", dna_transform=train_tok, **kw)
    masking = MaskTokens(tok, rate=0.5, generator=torch.Generator().manual_seed(0))
    model = Encoder(tok.vocab_size)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    step = 0
    while step < args.steps:
        for batch in batch_loader(pretrain, batch_size=32, shuffle=True, batch_transform=masking):
            logits = model.head(model(batch["masked_dna"], batch["dna_mask"]))
            chosen = batch["masked_positions"]
            loss = nn.functional.cross_entropy(logits[chosen], batch["dna"][chosen])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step >= args.steps:
                break
    print(f"step {step}: masked-token loss {loss.item():.3f}")

    model.eval()
    train = BIOSCAN5M(args.root, split="train", dna_transform=tok, **kw)
    test = BIOSCAN5M(args.root, split="test", dna_transform=tok, **kw)
    (x_train, y_train), (x_test, y_test) = embed(model, train, tok), embed(model, test, tok)
    probe = knn_probe(x_train, y_train, x_test, y_test)
    print(f"1-NN genus probe: accuracy {probe['accuracy']:.3f}, balanced {probe['balanced_accuracy']:.3f}")


if __name__ == "__main__":
    main()
