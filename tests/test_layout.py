"""The import direction docs/architecture.md promises: core <- export <- quantize <- pipeline/benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("export", "quantize", "benchmarks")


def _imports(path: Path, module_level_only: bool) -> list[tuple[int, str]]:
    """(line, absolute albert_edge module) for every import in the file; relative imports resolved
    against the file's package (albert_edge/x.py is albert_edge, export/x.py is albert_edge.export)."""
    rel = path.relative_to(ROOT)
    pkg = ["albert_edge"] if rel.parts[0] == "albert_edge" else ["albert_edge", rel.parts[0]]
    pkg += list(rel.parts[1:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    out = []
    for n in nodes:
        if isinstance(n, ast.ImportFrom):
            base = pkg[: len(pkg) - n.level + 1] if n.level else []
            mod = ".".join(base + ([n.module] if n.module else []))
            if n.module is None:  # from .. import x
                out += [(n.lineno, f"{mod}.{a.name}") for a in n.names]
            else:
                out.append((n.lineno, mod))
        elif isinstance(n, ast.Import):
            out += [(n.lineno, a.name) for a in n.names]
    return out


def _stage(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "albert_edge" and parts[1] in STAGES else None


def test_export_never_imports_quantize_or_benchmarks():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {m}" for p in sorted((ROOT / "export").rglob("*.py"))
           for line, m in _imports(p, module_level_only=False) if _stage(m) in ("quantize", "benchmarks")]
    assert not bad, bad


def test_quantize_never_imports_benchmarks():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {m}" for p in sorted((ROOT / "quantize").rglob("*.py"))
           for line, m in _imports(p, module_level_only=False) if _stage(m) == "benchmarks"]
    assert not bad, bad


def test_core_imports_no_stage_at_module_level():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {m}" for p in sorted((ROOT / "albert_edge").rglob("*.py"))
           for line, m in _imports(p, module_level_only=True) if _stage(m)]
    assert not bad, bad


def test_the_checker_sees_relative_imports():
    # the checker itself can fail: a relative import of the quantizer from export/ is found
    f = ROOT / "export" / "onnx_export.py"
    found = [m for _, m in _imports(f, module_level_only=False)]
    assert "albert_edge.export.onnx_graph" in found
    assert _stage("albert_edge.quantize.onnx_quant") == "quantize" and _stage("albert_edge.manifest") is None
