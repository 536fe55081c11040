"""A training job that can be stopped anywhere (SIGKILL, preemption, a wall-clock limit) and resumed.

Run it under torchrun; run it again with the same command after it is stopped, on as many
ranks as you have then. It restores model, optimiser, GradScaler, loader (with its
ElasticDistributedSampler) and every rank's augmentation generator from the last checkpoint,
and goes on with the batch after the last one the checkpoint covers::

    torchrun --nproc-per-node 8 examples/preemptible.py ~/data --checkpoint /scratch/job.pt
    torchrun --nproc-per-node 2 examples/preemptible.py ~/data --device cpu --image-size 64   # CPU ranks, gloo

A job resumed on the same number of ranks ends with the same parameters, bit for bit, as
one that was never stopped (``tests/resume/test_example.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.samplers import ElasticDistributedSampler
from bioscan_h5.transforms import TrainTransform


def save_atomically(state: dict, path: Path) -> None:
    """Write ``state`` next to ``path``, flush it to disk, then rename it over ``path``.

    A job killed at any moment leaves either the previous checkpoint or the new one, never
    a torn file.
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_model(num_classes: int) -> nn.Module:
    """A small stand-in for your network."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 5, stride=4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="the dataset root (where BIOSCAN5M finds or builds its store)")
    p.add_argument("--checkpoint", type=Path, default=Path("preemptible.pt"))
    p.add_argument("--split", default="train")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=16, help="per rank")
    p.add_argument("--workers", type=int, default=2, help="gathering threads per rank")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--save-every", type=int, default=5, help="steps between checkpoints")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trace", type=Path, help="append each batch's dataset indices to TRACE.rank<R>")
    args = p.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)

    ds = BIOSCAN5M(args.root, split=args.split, modality=("image",), target_type="order")
    sampler = ElasticDistributedSampler(ds, seed=args.seed, drop_last=True)  # one order, any world size
    loader = batch_loader(ds, args.batch_size, sampler=sampler, num_workers=args.workers, drop_last=True)
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = make_model(ds.num_classes("order")).to(device).to(memory_format=torch.channels_last)
    if distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    augment_gen = torch.Generator(device).manual_seed(args.seed * 1000 + rank)  # each rank draws its own
    augment = TrainTransform(args.image_size, generator=augment_gen).to(device)
    criterion = nn.CrossEntropyLoss(ignore_index=-1)

    # ---- restore at start-up: everything the next step depends on
    start_epoch, step = 0, 0
    if args.checkpoint.exists():
        ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        getattr(model, "module", model).load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        loader.load_state_dict(ckpt["loader"])  # the sampler's place is in it
        if len(ckpt["augment"]) == world:
            augment_gen.set_state(ckpt["augment"][rank])
        else:  # another number of ranks: new streams, drawn from where the job is
            augment_gen.manual_seed(hash((args.seed, world, rank, ckpt["step"])) & (2**63 - 1))
        start_epoch, step = ckpt["epoch"], ckpt["step"]
        if rank == 0:
            print(f"resumed at epoch {start_epoch}, step {step}, from {args.checkpoint}", flush=True)

    def checkpoint(epoch: int) -> None:
        """Every rank's augmentation generator; everything else is the same on every rank."""
        states = [augment_gen.get_state()]
        if distributed:
            states = [None] * world
            dist.all_gather_object(states, augment_gen.get_state())
        if rank == 0:
            state = {
                "model": getattr(model, "module", model).state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "loader": loader.state_dict(),
                "augment": states,
                "epoch": epoch,  # the epoch the loader's state is in (the next one, after its end)
                "step": step,
            }
            save_atomically(state, args.checkpoint)

    trace = open(f"{args.trace}.rank{rank}", "a", buffering=1) if args.trace else None  # noqa: SIM115
    for epoch in range(start_epoch, args.epochs):
        sampler.set_epoch(epoch)
        model.train()
        for batch in loader:
            images = augment(batch["image"].to(device, non_blocking=True))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = criterion(model(images), batch["target"].to(device))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            if trace is not None:
                trace.write(f"{epoch} {','.join(map(str, batch['index'].tolist()))}\n")
            if step % args.save_every == 0:
                checkpoint(epoch)
        checkpoint(epoch + 1)
    if rank == 0:
        params = b"".join(t.detach().cpu().numpy().tobytes() for t in model.parameters())
        print(f"done after {step} steps; parameters sha256 {hashlib.sha256(params).hexdigest()}", flush=True)
    if distributed:
        dist.barrier()  # every rank is done with the group before any tears it down
        dist.destroy_process_group()
        # torch 2.14's teardown of the gloo group at interpreter exit aborts now and then
        # ("terminate called without an active exception", about 1 run in 4 under pytest, with
        # or without bioscan-h5's compiled kernels): everything is saved and closed by now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
