"""Code written for bioscan-dataset runs unchanged with bioscan-h5 (issue 13): the peer README's examples.

Every Python example of the README of ``bioscan-dataset`` 1.3.0 is read from the installed
distribution's metadata (``importlib.metadata``: the package's long description), written to a
script, and run in a subprocess twice, by ``client_code_runner.py``: as written, against the
peer, and with ``bioscan_dataset`` replaced by ``bioscan_h5`` in its import lines. A fragment
that uses ``BIOSCAN5M`` without importing it gets the README's import line first.

The examples use the root ``~/Datasets/bioscan/``: ``$HOME`` points at a folder holding a
generated BIOSCAN-5M and BIOSCAN-1M root there, without a store (ours builds one on first
use, from an unguarded script). ``download=True`` finds everything in place: the peer's checks
are off, and ours reads a mirror manifest (``$BIOSCAN_H5_MIRROR``) whose checksums are those of
the generated files.

The outcome (``ok``, or the same exception on the same line: the README asserts values of the
real data, such as species index 240) and every dataset the example leaves behind (class,
length, repr, first/second/last samples) must be equal, but for the differences documented
in README.md's "Differences from bioscan-dataset", each named below where it is applied.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.parity, pytest.mark.subprocess]

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("client_code_runner.py")
#: The documented differences applied below: what each one changes, and the README text naming it.
DIFFERENCES = {
    "image size": "Images are the store's S x S pixels",
}


def readme_examples() -> list[str]:
    """The Python code blocks of the peer's README (``.. code-block:: python``), dedented."""
    try:
        text = importlib.metadata.distribution("bioscan-dataset").read_text("METADATA") or ""
    except importlib.metadata.PackageNotFoundError:
        return []
    lines = text.split("\n\n", 1)[-1].splitlines()  # the long description, after the headers
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() != ".. code-block:: python":
            i += 1
            continue
        j, body = i + 1, []
        while j < len(lines) and (not lines[j].strip() or lines[j].startswith(" ")):
            body.append(lines[j])
            j += 1
        blocks.append(textwrap.dedent("\n".join(body)).strip("\n") + "\n")
        i = j
    return blocks


EXAMPLES = readme_examples()


def _script(code: str) -> str:
    if "import BIOSCAN5M" not in code and "BIOSCAN5M" in code:
        code = "from bioscan_dataset import BIOSCAN5M\n" + code
    return code


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """``$HOME`` with ``~/Datasets/bioscan/`` holding generated roots, and a mirror manifest beside it."""
    from tools import make_sample_data

    home = tmp_path_factory.mktemp("home")
    root = home / "Datasets" / "bioscan"
    make_sample_data.make_bioscan5m_root(
        root, n_rows=96, seed=2, packages=("cropped_256", "original_full"), faults=False
    )
    make_sample_data.make_bioscan1m_root(root, n_rows=72, seed=2, faults=False)
    _write_mirror(root, home / "mirror")
    return home


def _write_mirror(root: Path, mirror: Path) -> None:
    """A manifest listing the archives with checks that the files already in ``root`` pass."""
    import bioscan_h5.download as dl

    table = json.loads((Path(dl.__file__).parent / "archives.json").read_text())
    table = copy.deepcopy(table)
    for spec in table["datasets"].values():
        for entry in spec["archives"]:
            check = {}
            for rel in entry["paths"]:
                path = root / rel
                first = (
                    path
                    if path.is_file()
                    else next((p for p in sorted(path.rglob("*")) if p.is_file()), None)
                )
                if first is not None:
                    check[first.relative_to(root).as_posix()] = hashlib.md5(first.read_bytes()).hexdigest()
            entry["check"] = check
    mirror.mkdir()
    (mirror / dl.MANIFEST_NAME).write_text(json.dumps(table))


def _run(home: Path, impl: str, script: Path) -> dict:
    out = script.with_suffix(f".{impl}.json")
    env = {
        **os.environ,
        "HOME": str(home),
        "BIOSCAN_H5_MIRROR": str(home / "mirror"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    res = subprocess.run(
        [sys.executable, str(RUNNER), impl, str(script), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=script.parent,
    )
    assert res.returncode == 0, f"{impl} runner failed:\n{res.stdout}\n{res.stderr}"
    return json.loads(out.read_text())


def _documented(report: dict) -> dict:
    """The report with the documented differences taken out of it (both sides alike)."""

    def visit(x):
        if isinstance(x, dict):
            if "image" in x and "size" in x:
                # DIFFERENCES["image size"]: ours are S x S, the peer's the JPEG's own size
                return {"image": x["image"]}
            return {k: visit(v) for k, v in x.items()}
        if isinstance(x, list):
            return [visit(v) for v in x]
        return x

    return visit(report)


def test_the_readme_examples_were_found():
    assert len(EXAMPLES) >= 12, "the peer's README should have a dozen Python examples"
    assert any("BIOSCAN1M(" in code for code in EXAMPLES) and any(
        "download=True" in code for code in EXAMPLES
    )
    readme = (REPO / "README.md").read_text()
    for name, text in DIFFERENCES.items():
        assert text in readme, f"the documented difference {name!r} is not in README.md"


@pytest.mark.parametrize("n", range(len(EXAMPLES)), ids=[f"example{n}" for n in range(len(EXAMPLES))])
def test_readme_example_runs_unchanged(home, tmp_path, n):
    script = tmp_path / f"example{n}.py"
    script.write_text(_script(EXAMPLES[n]))
    peer = _run(home, "peer", script)
    ours = _run(home, "ours", script)
    assert ours["outcome"] == peer["outcome"], EXAMPLES[n]
    assert sorted(ours["datasets"]) == sorted(peer["datasets"])
    assert _documented(ours) == _documented(peer)
    for described in ours["datasets"].values():
        for sample in described["samples"].values():
            images = [
                v
                for v in (sample if isinstance(sample, list) else sample.values())
                if isinstance(v, dict) and "size" in v
            ]
            assert all(im["size"] == [256, 256] for im in images)
