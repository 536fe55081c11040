"""One augmented epoch in a fresh process: ``python -m bench.kit.pipeline_cells SPEC_JSON`` prints one JSON line.

Every kind yields batches of 256 samples, each a 224 px RandomResizedCrop (torchvision's
box rule, scale (0.08, 1), ratio (3/4, 4/3)), flipped with probability 0.5 and normalised
with BIOSCAN-5M's mean and std, in ``spec["dtype"]`` (``float32`` or ``bfloat16``; DALI:
``float16``, it has no bfloat16). A warm-up over other rows comes first (see
:mod:`.cells`); the epoch is timed, with the CPU seconds of the process and its reaped
children and the PSS of the process tree half way. Kinds:

``ours``
    :func:`bioscan_h5.batch_loader` with ``spec["threads"]`` gathering threads and
    ``batch_transform=TrainTransform(224, dtype=...)`` on ``spec["store"]`` (a raw store, a
    JPEG store of the source bytes, or a re-encoded crop store).
``peer``
    ``bioscan-dataset`` 1.3.0 in a ``DataLoader`` with ``spec["threads"]`` workers and
    torchvision v2 transforms: ``PILToTensor``, ``RandomResizedCrop(224)`` (uint8,
    antialiased), ``RandomHorizontalFlip``, ``ToDtype(float32, scale=True)``, ``Normalize``
    (then ``ToDtype(bfloat16)``).
``dali``
    NVIDIA DALI's CPU pipeline (``device_id=None``, ``num_threads=spec["threads"]``):
    ``readers.file`` of the source JPEGs in the epoch's order, ``decoders.image_random_crop``
    (decodes only the crop's region), ``resize`` to 224 x 224, ``crop_mirror_normalize``
    (HWC). Run with DALI's interpreter (``spec["files"]``: a JSON list of the source JPEG of
    each dataset index).

With ``spec["device"] == "cuda"`` each batch ends on the GPU: ours with ``batch_loader(device=
"cuda")`` (the transform then runs on the GPU, batched), the peer's batches copied from pinned
memory, DALI's decoder ``"mixed"`` (nvJPEG) and the rest on the GPU; the epoch's time
includes a final ``torch.cuda.synchronize()`` (DALI: its outputs are waited for by ``run``).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np

from .cells import BATCH, peer_class, time_epoch, warm_up

SIZE = 224


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads) and its reaped children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(batches, size, order_len: int, cuda: bool = False) -> dict:
    """:func:`~.cells.time_epoch` with the CPU seconds it took (on a GPU: until it has finished)."""

    def synced():
        yield from batches
        if cuda:
            import torch

            torch.cuda.synchronize()

    c0 = cpu_seconds()
    result = time_epoch(synced(), size, None)  # the PSS is read in the warm-up (see cells.warm_up)
    result["cpu_seconds"] = cpu_seconds() - c0
    return result


def _last(rows: np.ndarray) -> int:
    """The last full batch of the warm-up over ``rows``: where the PSS is read (buffers all made)."""
    return max(len(rows) // BATCH - 1, 0)


def _dtype(name: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def run_ours(spec: dict, order: np.ndarray, warmup: np.ndarray) -> dict:
    from bioscan_h5 import BIOSCAN5M, batch_loader
    from bioscan_h5.transforms import TrainTransform

    ds = BIOSCAN5M(spec["root"], split="all", store=spec["store"], image_format="tensor")
    indices = warmup.tolist()
    t = TrainTransform(SIZE, dtype=_dtype(spec["dtype"]))
    cuda = spec.get("device") == "cuda"
    loader = batch_loader(
        ds,
        BATCH,
        sampler=indices,
        num_workers=spec["threads"],
        batch_transform=t,
        device="cuda" if cuda else None,
    )
    pss = warm_up(loader, _last(warmup))
    indices[:] = order.tolist()  # the same loader, the epoch's rows (see cells.run_batch_loader)
    return {**timed(iter(loader), lambda b: len(b["index"]), len(order), cuda), "pss": pss}


def run_peer(spec: dict, order: np.ndarray, warmup: np.ndarray) -> dict:
    import torch
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    from bioscan_h5.bioscan5m import RGB_MEAN, RGB_STDEV

    steps = [
        v2.PILToTensor(),
        v2.RandomResizedCrop(SIZE, antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(RGB_MEAN.tolist(), RGB_STDEV.tolist()),
    ]
    if spec["dtype"] == "bfloat16":
        steps.append(v2.ToDtype(torch.bfloat16))
    ds = peer_class()(spec["root"], split="all", transform=v2.Compose(steps))

    cuda = spec.get("device") == "cuda"

    def loader(indices: np.ndarray):
        batches = DataLoader(
            ds, BATCH, sampler=indices.tolist(), num_workers=spec["threads"], pin_memory=cuda
        )
        for images, *rest in batches:
            yield (images.to("cuda", non_blocking=True) if cuda else images, *rest)

    pss = warm_up(loader(warmup), _last(warmup))
    return {**timed(loader(order), lambda b: len(b[-1]), len(order), cuda), "pss": pss}


def dali_pipeline(files: list[str], threads: int, spec: dict):
    """DALI's CPU RandomResizedCrop pipeline over ``files`` in order (see the module notes), built."""
    import nvidia.dali.fn as fn
    import nvidia.dali.types as types
    from nvidia.dali import pipeline_def

    out_type = types.FLOAT if spec["dtype"] == "float32" else types.FLOAT16
    mean, std = [255 * m for m in spec["mean"]], [255 * s for s in spec["std"]]

    cuda = spec.get("device") == "cuda"

    @pipeline_def(batch_size=BATCH, num_threads=threads, device_id=0 if cuda else None, seed=spec["seed"])
    def pipe():
        jpegs, _ = fn.readers.file(files=files, random_shuffle=False, name="reader")
        images = fn.decoders.image_random_crop(
            jpegs,
            device="mixed" if cuda else "cpu",
            output_type=types.RGB,
            random_area=[0.08, 1.0],
            random_aspect_ratio=[3 / 4, 4 / 3],
        )
        images = fn.resize(images, resize_x=SIZE, resize_y=SIZE, antialias=True)
        return fn.crop_mirror_normalize(
            images, dtype=out_type, output_layout="HWC", mean=mean, std=std, mirror=fn.random.coin_flip()
        )

    p = pipe()
    p.build()
    return p


def run_dali(spec: dict, order: np.ndarray, warmup: np.ndarray) -> dict:
    with open(spec["files"]) as fh:
        files = json.load(fh)

    def epoch(indices: np.ndarray, p):
        left = len(indices)
        while left > 0:  # the reader pads the last batch; count the samples of the epoch only
            (images,) = p.run()
            n = min(left, len(images))
            left -= n
            yield n

    first = dali_pipeline([files[i] for i in warmup.tolist()], spec["threads"], spec)
    pss = warm_up(epoch(warmup, first), _last(warmup))
    del first
    # a new pipeline holds the epoch's file list (a DALI reader's list is fixed when it is built)
    p = dali_pipeline([files[i] for i in order.tolist()], spec["threads"], spec)
    return {**timed(epoch(order, p), lambda n: n, len(order)), "pss": pss}


KINDS = {"ours": run_ours, "peer": run_peer, "dali": run_dali}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    order, warmup = np.load(spec["order"]), np.load(spec["warmup"])
    t0 = time.perf_counter()
    result = KINDS[spec["kind"]](spec, order, warmup)
    result["process_seconds"] = time.perf_counter() - t0
    result["pid"] = os.getpid()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
