"""Benchmark: reading epochs with bioscan-h5 vs FFCV 1.0.2, ``bioscan-dataset`` 1.3.0 and plain loops.

What users feel is an epoch: every row once, in random order, in a process that has not
touched the data before (``/work/shared/docs/measuring.md``). So every number here is one
epoch in a **fresh process** (each cell is a subprocess, ``bench/kit/cells.py``), after a
warm-up over *other* rows that pays the process's one-off costs (imports, opening files,
JIT compilation, FFCV's pipeline compile). An epoch is ``--rows`` random rows of a store of
``--store-rows`` (4,096 of 16,384 by default, 3.2 GB): as in a store larger than the page
cache, the neighbours that readahead fetches are mostly not rows of the epoch. Rows, side
by side in one run; every round runs every row, the order rotated by one each round; the
tables report medians:

1. **Epochs, page cache warm** (the file read once by another process first), batch 256,
   random order: :func:`bioscan_h5.batch_loader` with 0/1/2 workers; FFCV RAW at 1/2
   threads (``.beton`` of the same pixels); an ``os.preadv`` loop with one thread and with
   two (each on batches of its own: what copies out of the page cache reach here, the
   ceiling of any reader); a one-thread ``np.memmap`` gather into a reused buffer (the floor).
2. **The same, page cache cold** (``drop_caches`` as root, else ``POSIX_FADV_DONTNEED`` on
   the files), with the bytes read from disk by the process and its workers vs the useful
   bytes (rows x 196,608).
3. **JPEG** (issue 12): ``batch_loader`` with 0/1/2 workers on a ``--pixels jpeg`` store (the
   source files' bytes; decoded by simplejpeg where installed, and by Pillow alone) vs FFCV's
   JPEG field at quality 90, and ``ds[i]`` PIL on it (the peer's exact image); beside them the
   raw store, FFCV RAW and the peer, with bytes per image on disk.
4. **Per sample** ``ds[i]``, one pass over random rows: ours PIL and tensor vs the peer
   (its lazily opened JPEG decoded with ``.load()``).
5. **DataLoader per sample**, batch 256, 0/1/2 workers: ours (tensor output) vs the peer
   (``Resize`` + ``CenterCrop`` + ``PILToTensor``), and 6. the **memory** (PSS, from
   ``/proc/<pid>/smaps_rollup``) of the process and its workers half way through an epoch
   with 2 workers.
7. **Constructing** ``BIOSCAN5M(split="train")`` on a generated 5,150,850-row metadata file
   vs the peer's constructor (``bench/kit/scale.py``).

FFCV runs from its own virtual environment (``--ffcv-python``, default ``.venv-ffcv/bin/python``;
recipe in ``bench/README.md``); without it the FFCV rows are skipped with a note. Files are
cached under ``--work`` (default ``$TMPDIR/bioscan-h5-bench``). Saves a plot to
``bench/out/read.png``.

Usage::

    python bench/read.py              # 4,096 of 16,384 rows, 3 rounds, the 5.15M-row constructor
    python bench/read.py --quick      # 512 of 4,096 rows, 1 round, a 200,000-row constructor
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
import tempfile

from bench.kit import data as kd
from bench.kit.report import kilo, median, print_table, ratio, spread
from bench.kit.rounds import Cell, Orders, run_rounds
from bench.kit.system import can_drop_caches

GROUPS = ("warm", "cold", "jpeg", "getitem", "dataloader", "scale")
FFCV = "bench.kit.ffcv_cell"


def _s(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def loader_name(w: int) -> str:
    return f"batch_loader, {_s(w, 'worker')}"


def ffcv_name(kind: str, t: int) -> str:
    return f"FFCV {kind}, {_s(t, 'thread')}"


PREADV, MEMMAP = "os.preadv loop, 1 thread", "np.memmap gather, 1 thread (floor)"
PREADV2 = "os.preadv loop, 2 threads"
GETITEM = {
    "ours ds[i], PIL": ("ours", "pil"),
    "ours ds[i], tensor": ("ours", "tensor"),
    "peer ds[i], PIL": ("peer", "pil"),
}


# ----------------------------------------------------------------------------- the cells
def ffcv_cell(group: str, name: str, beton: str, threads: int, ffcv: str, cold: bool = False) -> Cell:
    """An epoch of FFCV's ``Loader`` over ``beton`` with ``threads``, run by FFCV's interpreter."""
    spec = {"kind": "read", "beton": beton, "threads": threads, "pss": threads == 2}
    return Cell(group, name, spec, [beton], python=ffcv, module=FFCV, cold=cold)


def epoch_cells(d: kd.ReadData, group: str, ffcv: str | None, betons: dict[str, str]) -> list[Cell]:
    """Rows 1 (``group="warm"``) or 2 (``"cold"``): the same readers over the same rows."""
    cold = group == "cold"
    base = {"root": d.root, "image_size": d.image_size}
    cells = [
        Cell(
            group,
            loader_name(w),
            {**base, "kind": "batch_loader", "workers": w, "pss": w == 2},
            [d.store],
            cold=cold,
        )
        for w in (0, 1, 2)
    ]
    if ffcv:
        cells += [ffcv_cell(group, ffcv_name("RAW", t), betons["raw"], t, ffcv, cold=cold) for t in (1, 2)]
    cells.append(Cell(group, PREADV, {**d.layout, "kind": "preadv"}, [d.store], cold=cold))
    if not cold:  # what two threads of copies out of the page cache reach on this machine
        cells.append(Cell(group, PREADV2, {**d.layout, "kind": "preadv", "threads": 2}, [d.store]))
    cells.append(Cell(group, MEMMAP, {**d.layout, "kind": "memmap"}, [d.store], cold=cold))
    return cells


#: JPEG-store decoders measured: as installed (simplejpeg where it gives Pillow's pixels), and
#: Pillow alone when simplejpeg is there to compare with.
JPEG_DECODERS = {"auto": "simplejpeg", "pillow": "Pillow"}
JPEG_GETITEM = "ours ds[i], PIL, JPEG store (the peer's image)"


def jpeg_name(w: int, decoder: str) -> str:
    return f"JPEG store ({JPEG_DECODERS[decoder]}), {loader_name(w)}"


def jpeg_decoders() -> list[str]:
    import importlib.util

    return ["auto", "pillow"] if importlib.util.find_spec("simplejpeg") else ["pillow"]


def jpeg_cells(d: kd.ReadData, ffcv: str | None, betons: dict[str, str], jpeg: str | None) -> list[Cell]:
    """Row group 3 (issue 12): ours on a JPEG store, per decoder, vs FFCV's JPEG field; ds[i] PIL on it."""
    cells = []
    if jpeg:
        spec = {"root": d.root, "store": jpeg, "kind": "batch_loader"}
        cells += [
            Cell("jpeg", jpeg_name(w, dec), {**spec, "workers": w, "decoder": dec}, [jpeg])
            for dec in jpeg_decoders()
            for w in (0, 1, 2)
        ]
        spec = {"root": d.root, "store": jpeg, "kind": "getitem", "who": "ours", "image_format": "pil"}
        cells.append(Cell("jpeg", JPEG_GETITEM, spec, [jpeg], subset=True))
    if ffcv:
        cells += [ffcv_cell("jpeg", ffcv_name("JPEG q90", t), betons["jpg"], t, ffcv) for t in (1, 2)]
    return cells


