"""FFCV 1.0.2 as an anchor, run with the FFCV virtual environment's Python (see bench/README.md).

``python -m bench.kit.ffcv_cell SPEC_JSON`` prints one JSON line. Kinds:

``write``
    A ``.beton`` of the store's pixels, in dataset order: ``RGBImageField(write_mode=mode)``
    (``"raw"``, or ``"jpg"`` at ``jpeg_quality``) and the species index as an ``IntField``,
    read straight from the store's pixel block with an ``np.memmap`` (no bioscan-h5 import).
``read``
    One epoch of ``Loader(..., order=OrderOption.RANDOM, os_cache=True, drop_last=False,
    num_workers=T, batch_size=256)`` with ``SimpleRGBImageDecoder()``, as :mod:`.cells` times
    ours: a warm-up pass over other indices first (FFCV compiles its pipeline with numba on
    the first batch of a loader), then the epoch's indices, timed, with the disk bytes read.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from .cells import time_epoch, warm_up

BATCH = 256


def write(spec: dict) -> dict:
    from ffcv.fields import IntField, RGBImageField
    from ffcv.writer import DatasetWriter

    s = spec["image_size"]
    mm = np.memmap(spec["path"], np.uint8, "r", offset=int(spec["offset"]), shape=(spec["n_rows"], s, s, 3))
    rows, labels = np.load(spec["rows"]), np.load(spec["labels"])

    class Pixels:
        def __len__(self) -> int:
            return len(rows)

        def __getitem__(self, i: int):
            return np.ascontiguousarray(mm[rows[i]]), int(labels[i])

    fields = {
        "image": RGBImageField(write_mode=spec["mode"], jpeg_quality=spec.get("quality", 90)),
        "label": IntField(),
    }
    DatasetWriter(spec["out"], fields, num_workers=1).from_indexed_dataset(Pixels())
    return {"out": spec["out"]}


def image_pipeline(spec: dict) -> list:
    """The image field's operations: a plain decode, or the augmented pipeline (``spec["kind"]``)."""
    from ffcv.fields.decoders import RandomResizedCropRGBImageDecoder, SimpleRGBImageDecoder

    if spec["kind"] == "read":
        return [SimpleRGBImageDecoder()]
    from ffcv.transforms import NormalizeImage, RandomHorizontalFlip, ToDevice, ToTensor, ToTorchImage

    mean, std = (np.array(spec[k]) * 255 for k in ("mean", "std"))
    dtype = np.float32 if spec["dtype"] == "float32" else np.float16  # FFCV has no bfloat16
    head = [RandomResizedCropRGBImageDecoder((224, 224)), RandomHorizontalFlip()]
    if spec.get("device") == "cuda":  # FFCV's ImageNet recipe: normalise on the GPU
        import torch

        return [
            *head,
            ToTensor(),
            ToDevice(torch.device("cuda"), non_blocking=True),
            ToTorchImage(),
            NormalizeImage(mean, std, dtype),
        ]
    return [*head, NormalizeImage(mean, std, dtype), ToTensor(), ToTorchImage()]


def read(spec: dict) -> dict:
    from ffcv.fields.decoders import IntDecoder
    from ffcv.loader import Loader, OrderOption

    from .pipeline_cells import cpu_seconds

    order, warmup = np.load(spec["order"]), np.load(spec["warmup"])
    loader = Loader(
        spec["beton"],
        batch_size=BATCH,
        num_workers=spec["threads"],
        order=OrderOption.RANDOM,
        os_cache=True,
        drop_last=False,
        seed=spec.get("seed", 0),
        indices=np.sort(order),
        pipelines={"image": image_pipeline(spec), "label": [IntDecoder()]},
    )
    walk = loader.traversal_order
    walk.indices = warmup  # the warm-up epoch: other rows, same compiled pipeline
    # the augmented pipeline's PSS is read in the warm-up, outside the timed epoch (cells.warm_up)
    in_warmup = spec["kind"] == "pipeline" and spec.get("pss")
    pss = warm_up(loader, max(len(warmup) // BATCH - 1, 0) if in_warmup else None)
    walk.indices = loader.indices
    pss_at = len(order) // BATCH // 2 if spec.get("pss") and not in_warmup else None
    c0 = cpu_seconds()
    result = time_epoch(loader, lambda b: len(b[0]), pss_at)
    return {**result, "cpu_seconds": cpu_seconds() - c0, **({"pss": pss} if in_warmup else {})}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    t0 = time.perf_counter()
    result = {"write": write, "read": read, "pipeline": read}[spec["kind"]](spec)
    result["process_seconds"] = time.perf_counter() - t0  # with the loader's set-up and warm-up
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
