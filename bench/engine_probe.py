"""Micro-measurements of the read engine (issue 11): interleaved, one epoch per fresh process.

Every side reads each row of the dataset once, in a random order (a new seed each round), in
a process of its own that has not read the store before; the page cache is warm (the store,
and the peer's JPEG files, are read once before each round). Each round runs every side, in
an order rotated from round to round; the table shows medians over the rounds and ratios of
medians. The machine may be shared: compare figures of the same run only.

Batches (256, image + species label + index). The loader sides run two epochs with one loader:
the first includes starting threads/processes and allocating buffers; the second (``(2nd)``)
is the steady state, every row once again in a new order:

``preadv loop``        the floor: one thread, ``os.preadv`` of each row into a reused buffer
``preadv loop x2``     the same in two threads, each over half of the rows
``memmap gather``      the old way: a fresh ``np.memmap``, fancy-indexed into a new array per batch
``loader wN``          ``batch_loader(num_workers=N)``: N gathering threads (0 = in the consumer)
``procs wN``           the alternative to threads: N forked processes that read into
                       shared-memory slots allocated once and send back only the slot number
``old loader wN``      ``batch_loader`` of the code before (``--old``: a ``bioscan_h5`` tree)

Samples (``ds[i]``, image + DNA + species, as the issue measured them):

``ds[i] PIL``, ``ds[i] tensor``, their ``old`` twins, and ``peer PIL`` (bioscan-dataset 1.3.0
with its lazily opened JPEG decoded by ``.load()``).

Usage::

    python bench/engine_probe.py --root /tmp/engine-bench/root8192 --rounds 5 \\
        --old /tmp/engine-bench/old          # git archive <base> bioscan_h5 | tar -x -C ...
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]  # bench/tokenize.py

import argparse
import json
import statistics
import subprocess
import time

import numpy as np

BATCH = 256
WORKERS = (0, 1, 2)


# ----------------------------------------------------------------------------- one side, one epoch
def _dataset(root: str, **kw):
    from bioscan_h5 import BIOSCAN5M

    return BIOSCAN5M(root, split="all", build=False, **kw)


def _batches_ds(root: str):
    return _dataset(root, modality=("image",), target_type="species", image_format="tensor")


def side_preadv(root: str, order: np.ndarray, threads: int = 1) -> float:
    """The floor: ``threads`` plain loops of ``os.preadv`` into buffers made beforehand."""
    import threading

    from bioscan_h5 import format as fmt
    from bioscan_h5 import open_store

    ds = _batches_ds(root)
    with open_store(ds.store_path) as st:
        off, s = int(st.attrs[fmt.ATTR_PIXEL_OFFSET]), st.image_size
    rb, rows = s * s * 3, ds.rows[order].tolist()
    fd = os.open(ds.store_path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    bufs = [np.ones((BATCH, s, s, 3), dtype=np.uint8) for _ in range(threads)]

    def loop(part: list[int], buf: np.ndarray) -> None:
        for b in range(0, len(part), BATCH):
            for k, r in enumerate(part[b : b + BATCH]):
                os.preadv(fd, [buf[k]], off + r * rb)

    workers = [threading.Thread(target=loop, args=(rows[i::threads], bufs[i])) for i in range(threads)]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return len(rows) / (time.perf_counter() - t0)


def side_memmap(root: str, order: np.ndarray) -> float:
    from bioscan_h5 import format as fmt
    from bioscan_h5 import open_store

    ds = _batches_ds(root)
    with open_store(ds.store_path) as st:
        off, s, n = int(st.attrs[fmt.ATTR_PIXEL_OFFSET]), st.image_size, st.n_rows
    rows = ds.rows[order]
    t0 = time.perf_counter()
    mm = np.memmap(ds.store_path, dtype=np.uint8, mode="r", offset=off, shape=(n, s, s, 3))
    for b in range(0, len(rows), BATCH):
        mm[rows[b : b + BATCH]]
    return len(rows) / (time.perf_counter() - t0)


def _orders(order: np.ndarray, epochs: int) -> list[list[int]]:
    """``order`` for the first epoch, then new permutations (each row once per epoch)."""
    rng = np.random.default_rng(int(order[0]) + 1)
    return [order.tolist()] + [rng.permutation(len(order)).tolist() for _ in range(epochs - 1)]


def side_loader(root: str, order: np.ndarray, workers: int, epochs: int = 2) -> list[float]:
    """One loader, ``epochs`` epochs: the first pays for the threads and the ring, the second not."""
    from bioscan_h5 import batch_loader

    ds = _batches_ds(root)
    sampler: list[int] = []
    rates = []
    t0 = time.perf_counter()
    loader = batch_loader(ds, BATCH, sampler=sampler, num_workers=workers)
    for epoch in _orders(order, epochs):
        sampler[:] = epoch
        n = sum(len(b["index"]) for b in loader)
        rates.append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
    return rates


class ProcessGather:
    """The alternative to threads: forked processes fill shared slots allocated once, and send
    back only slot numbers (the same ring schedule as batch_loader: lifetime 2, N + 1 ahead)."""

    def __init__(self, ds, workers: int) -> None:
        import multiprocessing as mp

        import torch

        self.ds, self.ctx, self.ahead = ds, mp.get_context("fork"), workers + 1
        self.size = 2 + self.ahead - 1
        shape = (self.size, BATCH, *ds.reader.pixels.row_shape)
        self.images = torch.empty(shape, dtype=torch.uint8).share_memory_()
        self.labels = torch.empty((self.size, BATCH), dtype=torch.int64).share_memory_()
        self.tasks, self.done = self.ctx.SimpleQueue(), self.ctx.SimpleQueue()
        self.procs = [self.ctx.Process(target=self._work, daemon=True) for _ in range(workers)]
        for p in self.procs:
            p.start()
        self.next = 0  # ring numbering across epochs

    def _work(self) -> None:
        img, lab, ds = self.images.numpy(), self.labels.numpy(), self.ds
        while (msg := self.tasks.get()) is not None:
            b, slot, idx = msg
            rows = ds.rows[idx]
            ds.reader.pixels.read(rows, img[slot, : len(idx)])
            lab[slot, : len(idx)] = ds.label_space.codes("species", rows)
            self.done.put((b, slot, len(idx)))

    def epoch(self, order: list[int]) -> int:
        batches = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
        submitted, arrived, n, base = 0, {}, 0, self.next
        for m in range(len(batches)):
            while submitted < min(m + self.ahead, len(batches)):
                self.tasks.put((submitted, (base + submitted) % self.size, batches[submitted]))
                submitted += 1
            while m not in arrived:
                b, slot, k = self.done.get()
                arrived[b] = (slot, k)
            slot, k = arrived.pop(m)
            batch = {"image": self.images[slot, :k].permute(0, 3, 1, 2), "species": self.labels[slot, :k]}
            n += len(batch["species"])
        self.next = base + len(batches)
        return n

    def close(self) -> None:
        for _ in self.procs:
            self.tasks.put(None)
        for p in self.procs:
            p.join()


def side_procs(root: str, order: np.ndarray, workers: int, epochs: int = 2) -> list[float]:
    ds = _batches_ds(root)
    rates = []
    t0 = time.perf_counter()
    gather = ProcessGather(ds, workers)
    for epoch in _orders(order, epochs):
        n = gather.epoch(epoch)
        rates.append(n / (time.perf_counter() - t0))
        t0 = time.perf_counter()
    gather.close()
    return rates


def side_getitem(root: str, order: np.ndarray, image_format: str) -> float:
    ds = _dataset(root, image_format=image_format, target_type="species")
    idx = order.tolist()
    t0 = time.perf_counter()
    for i in idx:
        ds[i]
    return len(idx) / (time.perf_counter() - t0)


def side_peer(root: str, order: np.ndarray) -> float:
    import bioscan_dataset

    class Peer(bioscan_dataset.BIOSCAN5M):
        def _check_integrity(self, verbose=1):
            return True

    ds = Peer(root, split="all", target_type="species")
    idx = order.tolist()
    t0 = time.perf_counter()
    for i in idx:
        ds[i][0].load()
    return len(idx) / (time.perf_counter() - t0)


def run_side(name: str, root: str, seed: int) -> list[float]:
    n = len(_dataset(root, modality=("dna",)))
    order = np.random.default_rng(seed).permutation(n)
    words = name.removeprefix("old ").split()
    kind, arg = words[0], words[-1]
    table = {
        "preadv": lambda: side_preadv(root, order, int(arg[1:]) if arg.startswith("x") else 1),
        "memmap": lambda: side_memmap(root, order),
        "loader": lambda: side_loader(root, order, int(arg[1:])),
        "procs": lambda: side_procs(root, order, int(arg[1:])),
        "ds[i]": lambda: side_getitem(root, order, arg.lower()),
        "peer": lambda: side_peer(root, order),
    }
    rates = table[kind]()
    return rates if isinstance(rates, list) else [rates]


# ----------------------------------------------------------------------------- driver
SIDES = [
    "preadv loop",
    "preadv loop x2",
    "memmap gather",
    *(f"loader w{w}" for w in WORKERS),
    *(f"procs w{w}" for w in WORKERS[1:]),
    "ds[i] PIL",
    "ds[i] tensor",
    "peer PIL",
]
OLD_SIDES = [*(f"old loader w{w}" for w in WORKERS), "old ds[i] PIL", "old ds[i] tensor"]


def warm(root: str) -> None:
    """Read every file of the root once (the store and the JPEG files) into the page cache."""
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                while fh.read(1 << 24):
                    pass


def spawn(name: str, root: str, seed: int, old: str | None) -> list[float]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            p for p in (old if name.startswith("old ") else REPO, os.environ.get("PYTHONPATH")) if p
        ),
    )
    argv = [sys.executable, os.path.abspath(__file__), "--side", name, "--root", root, "--seed", str(seed)]
    res = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"{name}: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])["rate"]


def report(rates: dict[str, list[float]]) -> None:
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{'side':<20}{'median':>12}{'min':>10}{'max':>10}   per sample")
    for k, v in rates.items():
        print(f"{k:<20}{med[k]:>12,.0f}{min(v):>10,.0f}{max(v):>10,.0f}   {1e6 / med[k]:7.1f} us")

    def ratio(a: str, b: str) -> None:
        if a in med and b in med:
            print(f"  {a} / {b}: {med[a] / med[b]:.2f}x")

    print("ratios of medians (2nd: the second epoch of the same loader, threads and buffers made):")
    for suffix in ("", " (2nd)"):
        for w in WORKERS:
            ratio(f"loader w{w}{suffix}", "preadv loop")
            ratio(f"loader w{w}{suffix}", f"old loader w{w}{suffix}")
        ratio(f"loader w2{suffix}", "preadv loop x2")
        ratio(f"loader w2{suffix}", f"loader w0{suffix}")
        ratio(f"loader w1{suffix}", f"loader w0{suffix}")
        for w in WORKERS[1:]:
            ratio(f"loader w{w}{suffix}", f"procs w{w}{suffix}")
    ratio("preadv loop x2", "preadv loop")
    ratio("memmap gather", "preadv loop")
    for f in ("PIL", "tensor"):
        ratio(f"ds[i] {f}", "peer PIL")
        ratio(f"ds[i] {f}", f"old ds[i] {f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", required=True, help="a sample root with a built store (all splits)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--old", help="a folder holding the bioscan_h5 package of the code before")
    p.add_argument("--only", nargs="*", help="run only these sides")
    p.add_argument("--side", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.side:
        print(json.dumps({"rate": run_side(args.side, args.root, args.seed)}))
        return
    sides = SIDES + (OLD_SIDES if args.old else [])
    if args.only:
        sides = [s for s in sides if s in args.only]
    rates: dict[str, list[float]] = {}
    for r in range(args.rounds):
        warm(args.root)
        turn = sides[r % len(sides) :] + sides[: r % len(sides)]
        for name in turn:
            for e, rate in enumerate(spawn(name, args.root, seed=r, old=args.old)):
                rates.setdefault(name if e == 0 else f"{name} (2nd)", []).append(rate)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    report(rates)


if __name__ == "__main__":
    main()
