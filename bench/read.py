"""Benchmark: reading samples with bioscan-h5 vs ``bioscan-dataset`` 1.3.0 (the peer).

Prints, side by side in one run, on the same images and in the same random order:

1. **Per sample** ``ds[i]`` (image + DNA + label): ours with PIL output, ours with tensor
   output, and the peer (its lazily opened JPEG is decoded, as any transform would).
2. **Batches of 256 in one process**: :func:`bioscan_h5.batch_loader` (the
   :func:`~bioscan_h5.loader.gather_batch` path) and ``__getitems__``, against the floor: a
   bare ``np.memmap`` of the store's pixel block at the same offset, gathered with the same
   indices into a new array per batch (as any reader must hand out).
3. **DataLoader** (batch 256, shuffled) with 0, 1 and 2 workers: ours per sample (tensor
   output, default collate), ours ``batch_loader``, the peer (``Resize(256)`` +
   ``CenterCrop(256)`` + ``PILToTensor``, which it needs to batch its variable-width images),
   and the same bare ``np.memmap`` batches served by a DataLoader (the floor with workers:
   what moving 50 MB batches between processes costs). Timed over a whole epoch after a
   warm-up epoch, with persistent workers.
4. **Constructing** ``BIOSCAN5M(split="train")`` on a store built (``--no-images``) from a
   generated full-scale metadata file (5,150,850 rows, realistic columns), vs the peer's
   constructor on the same CSV: seconds and peak memory (VmHWM growth), each in a fresh
   subprocess. The store's image statuses are set to "decoded" so that the constructor takes
   its whole path with the default modality (it reads statuses, never pixels).

Timings are the best of several runs (the machine may be shared).

The sample root for 1-3 is written by ``tools/make_sample_data.py`` (no faulty images). The
peer checks MD5s of the real files in its constructor, so it runs as a subclass whose
``_check_integrity`` returns True. Files are cached under ``--work`` (default
``$TMPDIR/bioscan-h5-bench``): the full-scale CSV (about 4.5 GB) and its store are made once.

Usage::

    python bench/read.py            # everything (the first run generates the 5.15M-row CSV)
    python bench/read.py --quick    # small sizes, a 200,000-row metadata file

Saves a plot to ``bench/out/read.png``.
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

# bench/ also holds tokenize.py, which would shadow the standard library's ``tokenize``
# (imported by numpy through ``inspect``): keep this folder off the import path.
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tools"))

import argparse
import contextlib
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable

import numpy as np
from make_fullscale_metadata import FULL_ROWS, SPLITS, write_scale_csv


# ----------------------------------------------------------------------------- helpers
def peer_class():
    """``bioscan_dataset.BIOSCAN5M`` without its MD5 check of the real files (the only change)."""
    import bioscan_dataset

    class Peer(bioscan_dataset.BIOSCAN5M):
        def _check_integrity(self, verbose=1):
            return True

    return Peer


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def timed(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best of ``repeats`` wall times (the machine may be shared: the best run is the least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- sample root
def sample_root(work: str, n_rows: int) -> tuple[str, str]:
    """A generated root of ``n_rows`` clean rows and its default store (both cached)."""
    import make_sample_data

    from bioscan_h5.builder import BuildConfig, build

    root = os.path.join(work, f"root{n_rows}")
    store = os.path.join(root, "bioscan5m", "h5", "bioscan5m_cropped_256_256px.h5")
    if not os.path.exists(store):
        log(f"generating a {n_rows}-row sample root in {root} ...")
        make_sample_data.make_bioscan5m_root(root, n_rows=n_rows, seed=0, faults=False, overwrite=True)
        build(BuildConfig(root=root, progress=False))
    return root, store


# ----------------------------------------------------------------------------- 1. per sample
def bench_per_sample(root: str, n: int) -> dict[str, float]:
    from bioscan_h5 import BIOSCAN5M

    Peer = peer_class()
    ours_pil = BIOSCAN5M(root, split="all")
    ours_tensor = BIOSCAN5M(root, split="all", image_format="tensor")
    peer = Peer(root, split="all")
    order = np.random.default_rng(0).permutation(len(peer))[:n].tolist()

    def run(ds, consume) -> float:
        for i in order[:20]:  # warm-up: page cache, lazy store opening
            consume(ds[i])

        def go() -> None:
            for i in order:
                consume(ds[i])

        return rate(len(order), timed(go))

    def decode(sample) -> None:
        sample[0].load()  # the peer's image is a lazily opened JPEG: decode it

    out = {
        "ours (PIL)": run(ours_pil, decode),
        "ours (tensor)": run(ours_tensor, lambda s: None),
        "peer (PIL)": run(peer, decode),
    }
    return out


# ----------------------------------------------------------------------------- 2. batches
def bench_batches(root: str, store: str, n_batches: int, batch: int = 256) -> dict[str, float]:
    from bioscan_h5 import BIOSCAN5M, batch_loader, open_store
    from bioscan_h5 import format as fmt

    ds = BIOSCAN5M(root, split="all")
    ds_t = BIOSCAN5M(root, split="all", image_format="tensor")
    ds_n = BIOSCAN5M(root, split="all", image_format="numpy")
    n = len(ds)
    with open_store(store) as st:
        offset, s, n_rows = int(st.attrs[fmt.ATTR_PIXEL_OFFSET]), st.image_size, st.n_rows
    rng = np.random.default_rng(1)
    batches = [rng.choice(n, batch, replace=False) for _ in range(n_batches)]
    rows = [ds.rows[b] for b in batches]
    mm = np.memmap(store, dtype=np.uint8, mode="r", offset=offset, shape=(n_rows, s, s, 3))

    def floor() -> None:
        for r in rows:
            mm[r]  # a new (B, S, S, 3) array per batch, as any reader must hand out

    order = np.concatenate(batches).tolist()

    def ours_loader() -> None:
        for _ in batch_loader(ds, batch_size=batch, sampler=order, num_workers=0):
            pass

    def getitems(d) -> Callable[[], None]:
        def go() -> None:
            for b in batches:
                d.__getitems__(b)

        return go

    for fn in (floor, ours_loader):  # warm the page cache
        fn()
    total = n_batches * batch
    res = {
        "floor: np.memmap gather": rate(total, timed(floor)),
        "ours batch_loader": rate(total, timed(ours_loader)),
        "ours __getitems__ (numpy)": rate(total, timed(getitems(ds_n))),
        "ours __getitems__ (tensor)": rate(total, timed(getitems(ds_t))),
        "ours __getitems__ (PIL)": rate(total, timed(getitems(ds))),
    }
    return res


# ----------------------------------------------------------------------------- 3. DataLoader
class MemmapBatches:
    """The floor for a DataLoader: whole batches of pixels gathered from a bare ``np.memmap``.

    Items are lists of dataset indices (use a BatchSampler); each returns ``{"index", "image"}``
    with the uint8 pixels as a tensor. The map is opened lazily in each process.
    """

    def __init__(self, store: str, rows: np.ndarray) -> None:
        from bioscan_h5 import format as fmt
        from bioscan_h5 import open_store

        with open_store(store) as st:
            self.offset, self.size, self.n_rows = (
                int(st.attrs[fmt.ATTR_PIXEL_OFFSET]),
                st.image_size,
                st.n_rows,
            )
        self.store, self.rows, self.mm = store, rows, None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, indices):
        import torch

        if self.mm is None:
            shape = (self.n_rows, self.size, self.size, 3)
            self.mm = np.memmap(self.store, dtype=np.uint8, mode="r", offset=self.offset, shape=shape)
        idx = np.asarray(indices)
        return {"index": torch.from_numpy(idx), "image": torch.from_numpy(self.mm[self.rows[idx]])}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "mm": None}


def _peer_transform():
    from torchvision.transforms import v2

    return v2.Compose([v2.Resize(256), v2.CenterCrop(256), v2.PILToTensor()])


def bench_dataloader(
    root: str, n: int, workers: Iterable[int], batch: int = 256
) -> dict[str, dict[int, float]]:
    import torch
    from torch.utils.data import DataLoader, Subset

    from bioscan_h5 import BIOSCAN5M, batch_loader

    Peer = peer_class()
    ours = BIOSCAN5M(root, split="all", image_format="tensor")
    peer = Peer(root, split="all", transform=_peer_transform())
    subset = np.random.default_rng(2).choice(len(ours), n, replace=n > len(ours)).tolist()

    def epoch_rate(loader) -> float:
        """Samples per second over a whole epoch, after a first epoch that starts the (persistent)
        workers and opens the files; the timed epoch includes the prefetch it waits for."""

        def size(b) -> int:
            return len(b["index"]) if isinstance(b, dict) else len(b[-1])

        assert sum(size(b) for b in loader) == n

        def go() -> None:
            for _ in loader:
                pass

        return rate(n, timed(go, repeats=2))

    floor = MemmapBatches(ours.store.path, ours.rows)
    out: dict[str, dict[int, float]] = {
        "ours per sample": {},
        "ours batch_loader": {},
        "peer": {},
        "floor: np.memmap batches": {},
    }
    for w in workers:
        kw = {"num_workers": w, "persistent_workers": w > 0}
        g = torch.Generator().manual_seed(0)
        out["ours per sample"][w] = epoch_rate(
            DataLoader(Subset(ours, subset), batch, shuffle=True, generator=g, **kw)
        )
        out["ours batch_loader"][w] = epoch_rate(
            batch_loader(ours, batch, sampler=torch.utils.data.SubsetRandomSampler(subset, generator=g), **kw)
        )
        out["peer"][w] = epoch_rate(DataLoader(Subset(peer, subset), batch, shuffle=True, generator=g, **kw))
        out["floor: np.memmap batches"][w] = epoch_rate(
            DataLoader(
                floor,
                sampler=torch.utils.data.BatchSampler(
                    torch.utils.data.SubsetRandomSampler(subset, generator=g), batch, False
                ),
                batch_size=None,
                **kw,
            )
        )
        log(f"  DataLoader num_workers={w}: done")
    return out


# ----------------------------------------------------------------------------- 4. full scale
def scale_store(work: str, n_rows: int) -> tuple[str, str]:
    """The generated full-scale root (CSV) and its ``--no-images`` store, made once."""
    import h5py

    from bioscan_h5 import format as fmt
    from bioscan_h5.builder import BuildConfig, build

    root = os.path.join(work, f"scale{n_rows}")
    csv = os.path.join(root, "bioscan5m", "metadata", "csv", "BIOSCAN_5M_Insect_Dataset_metadata.csv")
    store = os.path.join(root, "bioscan5m", "h5", "bioscan5m_cropped_256_256px.h5")
    if not os.path.exists(csv):
        os.makedirs(os.path.dirname(csv), exist_ok=True)
        log(f"generating a {n_rows:,}-row metadata file {csv} ...")
        t0 = time.perf_counter()
        write_scale_csv(csv, n_rows)
        log(f"  {time.perf_counter() - t0:.0f} s, {os.path.getsize(csv) / 1e9:.2f} GB")
    if not os.path.exists(store):
        log("building the metadata-only store (bioscan-h5 build --no-images) ...")
        t0 = time.perf_counter()
        build(BuildConfig(root=root, no_images=True, progress=False))
        # Stand in for decoded images: mark every row's image as present, so the constructor
        # takes its full path with the default modality (it reads the statuses, never pixels).
        with h5py.File(store, "r+", locking=False) as f:
            f[fmt.IMAGE_STATUS][...] = fmt.ImageStatus.OK
            f.attrs[fmt.ATTR_SPLITS_BUILT] = json.dumps(list(SPLITS))
        log(f"  {time.perf_counter() - t0:.0f} s")
    return root, store


_CONSTRUCT = """
import json, sys, time
sys.path.insert(0, {repo!r})
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
if {who!r} == "ours":
    from bioscan_h5 import BIOSCAN5M as cls
