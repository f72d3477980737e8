"""ARM64 parity under qemu-user emulation (`make arm64-parity`): correctness on aarch64, never timing.

Phones run the artifacts on aarch64 kernels (ONNX Runtime's MLAS NEON/dot-product paths, XNNPACK's
Arm micro-kernels) that an x86 CI machine never executes. This check runs the same artifact files
on those kernels, emulated:

1. an aarch64 Debian bookworm root (debootstrap --foreign: its second stage cannot run without
   binfmt_misc, so every downloaded .deb is unpacked with dpkg-deb -x instead), plus the official
   manylinux aarch64 wheels of numpy, onnxruntime and ai-edge-litert at the x86 environment's
   versions, installed from the x86 side with pip's --platform/--target. Cached in
   .cache/arm64-root with a stamp file;
2. export + quantize a small checkpoint with the project's own CLI (fp32 and int8, ONNX and TFLite);
3. tokenize on x86, run arm64/runner.py (numpy + onnxruntime + ai_edge_litert only) under
   qemu-aarch64 on the aarch64 Python, and compare its logits on x86 with the PyTorch reference
   and with the x86 runtimes, using `albert-edge verify`'s thresholds.

Two traps, both handled here: onnxruntime's cpuinfo probe segfaults under qemu unless the root has
an ARM-style /proc/cpuinfo (qemu -L resolves absolute paths inside the root first), and with qemu's
default `max` CPU model (SVE2, i8mm, ...) int8 kernels give wrong results (|Δ| 0.076 on ALBERT-base),
so the CPU is pinned to a real phone core, QEMU_CPU=cortex-a76 (|Δ| 0.0009).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib.metadata as _md
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError, ParityError
from . import formats, options

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNNER_SCRIPT = REPO_ROOT / "arm64" / "runner.py"
DEFAULT_ROOT = REPO_ROOT / ".cache" / "arm64-root"
DEFAULT_WORK = REPO_ROOT / ".cache" / "arm64-parity"
STAMP = ".albert-edge-arm64.json"
SITE = "opt/albert-edge/site"  # inside the root: the aarch64 wheels
SUITE = "bookworm"  # Python 3.11, the x86 venv's version: one wheel tag for both sides
DEFAULT_MIRROR = "http://deb.debian.org/debian"
QEMU_CPU = "cortex-a76"
WHEELS = ("numpy", "onnxruntime", "ai-edge-litert")
# pip matches a --platform tag exactly (it does not widen manylinux_2_28 to older tags), and the
# wheels are tagged variously: onnxruntime 2_27/2_28, ai-edge-litert 2_27, numpy 2_17/2_28.
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_27_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
# Checked when present (fp16 is optional: `quantize tflite --mode fp16`); the exported set has the first four.
DEFAULT_FILES = formats.arm64_files()  # the registry says which formats the aarch64 runner runs

# A Cortex-A76 (part 0xd0b) as the kernel describes it, matching QEMU_CPU: onnxruntime reads this
# file through cpuinfo at import and crashes on the x86 host's text.
CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 50.00\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n"
    for i in range(4)
)

HELP = "run fp32/int8 ONNX and TFLite artifacts on emulated aarch64 (qemu) and check parity"


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


def ensure_tools(install: bool = True, quiet: bool = False) -> tuple[str, str]:
    """(debootstrap, qemu-aarch64) paths; installs both with apt-get when missing and allowed."""
    debootstrap, qemu = shutil.which("debootstrap"), find_qemu()
    if debootstrap and qemu:
        return debootstrap, qemu
    missing = [n for n, p in (("debootstrap", debootstrap), ("qemu-user-static", qemu)) if not p]
    apt = shutil.which("apt-get")
    if not install or not apt or os.geteuid() != 0:
        why = "not allowed (--no-install)" if not install else ("apt-get not found" if not apt else "not root")
        raise AlbertEdgeError(f"arm64 parity needs {' and '.join(missing)} and cannot install them ({why}); install with: apt-get install debootstrap qemu-user-static")
    from .progress import step

    with step(f"installing {' '.join(missing)} with apt-get", quiet):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap", "qemu-user-static"]):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or [f"exit {r.returncode}"]
                raise AlbertEdgeError(f"`{' '.join(cmd)}` failed: {tail[0][:200]}")
    debootstrap, qemu = shutil.which("debootstrap"), find_qemu()
    if not (debootstrap and qemu):
        raise AlbertEdgeError("apt-get installed debootstrap/qemu-user-static but qemu-aarch64 is still not on PATH")
    return debootstrap, qemu


# -- the aarch64 root ------------------------------------------------------------------------------
def wheel_pins() -> dict[str, str]:
    """The x86 environment's versions: both sides must run the same runtime releases."""
    pins = {}
    for name in WHEELS:
        try:
            pins[name] = _md.version(name)
        except _md.PackageNotFoundError:
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
    from .progress import step

    with step(f"debootstrap --arch=arm64 --foreign {SUITE} (minbase + python3) from {mirror}", quiet):
        _run([debootstrap, "--arch=arm64", "--foreign", "--variant=minbase", "--include=python3", SUITE, str(stage), mirror], "debootstrap")
    debs = sorted((stage / "var/cache/apt/archives").glob("*.deb"))
    if not debs:
        raise AlbertEdgeError("debootstrap downloaded no packages")
    from .progress import bar

    # The second stage (configure via dpkg inside the root) needs binfmt_misc to exec aarch64
    # maintainer scripts; unpacking is all a Python interpreter needs.
    with bar(len(debs), "unpacking arm64 packages", "deb") as pb:
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(stage)], f"dpkg-deb -x {deb.name}")
            deb.unlink()
            pb.update(1)


