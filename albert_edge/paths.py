"""Where things are: the package, a source checkout (when there is one), ../shared, caches.

albert-edge runs from a source checkout (`make demo`) or from an installed wheel. Some things exist only in
a checkout — the embedded demo model, the Android project, committed benchmark results — and the
functions here return None for them elsewhere, so callers can say so in one line instead of pointing
into site-packages.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLES_TSV = PACKAGE_DIR / "data" / "samples.tsv"  # package data: always present


def checkout() -> Path | None:
    """The repository root when albert_edge is imported from a source checkout (editable install or
    PYTHONPATH), else None (a wheel in site-packages)."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "export").is_dir() and (root / "albert_edge").is_dir():
        return root
    return None


def in_checkout(*parts: str) -> Path | None:
    """A path inside the source checkout if there is a checkout and the path exists."""
    root = checkout()
    if root is None:
        return None
    p = root.joinpath(*parts)
    return p if p.exists() else None


def demo_model() -> Path | None:
    """models/albert-sst2-demo: ships with the source checkout, not with the wheel (10.8 MB)."""
    return in_checkout("models", "albert-sst2-demo")


def cache_dir(*parts: str) -> Path:
    """Caches (arm64 root, peer environments): $ALBERT_EDGE_CACHE, else the checkout's .cache/, else
    $XDG_CACHE_HOME/albert-edge (~/.cache/albert-edge)."""
    env = os.environ.get("ALBERT_EDGE_CACHE")
    if env:
        base = Path(env)
    elif checkout() is not None:
        base = checkout() / ".cache"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "albert-edge"
    return base.joinpath(*parts)


def default_artifacts(name: str) -> Path:
    """Default `pipeline` output: artifacts/<name> in the checkout, else in the current folder."""
    root = checkout()
    return (root if root is not None else Path.cwd()) / "artifacts" / name


def shared_dir() -> Path | None:
    """The read-only real-data folder (`../shared` beside the checkout or the current folder), or None."""
    env = os.environ.get("ALBERT_EDGE_SHARED")
    candidates = [Path(env)] if env else []
    if checkout() is not None:
        candidates.append(checkout().parent / "shared")
    candidates.append(Path.cwd().parent / "shared")
    for c in candidates:
        if (c / "README.md").is_file() or (c / "data").is_dir():
            return c.resolve()
    return None


def shared_path(*parts: str) -> Path | None:
    root = shared_dir()
    if root is None:
        return None
    p = root.joinpath(*parts)
    return p if p.exists() else None


def package_file(subpackage: str, name: str) -> Path:
    """A data file shipped inside an albert_edge subpackage (in a wheel and a checkout alike)."""
    import importlib

    return Path(importlib.import_module(f"albert_edge.{subpackage}").__file__).resolve().parent / name