def sample_cells(d: kd.ReadData) -> list[Cell]:
    """Row groups 4 and 5 (and the memory of 6): per-sample reading, ours vs the peer."""
    peer_files = [d.images, d.metadata]
    cells = []
    for name, (who, image_format) in GETITEM.items():
        spec = {"root": d.root, "kind": "getitem", "who": who, "image_format": image_format}
        cells.append(Cell("getitem", name, spec, [d.store] if who == "ours" else peer_files, subset=True))
    for who in ("ours", "peer"):
        for w in (0, 1, 2):
            spec = {"root": d.root, "kind": "dataloader", "who": who, "workers": w, "pss": w == 2}
            spec["image_size"] = d.image_size
            files = [d.store] if who == "ours" else peer_files
            cells.append(Cell("dataloader", f"{who}, {_s(w, 'worker')}", spec, files, subset=True))
    return cells


# ----------------------------------------------------------------------------- tables
def rates(results: dict, group: str, name: str) -> list[float]:
    return [r["n"] / r["seconds"] for r in results.get((group, name), []) if r]


def med_rate(results: dict, group: str, name: str) -> float | None:
    return median(rates(results, group, name))


def med_field(results: dict, group: str, name: str, key: str) -> float | None:
    return median([r[key] for r in results.get((group, name), []) if r and r.get(key) is not None])


