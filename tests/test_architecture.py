"""The shape of the package (docs/architecture.md): small modules, no import circles.

Parsed from the source, so the rules hold for every module, imported or not: no module over
800 lines, no class over 500, no function over 80 (numba kernels, which cannot call each
other, excepted), and no circle in the graph of imports between the package's modules,
counting imports made inside functions too; no two modules share a file name (``__init__``,
``base`` and ``presets`` excepted); module docstrings of at most six lines, without timings;
no comparison with "jpeg" outside the pixel package; imports point down the layers (``LAYERS``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bioscan_h5"
MAX_MODULE, MAX_CLASS, MAX_FUNCTION = 800, 500, 80


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = (path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return out


MODULES = _modules()


def _is_kernel(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    names = {ast.unparse(d).split("(")[0].split(".")[-1] for d in node.decorator_list}
    return bool(names & {"kernel", "njit", "jit"})


def _imports(name: str, path: Path, tree: ast.Module) -> set[str]:
    """The package modules ``name`` imports (``from x import y`` counts ``x`` and ``x.y`` if a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    return {m for m in found if m in MODULES and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_package_is_parsed():
    assert len(MODULES) > 50 and "bioscan_h5.store.core" in MODULES


def test_no_import_circles():
    graph = {name: _imports(name, path, tree) for name, (path, tree) in MODULES.items()}
    assert _cycles(graph) == []


#: The layers of the package, lowest first: a module imports only from its own layer or below
#: (imports inside functions count). A new top-level module or sub-package joins one of them.
LAYERS = [
    {"errors"},
    {"_forksafe", "_files", "_hdf5", "_spawn", "_reuse", "_jit", "splits", "format", "cells", "images"},
    {"barcode_codes", "columns", "checksums", "label_views", "tokenizers", "samplers"},
    {"metadata", "_decode_worker", "pixels", "taxonomy"},
    {"layouts", "retrieval"},
    {"store", "download"},
    {"build", "verify"},
    {"datasets"},
    {"bioscan5m", "bioscan1m", "canadian_invertebrates"},
    {"transforms", "cli"},
]


def _part(module: str) -> str | None:
    """The top-level part of the package a module belongs to (None: the package's ``__init__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _layer_violations() -> list[str]:
    layer_of = {part: i for i, layer in enumerate(LAYERS) for part in layer}
    out = []
    for name, (path, tree) in MODULES.items():
        here = _part(name)
        if here is None:
            continue
        if here not in layer_of:
            out.append(f"{name}: {here!r} is in no layer of LAYERS")
            continue
        for target in _imports(name, path, tree):
            there = _part(target)
            if there is not None and there in layer_of and layer_of[there] > layer_of[here]:
                out.append(f"{name} imports {target} (layer {layer_of[there]} above {layer_of[here]})")
    return sorted(set(out))


def test_imports_point_down_the_layers():
    """Reading never imports the builder, pixels never the store or the builder, and so on."""
    assert _layer_violations() == []


def test_the_layer_check_finds_an_upward_import(monkeypatch):
    path, _ = MODULES["bioscan_h5.pixels.raw"]
    tree = ast.parse("def f():\n    from ..build import pool\n")
    monkeypatch.setitem(MODULES, "bioscan_h5.pixels.raw", (path, tree))
    assert any("bioscan_h5.pixels.raw imports bioscan_h5.build" in v for v in _layer_violations())


def _kind_compares(tree: ast.AST, kind: str = "jpeg") -> list[int]:
    """Lines of ``tree`` that compare something with the string ``kind`` (``==``, ``!=``, ``in (...)``)."""

    def names_kind(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value == kind
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(names_kind(e) for e in node.elts)
        return False

    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and any(names_kind(x) for x in (node.left, *node.comparators))
    ]


@pytest.mark.parametrize("kind", ["jpeg", "raw"])
def test_no_pixel_kind_branch_outside_the_pixel_package(kind):
    """Raw vs JPEG is the codec's business (``bioscan_h5.pixels``): nobody else compares with a kind's name."""
    found = {
        str(path.relative_to(PACKAGE.parent)): lines
        for name, (path, tree) in MODULES.items()
        if not name.startswith("bioscan_h5.pixels") and (lines := _kind_compares(tree, kind))
    }
    assert found == {}


def test_the_kind_branch_finder_finds_branches():
    tree = ast.parse('a == "jpeg"\nb != "raw"\nc in ("raw", "jpeg")\nd = "jpeg"\n"jpeg" == e\n')
    assert _kind_compares(tree) == [1, 3, 5]


#: File names several modules may share: a package's face, a kind's base, a package's presets.
SHARED_NAMES = {"__init__.py", "base.py", "presets.py"}
#: A measurement in prose: a figure with a unit of time or throughput, or a ratio.
TIMING = re.compile(r"\d\s*(µs|us|ms|MB/s|GB/s|samples/s)\b|\b\d+(\.\d+)?x\b")
MAX_MODULE_DOC = 6


def test_no_two_modules_share_a_file_name():
    """One name, one concept: ``decode.py`` or ``dna.py`` in two folders say two things by one name."""
    seen: dict[str, list[str]] = {}
    for path, _ in MODULES.values():
        seen.setdefault(path.name, []).append(str(path.relative_to(PACKAGE.parent)))
    assert {n: p for n, p in seen.items() if len(p) > 1 and n not in SHARED_NAMES} == {}


def test_module_docstrings_say_what_the_module_owns_in_a_few_lines():
    """At most six lines and no measurements (those belong to bench/README.md, history to CHANGELOG.md)."""
    bad = {}
    for path, tree in MODULES.values():
        doc = (ast.get_docstring(tree, clean=False) or "").strip("\n")
        lines = len(doc.splitlines())
        if not doc or lines > MAX_MODULE_DOC or TIMING.search(doc):
            bad[str(path.relative_to(PACKAGE.parent))] = f"{lines} lines" + (
                ", a timing" if TIMING.search(doc) else ""
            )
    assert bad == {}


def test_the_timing_pattern_finds_timings():
    assert (
        TIMING.search("costs 0.37 ms a sample")
        and TIMING.search("1.5x FFCV")
        and TIMING.search("5,000 samples/s")
    )
    assert not TIMING.search("a (B, 3, 224, 224) batch of uint8 pixels in 2 threads")


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_class_and_function_sizes(name):
    path, tree = MODULES[name]
    too_big = []
    lines = path.read_text(encoding="utf-8").count("\n")
    if lines > MAX_MODULE:
        too_big.append(f"module: {lines} lines")
    for node in ast.walk(tree):
        length = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0)
        if isinstance(node, ast.ClassDef) and length > MAX_CLASS:
            too_big.append(f"class {node.name}: {length} lines")
        is_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        if is_function and length > MAX_FUNCTION and not _is_kernel(node):
            too_big.append(f"{node.name}(): {length} lines")
    assert too_big == [], f"{path.relative_to(PACKAGE.parent)}: {', '.join(too_big)}"
