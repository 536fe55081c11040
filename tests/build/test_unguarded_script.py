"""A script without ``if __name__ == "__main__":`` builds its store once (issue 13, item 1).

The peer README's first example makes the dataset at module level. On a root without a store
the dataset builds one, with decoding processes; those must not run the script again (each
would try to build too: ``BuildLockedError``, a broken pool and a ``.partial`` left behind).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

SCRIPT = """\
import bioscan_h5.build.config as build_config
build_config._usable_cores = lambda: 2  # decode in two worker processes, whatever this machine has
from bioscan_h5 import BIOSCAN1M

print("script body runs", flush=True)
dataset = BIOSCAN1M(root={root!r})

n = 0
for image, dna_barcode, label in dataset:
    n += 1
print("samples", n, flush=True)
"""


def test_unguarded_script_builds_once_and_runs_to_the_end(make_root, tmp_path):
    root = make_root(dataset="bioscan1m")
    h5 = root.dataset_dir / "h5"
    assert not h5.exists()
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(root=str(root.root)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path
    )
    out = textwrap.indent(res.stdout + res.stderr, "  ")
    assert res.returncode == 0, out
    assert res.stdout.count("script body runs") == 1, out  # never again in a decoding process
    want = root.manifest["rows_per_partition"]["large_diptera_family"]["train"]
    assert f"samples {want}" in res.stdout, out
    assert "BuildLockedError" not in res.stderr and "BrokenProcessPool" not in res.stderr, out
    assert res.stderr.count("bioscan-h5: building") == 1, out
    stores = sorted(p.name for p in h5.iterdir())
    assert [s for s in stores if s.endswith(".h5")] == ["bioscan1m_cropped_256_256px.h5"], stores
    assert not [s for s in stores if s.endswith(".partial")], stores


def test_the_workers_do_not_import_the_build_package():
    """A decoding process imports the light worker module only: it starts fast."""
    code = (
        "import sys\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from bioscan_h5._spawn import worker_context\n"
        "with ProcessPoolExecutor(1, mp_context=worker_context()) as pool:\n"
        "    mods = pool.submit(eval, 'sorted(__import__(\"sys\").modules)').result()\n"
        "print(' '.join(m for m in mods if m.startswith(('bioscan_h5', 'h5py', 'pandas', 'torch'))))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["bioscan_h5", "bioscan_h5._spawn", "bioscan_h5.errors"], res.stdout