def epoch_table(results: dict, group: str, d: kd.ReadData, n: int, ffcv: bool) -> None:
    useful = n * d.image_size * d.image_size * 3
    base0 = med_rate(results, group, loader_name(0))
    pre = {1: med_rate(results, group, PREADV)}
    if (group, PREADV2) in results:
        pre[2] = med_rate(results, group, PREADV2)
    readers = [(loader_name(w), max(w, 1), w > 0) for w in (0, 1, 2)]
    readers += [(ffcv_name("RAW", t), None, False) for t in (1, 2)] + [
        (PREADV, None, False),
        (PREADV2, 2, False),
        (MEMMAP, None, False),
    ]
    rows = []
    for name, threads, scaled in readers:
        if (group, name) not in results:
            continue
        x = med_rate(results, group, name)
        vs_ffcv = ratio(x, med_rate(results, group, ffcv_name("RAW", threads))) if threads else ""
        if name == PREADV2:
            vs_ffcv = ""
        row = [name, kilo(x, "/s"), spread(rates(results, group, name)), vs_ffcv]
        row += [ratio(x, base0) if scaled else "", ratio(x, pre.get(threads or 1, pre[1]))]
        row.append(ratio(med_field(results, group, name, "read_bytes"), useful))
        rows.append(row)
    cache = "cold (page cache dropped before each process)" if group == "cold" else "warm"
    print_table(
        f"{1 if group == 'warm' else 2}. epochs, page cache {cache}: {n:,} random rows of {d.store_rows:,}, "
        "batch 256, fresh process",
        [
            "reader",
            "samples/s",
            "range",
            "vs FFCV (equal threads)",
            "vs 0 workers",
            "vs preadv (equal threads)",
            "disk bytes / useful",
        ],
        rows,
        "\n  ".join(
            line
            for line in (
                f"two-thread os.preadv loop vs one thread: {ratio(pre[2], pre[1])} (the most two workers can gain here)"
                if 2 in pre
                else "",
                ""
                if ffcv
                else "FFCV rows skipped: no FFCV environment (see bench/README.md, --ffcv-python).",
            )
            if line
        ),
    )


def jpeg_table(results: dict, d: kd.ReadData, n: int, jpeg: str | None, betons: dict[str, str]) -> None:
    """Table 3: the JPEG store beside FFCV JPEG, the raw store, FFCV RAW and the peer (size and speed)."""
    per = d.store_rows
    jpeg_size = os.path.getsize(jpeg) / per if jpeg else None
    tree = os.walk(os.path.join(d.images, "cropped_256"))
    source = sum(os.path.getsize(os.path.join(top, f)) for top, _, files in tree for f in files) / per
    readers = [
        (jpeg_name(w, dec), "jpeg", max(w, 1), jpeg_size, "= raw store")
        for dec in jpeg_decoders()
        for w in (0, 1, 2)
    ]
    readers += [
        (ffcv_name("JPEG q90", t), "jpeg", None, betons.get("jpg"), "re-encoded q90 (lossy)") for t in (1, 2)
    ]
    readers += [(loader_name(w), "warm", None, d.store, "256 px crop") for w in (0, 1, 2)]
    readers += [(ffcv_name("RAW", t), "warm", None, betons.get("raw"), "256 px crop") for t in (1, 2)]
    readers += [(JPEG_GETITEM, "jpeg", None, jpeg_size, "= peer's image")]
    readers += [("peer ds[i], PIL", "getitem", None, source, "source JPEG")]
    rows = []
    for name, group, threads, size, pixels in readers:
        if (group, name) not in results:
            continue
        x = med_rate(results, group, name)
        vs = ratio(x, med_rate(results, "jpeg", ffcv_name("JPEG q90", threads))) if threads else ""
        if isinstance(size, str):
            size = os.path.getsize(size) / per
        rows.append([name, kilo(x, "/s"), spread(rates(results, group, name)), vs, kilo(size, "B"), pixels])
    note = "" if jpeg else "JPEG-store rows skipped: no `build --pixels jpeg` in this bioscan-h5."
    print_table(
        f"3. JPEG, page cache warm: {n:,} random rows of {d.store_rows:,}, batch 256 (ds[i]: one pass)",
        ["reader", "samples/s", "range", "vs FFCV JPEG (equal threads)", "bytes per image on disk", "pixels"],
        rows,
        note,
    )


