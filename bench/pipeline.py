"""Benchmark: augmented 224 px training batches per second, ours against FFCV's, DALI's and the peer's pipelines.

A training step consumes a randomly cropped, resized, flipped and normalised batch, not a
gathered 256 px one, so this is the figure users compare. Every row makes the same batches:
batch 256, RandomResizedCrop to 224 x 224 (scale (0.08, 1), ratio (3/4, 4/3)), a random
horizontal flip, BIOSCAN-5M's mean and std, float32 or bfloat16 (FFCV and DALI have no
bfloat16: float16 there), channels-last where the pipeline makes it. Epochs as in
``bench/read.py`` (``/work/shared/docs/measuring.md``): each cell one epoch of ``--rows`` random
rows of a ``--store-rows`` root, each row once, in a fresh process, after a warm-up over other
rows; every round runs every cell, rotated; medians. Rows, side by side in one run:

- ours: ``batch_loader(..., num_workers=T, batch_transform=TrainTransform(224))`` on the raw
  store, on a JPEG store of the source files' bytes and on a JPEG store of the 256 px crop
  re-encoded at quality 90 (``build --pixels jpeg --jpeg-quality 90 --jpeg-crop``);
- FFCV 1.0.2 RAW and JPEG (quality 90, of the same 256 px crops), ``RandomResizedCropRGBImageDecoder``
  + ``RandomHorizontalFlip`` + ``NormalizeImage``, ``T`` threads;
- DALI's CPU pipeline (``decoders.image_random_crop`` on the source JPEGs), ``T`` threads;
- the peer (``bioscan-dataset`` 1.3.0) with torchvision v2 transforms in ``T`` DataLoader workers.

Per cell: samples/s, CPU seconds per 1,000 samples (process and workers), PSS (read at the warm-up's last batch, outside the epoch), and
apart from the epoch its one-off seconds (set-up and warm-up: JIT compiles, first buffers).
Page cache warm for all rows; cold (float32, 2 threads) as a second group. ``--device cuda``
would add the GPU rows; without a GPU they print "not measured".

Usage::

    python bench/pipeline.py                 # 2,048 of 6,144 rows, 3 rounds
    python bench/pipeline.py --quick         # 512 of 2,048 rows, 1 round (a smoke test)
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tools"))

import argparse
import contextlib
import json
import tempfile

from bench.kit import data as kd
from bench.kit.report import kilo, median, print_table, ratio, spread
from bench.kit.rounds import Cell, Orders, run_rounds
from bench.kit.system import can_drop_caches

CELLS = "bench.kit.pipeline_cells"
FFCV = "bench.kit.ffcv_cell"
DTYPES = ("float32", "bfloat16")
#: (label, how the pixels are kept, what they are) of each source a row reads.
OURS = {
    "raw": ("ours, raw store", "256 px crop, raw"),
    "jpeg": ("ours, JPEG store (source bytes)", "source JPEG, exact"),
    "crop": ("ours, JPEG store (crop, q90)", "256 px crop, q90"),
}
OTHERS = {
    "ffcv_raw": ("FFCV RAW", "256 px crop, raw"),
    "ffcv_jpeg": ("FFCV JPEG (q90)", "256 px crop, q90"),
    "dali": ("DALI CPU (image_random_crop)", "source JPEG"),
    "peer": ("peer + torchvision v2, DataLoader", "source JPEG"),
}
#: Which FFCV row each of ours is compared with in the tables.
VERSUS = {"raw": "ffcv_raw", "jpeg": "ffcv_jpeg", "crop": "ffcv_jpeg"}


def _s(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def name(source: str, threads: int, dtype: str) -> str:
    label = {**OURS, **OTHERS}[source][0]
    return f"{label} | {_s(threads, 'thread')} | {dtype}"


# ----------------------------------------------------------------------------- data
def crop_store(d: kd.ReadData) -> str:
    """The JPEG store of the 256 px crops re-encoded at quality 90 (``--jpeg-crop``), built once."""
    from bioscan_h5.build import BuildConfig, build

    out = os.path.join(d.root, "bioscan5m", "h5", "bench_jpeg90crop_store.h5")
    if not os.path.exists(out):
        print(f"building the crop store {out} ...", file=sys.stderr, flush=True)
        build(
            BuildConfig(root=d.root, out=out, progress=False, pixels="jpeg", jpeg_quality=90, jpeg_crop=True)
        )
    return out


def source_files(d: kd.ReadData) -> list[str]:
    """The source JPEG of each dataset index of ``split="all"`` (what DALI and the peer read)."""
    from bioscan_h5 import BIOSCAN5M
    from bioscan_h5.bioscan5m import get_image_path

    ds = BIOSCAN5M(d.root, split="all")
    folder = os.path.join(d.images, "cropped_256")
    frame = ds.metadata
    return [os.path.join(folder, get_image_path(frame.iloc[i])) for i in range(len(ds))]


# ----------------------------------------------------------------------------- cells
def groups(args) -> list[str]:
    """``warm``, ``cold`` (unless ``--skip-cold``) and ``gpu`` (with ``--device cuda``)."""
    return ["warm"] + ([] if args.skip_cold else ["cold"]) + (["gpu"] if args.device == "cuda" else [])


def shape(args, group: str) -> tuple[tuple[str, ...], list[int]]:
    """The dtypes and thread counts of a group: cold is float32 at the most threads up to 2."""
    if group == "cold":
        return ("float32",), [max(t for t in args.threads if t <= 2)]
    return args.dtypes, args.threads


def cells_for(args, d: kd.ReadData, stores: dict, betons: dict, files_path: str) -> list[Cell]:
    """Every row of the warm group, and the cold group's (float32, the most threads up to 2).

    ``files_path``: a JSON list of the source JPEG of each dataset index (DALI reads them).
    """
    from bioscan_h5.bioscan5m import RGB_MEAN, RGB_STDEV

    norm = {"mean": RGB_MEAN.tolist(), "std": RGB_STDEV.tolist()}
    peer_files = [d.images, d.metadata]
    out = []
    for group in groups(args):
        cold = group == "cold"
        device = "cuda" if group == "gpu" else "cpu"
        dtypes, threads = shape(args, group)
        for dtype in dtypes:
            for t in threads:
                base = {"threads": t, "dtype": dtype, **norm, "pss": True, "device": device}
                for src, store in stores.items():
                    spec = {**base, "kind": "ours", "root": d.root, "store": store}
                    out.append(Cell(group, name(src, t, dtype), spec, [store], module=CELLS, cold=cold))
                if args.ffcv:
                    for src, beton in betons.items():
                        spec = {**base, "kind": "pipeline", "beton": beton}
                        out.append(Cell(group, name(src, t, dtype), spec, [beton], args.ffcv, FFCV, cold))
                if args.dali:
                    spec = {**base, "kind": "dali", "files": files_path}
                    out.append(Cell(group, name("dali", t, dtype), spec, [d.images], args.dali, CELLS, cold))
                spec = {**base, "kind": "peer", "root": d.root}
                out.append(Cell(group, name("peer", t, dtype), spec, peer_files, module=CELLS, cold=cold))
    return out


# ----------------------------------------------------------------------------- tables
def _results(results: dict, group: str, cell: str) -> list[dict]:
    return [r for r in results.get((group, cell), []) if r]


def rate(results: dict, group: str, cell: str) -> float | None:
    return median([r["n"] / r["seconds"] for r in _results(results, group, cell)])


def table(results: dict, group: str, args, sizes: dict) -> None:
    rows = []
    dtypes, threads = shape(args, group)
    for dtype in dtypes:
        for t in threads:
            for src in [*OURS, *OTHERS]:
                cell = name(src, t, dtype)
                runs = _results(results, group, cell)
                if not runs:
                    continue
                x = rate(results, group, cell)
                cpu = median([1000 * r["cpu_seconds"] / r["n"] for r in runs])
                pss = median([(r["pss"]["main"] + r["pss"]["workers"]) / 1e6 for r in runs if r.get("pss")])
                vs = ratio(x, rate(results, group, name(VERSUS[src], t, dtype))) if src in VERSUS else ""
                vs_dali = ratio(x, rate(results, group, name("dali", t, dtype))) if src == "jpeg" else ""
                once = median([r["process_seconds"] - r["seconds"] for r in runs if "process_seconds" in r])
                rows.append(
                    [
                        {**OURS, **OTHERS}[src][0],
                        str(t),
                        dtype if not src.startswith(("ffcv", "dali")) or dtype == "float32" else "float16",
                        kilo(x, "/s"),
                        spread([r["n"] / r["seconds"] for r in runs]),
                        f"{cpu:.2f} s" if cpu is not None else "-",
                        f"{once:.1f} s" if once is not None else "-",
                        f"{pss:,.0f} MB" if pss is not None else "",
                        vs,
                        vs_dali,
                        {**OURS, **OTHERS}[src][1],
                        kilo(sizes.get(src), "B"),
                    ]
                )
    title = {
        "warm": "A. augmented epochs on the CPU, page cache warm",
        "cold": "B. augmented epochs on the CPU, page cache cold (dropped before each process)",
        "gpu": "C. augmented epochs onto the GPU (--device cuda), page cache warm",
    }[group]
    print_table(
        f"{title}: {args.rows:,} random rows of"
        f" {args.store_rows:,}, batch 256, RandomResizedCrop 224 + flip + normalise, fresh process",
        [
            "pipeline",
            "threads",
            "dtype",
            "samples/s",
            "range",
            "CPU s / 1k samples",
            "one-off s",
            "PSS",
            "vs FFCV (same pixels)",
            "vs DALI",
            "pixels",
            "bytes / image",
        ],
        rows,
        "  ".join(
            s
            for s in (
                "" if args.ffcv else "FFCV: not installed (bash bench/setup_ffcv.sh).",
                "" if args.dali else "DALI: not installed (see bench/README.md).",
            )
            if s
        ),
    )


def gpu_table() -> None:
    """Group C's rows, "not measured": this run had no GPU (or no ``--device cuda``)."""
    rows = [
        [label, "not measured (no GPU in this run)"]
        for label in (
            "ours, batch_loader(device='cuda') + TrainTransform on the GPU",
            "FFCV RAW / JPEG, ToDevice + NormalizeImage on the GPU",
            "DALI, decoders.image_random_crop(device='mixed')",
        )
    ]
    print_table("C. augmented epochs onto the GPU (--device cuda)", ["pipeline", "samples/s"], rows)