def _install_wheels(root: Path, pins: dict[str, str], py_version: str, quiet: bool) -> None:
    from .progress import step

    site = root / SITE
    if site.exists():
        shutil.rmtree(site)
    site.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".site.", dir=site.parent))
    reqs = [f"{n}=={v}" for n, v in pins.items()]
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-warn-conflicts", "--disable-pip-version-check", "--only-binary=:all:"]
    for plat in WHEEL_PLATFORMS:
        cmd += ["--platform", plat]
    cmd += ["--python-version", py_version, "--implementation", "cp", "--target", str(tmp), *reqs]
    try:
        with step(f"installing aarch64 wheels {' '.join(reqs)} (cp{py_version.replace('.', '')})", quiet):
            _run(cmd, "pip install of the aarch64 wheels")
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


# -- artifacts -------------------------------------------------------------------------------------
def build_artifacts(work: Path, model_dir: Path | None, quiet: bool, buckets: str = "16,32") -> Path:
    """Export + quantize with the project's CLI into work/artifacts (always fresh: this is the check).

    Two short buckets: litert-torch converts each signature separately (most of this check's
    time), and two are enough to exercise bucket choice on the aarch64 side.
    """
    from . import cli
    from .progress import step

    if model_dir is None:
        from .testing import make_checkpoint, tokenizer_source

        model_dir = work / "model"
        with step("making a tiny random ALBERT checkpoint", quiet):
            if model_dir.exists():
                shutil.rmtree(model_dir)
            make_checkpoint(model_dir, tokenizer_source(work / "spm"), seed=0)
    art = work / "artifacts"
    max_len = buckets.split(",")[-1]
    q = ["--quiet"] if quiet else []
    for argv in (
        ["export", "onnx", "--model", str(model_dir), "--max-length", max_len, "--overwrite", *q, str(art)],
        ["quantize", "onnx", "--overwrite", *q, str(art)],
        ["export", "tflite", "--model", str(model_dir), "--buckets", buckets, "--overwrite", *q, str(art)],
        ["quantize", "tflite", "--overwrite", *q, str(art)],
    ):
        with step("albert-edge " + " ".join(argv[:2]), quiet):
            code = cli.main(argv)
        if code != 0:
            raise AlbertEdgeError(f"`albert-edge {' '.join(argv)}` failed (exit {code})")
    return art


