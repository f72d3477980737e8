"""The emulated aarch64 environment: a Debian root with the runtimes' aarch64 wheels, and qemu-user
to run its Python (see albert_edge/arm64/__init__.py for why and the traps handled)."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import AlbertEdgeError
from ..paths import cache_dir

RUNNER_SCRIPT = Path(__file__).resolve().parent / "runner.py"  # runs under the emulated aarch64 Python
DEFAULT_ROOT = cache_dir("arm64-root")
DEFAULT_WORK = cache_dir("arm64-parity")
STAMP = ".albert-edge-arm64.json"
SITE = "opt/albert-edge/site"  # inside the root: the aarch64 wheels
SUITE = "bookworm"  # Python 3.11, the x86 venv's version: one wheel tag for both sides
DEFAULT_MIRROR = "http://deb.debian.org/debian"
QEMU_CPU = "cortex-a76"
WHEELS = ("numpy", "onnxruntime", "ai-edge-litert")
# Installed without dependencies when the x86 environment has them: executorch's would pull torch
# (427 MB for aarch64), which the C++ runner (pte.py) does not need.
NO_DEPS_WHEELS = ("executorch",)
BIN = "opt/albert-edge/bin"  # inside the root: the cross-compiled ExecuTorch runner
# pip matches a --platform tag exactly (it does not widen manylinux_2_28 to older tags), and the
# wheels are tagged variously: onnxruntime 2_27/2_28, ai-edge-litert 2_27, numpy 2_17/2_28.
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")

# A Cortex-A76 (part 0xd0b) as the kernel describes it, matching QEMU_CPU: onnxruntime reads this
# file through cpuinfo at import and crashes on the x86 host's text.
CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 50.00\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
    for i in range(4)
)




# -- host tools ------------------------------------------------------------------------------------
def debian_mirror(sources_text: str | None = None) -> str:
    """The Debian mirror apt uses here (deb822 .sources or one-line .list), else deb.debian.org."""
    if sources_text is None:
        parts = []
        for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
            try:
                if p.is_file() and p.suffix in (".list", ".sources", ""):
                    parts.append(p.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
        sources_text = "\n".join(parts)
    for line in sources_text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            continue
        m = re.match(r"^URIs:\s*(.+)$", line, re.I)
        uris = m.group(1).split() if m else []
        m = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", line)
        if m:
            uris = [m.group(1)]
        for uri in uris:
            if re.match(r"^https?://", uri) and uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def find_qemu() -> str | None:
    return shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")


APT_LOCK = "/tmp/albert-edge-apt.lock"  # shared with android_demo/build_apk.sh and run_jvm_tests.sh


def apt_install(missing: list[str], packages: list[str], need: str, install: bool, quiet: bool) -> None:
    """apt-get install `packages` (as root, when allowed), or one line saying why not and the command to run."""
    apt = shutil.which("apt-get")
    if not install or not apt or os.geteuid() != 0:
        why = "not allowed (--no-install)" if not install else ("apt-get not found" if not apt else "not root")
        raise AlbertEdgeError(f"{need} and cannot install {'them' if len(missing) > 1 else 'it'} ({why}); install with: apt-get install {' '.join(packages)}")
    from ..progress import step

    import fcntl

    with step(f"installing {' '.join(missing)} with apt-get", quiet), open(APT_LOCK, "a") as lock:
        # One apt at a time among our own installers (`make test` runs two workers; android_demo's
        # scripts take the same lock); DPkg::Lock::Timeout waits for any other apt on the machine.
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        wait = ["-o", "DPkg::Lock::Timeout=600"]
        for cmd in (["apt-get", "update", "-q", *wait], ["apt-get", "install", "-y", "-q", "--no-install-recommends", *wait, *packages]):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or [f"exit {r.returncode}"]
                raise AlbertEdgeError(f"`{' '.join(cmd)}` failed: {tail[0][:200]}")


def ensure_tools(install: bool = True, quiet: bool = False) -> tuple[str, str]:
    """(debootstrap, qemu-aarch64) paths; installs both with apt-get when missing and allowed."""
    debootstrap, qemu = shutil.which("debootstrap"), find_qemu()
    if debootstrap and qemu:
        return debootstrap, qemu
    missing = [n for n, p in (("debootstrap", debootstrap), ("qemu-user-static", qemu)) if not p]
    apt_install(missing, ["debootstrap", "qemu-user-static"], f"arm64 parity needs {' and '.join(missing)}", install, quiet)
    debootstrap, qemu = shutil.which("debootstrap"), find_qemu()
    if not (debootstrap and qemu):
        raise AlbertEdgeError("apt-get installed debootstrap/qemu-user-static but qemu-aarch64 is still not on PATH")
    return debootstrap, qemu


# -- the aarch64 root ------------------------------------------------------------------------------
def wheel_pins() -> dict[str, str]:
    """The x86 environment's versions: both sides must run the same runtime releases (the optional
    NO_DEPS_WHEELS only when installed here)."""
    pins = {}
    for name in WHEELS + NO_DEPS_WHEELS:
        try:
            pins[name] = _md.version(name)
        except _md.PackageNotFoundError:
            if name in NO_DEPS_WHEELS:
                continue
            raise AlbertEdgeError(f"{name} is not installed in this environment (run `make env`)") from None
    return pins


def read_stamp(root: Path) -> dict | None:
    try:
        return json.loads((root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def root_python(root: Path) -> Path:
    found = sorted(root.glob("usr/bin/python3.[0-9]*"))
    found = [p for p in found if re.fullmatch(r"python3\.\d+", p.name)]
    if not found:
        raise AlbertEdgeError(f"{root} has no usr/bin/python3.X (rebuild it with --rebuild-root)")
    return found[-1]


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        lines = [ln for ln in (r.stderr + "\n" + r.stdout).strip().splitlines() if ln.strip() and "is ignored: it is neither" not in ln]
        raise AlbertEdgeError(f"{what} failed (exit {r.returncode}): {(lines[-1] if lines else '')[:240]}")
    return r


def _debootstrap(stage: Path, debootstrap: str, mirror: str, quiet: bool) -> None:
    from ..progress import step

    with step(f"debootstrap --arch=arm64 --foreign {SUITE} (minbase + python3) from {mirror}", quiet):
        _run([debootstrap, "--arch=arm64", "--foreign", "--variant=minbase", "--include=python3", SUITE, str(stage), mirror], "debootstrap")
    debs = sorted((stage / "var/cache/apt/archives").glob("*.deb"))
    if not debs:
        raise AlbertEdgeError("debootstrap downloaded no packages")
    from ..progress import bar

    # The second stage (configure via dpkg inside the root) needs binfmt_misc to exec aarch64
    # maintainer scripts; unpacking is all a Python interpreter needs.
    with bar(len(debs), "unpacking arm64 packages", "deb") as pb:
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(stage)], f"dpkg-deb -x {deb.name}")
            deb.unlink()
            pb.update(1)


def _install_wheels(root: Path, pins: dict[str, str], py_version: str, quiet: bool) -> None:
    from ..progress import step

    site = root / SITE
    if site.exists():
        shutil.rmtree(site)
    site.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".site.", dir=site.parent))
    # A local version ("1.5.1+cpu") names the x86 build; the aarch64 wheel of that release has none.
    reqs = [f"{n}=={v.split('+')[0]}" for n, v in pins.items() if n not in NO_DEPS_WHEELS]
    no_deps = [f"{n}=={v.split('+')[0]}" for n, v in pins.items() if n in NO_DEPS_WHEELS]
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-warn-conflicts", "--disable-pip-version-check", "--only-binary=:all:"]
    for plat in WHEEL_PLATFORMS:
        cmd += ["--platform", plat]
    cmd += ["--python-version", py_version, "--implementation", "cp", "--target", str(tmp)]
    try:
        with step(f"installing aarch64 wheels {' '.join(reqs + no_deps)} (cp{py_version.replace('.', '')})", quiet):
            _run(cmd + reqs, "pip install of the aarch64 wheels")
            if no_deps:
                _run(cmd + ["--no-deps", *no_deps], "pip install of the aarch64 wheels (without dependencies)")
        os.replace(tmp, site)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_root(root: Path = DEFAULT_ROOT, rebuild: bool = False, install_tools: bool = True, quiet: bool = False) -> Path:
    """A ready aarch64 root at `root`: built when missing, wheels reinstalled when the pins changed.

    The base system is built in a sibling temp folder and renamed into place, so an interrupted
    build never leaves a root that looks ready.
    """
    root = Path(root).resolve()
    debootstrap, qemu = ensure_tools(install_tools, quiet)
    pins = wheel_pins()
    stamp = read_stamp(root)
    if rebuild or stamp is None or stamp.get("suite") != SUITE:
        if os.geteuid() != 0:
            raise AlbertEdgeError("building the arm64 root needs root (debootstrap creates device nodes and owned files)")
        root.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        try:
            _debootstrap(stage, debootstrap, debian_mirror(), quiet)
            (stage / "proc").mkdir(exist_ok=True)
            (stage / "proc" / "cpuinfo").write_text(CPUINFO)
            stamp = {"suite": SUITE, "mirror": debian_mirror(), "python": root_python(stage).name, "created": _now(), "wheels": None}
            (stage / STAMP).write_text(json.dumps(stamp, indent=2))
            if root.exists():
                shutil.rmtree(root)
            os.replace(stage, root)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
    # Rewritten every time: cheap, and a root copied from elsewhere may lack it.
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc" / "cpuinfo").write_text(CPUINFO)
    if stamp.get("wheels") != pins or not (root / SITE).is_dir():
        py = root_python(root).name.removeprefix("python")
        _install_wheels(root, pins, py, quiet)
        stamp["wheels"] = pins
        stamp["wheels_installed"] = _now()
        env = smoke_test(root, qemu)
        stamp["environment"] = env
        tmp = root / (STAMP + ".tmp")
        tmp.write_text(json.dumps(stamp, indent=2))
        os.replace(tmp, root / STAMP)
    return root


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def qemu_command(root: Path, qemu: str, args: list[str]) -> tuple[list[str], dict]:
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "QEMU_CPU": QEMU_CPU,
        "PYTHONPATH": str(root / SITE),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "HOME": str(root / "root"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    return [qemu, "-L", str(root), str(root_python(root)), *args], env


def pte_runner(root: Path, install_tools: bool = True, quiet: bool = False) -> Path:
    """The ExecuTorch C++ runner cross-compiled against the root's aarch64 executorch wheel (cached in ROOT/BIN)."""
    from . import pte

    site = root / SITE
    if not (site / "executorch").is_dir():
        raise AlbertEdgeError(f"{root} has no aarch64 executorch wheel (install executorch here, then rerun: the root's wheels follow this environment's)")
    cxx = pte.ensure_cross_compiler(install_tools, quiet)
    return pte.build(cxx, pte.executorch_dir(site), root / BIN, rpath=False, quiet=quiet)


