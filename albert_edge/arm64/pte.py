"""The ExecuTorch C++ runner (pte_runner.cpp): built against an executorch wheel's own runtime libraries,
natively (x86: the test that it equals ExecuTorchRunner) or cross-compiled for aarch64 (the arm64 parity
check runs it under qemu-user, on the aarch64 wheel's XNNPACK Arm kernels).

Why not the Python runner under emulation, as for ONNX and TFLite: the executorch wheel's Python
bindings link libtorch, and the aarch64 torch wheel is 427 MB whose import under qemu takes minutes; the
runtime libraries need only libc and libstdc++. The wheel ships its headers and a CMake config; the
compile definitions below are that config's EXECUTORCH_COMPILE_DEFINITIONS (without the first the vendored
c10 headers do not compile; the second matches how the shipped libraries were built).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import AlbertEdgeError

SOURCE = Path(__file__).resolve().with_name("pte_runner.cpp")
# Linked with --no-as-needed: the kernel libraries register their kernels from static initialisers, so
# they must be loaded although the runner calls nothing in them.
LIBS = ("executorch", "executorch_backend_xnnpack", "executorch_kernels_optimized", "executorch_kernels_quantized", "executorch_threadpool")
DEFINES = ("C10_USING_CUSTOM_GENERATED_MACROS", "ET_EVENT_TRACER_ENABLED")
CROSS_CXX = "aarch64-linux-gnu-g++"
CROSS_PACKAGE = "g++-aarch64-linux-gnu"  # Debian's cross compiler (bookworm: GCC 12, glibc 2.36 like the root)


def executorch_dir(site: Path | None = None) -> Path:
    """The executorch package folder: in `site` (the aarch64 root's wheels) or this environment's."""
    if site is not None:
        d = Path(site) / "executorch"
    else:
        import importlib.util

        spec = importlib.util.find_spec("executorch")
        if spec is None or not spec.submodule_search_locations:
            raise AlbertEdgeError("ExecuTorch is not installed; `pip install executorch==1.5.1`")
        d = Path(list(spec.submodule_search_locations)[0])
    if not (d / "include" / "executorch").is_dir() or not (d / "lib" / "libexecutorch.so").is_file():
        raise AlbertEdgeError(f"{d} lacks the ExecuTorch headers or runtime libraries (include/executorch, lib/libexecutorch.so)")
    return d


def compile_command(cxx: str, et: Path, out: Path, rpath: bool = True) -> list[str]:
    inc = et / "include"
    cmd = [cxx, "-std=c++17", "-O2", *(f"-D{d}" for d in DEFINES), f"-I{inc}", f"-I{inc / 'executorch/runtime/core/portable_type/c10'}",
           "-o", str(out), str(SOURCE), f"-L{et / 'lib'}", "-Wl,--no-as-needed", *(f"-l{lib}" for lib in LIBS), "-Wl,--as-needed"]
    return cmd + ([f"-Wl,-rpath,{et / 'lib'}"] if rpath else [])


def _version(et: Path) -> str:
    """The package's version.py (x86 venv and aarch64 root alike: no metadata lookup by name)."""
    try:
        return (et / "version.py").read_text(encoding="utf-8")
    except OSError:
        return "?"


def build(cxx: str, et: Path, out_dir: Path, rpath: bool = True, quiet: bool = True) -> Path:
    """Compile the runner with `cxx` against the executorch package `et` into out_dir (cached: the file
    name carries a digest of the source, the command and the package version)."""
    from ..progress import step

    if shutil.which(cxx) is None:
        raise AlbertEdgeError(f"{cxx} not found (the ExecuTorch C++ runner needs a C++17 compiler)")
    out_dir = Path(out_dir)
    key = hashlib.sha256(SOURCE.read_bytes() + json.dumps([compile_command(cxx, et, Path("-"), rpath), _version(et)]).encode()).hexdigest()[:16]
    binary = out_dir / f"pte_runner-{key}"
    if binary.is_file():
        return binary
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".pte_runner.", dir=out_dir)
    os.close(fd)
    try:
        with step(f"compiling the ExecuTorch C++ runner ({cxx})", quiet):
            r = subprocess.run(compile_command(cxx, et, Path(tmp), rpath), capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            errs = [ln for ln in r.stderr.splitlines() if "error" in ln] or r.stderr.strip().splitlines()[-1:] or [f"exit {r.returncode}"]
            raise AlbertEdgeError(f"compiling {SOURCE.name} with {cxx} failed: {errs[0][:240]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, binary)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return binary


def build_native(out_dir: Path, quiet: bool = True) -> Path:
    """The runner for this machine, against this environment's executorch (x86 builds use g++)."""
    cxx = os.environ.get("CXX") or "g++"
    return build(cxx, executorch_dir(), out_dir, quiet=quiet)


def ensure_cross_compiler(install: bool = True, quiet: bool = False) -> str:
    """aarch64-linux-gnu-g++; installed with apt-get (Debian's g++-aarch64-linux-gnu) when missing and allowed."""
    from .provision import apt_install

    found = shutil.which(CROSS_CXX)
    if found:
        return found
    apt_install([CROSS_PACKAGE], [CROSS_PACKAGE], f"the arm64 check of .pte files needs {CROSS_CXX}", install, quiet)
    found = shutil.which(CROSS_CXX)
    if not found:
        raise AlbertEdgeError(f"apt-get installed {CROSS_PACKAGE} but {CROSS_CXX} is still not on PATH")
    return found


def write_ids(ids: list[list[int]], path: Path) -> None:
    Path(path).write_text("".join(" ".join(str(int(t)) for t in x) + "\n" for x in ids), encoding="utf-8")


def run(prefix: list[str], binary: Path, pte: Path, ids_file: Path, out: Path, texts: int, threads: int = 1, pad_id: int = 0,
        env: dict | None = None, timeout: float = 1800, what: str = "the ExecuTorch C++ runner") -> tuple[np.ndarray, dict]:
    """Run the runner (behind `prefix`, e.g. qemu) on one program: (logits [texts, labels], its JSON record)."""
    cmd = [*prefix, str(binary), str(pte), str(ids_file), str(out), "--threads", str(int(threads)), "--pad-id", str(int(pad_id))]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AlbertEdgeError(f"{what} on {Path(pte).name} took longer than {timeout:.0f} s") from None
    if r.returncode != 0:
        # ExecuTorch logs at info level on stderr ("I 00:00:00.000 executorch:..."); the runner's own error line is last.
        lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("I ", "W "))]
        sig = f" (signal {-r.returncode})" if r.returncode < 0 else ""
        raise AlbertEdgeError(f"{what} failed on {Path(pte).name}{sig}: {(lines[-1] if lines else f'exit {r.returncode}')[:240]}")
    rec = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1])
    logits = np.fromfile(out, dtype=np.float32)
    labels = int(rec["labels"])
    if rec["texts"] != texts or logits.size != texts * labels:
        raise AlbertEdgeError(f"{what} returned {logits.size} logits for {texts} texts x {labels} labels on {Path(pte).name}")
    return logits.reshape(texts, labels), rec
