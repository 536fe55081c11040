"""Benchmark: the research kit at BIOSCAN-5M scale (taxonomy, samplers, retrieval, masking).

Prints one table, each row against its target (issue 22):

* the taxonomy of 5,150,850 rows x 8 ranks (BIOSCAN-5M's label counts and labelled fractions,
  generated as a tree with a few homonyms), built from the code arrays (< 0.5 s), and its
  first build in the process (which imports numba and loads the cached kernels);
* one epoch of ``BalancedSampler`` and of ``KClassMSampler`` (k=8, m=4) over the 5.13M rows
  labelled at ``dna_bin`` (324,411 labels), and of positive pairs (< 1 s each);
* top-k retrieval (``nearest_keys``, k=5) against a plain loop of ``torch.mm`` + ``topk`` over
  the same chunks on the CPU (ratio < 2). The issue's size is 100k queries x 1M keys; the
  default here is scaled down (``--queries``/``--keys``) to fit a shared 2-core machine;
* masking a (256, 165) batch of BarcodeBERT tokens on the CPU (< 1 ms), one thread and all.

Each row is the median of ``--rounds`` rounds (wall clock) after a first draw (the numba
kernels compile or load from cache once per process), the sides of a comparison interleaved
within each round.

Usage::

    python bench/research.py [--rounds 3] [--queries 10000] [--keys 200000] [--dim 256]
"""

from __future__ import annotations

import os
import sys

# bench/tokenize.py shadows the standard library's ``tokenize``: keep this folder off the path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bioscan_h5.retrieval import nearest_keys  # noqa: E402
from bioscan_h5.samplers import BalancedSampler, KClassMSampler, PositivePairSampler  # noqa: E402
from bioscan_h5.taxonomy import Taxonomy  # noqa: E402
from bioscan_h5.tokenizers import barcodebert_tokenizer, mask_tokens  # noqa: E402

ROWS = 5_150_850
#: rank -> (labels, labelled fraction), from the BIOSCAN-5M metadata
RANKS = {
    "phylum": (1, 1.0),
    "class": (10, 0.999),
    "order": (55, 0.997),
    "family": (934, 0.958),
    "subfamily": (1542, 0.286),
    "genus": (7605, 0.238),
    "species": (22622, 0.092),
    "dna_bin": (324411, 0.997),
}