def native_command(root: Path, qemu: str) -> tuple[list[str], dict]:
    """(prefix, env) to run an aarch64 executable of the root under qemu, with the executorch wheel's libraries."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "QEMU_CPU": QEMU_CPU, "LD_LIBRARY_PATH": str(root / SITE / "executorch" / "lib")}
    return [qemu, "-L", str(root)], env


def run_in_root(root: Path, qemu: str, args: list[str], what: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    cmd, env = qemu_command(root, qemu, args)
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AlbertEdgeError(f"{what} under qemu-aarch64 took longer than {timeout:.0f} s") from None
    if r.returncode != 0:
        lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip() and not ln.startswith(("INFO:", "WARNING:"))]
        sig = f" (signal {-r.returncode})" if r.returncode < 0 else ""
        raise AlbertEdgeError(f"{what} under qemu-aarch64 failed{sig}: {(lines[-1] if lines else f'exit {r.returncode}')[:240]}")
    return r


def smoke_test(root: Path, qemu: str | None = None) -> dict:
    """Import numpy, onnxruntime and ai_edge_litert on the emulated aarch64 Python."""
    qemu = qemu or find_qemu()
    r = run_in_root(root, qemu, [str(RUNNER_SCRIPT), "--env"], "the arm64 root's smoke test", timeout=600)
    env = json.loads(r.stdout.strip().splitlines()[-1])
    if env.get("machine") != "aarch64":
        raise AlbertEdgeError(f"the arm64 root's Python reports machine {env.get('machine')!r}, not aarch64")
    return env
