"""A training loop that the resume tests kill with SIGKILL and start again (one process or torchrun ranks).

Every run is a *segment*: it loads the last checkpoint (if any), records which checkpoint it
started from, then logs every batch it takes (``seg<S>_rank<R>.txt``: one line per step,
``epoch index,index,...``) and saves a checkpoint every ``--save-every`` steps and at the
end of each epoch: ``torch.save`` to a temporary file, then ``os.replace`` (atomic). Under
torchrun each step ends with an all-reduce (the ranks stay in step, as under DDP) and rank
0 saves. ``--kill`` makes the process SIGKILL itself at one point:

``batch:E:K``      after logging batch K (1-based) of epoch E
``gather:N``       in a gathering thread, while it gathers the N-th batch of this segment
``end:E``          after epoch E's last batch, before its end-of-epoch checkpoint
``after-end:E``    after epoch E's end-of-epoch checkpoint, before epoch E+1 starts
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.samplers import ElasticDistributedSampler

CLEAN = "pretrain+train+key_unseen+val_unseen+test_unseen+other_heldout"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("work", type=Path)
    p.add_argument("--segment", type=int, required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=24)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--prefetch", type=int, default=None)
    p.add_argument("--save-every", type=int, default=3)
    p.add_argument("--step-seconds", type=float, default=0.0)
    p.add_argument("--kill", default="")
    args = p.parse_args()

    ckpt_path = args.work / "checkpoint.pt"
    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if distributed else 0
    ds = BIOSCAN5M(args.root, split=CLEAN, build=False, modality=("image", "dna"), image_format="tensor")
    gathered = itertools.count(1)
    kill_gather = int(args.kill.split(":")[1]) if args.kill.startswith("gather:") else 0

    def in_gather_thread(batch: dict) -> dict:
        if next(gathered) == kill_gather:
            _die()
        return batch

    if distributed:
        sampler = ElasticDistributedSampler(ds, seed=11)
        loader = batch_loader(
            ds, args.batch, sampler=sampler, num_workers=args.workers, prefetch_factor=args.prefetch,
            batch_transform=in_gather_thread,
        )  # fmt: skip
    else:
        sampler = None
        # a fresh job seeds its generator; a resumed one gets its state from the checkpoint
        gen = torch.Generator().manual_seed(99 + args.segment if ckpt_path.exists() else 1234)
        loader = batch_loader(
            ds, args.batch, shuffle=True, generator=gen, num_workers=args.workers,
            prefetch_factor=args.prefetch, batch_transform=in_gather_thread,
        )  # fmt: skip

    start_epoch, origin = 0, None
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=True)
        loader.load_state_dict(ckpt["loader"])
        start_epoch, origin = ckpt["epoch"], {"segment": ckpt["segment"], "steps": ckpt["steps"]}
    if rank == 0:
        (args.work / f"seg{args.segment}_origin.json").write_text(json.dumps(origin))

    log = open(args.work / f"seg{args.segment}_rank{rank}.txt", "a", buffering=1)  # noqa: SIM115
    steps = 0

    def save(epoch: int) -> None:
        if rank != 0:
            return
        state = {"loader": loader.state_dict(), "epoch": epoch, "segment": args.segment, "steps": steps}
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, ckpt_path)

    for epoch in range(start_epoch, args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        for k, batch in enumerate(loader, 1):
            log.write(f"{epoch} {','.join(map(str, batch['index'].tolist()))}\n")
            steps += 1
            if args.step_seconds:
                time.sleep(args.step_seconds)
            if distributed:
                dist.all_reduce(torch.ones(1))  # the ranks stay in step, as DDP's gradients keep them
            if args.kill == f"batch:{epoch}:{k}":
                _die()
            if steps % args.save_every == 0:
                save(epoch)
        if args.kill == f"end:{epoch}":
            _die()
        save(epoch + 1)
        if args.kill == f"after-end:{epoch}":
            _die()
    log.close()
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