else:
    import bioscan_dataset

    class cls(bioscan_dataset.BIOSCAN5M):
        def _check_integrity(self, verbose=1):
            return True

import torch, pandas, PIL  # imported by both: not part of the construction
before = hwm()
t0 = time.perf_counter()
ds = cls({root!r}, split="train")
dt = time.perf_counter() - t0
print(json.dumps({{"seconds": dt, "extra_bytes": hwm() - before, "len": len(ds)}}))
"""


def construct(who: str, root: str) -> dict:
    code = _CONSTRUCT.format(repo=REPO, who=who, root=root)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"{who} constructor failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- report
def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}/s"


def print_table(title: str, rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for r in rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
    ax = axes[0]
    ps = results["per_sample"]
    ax.barh(list(ps), list(ps.values()), color=["C0", "C0", "C3"])
    ax.set_title("per sample ds[i] (samples/s)")
    ax = axes[1]
    bt = results["batches"]
    ax.barh(list(bt), list(bt.values()), color=["C7"] + ["C0"] * (len(bt) - 1))
    ax.set_title("batches of 256, one process (samples/s)")
    ax = axes[2]
    dl = results["dataloader"]
    ws = sorted(next(iter(dl.values())))
    width = 0.8 / len(dl)
    for k, (name, by_w) in enumerate(dl.items()):
        ax.bar(
            np.arange(len(ws)) + k * width,
            [by_w[w] for w in ws],
            width,
            label=name,
            color=f"C{[0, 2, 3, 7][k]}",
        )
    ax.set_xticks(np.arange(len(ws)) + width, [f"{w} workers" for w in ws])
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("DataLoader, batch 256 (samples/s)")
    ax = axes[3]
    sc = results.get("scale")
    if sc:
        names = ["ours", "peer"]
        ax.bar(names, [sc[n]["seconds"] for n in names], color=["C0", "C3"])
        ax.set_yscale("log")
        for i, n in enumerate(names):
            ax.text(
                i,
                sc[n]["seconds"],
                f"{sc[n]['seconds']:.2f} s\n{sc[n]['extra_bytes'] / 1e6:,.0f} MB",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_title(f"BIOSCAN5M(split='train'), {sc['rows']:,} rows (s)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    p.add_argument(
        "--work", default=os.path.join(tempfile.gettempdir(), "bioscan-h5-bench"), help="cache folder"
    )
    p.add_argument("--rows", type=int, default=None, help="rows of the sample root (default 2048; quick 512)")
    p.add_argument(
        "--full-rows", type=int, default=None, help=f"rows of the metadata file (default {FULL_ROWS:,})"
    )
    p.add_argument("--skip-scale", action="store_true", help="skip the constructor benchmark")
    p.add_argument("--out", default=os.path.join(HERE, "out", "read.png"))
    args = p.parse_args(argv)
    rows = args.rows or (512 if args.quick else 2048)
    full_rows = args.full_rows or (200_000 if args.quick else FULL_ROWS)
    os.makedirs(args.work, exist_ok=True)
    root, store = sample_root(args.work, rows)
    results: dict = {}

    import torch

    print(
        f"bioscan-h5 read benchmark: {rows} sample rows (cropped_256 -> 256 px), {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}"
    )
    n_single = 300 if args.quick else 2000
    results["per_sample"] = ps = bench_per_sample(root, min(n_single, rows))
    peer = ps["peer (PIL)"]
    print_table(
        f"1. per sample ds[i] (image + dna + species), random order, {min(n_single, rows)} samples",
        [(k, _fmt_rate(v), f"{v / peer:.1f}x") for k, v in ps.items()],
        ("reader", "samples/s", "vs peer"),
    )
    n_batches = 8 if args.quick else 40
    results["batches"] = bt = bench_batches(root, store, n_batches)
    fl = bt["floor: np.memmap gather"]
    print_table(
        f"2. batches of 256, one process, random rows ({n_batches} batches)",
        [(k, _fmt_rate(v), f"{fl / v:.2f}x" if v else "-") for k, v in bt.items()],
        ("reader", "samples/s", "time vs floor"),
    )
    workers = (0, 1, 2)
    n_dl = 1024 if args.quick else 2048
    results["dataloader"] = dl = bench_dataloader(root, n_dl, workers)
    print_table(
        f"3. DataLoader, batch 256, shuffled, {n_dl} samples per epoch (after a warm-up epoch; persistent workers)",
        [
            (
                f"{w}",
                *(_fmt_rate(dl[k][w]) for k in dl),
                f"{dl['ours per sample'][w] / dl['peer'][w]:.1f}x",
                f"{dl['ours batch_loader'][w] / dl['peer'][w]:.1f}x",
                f"{dl['floor: np.memmap batches'][w] / dl['ours batch_loader'][w]:.2f}x",
            )
            for w in workers
        ],
        ("workers", *dl, "per sample vs peer", "batch_loader vs peer", "batch_loader time vs floor"),
    )
    if not args.skip_scale:
        sroot, _ = scale_store(args.work, full_rows)
        ours = construct("ours", sroot)
        log("  ours constructed; the peer's constructor next (parses the whole CSV)")
        peer_c = construct("peer", sroot)
        assert ours["len"] == peer_c["len"], (ours, peer_c)
        results["scale"] = {"ours": ours, "peer": peer_c, "rows": full_rows}
        print_table(
            f"4. BIOSCAN5M(split='train') on a {full_rows:,}-row metadata file ({ours['len']:,} train rows), fresh process each",
            [
                ("ours (store)", f"{ours['seconds']:.3f}", f"{ours['extra_bytes'] / 1e6:,.0f}"),
                ("peer (CSV)", f"{peer_c['seconds']:.3f}", f"{peer_c['extra_bytes'] / 1e6:,.0f}"),
                (
                    "ratio",
                    f"{peer_c['seconds'] / ours['seconds']:.0f}x faster",
                    f"{peer_c['extra_bytes'] / max(ours['extra_bytes'], 1):.0f}x less",
                ),
            ],
            ("constructor", "seconds", "extra peak memory (MB)"),
        )
    with contextlib.suppress(Exception):
        plot(results, args.out)
        print(f"\nplot: {os.path.relpath(args.out, os.getcwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
