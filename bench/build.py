"""Benchmark: building a store (issue 2).

Prints, side by side in one run:

1. **Image decoding** over the same JPEGs (a generated ``cropped_256`` root, real BIOSCAN
   images resized and re-encoded like the real package): a plain single-process loop
   (``PIL.Image.open`` + ``convert("RGB")`` + the same resize and centre crop, no store),
   the same loop split over every core (the ceiling this machine allows right now: it is
   shared), the builder with 1 worker and the builder with every core; images per second
   and the ratio to the plain loop. The builder is timed on the image stage alone (a
   ``--no-images`` store extended to every split: decode, write, sync, mark done) and on
   the whole build from nothing (metadata stage included). "steady" subtracts the fixed
   cost of a build call (worker start-up, opening, renaming, report), measured by a build
   of the ``val`` split alone. The runs are interleaved and the best of each is kept.
   Goals: 1 worker within 10% of the plain loop, 2 workers at least 1.7x.
2. **Metadata at full scale**: ``bioscan-h5 build --no-images`` of a generated 5,150,850-row
   metadata file (realistic columns, about 4.5 GB), in a subprocess: seconds and peak memory
   (the child's maximum resident set size). Goals: under 3 minutes and 8 GB.
3. **JPEG draft mode** on ``original_full``-sized images (generated 1024x768, and the real
   2880x2160 originals): decode+resize speed with and without draft, and the PSNR of the
   draft result against the full decode.

Files are cached under ``--work`` (default ``$TMPDIR/bioscan-h5-bench``): the sample roots
and the full-scale CSV are made once. Usage::

    python bench/build.py             # everything (the first run writes the 4.5 GB CSV)
    python bench/build.py --quick     # small sizes, a 200,000-row metadata file

Saves a plot to ``bench/out/build.png`` when matplotlib is installed.
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
import glob
import json
import platform
import shutil
import subprocess
import tempfile
import time

import numpy as np
from make_fullscale_metadata import FULL_ROWS

from bench.kit.scale import scale_csv


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# ----------------------------------------------------------------------------- 1. images
def image_root(work: str, n: int, package: str = "cropped_256") -> tuple[str, list[str]]:
    """A clean generated root of ``n`` rows (cached) and its image paths in row order."""
    import make_sample_data
    import pandas as pd

    root = os.path.join(work, f"images-{package}-{n}")
    marker = os.path.join(root, "bioscan5m", "SAMPLE_MANIFEST.json")
    if not os.path.exists(marker):
        log(f"generating a {n}-row {package} root in {root} ...")
        make_sample_data.make_bioscan5m_root(
            root, n_rows=n, seed=1, packages=(package,), faults=False, overwrite=True
        )
    meta = os.path.join(root, "bioscan5m", "metadata", "csv", "BIOSCAN_5M_Insect_Dataset_metadata.csv")
    df = pd.read_csv(meta, dtype=str, keep_default_na=False)
    image_dir = os.path.join(root, "bioscan5m", "images", package)
    paths = [
        os.path.join(image_dir, s, c, p + ".jpg") if c else os.path.join(image_dir, s, p + ".jpg")
        for s, c, p in zip(df["split"], df["chunk"], df["processid"])
    ]
    return root, paths


def warm(paths: list[str]) -> int:
    """Read every file once (so every run below reads from the page cache); total bytes."""
    total = 0
    for p in paths:
        with open(p, "rb") as fh:
            total += len(fh.read())
    return total


def plain_loop(paths: list[str], size: int) -> tuple[float, np.ndarray]:
    """Seconds for the bare decode+resize+crop loop (Pillow only, as torchvision does it)."""
    from PIL import Image

    t0 = time.perf_counter()
    checksum = np.zeros(3, np.int64)
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB")
            w, h = im.size
            if w <= h:
                nw, nh = size, int(size * h / w)
            else:
                nw, nh = int(size * w / h), size
            if (nw, nh) != (w, h):
                im = im.resize((nw, nh), Image.Resampling.BILINEAR)
            top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
            arr = np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)
        checksum += arr[size // 2, size // 2]
    return time.perf_counter() - t0, checksum


def _plain_part(args: tuple[list[str], int]) -> float:
    return plain_loop(*args)[0]


def plain_parallel(pool, paths: list[str], size: int, n: int) -> float:
    """Seconds for the plain loop split over ``n`` already started processes: the ceiling."""
    parts = [(paths[i::n], size) for i in range(n)]
    pool.map(_plain_part, [(p[:2], size) for p, _ in parts])  # workers up and warm
    t0 = time.perf_counter()
    pool.map(_plain_part, parts)
    return time.perf_counter() - t0


def cpu_seconds() -> float:
    import resource

    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def time_builder(
    root: str,
    out_dir: str,
    size: int,
    workers: int,
    whole: bool = False,
    splits: str = "all",
    batch: int = 32,
) -> tuple[float, float, int, str]:
    """(wall s, CPU s, images decoded, store) of the image stage, or (``whole``) of a whole build.

    The image stage is timed as ``build --splits SPLITS`` extending a ``--no-images`` store:
    decoding, writing, syncing and marking rows done, plus the fixed cost of a build call.
    """
    from bioscan_h5.build import BuildConfig, build

    out = os.path.join(out_dir, f"w{workers}-{'whole' if whole else splits}.h5")
    for p in glob.glob(out + "*"):
        os.unlink(p)
    kw = {
        "root": root,
        "image_size": size,
        "out": out,
        "workers": workers,
        "progress": False,
        "batch_size": batch,
    }
    if not whole:
        build(BuildConfig(no_images=True, **kw))
    c0, t0 = cpu_seconds(), time.perf_counter()
    res = build(BuildConfig(splits=splits, **kw))
    dt, dc = time.perf_counter() - t0, cpu_seconds() - c0
    assert res.decoded_now > 0
    return dt, dc, res.decoded_now, out


def bench_images(work: str, n: int, size: int, repeats: int) -> list[dict]:
    """Every configuration ``repeats`` times, interleaved (the machine's load drifts); best kept.

    "steady" subtracts the fixed cost of a build call (starting the worker pool, opening and
    renaming the file, the report), measured by a build of the ``val`` split alone: it is the
    rate at which a long build decodes and writes.
    """
    from bioscan_h5.store import open_store

    root, paths = image_root(work, n)
    out_dir = tempfile.mkdtemp(prefix="stores-", dir=work)
    mb = warm(paths) / 1e6
    n_all = cores()
    workers = [1, n_all] if n_all > 1 else [1]
    log(f"{len(paths)} JPEGs, {mb:.1f} MB, target {size}x{size}; {repeats} interleaved runs each")
    best: dict[tuple, tuple] = {}

    def keep(key: tuple, result: tuple) -> None:
        if key not in best or result[0] < best[key][0]:
            best[key] = result

    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(n_all) if n_all > 1 else None
    for rep in range(repeats):
        keep(("plain",), (plain_loop(paths, size)[0], None, len(paths), None))
        if pool is not None:
            keep(("plain-par",), (plain_parallel(pool, paths, size, n_all), None, len(paths), None))
        for w in workers:
            keep(("images", w), time_builder(root, out_dir, size, w))
            # batches of 1, so that even the few val rows start the worker pool
            keep(("fixed", w), time_builder(root, out_dir, size, w, splits="val", batch=1))
            if rep == 0:
                keep(("whole", w), time_builder(root, out_dir, size, w, whole=True))
        log(f"  run {rep + 1}/{repeats} done")
    if pool is not None:
        pool.close()
        pool.join()
    # The builder's pixels are the plain loop's (no draft applies to these sources).
    _, probe = plain_loop(paths[:50], size)
    with open_store(best[("images", 1)][3]) as st:
        mine = np.asarray(st.images[:50])[:, size // 2, size // 2].astype(np.int64).sum(axis=0)
    assert np.array_equal(mine, probe), "the builder's pixels differ from the plain loop's"
    shutil.rmtree(out_dir)
    plain_s = best[("plain",)][0]
    rows = [{"name": "plain loop (1 process, no store)", "workers": 1, "stage": "decode only", "s": plain_s}]
    if ("plain-par",) in best:
        rows.append(
            {
                "name": f"plain loop, {n_all} processes (ceiling)",
                "workers": n_all,
                "stage": "decode only",
                "s": best[("plain-par",)][0],
            }
        )
    for stage in ("images", "whole"):
        for w in workers:
            dt, dc, _, _ = best[(stage, w)]
            fixed_s, _, fixed_n, _ = best[("fixed", w)]
            row = {
                "name": f"builder, {w} worker{'s' if w > 1 else ''}",
                "workers": w,
                "stage": "image stage" if stage == "images" else "whole build",
                "s": dt,
                "cpu": dc,
            }
            if stage == "images":
                row["fixed_s"] = fixed_s
                row["steady"] = rate(len(paths) - fixed_n, dt - fixed_s)
            rows.append(row)
    plain_rate = rate(len(paths), plain_s)
    for r in rows:
        if r["stage"] == "decode only":
            r["steady"] = rate(len(paths), r["s"])
    for r in rows:
        r["n"] = len(paths)
        r["rate"] = rate(len(paths), r["s"])
        r["ratio"] = plain_s / r["s"]
        if "steady" in r:
            r["steady_ratio"] = r["steady"] / plain_rate
    return rows


# ----------------------------------------------------------------------------- 3. draft
def bench_draft(work: str, n: int, size: int) -> list[dict]:
    from bioscan_h5.images import decode_image

    _, paths = image_root(work, n, "original_full")
    real = sorted(glob.glob(os.path.join(REPO, "tools", "sample_images", "original_full", "*.jpg")))
    out = []
    for label, files in (
        (f"original_full 1024x768 (generated, {len(paths)})", paths),
        ("real 2880x2160 (6)", real),
    ):
        warm(files)
        res = {}
        for draft in (False, True):
            t0 = time.perf_counter()
            res[draft] = [decode_image(p, size, "crop", draft)[1] for p in files]
            res[f"s{draft}"] = time.perf_counter() - t0
        psnrs = []
        for a, b in zip(res[True], res[False]):
            mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
            psnrs.append(float("inf") if mse == 0 else 10 * np.log10(255**2 / mse))
        out.append(
            {
                "name": label,
                "full": rate(len(files), res["sFalse"]),
                "draft": rate(len(files), res["sTrue"]),
                "psnr_mean": float(np.mean(psnrs)),
                "psnr_min": float(np.min(psnrs)),
                "max_abs": int(max(np.abs(a.astype(int) - b).max() for a, b in zip(res[True], res[False]))),
            }
        )
    return out


# ----------------------------------------------------------------------------- 2. metadata at scale
def scale_root(work: str, n_rows: int) -> str:
    root = os.path.join(work, f"build-scale{n_rows}")
    scale_csv(root, n_rows)
    return root


def bench_scale(work: str, n_rows: int) -> dict:
    """``bioscan-h5 build --no-images`` of the scale root in a subprocess: seconds, peak RSS."""
    root = scale_root(work, n_rows)
    out = os.path.join(work, f"build-scale{n_rows}.h5")
    for p in glob.glob(out + "*"):
        os.unlink(p)
    cmd = [
        sys.executable,
        "-m",
        "bioscan_h5.cli",
        "build",
        "--root",
        root,
        "--no-images",
        "--out",
        out,
        "--no-progress",
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    log(f"building the --no-images store of {n_rows:,} rows ...")
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=fo, stderr=fe)
        # os.wait4 reaps this child and returns its own rusage (peak RSS in KiB on Linux).
        _, status, usage = os.wait4(proc.pid, 0)
        dt = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        stdout, stderr = fo.read(), fe.read()
    if proc.returncode != 0:
        raise SystemExit(f"the scale build failed ({proc.returncode}):\n{stderr[-3000:]}")
    st = os.stat(out)
    size = {"apparent": st.st_size, "on_disk": st.st_blocks * 512}
    for p in glob.glob(out + "*"):
        os.unlink(p)
    return {
        "rows": n_rows,
        "csv_bytes": os.path.getsize(
            os.path.join(root, "bioscan5m", "metadata", "csv", "BIOSCAN_5M_Insect_Dataset_metadata.csv")
        ),
        "s": dt,
        "peak_rss": usage.ru_maxrss * 1024,
        "cpu": usage.ru_utime + usage.ru_stime,
        "store": size,
        "stdout": stdout.strip(),
    }


# ----------------------------------------------------------------------------- report
def print_report(images: list[dict], scale: dict | None, draft: list[dict], info: dict) -> None:
    print(f"# bioscan-h5 build benchmark ({info['machine']})")
    print()
    n = images[0]["n"]
    print(
        f"## 1. Decoding {n} cropped_256 JPEGs to {info['size']}x{info['size']} (best of {info['repeats']} runs)"
    )
    print()
    print(
        f"| {'':<34} | {'stage':<11} | {'seconds':>7} | {'images/s':>8} | {'vs plain':>8} |"
        f" {'steady img/s':>12} | {'vs plain':>8} | {'CPU s':>5} |"
    )
    print(f"|{'-' * 36}|{'-' * 13}|{'-' * 9}|{'-' * 10}|{'-' * 10}|{'-' * 14}|{'-' * 10}|{'-' * 7}|")
    for r in images:
        cpu = f"{r['cpu']:.2f}" if "cpu" in r else ""
        steady = (
            f"{r['steady']:12.0f} | {r['steady_ratio']:7.2f}x" if "steady" in r else f"{'':>12} | {'':>8}"
        )
        print(
            f"| {r['name']:<34} | {r['stage']:<11} | {r['s']:7.2f} | {r['rate']:8.0f} | {r['ratio']:7.2f}x |"
            f" {steady} | {cpu:>5} |"
        )
    print()
    for r in images:
        if "fixed_s" in r:
            print(
                f"Fixed cost of a build call with {r['workers']} worker(s) (the val split alone): {r['fixed_s']:.2f} s"
            )
    one = next(r for r in images if r["workers"] == 1 and r["stage"] == "image stage")
    many = next((r for r in images if r["workers"] > 1 and r["stage"] == "image stage"), None)
    print()
    for r, goal, text in ((one, 0.9, "within 10% of"), (many, 1.7, ">= 1.7x")):
        if r is None:
            continue
        print(
            f"Goal: builder with {r['workers']} worker(s) {text} the plain loop: {r['ratio']:.2f}x overall"
            f" ({'met' if r['ratio'] >= goal else 'missed'}), {r['steady_ratio']:.2f}x steady"
            f" ({'met' if r['steady_ratio'] >= goal else 'missed'})"
        )
    if scale:
        print()
        print(
            f"## 2. `bioscan-h5 build --no-images` of a generated {scale['rows']:,}-row metadata file "
            f"({scale['csv_bytes'] / 1e9:.2f} GB)"
        )
        print()
        print("| seconds | peak memory (RSS) | CPU s | store (apparent / on disk) |")
        print("|---|---|---|---|")
        print(
            f"| {scale['s']:.1f} | {scale['peak_rss'] / 1e9:.2f} GB | {scale['cpu']:.1f} |"
            f" {scale['store']['apparent'] / 1e9:.1f} GB / {scale['store']['on_disk'] / 1e9:.2f} GB |"
        )
        print()
        ok_t, ok_m = scale["s"] < 180, scale["peak_rss"] < 8e9
        print(
            f"Goal: under 3 minutes ({'met' if ok_t else 'MISSED'}) and 8 GB ({'met' if ok_m else 'MISSED'})"
        )
    print()
    print(f"## 3. JPEG draft mode, decode + resize to {info['size']}x{info['size']} (1 process)")
    print()
    print(
        f"| {'images':<38} | {'full decode/s':>13} | {'draft/s':>8} | {'speed-up':>8} | {'PSNR mean':>9} | {'PSNR min':>8} | {'max |diff|':>10} |"
    )
    print(f"|{'-' * 40}|{'-' * 15}|{'-' * 10}|{'-' * 10}|{'-' * 11}|{'-' * 10}|{'-' * 12}|")
    for r in draft:
        print(
            f"| {r['name']:<38} | {r['full']:13.1f} | {r['draft']:8.1f} | {r['draft'] / r['full']:7.2f}x |"
            f" {r['psnr_mean']:6.1f} dB | {r['psnr_min']:5.1f} dB | {r['max_abs']:10d} |"
        )
    print()
    print(f"load average before / after: {info['load_before']} / {info['load_after']}")


def plot(images: list[dict], draft: list[dict], path: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    labels = [f"{r['name']}\n({r['stage']})" for r in images]
    a.barh(
        labels[::-1],
        [r["rate"] for r in images][::-1],
        color=["C0" if "plain" in r["name"] else "C1" for r in images][::-1],
    )
    a.set_xlabel("images / s")
    a.set_title(f"decode + resize + write, {images[0]['n']} cropped_256 JPEGs")
    for i, r in enumerate(images[::-1]):
        a.text(r["rate"], i, f" {r['ratio']:.2f}x", va="center")
    x = np.arange(len(draft))
    b.bar(x - 0.2, [r["full"] for r in draft], 0.4, label="full decode")
    b.bar(x + 0.2, [r["draft"] for r in draft], 0.4, label="draft")
    b.set_xticks(x, [r["name"].split(" (")[0] for r in draft])
    b.set_ylabel("images / s")
    b.set_yscale("log")
    b.set_title("JPEG draft mode")
    b.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (400 images, 200,000 metadata rows)")
    p.add_argument("--images", type=int, default=None, help="JPEGs to decode (default 1600; --quick 400)")
    p.add_argument("--size", type=int, default=256, help="output side (default 256)")
    p.add_argument(
        "--rows", type=int, default=None, help=f"metadata rows (default {FULL_ROWS:,}; --quick 200,000)"
    )
    p.add_argument(
        "--draft-images", type=int, default=None, help="1024x768 JPEGs for the draft test (default 160)"
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="runs per configuration, the best kept (default 3)"
    )
    p.add_argument("--skip-scale", action="store_true", help="skip the full-scale metadata build")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bioscan-h5-bench"))
    p.add_argument("--plot", default=os.path.join(HERE, "out", "build.png"))
    args = p.parse_args(argv)
    n_images = args.images or (400 if args.quick else 1600)
    n_rows = args.rows or (200_000 if args.quick else FULL_ROWS)
    n_draft = args.draft_images or (64 if args.quick else 160)
    repeats = args.repeats or (1 if args.quick else 3)
    os.makedirs(args.work, exist_ok=True)
    info = {
        "machine": f"{platform.processor() or platform.machine()}, {cores()} cores, Python {platform.python_version()}",
        "cores": cores(),
        "size": args.size,
        "repeats": repeats,
        "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    images = bench_images(args.work, n_images, args.size, repeats)
    draft = bench_draft(args.work, n_draft, args.size)
    scale = None if args.skip_scale else bench_scale(args.work, n_rows)
    info["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print_report(images, scale, draft, info)
    saved = plot(images, draft, args.plot)
    if saved:
        print(f"\nplot: {os.path.relpath(saved, REPO)}")
    with open(os.path.join(os.path.dirname(args.plot), "build.json"), "w") as fh:
        json.dump({"images": images, "scale": scale, "draft": draft, "info": info}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
