"""The import contract: lower layers never import higher ones (checked on the source, no import).

Layers, low to high (a module may import modules of its own layer's *lower* entries and of any
lower layer, never of a higher one).  Every module of ``src/tuoyu_geo`` must be listed, so a new
module has to be placed in a layer before the suite passes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tuoyu_geo"

#: (layer name, module prefixes in import order inside the layer)
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("_errors", "_version", "_display", "settings", "crs", "policy", "demand", "writer", "_highs_worker",
              "solvers")),
    ("area", ("area",)),
    ("network", ("network",)),
    ("loading", ("loading", "datasets")),
    ("access", ("access",)),
    ("rules", ("rules",)),
    ("indicators", ("indicators", "equity")),
    ("plan", ("plan", "optimize")),
    ("pipeline", ("pipeline", "scenarios")),
    ("report", ("report",)),
    ("batch", ("batch",)),
    ("cli", ("cli", "__main__", "__init__")),
]


def _rank(module: str) -> tuple[int, int]:
    """(layer index, position inside the layer) of a dotted module name below ``tuoyu_geo``."""
    top = module.split(".")[0]
    for i, (_, prefixes) in enumerate(LAYERS):
        if top in prefixes:
            return i, prefixes.index(top)
    raise KeyError(module)


def _modules() -> list[tuple[str, Path]]:
    out = []
    for p in sorted(SRC.rglob("*.py")):
        rel = p.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out.append((".".join(parts), p))
    return out


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Package-internal modules imported by ``path`` (absolute dotted names below tuoyu_geo)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    base = module.split(".") if module != "__init__" else []
    if not is_pkg:
        base = base[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "tuoyu_geo" or a.name.startswith("tuoyu_geo."):
                    found.append((a.name[len("tuoyu_geo."):] or "__init__", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and (node.module == "tuoyu_geo" or node.module.startswith("tuoyu_geo.")):
                    mod = node.module[len("tuoyu_geo."):] if node.module != "tuoyu_geo" else ""
                else:
                    continue
            else:
                up = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(up + ([node.module] if node.module else []))
            if not mod:  # "from . import x" at the package top: each name is a module
                found.extend((a.name if a.name != "*" else "__init__", node.lineno) for a in node.names)
            else:
                found.append((mod, node.lineno))
    return found


def test_every_module_has_a_layer():
    missing = [m for m, _ in _modules() if _safe_rank(m) is None]
    assert not missing, f"modules without a layer in tests/test_layers.py: {missing}"


def _safe_rank(m: str):
    try:
        return _rank(m)
    except KeyError:
        return None


@pytest.mark.parametrize("module,path", _modules(), ids=[m for m, _ in _modules()])
def test_no_upward_imports(module, path):
    me = _rank(module)
    bad = []
    for target, line in _imports(module, path):
        if target.split(".")[0] == module.split(".")[0] and module != "__init__":
            continue  # inside the same package/module
        r = _safe_rank(target)
        if r is None:
            bad.append(f"line {line}: imports unknown module tuoyu_geo.{target}")
        elif target == "__init__" and module != "__init__":
            bad.append(f"line {line}: imports the package __init__ (import the module that defines it)")
        elif r >= me:
            bad.append(f"line {line}: imports {target} (layer {LAYERS[r[0]][0]}) from layer {LAYERS[me[0]][0]}")
    assert not bad, f"{module}: " + "; ".join(bad)


def test_contract_catches_an_upward_import(tmp_path):
    """The checker itself: an access module importing the plan layer is reported."""
    p = tmp_path / "access.py"
    p.write_text("from .plan import plan_sites\nfrom . import crs\n", encoding="utf-8")
    targets = [t for t, _ in _imports("access", p)]
    assert targets == ["plan", "crs"]
    assert _rank("plan") > _rank("access") and _rank("crs") < _rank("access")
