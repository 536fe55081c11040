"""No code execution from data: nothing a file holds is unpickled, evaluated, imported or run.

Two kinds of check. Statically, the package's source is parsed and searched for every way a
Python program runs code it reads (pickle and its relatives, eval/exec/compile, imports by a
computed name, unsafe YAML, ``np.load(allow_pickle=True)``, ``torch.load`` without
``weights_only``, h5py object references, programs started with subprocess/os, and Pillow
left free to pick a plugin that runs Ghostscript), and the bandit rules configured for ruff
are run. Dynamically, stores, images and metadata carrying bait (a pickle whose loading
would create a file, object references, code-looking strings) go through the real programs.
"""

from __future__ import annotations

import ast
import os
import pickle
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt

from ._helpers import REPO, assert_no_crash, run, run_cli

SECTION = "No code execution from data"
PACKAGE = REPO / "bioscan_h5"

FORBIDDEN_MODULES = {
    "pickle",
    "_pickle",
    "cPickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "jsonpickle",
    "joblib",
    "code",
    "codeop",
    "subprocess",
    "pty",
}
FORBIDDEN_BUILTINS = {"eval", "exec", "compile", "__import__", "execfile", "breakpoint"}
#: Called as module.function: forbidden outright.
FORBIDDEN_CALLS = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("pickle", "Unpickler"),
    ("marshal", "load"),
    ("marshal", "loads"),
    ("shelve", "open"),
    ("yaml", "load"),
    ("yaml", "load_all"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
    ("os", "system"),
    ("os", "popen"),
    ("importlib", "__import__"),
    ("runpy", "run_path"),
    ("runpy", "run_module"),
}
#: h5py names for object and region references (dereferencing runs no code, but lets a file
#: point the reader anywhere; the store format has none, so the package must never follow one).
H5PY_REFERENCE_NAMES = {
    "Reference",
    "RegionReference",
    "ref_dtype",
    "regionref_dtype",
    "check_ref_dtype",
    "h5r",
}


