"""The package as users install it: a non-editable wheel in a fresh virtual environment, used from a
folder outside the checkout (catches modules, package data and checkout-only paths the wheel lacks)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from albert_edge.data import SAMPLES_TSV

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: setuptools/wheel are pinned in the dev environment (and nothing is downloaded).
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = out.glob("albert_edge-*.whl")
    return whl


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for must in (
        "albert_edge/cli.py", "albert_edge/formats.py", "albert_edge/data/samples.tsv",
        "albert_edge/arm64/runner.py", "albert_edge/arm64/provision.py", "albert_edge/arm64/pte_runner.cpp",
        "albert_edge/export/onnx_export.py", "albert_edge/quantize/onnx_quant.py",
        "albert_edge/benchmarks/suite.py", "albert_edge/benchmarks/android/adb.py", "albert_edge/benchmarks/peers/optimum.sh",
    ):
        assert must in names, must
    assert not any(n.startswith(("tests/", "models/", "android_demo/", "benchmarks/results")) for n in names)


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (--no-deps); the heavy dependencies come from this
    environment's site-packages through a .pth line. Such a line only extends sys.path: the .pth files
    inside that folder (this checkout's editable install among them) are not processed, so albert_edge
    can only come from the wheel."""
    v = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(v)], check=True, timeout=300)
    site = next((v / "lib").glob("python3*/site-packages"))
    (site / "albert-edge-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    r = subprocess.run([str(v / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return v


def _run(venv: Path, *args, cwd: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "ALBERT_EDGE"))}
    return subprocess.run([str(venv / "bin" / "albert-edge"), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


def test_installed_wheel_runs_outside_the_checkout(venv, tiny_ckpt, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import albert_edge; print(albert_edge.__file__)"], capture_output=True, text=True, cwd=work)
    assert str(venv) in where.stdout, where.stdout + where.stderr  # the wheel's copy, not the checkout's
    r = _run(venv, "--help", cwd=work)
    assert r.returncode == 0 and "export" in r.stdout and "arm64-parity" in r.stdout
    for argv in (["export", "onnx", "--model", tiny_ckpt, "art", "--quiet"], ["quantize", "onnx", "art", "--quiet"]):
        r = _run(venv, *argv, cwd=work)
        assert r.returncode == 0, r.stderr[-3000:]
    r = _run(venv, "verify", "art", "--data", SAMPLES_TSV, "--int8-min-agreement", "0.5", "--int8-max-accuracy-drop", "0.5", "--quiet", cwd=work)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "PASS" in r.stdout and (work / "art" / "parity.json").is_file()
    # Checkout-only things are refused in one line, not looked for inside site-packages.
    r = _run(venv, "pipeline", "--no-bench", cwd=work)
    assert r.returncode == 2 and "source checkout" in r.stderr
    r = _run(venv, "arm64-parity", "--help", cwd=work)
    assert r.returncode == 0
