"""The layers of sklvar (lower ones first, see LAYERS) import in one direction only."""

import ast
import pathlib
import subprocess
import sys

import pytest

import sklvar

ROOT = pathlib.Path(sklvar.__file__).parent

# layer of each top-level part of the package (lower imports nothing higher)
LAYERS = {
    "utils": 0,
    "datasets": 1,
    "metrics": 1,
    "priors": 1,
    "energy": 2,
    "solvers": 3,
    "model": 4,
    "net": 5,
    "impute": 6,
    "diagnostics": 6,
    "plotting": 7,
    "dask": 7,  # the dask scale-out helpers (public, on top of impute)
    "__init__": 8,  # the public API (lazy re-exports of impute)
    "cli": 9,
    "__main__": 10,
}


def _part(module_path):
    rel = module_path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _imported_parts(path):
    """sklvar parts imported by a file (absolute and relative imports)."""
    return _parts_of_source(path.read_text(), path.relative_to(ROOT).parent.parts)


def _parts_of_source(source, pkg):
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg[: len(pkg) - (node.level - 1)])
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # "from . import x" at the top
                    target = [alias.name for alias in node.names][:1]
                found.add(target[0])
            elif node.module and node.module.split(".")[0] == "sklvar":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "sklvar" and len(parts) > 1:
                    found.add(parts[1])
    return found


FILES = sorted(p for p in ROOT.rglob("*.py") if "tests" not in p.parts)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path):
    part = _part(path)
    assert part in LAYERS, f"{part} is not in the layer table of this test"
    for target in _imported_parts(path):
        if target == part:
            continue
        assert target in LAYERS, f"{path.name} imports unknown part {target}"
        assert LAYERS[target] < LAYERS[part], (
            f"{path.relative_to(ROOT)} (layer {part}={LAYERS[part]}) imports "
            f"{target} (layer {LAYERS[target]})"
        )


def test_layer_checker_catches_upward_import():
    # the checker must be able to fail: a solver importing the estimators
    src = "from ..impute import VariationalImputer\nfrom sklvar.net import x\n"
    parts = _parts_of_source(src, ("solvers",))
    assert parts == {"impute", "net"}
    assert all(LAYERS[p] > LAYERS["solvers"] for p in parts)


def test_torch_free_modules():
    code = (
        "import sys, sklvar, sklvar.utils, sklvar.impute._base;"
        "import importlib.util as u;"
        "[__import__(m) for m in ('sklvar.datasets', 'sklvar.metrics')"
        " if u.find_spec(m)];"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
