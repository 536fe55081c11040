#!/usr/bin/env python
"""Write a full-scale (5,150,850-row) BIOSCAN-5M-shaped metadata CSV for benchmarks.

The real file cannot be downloaded here, so the benchmarks generate one with the real column
order, category counts, labelled fractions, split sizes, barcode lengths and alphabet, and
gaps (values are random). About 4.5 GB at full scale; a few minutes with numpy.

Usage::

    python tools/make_fullscale_metadata.py OUT.csv [--rows N] [--seed S]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys

import numpy as np
from make_sample_data import COLUMNS_5M as COLUMNS

__all__ = ["FULL_ROWS", "SPLITS", "write_scale_csv"]

FULL_ROWS = 5_150_850
SPLITS = {  # BIOSCAN-5M's split sizes (bioscan-format-notes.md)
    "pretrain": 4_677_756,
    "train": 289_203,
    "val": 14_757,
    "test": 39_373,
    "key_unseen": 36_465,
    "val_unseen": 8_819,
    "test_unseen": 7_887,
    "other_heldout": 76_590,
}
#: (categories, labelled fraction) per rank, as in the real file.
RANKS = {
    "class": (10, 0.999),
    "order": (55, 0.997),
    "family": (934, 0.958),
    "subfamily": (1_542, 0.286),
    "genus": (7_605, 0.238),
    "species": (22_622, 0.092),
}
N_BINS = 324_411


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _split_column(rng: np.random.Generator, n: int) -> np.ndarray:
    sizes = {k: max(1, round(v * n / FULL_ROWS)) for k, v in SPLITS.items()}
    sizes["pretrain"] += n - sum(sizes.values())
    out = np.concatenate([np.full(c, s, dtype=object) for s, c in sizes.items()])
    return out[rng.permutation(n)]


def _fmt(values: np.ndarray, digits: int) -> list[str]:
    text = np.char.mod(f"%.{digits}f", np.nan_to_num(values))
    text[np.isnan(values)] = ""
    return text.tolist()


def write_scale_csv(path: str, n_rows: int, seed: int = 0, chunk: int = 100_000) -> None:
    """A BIOSCAN-5M-shaped metadata file: the real columns, category counts, labelled
    fractions, split sizes (scaled), barcode lengths and alphabet, gaps; written with numpy."""
    rng = np.random.default_rng(seed)
    scale = n_rows / FULL_ROWS
    counts = {r: (c if r == "class" else max(2, int(c * max(scale, 0.05)))) for r, (c, _) in RANKS.items()}
    parents = {  # each rank's parent index, so the taxonomy is a tree
        "order": rng.permutation(np.arange(counts["order"]) % counts["class"]),
        "family": rng.permutation(np.arange(counts["family"]) % counts["order"]),
        "subfamily": rng.permutation(np.arange(counts["subfamily"]) % counts["family"]),
        "genus": rng.permutation(np.arange(counts["genus"]) % counts["subfamily"]),
        "species": rng.permutation(np.arange(counts["species"]) % counts["genus"]),
    }
    names = {
        "class": np.array([f"Class{i:02d}" for i in range(counts["class"])] + [""], dtype=object),
        "order": np.array([f"Order{i:03d}ptera" for i in range(counts["order"])] + [""], dtype=object),
        "family": np.array([f"Family{i:04d}idae" for i in range(counts["family"])] + [""], dtype=object),
        "subfamily": np.array(
            [f"Subfam{i:04d}inae" for i in range(counts["subfamily"])] + [""], dtype=object
        ),
        "genus": np.array([f"Genus{i:05d}" for i in range(counts["genus"])] + [""], dtype=object),
    }
    names["species"] = np.array(
        [
            f"Genus{parents['species'][i]:05d} sp. BIOUG{i:05d}"
            if i % 3
            else f"Genus{parents['species'][i]:05d} epithet{i}"
            for i in range(counts["species"])
        ]
        + [""],
        dtype=object,
    )
    n_bins = max(10, int(N_BINS * scale))
    bins = np.array(
        [
            f"BOLD:A{chr(65 + i // 10_000 % 26)}{chr(65 + i // 1000 % 26)}{i % 10_000:04d}"
            for i in range(n_bins)
        ]
        + [""],
        dtype=object,
    )
    countries = np.array(
        ["Canada", "Costa Rica", "South Africa", "Côte d'Ivoire", "Pakistan", "Thailand", ""], dtype=object
    )
    provinces = np.array(
        ["Ontario", "Québec", "Guanacaste", "Punjab", "Western Cape", ""]
        + [f"Province {i}" for i in range(100)],
        dtype=object,
    )
    projects = ["BIOUG", "GMP", "YGEN", "BBDIT", "CNGSB", "ABSSI", "AACTA", "ACRJP", "MOBIL", "CRPTA"]
    splits = _split_column(rng, n_rows)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n", buffering=1 << 24) as fh:
        fh.write(",".join(COLUMNS) + "\n")
        for start in range(0, n_rows, chunk):
            m = min(chunk, n_rows - start)
            idx = range(start, start + m)
            sp = (counts["species"] * rng.random(m) ** 2).astype(np.int64)  # common species, long tail
            ids = {"species": sp}
            for child, parent in (
                ("species", "genus"),
                ("genus", "subfamily"),
                ("subfamily", "family"),
                ("family", "order"),
                ("order", "class"),
            ):
                ids[parent] = parents[child][ids[child]]
            u = rng.random(m)
            cols, taxon = {}, np.full(m, "Insecta", dtype=object)
            for r in ("class", "order", "family", "subfamily", "genus", "species"):
                known = u < RANKS[r][1]
                cols[r] = names[r][np.where(known, ids[r], -1)]
                taxon = np.where(known, cols[r], taxon)
            # Barcodes: 658 letters mostly, 600-660 otherwise, 0.5% longer (to 1,500), 0.3% missing,
            # interior N in 2%, a trailing N run in 5%.
            lengths = np.where(rng.random(m) < 0.85, 658, rng.integers(600, 661, m))
            longer = rng.random(m) < 0.005
            lengths[longer] = rng.integers(661, 1500, longer.sum())
            codes = letters[rng.integers(0, 4, (m, int(lengths.max())), dtype=np.uint8)]
            for i in np.flatnonzero(rng.random(m) < 0.02):
                codes[i, rng.integers(0, lengths[i])] = ord("N")
            for i in np.flatnonzero(rng.random(m) < 0.05):
                codes[i, lengths[i] - rng.integers(1, 40) : lengths[i]] = ord("N")
            raw = codes.tobytes()
            width = codes.shape[1]
            barcodes = [
                raw[i * width : i * width + n].decode("ascii") for i, n in enumerate(lengths.tolist())
            ]
            for i in np.flatnonzero(rng.random(m) < 0.003):
                barcodes[i] = ""
            pids = [f"{projects[i % 10]}{i // 10 + 1}-{19 + i % 6}" for i in idx]
            split = splits[start : start + m]
            chunk_col = [
                hashlib.md5(p.encode()).hexdigest()[: 2 if s == "pretrain" else 1]
                if s in ("pretrain", "train", "other_heldout")
                else ""
                for p, s in zip(pids, split)
            ]
            lat = np.round(rng.uniform(-40, 60, m), 4)
            lat[rng.random(m) < 0.04] = np.nan
            lon = np.where(np.isnan(lat), np.nan, np.round(rng.uniform(-120, 120, m), 4))
            meas = np.round(rng.lognormal(10.5, 1.0, m))
            meas[rng.random(m) < 0.01] = np.nan
            in_1m = np.where(rng.random(m) < 0.2, np.arange(start, start + m, dtype=np.float64), np.nan)
            columns = [
                pids,
                [f"BIOUG{i:08d}-A{i % 12 + 1:02d}" for i in idx],
                taxon.tolist(),
                ["Arthropoda"] * m,
                *(cols[r].tolist() for r in ("class", "order", "family", "subfamily", "genus", "species")),
                bins[np.where(rng.random(m) < 0.997, rng.integers(0, n_bins, m), -1)].tolist(),
                barcodes,
                countries[rng.integers(0, len(countries), m)].tolist(),
                provinces[rng.integers(0, len(provinces), m)].tolist(),
                _fmt(lat, 4),
                _fmt(lon, 4),
                _fmt(meas, 1),
                _fmt(np.round(rng.uniform(0.002, 0.3, m), 6), 6),
                _fmt(np.round(rng.uniform(0.12, 0.6, m), 6), 6),
                rng.integers(0, 8, m).astype(str).tolist(),
                split.tolist(),
                _fmt(in_1m, 1),
                chunk_col,
            ]
            # No generated value holds a comma or a quote: nothing needs quoting.
            fh.write("\n".join(",".join(row) for row in zip(*columns)) + "\n")
            if (start // chunk) % 10 == 9:
                log(f"  {start + m:,} / {n_rows:,} rows")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", help="the CSV file to write")
    parser.add_argument("--rows", type=int, default=FULL_ROWS, help=f"rows (default {FULL_ROWS:,})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_scale_csv(args.out, args.rows, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