# -- comparing -------------------------------------------------------------------------------------
def _per_sentence(runner, ids: list[list[int]]) -> np.ndarray:
    """One sentence per call, as the arm64 runner does: identical inputs, no batch padding."""
    return np.stack([runner.logits([x])[0] for x in ids]).astype(np.float32)


def evaluate(files: list[dict], ref: np.ndarray, x86: dict[str, np.ndarray], arm: dict[str, np.ndarray], labels: np.ndarray, thresholds) -> list[dict]:
    """Per artifact: aarch64 vs PyTorch (verify's gate) and aarch64 vs x86 (same runtime, other ISA).

    The gate is verify's, on the aarch64 logits against PyTorch. Against x86 the fp32/fp16 bound
    is gated too (same runtime release, same file: only the ISA differs). int8 aarch64-vs-x86 is
    reported, not gated: the two ISAs' int8 kernels legitimately round differently, and on AVX2
    machines without VNNI ONNX Runtime's u8s8 MatMulInteger (VPMADDUBSW) saturates 16-bit sums, so
    x86 is at times the further from PyTorch of the two; gating on it would blame the phone's kernels.
    """
    from .parity import compare

    out = []
    for e in files:
        name, prec = e["file"], e["precision"]
        if name not in arm:
            raise AlbertEdgeError(f"the arm64 runner produced no logits for {name}")
        vs_ref = compare(ref, arm[name], labels)
        vs_x86 = compare(x86[name], arm[name], labels)
        fails = [f"vs PyTorch: {f}" for f in thresholds.check(prec, vs_ref)]
        if prec != "int8":
            fails += [f"vs x86: {f}" for f in thresholds.check(prec, vs_x86)]
        x86_vs_ref = compare(ref, x86[name], labels)
        out.append(
            {
                "file": name,
                "format": e["format"],
                "precision": prec,
                "arm64_vs_pytorch": vs_ref,
                "arm64_vs_x86": vs_x86,
                "x86_vs_pytorch": x86_vs_ref,
                "failures": fails,
                "passed": not fails,
            }
        )
    return out


def format_table(report: dict) -> str:
    from .table import render

    rows = [("artifact", "arm|Δ| vs torch", "x86|Δ| vs torch", "arm|Δ| vs x86", "agree arm/torch", "agree arm/x86", "Δacc pt", "result")]
    for a in report["artifacts"]:
        r, x, t = a["arm64_vs_pytorch"], a["arm64_vs_x86"], a["x86_vs_pytorch"]
        rows.append(
            (
                a["file"],
                f"{r['max_abs_diff']:.2e}",
                f"{t['max_abs_diff']:.2e}",
                f"{x['max_abs_diff']:.2e}",
                f"{100 * r['agreement']:.2f}%",
                f"{100 * x['agreement']:.2f}%",
                f"{-100 * r['accuracy_drop'] + 0.0:+.2f}",
                "PASS" if a["passed"] else "FAIL: " + "; ".join(a["failures"]),
            )
        )
    env = report.get("arm64_environment", {})
    lines = [
        f"arm64 parity: {report['sentences']} sentences from {report['data']} on emulated aarch64 "
        f"(qemu {env.get('qemu_cpu', QEMU_CPU)}, python {env.get('python', '?')}, onnxruntime {env.get('onnxruntime', '?')}, "
        f"ai-edge-litert {env.get('ai-edge-litert', '?')})"
    ]
    lines += render(rows)
    for a in report["artifacts"]:
        x, r = a.get("x86_vs_pytorch"), a["arm64_vs_pytorch"]
        if a["precision"] == "int8" and x and x["disagreements"] > r["disagreements"]:
            lines.append(
                f"note: on x86 {a['file']} disagrees with PyTorch on {x['disagreements']} sentence(s) (aarch64: {r['disagreements']}); "
                "x86-only int8 error (e.g. ONNX Runtime's AVX2 u8s8 saturation) is verify's business, not this check's"
            )
    return "\n".join(lines)


