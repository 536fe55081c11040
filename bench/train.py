"""Benchmark: ResNet-18 training steps fed by the peer, by bioscan-h5, and by nothing (the ceiling).

Three sides, each a fresh loader, the same model, optimiser and step, side by side in one run
(rounds rotate the order; medians are reported):

(a) **peer**: ``bioscan-dataset`` 1.3.0 with torchvision's CPU transforms
    (``RandomResizedCrop``, ``RandomHorizontalFlip``, ``ToImage`` + ``ToDtype`` + ``Normalize``)
    in ``--workers`` DataLoader worker processes;
(b) **ours**: :func:`bioscan_h5.batch_loader` (``--loader-threads`` gather threads) and the
    batched augmentation preset :class:`bioscan_h5.transforms.TrainTransform` on the
    model's device;
(c) **model alone**: one synthetic batch already on the device, reused every step.

Prints samples/s (all ranks together) and each as a percentage of the model alone. Images
come from a generated sample root (``tools/make_sample_data.py``, cached under ``--work``);
the species index is the target (``ignore_index=-1`` for unlabelled rows).

On a GPU: ``python bench/train.py`` (224 px, batch 256, 50 steps, bf16 autocast,
channels-last). On a CPU the defaults are a small setting that shows the program runs
(64 px, batch 32, 10 steps, float32). Under ``torchrun --nproc-per-node N bench/train.py ...`` each
rank trains a DistributedDataParallel replica on its share of each epoch
(``DistributedSampler``, ``set_epoch`` every epoch; gloo on CPU, NCCL on GPU).
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]  # bench/tokenize.py
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tools"))

import argparse
import importlib.util
import inspect
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator

import torch
import torch.distributed as dist

from bench.kit.report import print_table

SIDES = ("peer", "ours", "model alone")
#: (option, default on a GPU, default on a CPU: the small setting that shows the program runs)
SETTINGS = (("image_size", 224, 64), ("batch_size", 256, 32), ("steps", 50, 10), ("warmup_steps", 5, 2))


# ----------------------------------------------------------------------------- processes
class Dist:
    """This process's place among the ranks (one process when not started by torchrun)."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        self.device = torch.device(f"cuda:{local}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True  # the same shapes every step
        elif self.world > 1:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.world))
        if self.world > 1:
            dist.init_process_group("nccl" if cuda else "gloo")

    def sampler(self, dataset, seed: int):
        """Each rank's share of a shuffled epoch (a plain random sampler on one process)."""
        if self.world > 1:
            return torch.utils.data.DistributedSampler(dataset, shuffle=True, seed=seed)
        return torch.utils.data.RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))

    def slowest(self, seconds: float) -> float:
        """The longest of the ranks' times (they step together)."""
        if self.world == 1:
            return seconds
        t = torch.tensor([seconds], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t.item())

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


def epochs(make_loader: Callable[[], object], sampler) -> Iterator:
    """Batches of epoch after epoch, calling ``sampler.set_epoch(e)`` before each."""
    e = 0
    while True:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(e)
        yield from make_loader()
        e += 1


# ----------------------------------------------------------------------------- the sides
def peer_batches(root: str, args, d: Dist) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(a) the peer: PIL samples, torchvision CPU augmentation, DataLoader worker processes."""
    from torchvision.transforms import v2

    from bench.kit.cells import peer_class
    from bioscan_h5.bioscan5m import RGB_MEAN, RGB_STDEV

    tf = v2.Compose(
        [
            v2.RandomResizedCrop(args.image_size),
            v2.RandomHorizontalFlip(),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(RGB_MEAN, RGB_STDEV),
        ]
    )
    ds = peer_class()(root, split="all", modality=("image",), target_type="species", transform=tf)
    sampler = d.sampler(ds, seed=0)
    cuda = d.device.type == "cuda"

    def loader():
        return torch.utils.data.DataLoader(
            ds, args.batch_size, sampler=sampler, num_workers=args.workers, pin_memory=cuda, drop_last=True
        )

    for images, target in epochs(loader, sampler):
        # the peer's label indices are numpy int8/int16/int32 by vocabulary size: make them int64
        yield images.to(d.device, non_blocking=True), target.long().to(d.device, non_blocking=True)


def train_transform(args) -> torch.nn.Module:
    """bioscan-h5's batched training preset (RandomResizedCrop, flip, normalise) at ``--image-size``."""
    from bioscan_h5.transforms import TrainTransform

    return TrainTransform(args.image_size, dtype=args.dtype)


def ours_batches(root: str, args, d: Dist) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(b) ours: batch_loader threads, then the batched augmentation on the model's device."""
    from bioscan_h5 import BIOSCAN5M, batch_loader

    ds = BIOSCAN5M(root, split="all", modality=("image",), target_type="species")
    sampler = d.sampler(ds, seed=0)
    augment = train_transform(args).to(d.device)
    to_device = "device" in inspect.signature(batch_loader).parameters
    extra = {"device": d.device} if to_device and d.device.type == "cuda" else {}

    def loader():
        return batch_loader(
            ds, args.batch_size, sampler=sampler, num_workers=args.loader_threads, drop_last=True, **extra
        )

    for batch in epochs(loader, sampler):
        images = batch["image"].to(d.device, non_blocking=True)
        yield augment(images), batch["target"].to(d.device, non_blocking=True)