def plot(results: dict, args, path: str) -> None:
    """Samples/s of every cell, one panel per group and dtype (bars: ours blue, FFCV orange, others grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(g, dt) for g in groups(args) if g != "gpu" for dt in shape(args, g)[0]]
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 5), squeeze=False)
    for ax, (group, dtype) in zip(axes[0], panels):
        names = [n for g, n in results if g == group and n.endswith(f"| {dtype}")]
        vals = [rate(results, group, n) or 0 for n in names]
        colors = ["C0" if n.startswith("ours") else "C1" if n.startswith("FFCV") else "C7" for n in names]
        ax.barh([n.rsplit(" | ", 1)[0] for n in names], vals, color=colors)
        ax.invert_yaxis()
        ax.set_title(f"page cache {group}, {dtype}: samples/s")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=90)


def sizes_of(d: kd.ReadData, stores: dict, betons: dict) -> dict:
    n = d.store_rows
    out = {k: os.path.getsize(v) / n for k, v in {**stores, **betons}.items()}
    tree = os.walk(os.path.join(d.images, "cropped_256"))
    source = sum(os.path.getsize(os.path.join(top, f)) for top, _, fs in tree for f in fs) / n
    return {**out, "dali": source, "peer": source}


# ----------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--quick", action="store_true", help="smoke test: 512-row epochs of a 2,048-row root, one round"
    )
    p.add_argument("--rows", type=int, help="rows of one epoch (default 2048; quick 512)")
    p.add_argument("--store-rows", type=int, help="rows of the root (default 6144; quick 2048)")
    p.add_argument("--rounds", type=int, help="rounds, medians reported (default 3; quick 1)")
    p.add_argument(
        "--warmup",
        type=int,
        help="rows read before each epoch, in the same loader (default 1536: six batches, as bench/read.py,"
        " enough for every pipeline's buffers; quick 768)",
    )
    p.add_argument(
        "--threads", help="comma-separated thread counts (default 1,2 and 4,8 where the machine has them)"
    )
    p.add_argument("--dtypes", default=",".join(DTYPES), help="float32,bfloat16 (default both)")
    p.add_argument("--skip-cold", action="store_true", help="leave out the cold-cache group")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="cuda: the GPU rows too")
    p.add_argument("--ffcv-python", default=os.path.join(REPO, ".venv-ffcv", "bin", "python"))
    p.add_argument("--dali-python", default=os.path.join(REPO, ".venv-dali", "bin", "python"))
    p.add_argument(
        "--work", default=os.path.join(tempfile.gettempdir(), "bioscan-h5-bench"), help="cache folder"
    )
    p.add_argument("--out", default=os.path.join(REPO, "bench", "out", "pipeline.png"), help="the plot")
    args = p.parse_args(argv)
    args.rows = args.rows or (512 if args.quick else 2048)
    args.store_rows = args.store_rows or (2048 if args.quick else 6144)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.warmup = args.warmup or (768 if args.quick else 1536)
    cores = os.cpu_count() or 1
    default = [t for t in (1, 2, 4, 8) if t <= max(cores, 2)]
    args.threads = [int(t) for t in args.threads.split(",")] if args.threads else default
    args.dtypes = tuple(args.dtypes.split(","))
    if args.rows + args.warmup + kd.GAP > args.store_rows:
        p.error(f"--rows {args.rows} needs --store-rows of at least {args.rows + args.warmup + kd.GAP}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda: torch.cuda.is_available() is False here; leave --device out")
    args.ffcv = args.ffcv_python if os.path.exists(args.ffcv_python) else None
    args.dali = args.dali_python if os.path.exists(args.dali_python) else None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    d = kd.prepare(args.work, args.store_rows, args.warmup)
    stores = {"raw": d.store, "jpeg": kd.jpeg_store(d), "crop": crop_store(d)}
    betons = {}
    if args.ffcv:
        betons = {
            "ffcv_raw": kd.ffcv_beton(d, args.ffcv, "raw"),
            "ffcv_jpeg": kd.ffcv_beton(d, args.ffcv, "jpg", 90),
        }
    files_path = os.path.join(d.root, "source_files.json")
    if args.dali:
        with open(files_path, "w") as fh:
            json.dump(source_files(d), fh)
    cells = cells_for(args, d, stores, betons, files_path)

    import torch

    cold = "drop_caches" if can_drop_caches() else "posix_fadvise(DONTNEED)"
    print(
        f"bioscan-h5 pipeline benchmark: {args.rows:,}-row epochs of a {args.store_rows:,}-row root, {args.rounds}"
        f" round(s), {len(cells)} cells, {os.cpu_count()} CPUs, torch {torch.__version__}, cold cache by {cold},"
        f" FFCV {'from ' + os.path.relpath(args.ffcv, REPO) if args.ffcv else 'not installed'},"
        f" DALI {'from ' + os.path.relpath(args.dali, REPO) if args.dali else 'not installed'}"
    )
    orders = Orders(args.work, d.store_rows, d.epoch_pool, args.rows, args.warmup, args.rows)
    results = run_rounds(cells, args.rounds, orders)
    sizes = sizes_of(d, stores, betons)
    for group in groups(args):
        table(results, group, args, sizes)
    if args.device == "cpu":
        gpu_table()
    with contextlib.suppress(ImportError):
        plot(results, args, args.out)
        print(f"\nplot: {os.path.relpath(args.out, os.getcwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
