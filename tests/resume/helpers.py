"""Running ``train_loop.py`` segments (one process or torchrun ranks) and joining their streams."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).with_name("train_loop.py")
REPO = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [out.get("PYTHONPATH")])])
    out.update(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1")
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(root, work: Path, segment: int, *, ranks: int = 0, **options) -> list[str]:
    """The command of one segment: ``python train_loop.py`` or, with ``ranks``, torchrun of it."""
    opts = [f"--{k.replace('_', '-')}={v}" for k, v in options.items() if v is not None]
    script = [str(SCRIPT), str(root), str(work), f"--segment={segment}", *opts]
    if not ranks:
        return [sys.executable, *script]
    torchrun = Path(sys.executable).with_name("torchrun")
    launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    return [
        *launcher,
        "--nnodes=1",
        f"--nproc-per-node={ranks}",
        "--master-addr=127.0.0.1",
        f"--master-port={_free_port()}",
        "--max-restarts=0",
        *script,
    ]


def run(cmd: list[str], work: Path, timeout: float = 120) -> int:
    """Run a segment to its end (or its own SIGKILL); its return code (-9 when killed)."""
    return finish(cmd, work, timeout).returncode


def finish(cmd: list[str], work: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a command to its end (or its own SIGKILL), output captured; fail on any other error."""
    res = subprocess.run(
        cmd, capture_output=True, text=True, env=env(), cwd=work, timeout=timeout, check=False
    )
    if res.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"{cmd} failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}")
    return res


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (torchrun starts each rank in a session of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _kill_tree(pid: int) -> None:
    for p in _tree(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def run_and_kill(cmd: list[str], work: Path, log: Path, after_steps: int, delay: float) -> int:
    """Start a segment; SIGKILL it and every process it started ``delay`` seconds after its rank 0
    has logged ``after_steps`` lines to ``log`` (or let it end). Its return code."""
    proc = subprocess.Popen(
        cmd,
        env=env(),
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if log.exists() and log.read_text().count("\n") >= after_steps:
                time.sleep(delay)
                break
            time.sleep(0.01)
        if proc.poll() is None:
            _kill_tree(proc.pid)
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            _kill_tree(proc.pid)
            proc.wait()


def joined_streams(work: Path, final: int, ranks: int = 1) -> list[list[str]]:
    """What the job used, by rank order within each segment: the final segment's lines, after the
    lines of the checkpoint it started from (a prefix of an earlier segment), and so on back."""
    chain: list[tuple[int, int | None]] = [(final, None)]
    while True:
        origin = json.loads((work / f"seg{chain[-1][0]}_origin.json").read_text())
        if origin is None:
            break
        chain.append((origin["segment"], origin["steps"]))
    out: list[list[str]] = []
    for segment, steps in reversed(chain):
        files = sorted(work.glob(f"seg{segment}_rank*.txt"), key=lambda p: int(p.stem.split("rank")[1]))
        lines = [f.read_text().splitlines()[:steps] for f in files]
        out += [list(step) for step in zip(*lines)]  # one entry per step: each rank's line
    return out
