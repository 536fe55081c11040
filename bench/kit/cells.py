"""One measurement in a fresh process: ``python -m bench.kit.cells SPEC_JSON`` prints one JSON line.

Every cell reads the dataset indices of one epoch (``spec["order"]``, a ``.npy`` file: each
index once, in random order) and, before it, a warm-up over other indices
(``spec["warmup"]``) that pays the one-off costs of a process (imports, opening the store,
JIT compilation) on rows the epoch does not touch. It then times the epoch and counts the
bytes the process and its workers read from disk meanwhile. Kinds:

``batch_loader``
    :func:`bioscan_h5.batch_loader` with ``spec["workers"]``, batch 256, on ``BIOSCAN5M``
    (``spec["store"]``: another store, e.g. a JPEG store; ``spec["decoder"] = "pillow"``: its
    images decoded by Pillow alone).
``dataloader``
    ``torch.utils.data.DataLoader`` per sample, batch 256: ours (tensor output) or the peer
    (``Resize`` + ``CenterCrop`` + ``PILToTensor``, which batching its JPEGs needs).
``getitem``
    ``ds[i]`` one sample at a time: ours (PIL or tensor output) or the peer (its lazily
    opened JPEG decoded with ``.load()``, as any transform would).
``preadv``
    ``os.preadv`` of each row's bytes into a reused batch buffer (``POSIX_FADV_RANDOM``), by
    one thread (the cold-cache anchor) or ``spec["threads"]``, each reading whole batches into
    a buffer of its own (what copies out of the page cache reach with that many threads).
``memmap``
    ``np.take`` from an ``np.memmap`` of the pixel block into a reused batch buffer: the floor.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .system import disk_read_bytes, pss_tree

BATCH = 256


def peer_class():
    """``bioscan_dataset.BIOSCAN5M`` without its MD5 check of the real files (the only change)."""
    import bioscan_dataset

    class Peer(bioscan_dataset.BIOSCAN5M):
        def _check_integrity(self, verbose=1):
            return True

    return Peer


def warm_up(batches: Iterable, pss_at: int | None = None) -> dict | None:
    """Run a warm-up pass; with ``pss_at``, the PSS of the process tree at that batch (else None).

    The augmented-pipeline cells read the PSS here, in the warm-up of the same loader, and not
    inside the timed epoch: reading ``smaps_rollup`` of a 1-4 GB process costs a tenth of a
    second of CPU and slows the loader's threads meanwhile (ours: 3.3k/s without the probe in
    the epoch, 2.9k/s with it, on a JPEG store at 2 threads).
    """
    pss = None
    for k, _ in enumerate(batches):
        if k == pss_at:
            pss = pss_tree()
    return pss


def time_epoch(batches: Iterable, size: Callable[[object], int], pss_at: int | None) -> dict:
    """Time one pass over ``batches``; sample the PSS of the process tree at batch ``pss_at``."""
    before, n, pss, paused = disk_read_bytes(), 0, None, 0.0
    t0 = time.perf_counter()
    for k, b in enumerate(batches):
        n += size(b)
        if k == pss_at:
            t = time.perf_counter()
            pss = pss_tree()
            paused += time.perf_counter() - t
    seconds = time.perf_counter() - t0 - paused
    del batches  # joins DataLoader workers, so their reads reach RUSAGE_CHILDREN
    return {"n": n, "seconds": seconds, "read_bytes": disk_read_bytes() - before, "pss": pss}


def _batches(order: np.ndarray) -> list[np.ndarray]:
    return [order[i : i + BATCH] for i in range(0, len(order), BATCH)]


def _ours(spec: dict, image_format: str = "pil"):
    from bioscan_h5 import BIOSCAN5M

    return BIOSCAN5M(spec["root"], split="all", store=spec.get("store"), image_format=image_format)


def run_batch_loader(spec: dict, order: np.ndarray, warmup: np.ndarray) -> dict:
    from bioscan_h5 import batch_loader

    ds = _ours(spec)
    # One loader for the warm-up and the epoch, as a training loop keeps one across epochs (and
    # as the FFCV cell keeps its Loader): the epoch's sampler is the same list, refilled. The
    # loader's ring of batch buffers is then allocated and first touched in the warm-up.
    indices = warmup.tolist()
    loader = batch_loader(ds, BATCH, sampler=indices, num_workers=spec["workers"])
    for _ in loader:
        pass
    indices[:] = order.tolist()
    pss_at = len(order) // BATCH // 2 if spec.get("pss") else None
    return time_epoch(iter(loader), lambda b: len(b["index"]), pss_at)


def run_dataloader(spec: dict, order: np.ndarray, warmup: np.ndarray) -> dict:
    from torch.utils.data import DataLoader

    if spec["who"] == "ours":
        ds = _ours(spec, "tensor")
    else:
        from torchvision.transforms import v2

        s = spec["image_size"]
        tf = v2.Compose([v2.Resize(s), v2.CenterCrop(s), v2.PILToTensor()])
        ds = peer_class()(spec["root"], split="all", transform=tf)

    def loader(indices: np.ndarray):
        return DataLoader(ds, BATCH, sampler=indices.tolist(), num_workers=spec["workers"])

    for _ in loader(warmup):
        pass
    pss_at = len(order) // BATCH // 2 if spec.get("pss") else None
    return time_epoch(loader(order), lambda b: len(b[-1]), pss_at)


def run_getitem(spec: dict, order: np.ndarray, warmup: np.ndarray) -> dict:
    if spec["who"] == "ours":
        ds = _ours(spec, spec["image_format"])
    else:
        ds = peer_class()(spec["root"], split="all")
    pil = spec["image_format"] == "pil"

    def samples(indices: np.ndarray):
        for i in indices.tolist():
            s = ds[i]
            if pil:
                s[0].load()  # decode what the peer returns lazily (a no-op on ours)
            yield s

    for _ in samples(warmup):
        pass
    return time_epoch(samples(order), lambda s: 1, None)


def _pixels(spec: dict) -> tuple[np.ndarray, int, int]:
    """(store row of each dataset index, byte offset of row 0, bytes per row)."""
    rows = np.load(spec["rows"])
    s = spec["image_size"]
    return rows, int(spec["offset"]), s * s * 3


def run_preadv(spec: dict, order: np.ndarray, warmup: np.ndarray) -> dict:
    rows, offset, nbytes = _pixels(spec)
    s, threads = spec["image_size"], spec.get("threads", 1)
    bufs = [np.empty((BATCH, s, s, 3), np.uint8) for _ in range(threads)]
    views = [[memoryview(buf[k].reshape(-1)) for k in range(BATCH)] for buf in bufs]
    fd = os.open(spec["path"], os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)

    def read(b: np.ndarray, slot: int) -> int:
        for k, r in enumerate(b.tolist()):
            if os.preadv(fd, [views[slot][k]], offset + r * nbytes) != nbytes:
                raise OSError(f"short read of row {r}")
        return len(b)

    def batches(indices: np.ndarray):
        todo = _batches(rows[indices])
        if threads == 1:
            for b in todo:
                yield read(b, 0)
            return
        with ThreadPoolExecutor(threads) as pool:  # each thread its own batch buffer
            for i in range(0, len(todo), threads):
                futures = [pool.submit(read, b, j) for j, b in enumerate(todo[i : i + threads])]
                for f in futures:
                    yield f.result()

    for _ in batches(warmup):
        pass
    try:
        return time_epoch(batches(order), lambda n: n, None)
    finally:
        os.close(fd)


def run_memmap(spec: dict, order: np.ndarray, warmup: np.ndarray) -> dict:
    rows, offset, _ = _pixels(spec)
    s = spec["image_size"]
    mm = np.memmap(spec["path"], np.uint8, "r", offset=offset, shape=(spec["n_rows"], s, s, 3))
    buf = np.empty((BATCH, s, s, 3), np.uint8)

    def batches(indices: np.ndarray):
        for b in _batches(rows[indices]):
            np.take(mm, b, axis=0, out=buf[: len(b)])
            yield len(b)

    for _ in batches(warmup):
        pass
    return time_epoch(batches(order), lambda n: n, None)


KINDS = {
    "batch_loader": run_batch_loader,
    "dataloader": run_dataloader,
    "getitem": run_getitem,
    "preadv": run_preadv,
    "memmap": run_memmap,
}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    if spec.get("decoder") == "pillow":  # a JPEG store's decode without simplejpeg
        os.environ["BIOSCAN_H5_JPEG_DECODER"] = "pillow"
    order, warmup = np.load(spec["order"]), np.load(spec["warmup"])
    result = KINDS[spec["kind"]](spec, order, warmup)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
