"""Benchmark: tokenizing barcodes with a pure-Python per-sample tokenizer vs the bulk numba kernel.

For each preset tokenizer this prints, side by side:

* a straightforward ``str``-based Python tokenizer, one barcode at a time (as a dataset's
  ``__getitem__`` would), timed on a subset and scaled to 1M barcodes;
* our per-sample path (``encode_codes_with_mask`` on one stored row), timed the same way;
* the bulk kernel (``encode_batch_numpy``, one kernel call per 50,000-row chunk) on 1M
  barcodes, and ``encode_batch`` (new torch int64 tensors) on the same rows in 1,024-row
  batches, as a DataLoader's collate function would call it;
* the bulk kernel on 5,150,850 x 660 codes (BIOSCAN-5M's size), generated chunk by chunk.

Everything runs on one core (numba kernels are single-threaded); times are CPU seconds of
the process, so other jobs on a shared machine do not inflate them. The codes imitate the real
ones: lengths mostly 650-660, some shorter, 1% missing, interior and trailing N runs, rare
IUPAC letters. The Python tokenizer's output is checked against the kernel's.

Usage::

    python bench/tokenize.py [--rows 1000000] [--full-rows 5150850] [--py-rows 20000]

Saves a plot to ``bench/out/tokenize.png`` when matplotlib is installed.
"""

import os
import sys

# This file shares its name with the standard library's ``tokenize`` module (imported by
# ``inspect``, ``linecache``, ...): keep its folder off the import path before importing more.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import itertools  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bioscan_h5.tokenizers import Tokenizer, get_tokenizer  # noqa: E402

#: CPU seconds of this process: the work runs on one thread, and other jobs on a shared
#: machine do not inflate it the way they inflate wall-clock time.
clock = time.process_time
WIDTH = 660
FULL_ROWS = 5_150_850
_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
_IUPAC = np.frombuffer(b"RYKMSWBDHVN-", dtype=np.uint8)


# -- synthetic barcodes --------------------------------------------------------------------------


