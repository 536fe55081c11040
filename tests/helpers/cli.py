"""Running ``python -m bioscan_h5.cli`` in a subprocess (the ``run_cli`` / ``start_cli`` fixtures).

The subprocess gets this interpreter and the repository first on ``PYTHONPATH``, so it runs
the code under test whatever is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    """This environment, with the repository first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def cli_command(*args: object) -> list[str]:
    """The argv of ``python -m bioscan_h5.cli ARGS`` with this interpreter."""
    return [sys.executable, "-m", "bioscan_h5.cli", *map(str, args)]


def run_cli(*args: object, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    """Run ``bioscan-h5 ARGS`` to the end (text output captured); ``kw`` go to :func:`subprocess.run`."""
    return subprocess.run(
        cli_command(*args), capture_output=True, text=True, timeout=timeout, env=cli_env(), cwd=REPO, **kw
    )


@dataclass
class CliProcess:
    """A running ``bioscan-h5`` subprocess (see the ``start_cli`` fixture)."""

    proc: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float = 180) -> int:
        return self.proc.wait(timeout)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")