def model_alone(n_classes: int, args, d: Dist) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(c) the ceiling: one normalised synthetic batch on the device, every step."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, generator=g)
    y = torch.randint(0, n_classes, (args.batch_size,), generator=g)
    x = x.to(d.device, memory_format=torch.channels_last)
    y = y.to(d.device)
    while True:
        yield x, y


# ----------------------------------------------------------------------------- training
def make_model(n_classes: int, d: Dist):
    import torchvision

    model = torchvision.models.resnet18(num_classes=n_classes).to(d.device, memory_format=torch.channels_last)
    if d.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[d.device.index] if d.device.type == "cuda" else None
        )
    return model


def run_side(batches: Iterator, model, args, d: Dist) -> float:
    """Samples per second (all ranks) over ``args.steps`` steps, after ``args.warmup_steps``."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1, reduction="sum")
    amp = d.device.type == "cuda" and args.dtype == torch.bfloat16

    def step() -> None:
        x, y = next(batches)
        with torch.autocast(d.device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(x.contiguous(memory_format=torch.channels_last)), y) / len(y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup_steps):
        step()
    d.sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    d.sync()
    seconds = d.slowest(time.perf_counter() - t0)
    return args.steps * args.batch_size * d.world / seconds


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image-size", type=int, help="crop size fed to the model (default 224; CPU 64)")
    p.add_argument("--batch-size", type=int, help="per rank (default 256; CPU 32)")
    p.add_argument("--steps", type=int, help="timed steps per side and round (default 50; CPU 10)")
    p.add_argument("--warmup-steps", type=int, help="untimed steps first: workers, cuDNN (default 5; CPU 2)")
    p.add_argument("--rounds", type=int, default=1, help="rounds, order rotated, medians reported")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="the peer's workers")
    p.add_argument("--loader-threads", type=int, default=4, help="batch_loader's num_workers (threads)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--float32", action="store_true", help="no bf16 autocast on GPU")
    p.add_argument("--sides", default=",".join(SIDES), help="comma-separated subset of: " + ", ".join(SIDES))
    p.add_argument("--store-rows", type=int, default=4096, help="rows of the generated sample root")
    p.add_argument(
        "--work", default=os.path.join(tempfile.gettempdir(), "bioscan-h5-bench"), help="cache folder"
    )
    args = p.parse_args(argv)
    args.dtype = torch.float32 if args.float32 else torch.bfloat16
    args.sides = [s.strip() for s in args.sides.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    d = Dist(args.device)
    cpu = d.device.type == "cpu"
    for name, gpu_default, cpu_default in SETTINGS:
        if getattr(args, name) is None:
            setattr(args, name, cpu_default if cpu else gpu_default)
    if cpu:
        args.dtype = torch.float32
    if "ours" in args.sides and importlib.util.find_spec("bioscan_h5.transforms") is None:
        args.sides.remove("ours")
        if d.rank == 0:
            print("note: side 'ours' skipped: this bioscan-h5 has no bioscan_h5.transforms", file=sys.stderr)
    from bench.kit.data import sample_root

    if d.rank == 0:
        os.makedirs(args.work, exist_ok=True)
        sample_root(args.work, args.store_rows)
    if d.world > 1:
        dist.barrier()
    root, store = sample_root(args.work, args.store_rows)
    from bioscan_h5 import open_store

    with open_store(store) as st:
        n_classes = len(st.vocab["species"])
    feeds = {
        "peer": lambda: peer_batches(root, args, d),
        "ours": lambda: ours_batches(root, args, d),
        "model alone": lambda: model_alone(n_classes, args, d),
    }
    results: dict[str, list[float]] = {s: [] for s in args.sides}
    for r in range(args.rounds):
        k = r % len(args.sides)
        for side in args.sides[k:] + args.sides[:k]:
            torch.manual_seed(r)
            rate = run_side(feeds[side](), make_model(n_classes, d), args, d)
            results[side].append(rate)
            if d.rank == 0:
                print(f"  round {r + 1}: {side}: {rate:,.0f} samples/s", file=sys.stderr, flush=True)
    if d.rank == 0:
        report(results, args, d)
    d.close()
    return 0


def report(results: dict[str, list[float]], args, d: Dist) -> None:
    med = {s: statistics.median(v) for s, v in results.items()}
    ceiling = med.get("model alone")
    feeds = {
        "peer": f"DataLoader, {args.workers} worker process(es), torchvision CPU transforms",
        "ours": f"batch_loader, {args.loader_threads} thread(s), TrainTransform on {d.device.type}",
        "model alone": "synthetic batch on the device",
    }
    rows = [
        [side, feeds[side], f"{med[side]:,.0f}", f"{100 * med[side] / ceiling:.0f}%" if ceiling else "-"]
        for side in SIDES
        if side in med
    ]
    dev = torch.cuda.get_device_name(d.device) if d.device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print_table(
        f"ResNet-18 training steps, {args.image_size} px, batch {args.batch_size} x {d.world} rank(s), "
        f"{args.steps} steps x {args.rounds} round(s), {dev}, {'bf16 autocast' if args.dtype == torch.bfloat16 else 'float32'}",
        ["side", "fed by", "samples/s", "of model alone"],
        rows,
    )


if __name__ == "__main__":
    sys.exit(main())