def sample_tables(results: dict, d: kd.ReadData, subset: int) -> None:
    peer = med_rate(results, "getitem", "peer ds[i], PIL")
    rows = []
    for name in GETITEM:
        x = med_rate(results, "getitem", name)
        rows.append([name, f"{1e6 / x:.0f} us" if x else "-", kilo(x, "/s"), ratio(x, peer, "{:.1f}x")])
    print_table(
        f"4. per sample ds[i] (image + DNA + species), one pass over {subset:,} random rows, fresh process, warm",
        ["reader", "per sample", "samples/s", "vs peer"],
        rows,
    )
    rows = []
    for w in (0, 1, 2):
        ours, peer_w = (
            med_rate(results, "dataloader", f"{who}, {_s(w, 'worker')}") for who in ("ours", "peer")
        )
        rows.append([str(w), kilo(ours, "/s"), kilo(peer_w, "/s"), ratio(ours, peer_w, "{:.1f}x")])
    print_table(
        f"5. DataLoader per sample, batch 256, {subset:,} random rows, fresh workers, warm",
        ["workers", "ours (tensor)", "peer (Resize+CenterCrop+PILToTensor)", "ours vs peer"],
        rows,
    )
    rows = []
    for label, key in (
        ("ours DataLoader per sample", ("dataloader", "ours, 2 workers")),
        ("peer DataLoader per sample", ("dataloader", "peer, 2 workers")),
        ("ours batch_loader", ("warm", loader_name(2))),
        ("FFCV RAW, 2 threads", ("warm", ffcv_name("RAW", 2))),
    ):
        pss = [r["pss"] for r in results.get(key, []) if r and r.get("pss")]
        if not pss:
            continue
        main_, work, n_w = (median([p[k] for p in pss]) for k in ("main", "workers", "n_workers"))
        rows.append(
            [
                label,
                f"{n_w:.0f}",
                f"{work / 1e6:,.0f} MB",
                f"{main_ / 1e6:,.0f} MB",
                f"{(main_ + work) / 1e6:,.0f} MB",
            ]
        )
    print_table(
        "6. memory half way through an epoch with 2 workers (PSS)",
        ["loader", "worker processes", "workers' PSS (sum)", "main process", "total"],
        rows,
    )


def scale_table(sc: dict) -> None:
    ours, peer = sc["ours"], sc["peer"]
    print_table(
        f"7. BIOSCAN5M(split='train') on a {sc['rows']:,}-row metadata file ({ours['len']:,} train rows), fresh process each",
        ["constructor", "seconds", "extra peak memory"],
        [
            ["ours (store)", f"{ours['seconds']:.3f}", f"{ours['extra_bytes'] / 1e6:,.0f} MB"],
            ["peer (CSV)", f"{peer['seconds']:.3f}", f"{peer['extra_bytes'] / 1e6:,.0f} MB"],
            [
                "ratio",
                f"{peer['seconds'] / ours['seconds']:.0f}x faster",
                f"{peer['extra_bytes'] / max(ours['extra_bytes'], 1):.0f}x less",
            ],
        ],
    )


