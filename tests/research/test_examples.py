"""The research examples (issue 22) run on the sample data, each in a subprocess, as a user runs
them from a checkout: ``python examples/<name>.py --root <root>``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

REPO = Path(__file__).resolve().parents[2]

#: script -> (short-run arguments, a line its output must hold)
EXAMPLES = {
    "classify_per_rank.py": ([], "val top-1 family"),
    "barcodebert_pretrain.py": (["--steps", "2"], "1-NN genus probe: accuracy"),
    "clibd_contrastive.py": (["--steps", "2"], "image -> DNA keys, micro top-1"),
    "zero_shot_clustering.py": ([], "AMI vs species"),
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs_on_the_sample_data(script, sample_root_5m, store_5m):
    args, expected = EXAMPLES[script]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    cmd = [sys.executable, str(REPO / "examples" / script), "--root", str(sample_root_5m.root), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stderr[-4000:]
    assert expected in res.stdout, res.stdout