@dataclass
class Finding:
    file: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}"


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _constant_mappings(tree: ast.Module) -> set[str]:
    """Module-level names bound to a dict literal whose values are all string constants."""
    names = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if isinstance(value, ast.Dict) and all(
            isinstance(v, ast.Constant) and isinstance(v.value, str) for v in value.values
        ):
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _fixed_name(arg: ast.AST, constants: set[str]) -> bool:
    """A module name that no file can choose: a literal, or a lookup in a constant mapping."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return True
    return isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name) and arg.value.id in constants


def scan(path: Path, base: Path = REPO) -> list[Finding]:
    """Every way ``path`` could run code taken from data (see the module notes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = str(path.relative_to(base))
    constants = _constant_mappings(tree)
    found = []

    def add(node: ast.AST, what: str) -> None:
        found.append(Finding(rel, getattr(node, "lineno", 0), what))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    add(node, f"imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                add(node, f"imports from {node.module}")
            if node.module.split(".")[0] == "h5py" and any(
                a.name in H5PY_REFERENCE_NAMES for a in node.names
            ):
                add(node, "imports h5py object references")
        elif isinstance(node, ast.Attribute):
            if node.attr in H5PY_REFERENCE_NAMES and _dotted(node.value).split(".")[0] == "h5py":
                add(node, f"uses h5py.{node.attr}")
            if node.attr in ("ref", "regionref", "dereference"):
                add(node, f"uses .{node.attr} (an HDF5 object reference)")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            parts = tuple(name.split("."))
            kwargs = {k.arg: k.value for k in node.keywords if k.arg}
            if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_BUILTINS:
                add(node, f"calls {node.func.id}()")
            if parts[-2:] in FORBIDDEN_CALLS:
                add(node, f"calls {name}()")
            if parts[:1] == ("os",) and parts[-1].startswith(("exec", "spawn", "posix_spawn")):
                add(node, f"calls {name}()")
            if parts[-1] == "import_module" and not (node.args and _fixed_name(node.args[0], constants)):
                add(node, "imports a module by a computed name")
            if parts[-1] == "load" and parts[0] in ("np", "numpy"):
                flag = kwargs.get("allow_pickle")
                if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is False):
                    add(node, "np.load with allow_pickle")
            if parts[-1] == "load" and parts[0] == "torch":
                flag = kwargs.get("weights_only")
                if not (isinstance(flag, ast.Constant) and flag.value is True):
                    add(node, "torch.load without weights_only=True")
            if parts[-2:] == ("Image", "open") and "formats" not in kwargs:
                add(node, "Image.open without formats= (Pillow may pick a plugin that runs Ghostscript)")
    return found


def test_the_package_has_no_way_to_run_code_from_data(record):
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    findings = [f for path in files for f in scan(path)]
    assert findings == [], "\n".join(map(str, findings))
    record(
        "any code path that could run code named or held by a file (a parse of every module of bioscan_h5/)",
        f"None found in {len(files)} modules: no pickle, marshal, shelve, dill, joblib, eval, exec, compile,"
        " __import__, module imported by a computed name (the one import_module looks up a fixed table),"
        " unsafe YAML, np.load(allow_pickle), torch.load without weights_only, pandas.read_pickle, h5py object"
        " references, subprocess / os.system / os.exec*, and every Image.open restricts Pillow's formats.",
        "Nothing.",
    )


def test_the_scanner_finds_what_it_looks_for(tmp_path):
    """The scanner itself: each forbidden pattern in a scratch module is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle, subprocess\nimport numpy as np\nimport h5py, importlib, yaml, torch, os\n"
        "from PIL import Image\n"
        "def f(name, data, path, ds):\n"
        "    pickle.loads(data)\n    eval(data)\n    exec(data)\n    __import__(name)\n"
        "    importlib.import_module(name)\n    yaml.load(data)\n    np.load(path, allow_pickle=True)\n"
        "    torch.load(path)\n    h5py.ref_dtype\n    ds.attrs['r'].dereference\n    os.system(data)\n"
        "    Image.open(path)\n    compile(data, 'x', 'exec')\n"
        "_TABLE = {'a': 'json'}\n"
        "def ok(key, path):\n    importlib.import_module(_TABLE[key])\n    np.load(path)\n"
        "    torch.load(path, weights_only=True)\n    Image.open(path, formats=['PNG'])\n"
    )
    found = {(f.line, f.what) for f in scan(bad, base=tmp_path)}
    assert {line for line, _ in found} == set(range(6, 19)) | {1}, sorted(found)
    assert all(line < 19 for line, _ in found)  # the allowed forms below are not reported


@pytest.mark.subprocess
def test_ruff_bandit_rules_pass_on_the_package():
    text = (REPO / "pyproject.toml").read_text()
    select = re.search(r"\[tool\.ruff\.lint\][^\[]*?select\s*=\s*\[([^\]]*)\]", text, re.S)
    assert select, "no [tool.ruff.lint] select list in pyproject.toml"
    selected = set(re.findall(r'"([A-Z]+[0-9]*)"', select.group(1)))
    assert {"S301", "S307", "S102"} <= selected
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed beside this interpreter")
    proc = run([str(ruff), "check", "--no-cache", "--select", "S301,S302,S307,S102,S506", str(PACKAGE)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------ bait
class _Bait:
    """Unpickling this creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.subprocess
def test_a_store_carrying_bait_runs_nothing(shared_root, tmp_path, record):
    root = shared_root(n_rows=64, seed=7)
    out = tmp_path / "s.h5"
    proc = run_cli("build", "--root", root, "--image-size", 16, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    marker = tmp_path / "PWNED"
    payload = np.void(pickle.dumps(_Bait(marker)))
    with h5py.File(out, "r+", locking=False) as f:
        f.attrs["bait_pickle"] = payload
        f[fmt.IMAGES].attrs["bait_pickle"] = payload
        f.attrs["bait_code"] = "__import__('os').system('touch PWNED')"
        refs = f.create_dataset("bait/refs", shape=(2,), dtype=h5py.ref_dtype)
        refs[0] = f[fmt.IMAGES].ref
        refs[1] = f[fmt.DNA_CODES].ref
        f.attrs["bait_ref"] = f[fmt.IMAGES].ref
        f.create_dataset("bait/pickled", data=np.frombuffer(pickle.dumps(_Bait(marker)), dtype=np.uint8))
    code = (
        "import sys\nfrom bioscan_h5 import BIOSCAN5M, open_store\n"
        "with open_store(sys.argv[1]) as st:\n    st.images[:]; st.to_pandas(); st.info(); dict(st.attrs)\n"
        "ds = BIOSCAN5M(split='all', store=sys.argv[1])\n[ds[i] for i in range(len(ds))]\nprint('read')\n"
    )
    proc = run([sys.executable, "-c", code, str(out)], cwd=tmp_path, timeout=120)
    assert_no_crash(proc)
    assert proc.returncode == 0 and proc.stdout.strip() == "read", proc.stderr
    info = run_cli("info", out, "--json", cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert not marker.exists() and not (tmp_path / "PWNED").exists()
    record(
        "a store carrying bait: pickled objects (whose loading would run a shell command) as root and"
        " dataset attributes and as a dataset, a code string attribute, and HDF5 object references",
        "Opened and read in full by `open_store`, `BIOSCAN5M` and `bioscan-h5 info`: the bait is ignored"
        " (attributes are read as plain values, references never followed) and nothing ran.",
        "Nothing.",
    )


@pytest.mark.subprocess
def test_an_image_file_holding_a_pickle_runs_nothing(fault_root, tmp_path, record):
    root = fault_root(n_rows=64, seed=7)
    marker = tmp_path / "PWNED"
    image = next((root / "bioscan5m" / "images" / "cropped_256").rglob("*.jpg"))
    image.write_bytes(pickle.dumps(_Bait(marker)))
    out = tmp_path / "s.h5"
    proc = run_cli("build", "--root", root, "--image-size", 16, "--out", out, "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "UNDECODABLE" in (Path(fmt.report_path(str(out))).read_text())
    assert not marker.exists()
    record(
        "an image file that is a pickle whose loading would run a shell command",
        "Flagged `UNDECODABLE` like any other file that is not an image; nothing ran.",
        "Nothing: the row is kept, its image reads as zeros.",
    )