def make_codes(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per rank, int32 codes of ``ROWS`` rows: a random tree, skewed bins, missing labels."""
    names = list(RANKS)
    parent = {}
    for above, rank in itertools.pairwise(names):
        n, n_above = RANKS[rank][0], RANKS[above][0]
        parent[rank] = rng.integers(0, n_above, n)
    bins = (rng.zipf(1.3, ROWS) - 1) % RANKS["dna_bin"][0]
    codes = {"dna_bin": bins}
    for rank in reversed(names[:-1]):
        child = names[names.index(rank) + 1]
        up = parent[child][codes[child]]
        if rank == "genus":  # a few homonyms: 0.1% of rows put under another genus
            flip = rng.random(ROWS) < 0.001
            up[flip] = rng.integers(0, RANKS[rank][0], int(flip.sum()))
        codes[rank] = up
    out = {}
    u = rng.random(ROWS)
    for rank in names:  # coarser ranks are labelled wherever finer ones are
        out[rank] = np.where(u < RANKS[rank][1], codes[rank], -1).astype(np.int32)
    return out


def median_time(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def plain_topk(q: torch.Tensor, keys: torch.Tensor, k: int, qc: int, kc: int) -> torch.Tensor:
    """The anchor: normalise, then per chunk pair ``torch.mm`` + ``topk``, one final ``topk``."""
    q = torch.nn.functional.normalize(q, dim=1)
    keys = torch.nn.functional.normalize(keys, dim=1)
    out = []
    for qs in range(0, len(q), qc):
        vals, idxs = [], []
        for ks in range(0, len(keys), kc):
            v, i = torch.topk(torch.mm(q[qs : qs + qc], keys[ks : ks + kc].T), k, dim=1)
            vals.append(v)
            idxs.append(i + ks)
        _, j = torch.topk(torch.cat(vals, 1), k, dim=1)
        out.append(torch.gather(torch.cat(idxs, 1), 1, j))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[tuple[str, str, str]] = []

    codes = make_codes(rng)
    names = {r: [f"{r}{i}" for i in range(n)] for r, (n, _) in RANKS.items()}
    t0 = time.perf_counter()
    Taxonomy(tuple(RANKS), codes, names)
    t_first = time.perf_counter() - t0
    rows.append(("taxonomy, first in this process (numba import, cached kernels)", f"{t_first:.3f} s", ""))
    t_tax = median_time(lambda: Taxonomy(tuple(RANKS), codes, names), args.rounds)
    tax = Taxonomy(tuple(RANKS), codes, names)
    rows.append(
        (f"taxonomy, {ROWS:,} rows x 8 ranks ({len(tax.conflicts())} homonyms)", f"{t_tax:.3f} s", "< 0.5 s")
    )

    labels = codes["dna_bin"].astype(np.int64)
    n_lab = int((labels >= 0).sum())
    t0 = time.perf_counter()
    bal = BalancedSampler(labels, seed=0)
    t_init = time.perf_counter() - t0
    bal.indices()
    rows.append((f"BalancedSampler init ({n_lab:,} labelled rows, dna_bin)", f"{t_init:.3f} s", "once"))
    rows.append(
        (
            "BalancedSampler epoch (balanced, rounds)",
            f"{median_time(bal.indices, args.rounds):.3f} s",
            "< 1 s",
        )
    )
    rep = BalancedSampler(labels, seed=0, replacement=True)
    rows.append(
        (
            "BalancedSampler epoch (with replacement)",
            f"{median_time(rep.indices, args.rounds):.3f} s",
            "< 1 s",
        )
    )
    kxm = KClassMSampler(labels, k=8, m=4, seed=0)
    kxm.batches()
    rows.append(
        (
            f"KClassMSampler epoch (k=8, m=4, {len(kxm):,} batches)",
            f"{median_time(kxm.batches, args.rounds):.3f} s",
            "< 1 s",
        )
    )
    pos = PositivePairSampler(labels, pairs_per_batch=128, seed=0)
    rows.append(
        (
            "PositivePairSampler epoch (anchors + positives)",
            f"{median_time(lambda: pos.epoch_pairs(np.random.default_rng(0)), args.rounds):.3f} s",
            "< 1 s",
        )
    )

    g = torch.Generator().manual_seed(0)
    q = torch.randn(args.queries, args.dim, generator=g)
    keys = torch.randn(args.keys, args.dim, generator=g)
    qc, kc = 1024, 65536
    ours_t, plain_t = [], []
    for r in range(args.rounds):  # interleaved, order rotated
        for side in (0, 1) if r % 2 == 0 else (1, 0):
            t = time.perf_counter()
            if side == 0:
                _, ours = nearest_keys(q, keys, 5, qc, kc)
                ours_t.append(time.perf_counter() - t)
            else:
                ref = plain_topk(q, keys, 5, qc, kc)
                plain_t.append(time.perf_counter() - t)
    assert torch.equal(ours, ref), "nearest_keys differs from the plain loop"
    a, b = statistics.median(ours_t), statistics.median(plain_t)
    size = f"{args.queries:,} x {args.keys:,} x {args.dim}"
    rows.append((f"top-5 search {size}, CPU: nearest_keys", f"{a:.2f} s", ""))
    rows.append((f"top-5 search {size}, CPU: plain mm+topk loop", f"{b:.2f} s", ""))
    rows.append(("top-5 search: ratio nearest_keys / plain loop", f"{a / b:.2f}", "< 2"))

    tok = barcodebert_tokenizer()
    ids = torch.randint(0, tok.vocab_size, (256, 165), generator=g)
    for threads in sorted({1, torch.get_num_threads()}):
        torch.set_num_threads(threads)
        gen = torch.Generator().manual_seed(0)
        for _ in range(20):
            mask_tokens(ids, tok, 0.5, gen)
        times = []
        for _ in range(500):
            t = time.perf_counter()
            mask_tokens(ids, tok, 0.5, gen)
            times.append(time.perf_counter() - t)
        rows.append(
            (
                f"mask_tokens (256, 165), CPU, {threads} thread(s), median of 500",
                f"{statistics.median(times) * 1e3:.3f} ms",
                "< 1 ms",
            )
        )

    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'measured':>10}  target")
    for what, value, target in rows:
        print(f"{what:<{width}}  {value:>10}  {target}")


if __name__ == "__main__":
    main()