# ----------------------------------------------------------------------------- plot
def plot(results: dict, scale: dict | None, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(22, 5))
    for ax, group in zip(axes[:2], ("warm", "cold")):
        names = [n for g, n in results if g == group]
        vals = [med_rate(results, group, n) or 0 for n in names]
        colors = ["C0" if n.startswith("batch") else "C1" if n.startswith("FFCV") else "C7" for n in names]
        ax.barh(names, vals, color=colors)
        ax.invert_yaxis()
        ax.set_title(f"epoch, page cache {group} (samples/s)")
    ax = axes[2]
    names = list(GETITEM) + [n for g, n in results if g == "dataloader"]
    vals = [med_rate(results, "getitem" if n in GETITEM else "dataloader", n) or 0 for n in names]
    names = [n if n in GETITEM else f"{n.split(',')[0]} DataLoader,{n.split(',')[1]}" for n in names]
    ax.barh(names, vals, color=["C3" if n.startswith("peer") else "C0" for n in names])
    if any(vals):
        ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_title("per sample: ds[i] and DataLoader by workers (samples/s)")
    ax = axes[3]
    if scale:
        secs = [scale["ours"]["seconds"], scale["peer"]["seconds"]]
        ax.bar(["ours", "peer"], secs, color=["C0", "C3"])
        ax.set_yscale("log")
        ax.set_title(f"constructor, {scale['rows']:,} metadata rows (s)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=90)


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke test: 512-row epochs, one round (1-2 minutes)")
    p.add_argument("--rows", type=int, help="rows of one epoch (default 4096; quick 512)")
    p.add_argument("--store-rows", type=int, help="rows of the store (default 16384; quick 4096)")
    p.add_argument("--rounds", type=int, help="rounds, medians reported (default 3; quick 1)")
    p.add_argument("--subset", type=int, help="rows of the per-sample epochs (default min(rows, 2048))")
    p.add_argument(
        "--warmup",
        type=int,
        default=1536,
        help="rows read before each epoch, by the loader that then reads it (default 1536: six batches,"
        " enough to allocate and touch every reused buffer of a batch_loader or an FFCV Loader)",
    )
    p.add_argument("--skip-cold", action="store_true", help="leave out the cold-cache group")
    p.add_argument("--skip-scale", action="store_true", help="leave out the full-scale constructor")
    p.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated subset of {','.join(GROUPS)}")
    p.add_argument(
        "--full-rows", type=int, help="rows of the constructor's metadata file (default 5,150,850)"
    )
    default_ffcv = os.path.join(REPO, ".venv-ffcv", "bin", "python")
    p.add_argument(
        "--ffcv-python", default=default_ffcv, help="FFCV's interpreter (default .venv-ffcv/bin/python)"
    )
    p.add_argument(
        "--work", default=os.path.join(tempfile.gettempdir(), "bioscan-h5-bench"), help="cache folder"
    )
    p.add_argument("--out", default=os.path.join(HERE, "out", "read.png"))
    args = p.parse_args(argv)
    args.rows = args.rows or (512 if args.quick else 4096)
    args.store_rows = args.store_rows or (4096 if args.quick else 16384)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.subset = min(args.subset or 2048, args.rows)
    args.groups = set(args.groups.split(",")) - ({"cold"} if args.skip_cold else set())
    args.groups -= {"scale"} if args.skip_scale else set()
    if args.rows + args.warmup + 64 > args.store_rows:
        p.error(f"--rows {args.rows} needs --store-rows of at least {args.rows + args.warmup + 64}")
    if not os.path.exists(args.ffcv_python):
        args.ffcv_python = None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    d = kd.prepare(args.work, args.store_rows, args.warmup)
    ffcv = args.ffcv_python
    groups = args.groups
    betons = {}
    if ffcv and groups & {"warm", "cold"}:
        betons["raw"] = kd.ffcv_beton(d, ffcv, "raw")
    if ffcv and "jpeg" in groups:
        betons["jpg"] = kd.ffcv_beton(d, ffcv, "jpg", 90)
    jpeg = kd.jpeg_store(d) if "jpeg" in groups else None
    cells: list[Cell] = []
    for g in ("warm", "cold"):
        cells += epoch_cells(d, g, ffcv, betons) if g in groups else []
    cells += jpeg_cells(d, ffcv, betons, jpeg) if "jpeg" in groups else []
    cells += sample_cells(d) if groups & {"getitem", "dataloader"} else []
    cells = [c for c in cells if c.group in groups]

    import torch

    cold = "drop_caches" if can_drop_caches() else "posix_fadvise(DONTNEED)"
    print(
        f"bioscan-h5 read benchmark: {args.rows:,}-row epochs of a {d.store_rows:,}-row store of {d.image_size} px images, {args.rounds} round(s), "
        f"{len(cells)} cells, {os.cpu_count()} CPUs, torch {torch.__version__}, cold cache by {cold}, "
        f"FFCV {'from ' + os.path.relpath(ffcv, REPO) if ffcv else 'absent'}"
    )
    results = run_rounds(
        cells, args.rounds, Orders(args.work, d.store_rows, d.epoch_pool, args.rows, args.warmup, args.subset)
    )
    for g in ("warm", "cold"):
        if g in groups:
            epoch_table(results, g, d, args.rows, bool(ffcv))
    if "jpeg" in groups:
        jpeg_table(results, d, args.rows, jpeg, betons)
    if groups & {"getitem", "dataloader"}:
        sample_tables(results, d, args.subset)
    scale = None
    if "scale" in groups:
        from bench.kit.scale import construct, scale_store

        full_rows = args.full_rows or (200_000 if args.quick else 5_150_850)
        sroot, _ = scale_store(args.work, full_rows)
        ours, peer = construct("ours", sroot, REPO), construct("peer", sroot, REPO)
        scale = {"ours": ours, "peer": peer, "rows": full_rows}
        scale_table(scale)
    with contextlib.suppress(ImportError):
        plot(results, scale, args.out)
        print(f"\nplot: {os.path.relpath(args.out, os.getcwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