def make_codes(rng: np.random.Generator, n: int, width: int = WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """``n`` BIOSCAN-like barcodes as stored: (n, width) uint8 codes, 0-padded, int32 lengths."""
    lengths = rng.integers(650, width + 1, n)
    r = rng.random(n)
    short = r < 0.08
    lengths[short] = rng.integers(300, 650, int(short.sum()))
    codes = _ACGT[rng.integers(0, 4, (n, width), dtype=np.uint8)]
    # Trailing N runs (5% of rows) and interior N runs (3%): a few hundred rows, done row by row.
    for i in np.flatnonzero(rng.random(n) < 0.05):
        codes[i, lengths[i] - rng.integers(1, 40) : lengths[i]] = ord("N")
    for i in np.flatnonzero(rng.random(n) < 0.03):
        a = rng.integers(0, lengths[i])
        codes[i, a : a + rng.integers(1, 20)] = ord("N")
    # Rare IUPAC letters and gaps: about 1 in 20,000 letters.
    flat = codes.reshape(-1)
    where = rng.integers(0, flat.size, flat.size // 20_000)
    flat[where] = _IUPAC[rng.integers(0, len(_IUPAC), where.size)]
    # 0-padding after each barcode; 1% missing.
    codes[np.arange(width)[None, :] >= lengths[:, None]] = 0
    lengths[r > 0.99] = -1
    codes[lengths < 0] = 0
    return codes, lengths.astype(np.int32)


def chunks(rng: np.random.Generator, total: int, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, total, size):
        yield make_codes(rng, min(size, total - start))


# -- the plain-Python tokenizers (what a dataset would write without this module) -----------------


def python_tokenizer(tok: Tokenizer) -> Callable[[str], tuple[torch.Tensor, torch.Tensor]]:
    """A str-based, one-barcode-at-a-time tokenizer following ``tok``'s published rules."""
    ids = {t: i for i, t in enumerate(tok.vocab)}
    k, stride, max_len = tok.k, tok.stride, tok.max_len
    n_win = tok.num_windows
    if tok.k > 1:  # BarcodeBERT / CLIBD: pad with N, k-mers, dict lookup, unknown -> [UNK]
        unk = ids[tok.unknown]
        prefix = [] if tok.prefix is None else [ids[tok.prefix]]

        def kmer(seq: str) -> tuple[torch.Tensor, torch.Tensor]:
            x = seq.upper()[:max_len]
            n = len(x)
            x = x + "N" * (max_len - n)
            tokens = prefix + [ids.get(x[i : i + k], unk) for i in range(0, max_len - k + 1, stride)]
            on = min(n // stride, n_win)
            mask = [1] * len(prefix) + [1] * on + [0] * (n_win - on)
            return torch.tensor(tokens), torch.tensor(mask)

        return kmer

    letter = {c: ids[c] for c in tok.alphabet}
    unk = ids[tok.unknown]
    pad = ids[tok.pad]
    left = tok.padding_side == "left"

    def char(seq: str) -> tuple[torch.Tensor, torch.Tensor]:
        x = seq.upper()[:max_len]
        n = len(x)
        tokens = [letter.get(c, unk) for c in x]
        if left:
            tokens, mask = [pad] * (max_len - n) + tokens, [0] * (max_len - n) + [1] * n
        else:
            tokens, mask = tokens + [pad] * (max_len - n), [1] * n + [0] * (max_len - n)
        return torch.tensor(tokens), torch.tensor(mask)

    return char


# -- timing ----------------------------------------------------------------------------------------


def time_python(tok: Tokenizer, codes: np.ndarray, lengths: np.ndarray) -> tuple[float, float]:
    """Seconds per barcode: the Python tokenizer on str, and our per-sample kernel on rows."""
    strings = [codes[i, : max(int(n), 0)].tobytes().decode("ascii") for i, n in enumerate(lengths)]
    fn = python_tokenizer(tok)
    t0 = clock()
    out = [fn(s) for s in strings]
    t_py = clock() - t0
    t0 = clock()
    for i in range(len(lengths)):
        tok.encode_codes_with_mask(codes[i], int(lengths[i]))
    t_row = clock() - t0
    # The Python tokenizer and the kernel must agree.
    tokens, mask = tok.encode_batch_numpy(codes, lengths)
    for i, (t, m) in enumerate(out):
        if not (np.array_equal(t.numpy(), tokens[i]) and np.array_equal(m.numpy(), mask[i])):
            raise AssertionError(f"{tok.name}: Python and kernel disagree on row {i}: {strings[i]!r}")
    return t_py / len(lengths), t_row / len(lengths)


def _buffers(tok: Tokenizer, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Output buffers, written once so that page faults stay out of the timings."""
    return np.full((rows, tok.num_tokens), 0, np.int32), np.full((rows, tok.num_tokens), 0, np.uint8)


def time_bulk(tok: Tokenizer, blocks: list[tuple[np.ndarray, np.ndarray]], batch: int) -> tuple[float, float]:
    """Seconds for the bulk kernel over ``blocks``: numpy int32 into reused buffers, chunk by
    chunk; and ``encode_batch`` (new torch int64 tensors) on ``batch``-row batches, as a
    DataLoader's collate would call it."""
    size = max(len(b[1]) for b in blocks)
    buf = _buffers(tok, size)
    t_np = 0.0
    for codes, lengths in blocks:
        n = len(lengths)
        t0 = clock()
        tok.encode_batch_numpy(codes, lengths, out=(buf[0][:n], buf[1][:n]))
        t_np += clock() - t0
    t_torch = 0.0
    for codes, lengths in blocks:
        for s in range(0, len(lengths), batch):
            t0 = clock()
            tok.encode_batch(codes[s : s + batch], lengths[s : s + batch])
            t_torch += clock() - t0
    return t_np, t_torch


def time_full(toks: list[Tokenizer], rng: np.random.Generator, rows: int, chunk: int) -> dict[str, float]:
    """Seconds of kernel time for each tokenizer over ``rows`` fresh rows, made chunk by chunk."""
    bufs = {t.name: _buffers(t, chunk) for t in toks}
    spent = dict.fromkeys(bufs, 0.0)
    for codes, lengths in chunks(rng, rows, chunk):
        n = len(lengths)
        for t in toks:
            b = bufs[t.name]
            t0 = clock()
            t.encode_batch_numpy(codes, lengths, out=(b[0][:n], b[1][:n]))
            spent[t.name] += clock() - t0
    return spent


def plot(rows: list[dict], path: str, n_1m: int, n_full: int) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed: plot skipped"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    names = [r["name"] for r in rows]
    series = [
        (f"Python per sample, {n_1m:,} (scaled)", "py"),
        (f"ours per sample, {n_1m:,} (scaled)", "row"),
        (f"bulk kernel, {n_1m:,}", "bulk"),
        (f"bulk kernel, {n_full:,} x 660", "full"),
    ]
    fig, ax = plt.subplots(figsize=(9, 5))
    width = 0.2
    for j, (label, key) in enumerate(series):
        xs = [i + (j - 1.5) * width for i in range(len(rows))]
        ax.bar(xs, [r[key] for r in rows], width, label=label)
    ax.axhline(10, color="k", lw=0.8, ls="--", label="10 s goal (full size)")
    ax.set_yscale("log")
    ax.set_xticks(range(len(rows)), names)
    ax.set_ylabel("seconds, one core (log)")
    ax.set_title("Tokenizing DNA barcodes: per-sample Python vs one numba kernel call per chunk")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"plot saved to {path}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--tokenizers", default="barcodebert,clibd,barcodemamba,char", help="comma-separated presets"
    )
    p.add_argument("--rows", type=int, default=1_000_000, help="barcodes for the side-by-side comparison")
    p.add_argument("--full-rows", type=int, default=FULL_ROWS, help="barcodes for the full-size bulk run")
    p.add_argument("--py-rows", type=int, default=20_000, help="subset timed for the per-sample tokenizers")
    p.add_argument("--chunk", type=int, default=50_000, help="rows per kernel call")
    p.add_argument("--batch", type=int, default=1024, help="rows per encode_batch call (torch column)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=os.path.join(_HERE, "out", "tokenize.png"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    toks = [get_tokenizer(name) for name in args.tokenizers.split(",")]
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    blocks = list(chunks(rng, args.rows, args.chunk))
    gen = time.perf_counter() - t0
    sub_codes = np.concatenate([b[0] for b in blocks])[: args.py_rows]
    sub_lengths = np.concatenate([b[1] for b in blocks])[: args.py_rows]
    t0 = time.perf_counter()
    for t in toks:  # compile (or load from numba's cache) outside the timings
        t.encode_batch_numpy(sub_codes[:2], sub_lengths[:2])
        t.encode_batch(sub_codes[:2], sub_lengths[:2])
        t.encode_codes_with_mask(sub_codes[0], int(sub_lengths[0]))
    warm = time.perf_counter() - t0

    rows = []
    for t in toks:
        per_py, per_row = time_python(t, sub_codes, sub_lengths)
        bulk, bulk_torch = time_bulk(t, blocks, args.batch)
        rows.append(
            {
                "name": t.name,
                "T": t.num_tokens,
                "py": per_py * args.rows,
                "row": per_row * args.rows,
                "bulk": bulk,
                "torch": bulk_torch,
            }
        )
    del blocks
    t0 = time.perf_counter()
    full = time_full(toks, rng, args.full_rows, args.chunk)
    wall_full = time.perf_counter() - t0
    for r in rows:
        r["full"] = full[r["name"]]

    n1, nf, ns = f"{args.rows:,}", f"{args.full_rows:,}", f"{len(sub_lengths):,}"
    head = [
        "tokenizer",
        "T",
        f"Python/sample {n1}*",
        f"ours/sample {n1}*",
        f"bulk {n1}",
        f"torch, {args.batch:,}-row batches",
        "speed-up",
        f"bulk {nf}x660",
    ]
    body = [
        [
            r["name"],
            str(r["T"]),
            f"{r['py']:.1f} s",
            f"{r['row']:.1f} s",
            f"{r['bulk']:.2f} s",
            f"{r['torch']:.2f} s",
            f"{r['py'] / r['bulk']:.0f}x",
            f"{r['full']:.2f} s",
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = "  ".join("-" * w for w in widths)
    print(f"Tokenizing {n1} BIOSCAN-like barcodes on one core: CPU seconds (time.process_time)")
    print(line)
    for cells in itertools.chain([head], [None], body):
        print(line if cells is None else "  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    print(line)
    print(f"* timed on {ns} barcodes (Python tokenizer on pre-decoded str; ours on stored rows) and")
    print(f"  scaled to {n1}. Their outputs were checked equal to the bulk kernel's.")
    print(f"  bulk: encode_batch_numpy, one kernel call per {args.chunk:,} rows, int32 tokens + uint8 mask")
    print("  written into reused buffers. torch: encode_batch, new int64 tensors every call.")
    print("  speed-up = Python per sample / bulk.")
    print(f"  {nf} rows: fresh codes made chunk by chunk (wall {wall_full:.0f} s incl. making them);")
    print(f"  {n1} rows made in {gen:.1f} s; numba compile/cache load {warm:.1f} s, not timed.")
    ok_speed = all(r["py"] / r["bulk"] >= 100 for r in rows)
    ok_time = all(r["full"] < 10 for r in rows)
    print(
        f"goal >= 100x: {'met' if ok_speed else 'NOT met'}; "
        f"goal < 10 s for {nf} x 660: {'met' if ok_time else 'NOT met'}"
    )
    print(plot(rows, args.plot, args.rows, args.full_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