def check_folder(
    art: Path,
    root: Path,
    files: list[str] | None = None,
    data: str | None = None,
    limit: int = 48,
    model_dir: str | None = None,
    thresholds=None,
    work: Path | None = None,
    quiet: bool = False,
) -> dict:
    """Run the artifacts of `art` on x86 and emulated aarch64 and compare (no gate raised here)."""
    from .checkpoint import load_checkpoint
    from .data import SAMPLES_TSV, read_labeled_tsv
    from .fsutil import sha256_file
    from .integrity import verified_path
    from .manifest import find_artifact, load_manifest
    from .parity import Thresholds
    from .progress import step
    from .runners import TorchRunner, open_runner
    from .tokenizer import artifact_encoder

    thresholds = thresholds or Thresholds()
    art = Path(art)
    manifest = load_manifest(art)
    wanted = files or [f for f in DEFAULT_FILES if any(a["file"] == f for a in manifest["artifacts"])]
    entries = [find_artifact(manifest, f) for f in wanted]
    if not entries:
        raise AlbertEdgeError(f"{art} has none of {', '.join(DEFAULT_FILES)}")
    data = Path(data) if data else SAMPLES_TSV
    texts, ys = read_labeled_tsv(data, manifest["labels"], limit=limit)
    labels = np.asarray(ys)
    ids = artifact_encoder(art, manifest).encode(texts)
    pad_id = int(manifest["tokenizer"].get("pad_id") or 0)

    model_dir = Path(model_dir or manifest["source"]["model_dir"])
    with step("PyTorch reference and x86 runtimes", quiet):
        ckpt = load_checkpoint(model_dir, with_tokenizer=False)
        if sha256_file(ckpt.weights_file) != manifest["source"]["weights_sha256"]:
            raise AlbertEdgeError(f"{ckpt.weights_file} is not the checkpoint these artifacts were exported from (sha256 differs)")
        ref = _per_sentence(TorchRunner(ckpt.model, pad_id=pad_id, threads=1), ids)
        x86 = {}
        from .native_log import native_stderr_captured

        # LiteRT logs accelerator set-up and tear-down on fd 2 with no off switch; keep it out.
        with native_stderr_captured():
            for e in entries:
                extra = {"weight_cache": False} if e["format"] == "tflite" else {}
                runner = open_runner(art, e, manifest, threads=1, **extra)
                x86[e["file"]] = _per_sentence(runner, ids)
                del runner
            gc.collect()

    qemu = find_qemu()
    if qemu is None:
        raise AlbertEdgeError("qemu-aarch64 is not installed (apt-get install qemu-user-static)")
    tmp_ctx = tempfile.TemporaryDirectory(prefix="arm64-parity.") if work is None else None
    io_dir = Path(tmp_ctx.name) if tmp_ctx else Path(work) / "io"
    try:
        if io_dir.exists():
            shutil.rmtree(io_dir)
        io_dir.mkdir(parents=True)
        (io_dir / "inputs.json").write_text(json.dumps({"pad_id": pad_id, "ids": ids}))
        t0 = time.perf_counter()
        with step(f"running {len(entries)} artifact(s) on emulated aarch64 ({QEMU_CPU})", quiet):
            paths = [str(verified_path(art, e)) for e in entries]
            r = run_in_root(root, qemu, [str(RUNNER_SCRIPT), "--inputs", str(io_dir / "inputs.json"), "--out", str(io_dir), *paths], "the arm64 runner")
        runs = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
        for run_rec in runs:  # the bytes the emulated runtime loaded are the ones the manifest describes
            e = next((e for e in entries if e["file"] == run_rec.get("file")), None)
            if e is not None and run_rec.get("sha256") != e["sha256"]:
                raise AlbertEdgeError(f"{art / e['file']} changed while the arm64 check ran (sha256 differs from the manifest)")
        arm = {e["file"]: np.load(io_dir / (e["file"] + ".npy")) for e in entries if (io_dir / (e["file"] + ".npy")).is_file()}
        emulated_s = time.perf_counter() - t0
    finally:
        if tmp_ctx:
            tmp_ctx.cleanup()
    results = evaluate(entries, ref, x86, arm, labels, thresholds)
    env = {k: v for k, v in (runs[0] if runs else {}).items() if k in ("machine", "python", "numpy", "onnxruntime", "ai-edge-litert", "qemu_cpu")}
    return {
        "created": _now(),
        "artifacts_dir": str(art),
        "data": str(data),
        "sentences": len(texts),
        "max_seq_length": manifest["max_seq_length"],
        "thresholds": thresholds.__dict__,
        "arm64_environment": env,
        "arm64_runs": runs,
        "emulated_seconds": round(emulated_s, 1),
        "artifacts": results,
        "passed": all(a["passed"] for a in results),
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--artifacts", metavar="DIR", help="check this existing artifacts folder instead of exporting a fresh one")
    p.add_argument("--model", metavar="MODEL_DIR", help="checkpoint to export (default: a tiny random ALBERT; the demo model works but is slow under qemu)")
    p.add_argument("--files", metavar="FILES", help=f"comma-separated artifact files (default: {','.join(DEFAULT_FILES)})")
    p.add_argument("--data", metavar="FILE.tsv", help="labeled sentences (default: the shipped samples)")
    p.add_argument("--limit", type=options.positive_int, default=48, help="sentences to run (default %(default)s; qemu is ~360x slower than native)")
    p.add_argument("--root", default=str(DEFAULT_ROOT), help="cached aarch64 root (default %(default)s)")
    p.add_argument("--work", default=str(DEFAULT_WORK), help="scratch folder for the checkpoint, artifacts and logits (default %(default)s)")
    p.add_argument("--rebuild-root", action="store_true", help="rebuild the aarch64 root from scratch")
    p.add_argument("--no-install", action="store_true", help="never apt-get install debootstrap/qemu-user-static")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON here (default: WORK/arm64-parity.json)")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    t0 = time.perf_counter()
    root = ensure_root(Path(args.root), rebuild=args.rebuild_root, install_tools=not args.no_install, quiet=args.quiet)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.artifacts:
        art = Path(args.artifacts)
    else:
        art = build_artifacts(work, Path(args.model) if args.model else None, args.quiet)
    files = [f.strip() for f in args.files.split(",") if f.strip()] if args.files else None
    report = check_folder(art, root, files=files, data=args.data, limit=args.limit, model_dir=args.model, work=work, quiet=args.quiet)
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    from .fsutil import write_text_atomic

    out = Path(args.json) if args.json else work / "arm64-parity.json"
    write_text_atomic(out, json.dumps(report, indent=2) + "\n")
    print(format_table(report))
    print(f"({report['total_seconds']:.0f} s in all, {report['emulated_seconds']:.0f} s emulated; report: {out})")
    if not report["passed"]:
        failed = [f"{a['file']} ({'; '.join(a['failures'])})" for a in report["artifacts"] if not a["passed"]]
        raise ParityError("arm64 parity failed: " + ", ".join(failed))
    return 0


def main(argv: list[str] | None = None) -> int:
    from .cli import quiet_third_party_logs

    quiet_third_party_logs()
    p = argparse.ArgumentParser(prog="python -m albert_edge.arm64", description=HELP)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        code = run(args)
    except AlbertEdgeError as e:
        print(f"arm64-parity: error: {e}", file=sys.stderr)
        code = e.exit_code
    # LiteRT's native objects log their teardown on fd 2 at interpreter exit, after the verdict;
    # everything worth reading has been printed by now.
    sys.stderr.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    return code


if __name__ == "__main__":
    sys.exit(main())
