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
import json
import shutil  # noqa: F401 - tests patch arm64.shutil.which
import time
from pathlib import Path

from .. import options
from ..errors import ParityError
from .compare import DEFAULT_FILES, build_artifacts, check_folder, evaluate, format_table  # noqa: F401
from .provision import (  # noqa: F401
    CPUINFO, DEFAULT_MIRROR, DEFAULT_ROOT, DEFAULT_WORK, QEMU_CPU, SITE, STAMP, debian_mirror, ensure_root, ensure_tools,
    find_qemu, qemu_command, read_stamp, run_in_root, smoke_test,
)

HELP = "run the ONNX, TFLite and ExecuTorch artifacts (fp32, fp16, int8) on emulated aarch64 (qemu) and check parity"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--artifacts", metavar="DIR", help="check this existing artifacts folder instead of exporting a fresh one")
    p.add_argument("--model", metavar="MODEL_DIR", help="checkpoint to export (default: the embedded demo model, trained on SST-2)")
    p.add_argument("--files", metavar="FILES", help=f"comma-separated artifact files (default: {','.join(DEFAULT_FILES)})")
    p.add_argument("--data", metavar="FILE.tsv", help="labeled sentences (default: the shipped samples)")
    p.add_argument("--limit", type=options.positive_int, default=48, help="sentences to run (default %(default)s; emulation is hundreds of times slower than native)")
    p.add_argument("--root", default=str(DEFAULT_ROOT), help="cached aarch64 root (default %(default)s)")
    p.add_argument("--work", default=str(DEFAULT_WORK), help="scratch folder for the exported artifacts and the logits (default %(default)s)")
    p.add_argument("--rebuild-root", action="store_true", help="rebuild the aarch64 root from scratch")
    p.add_argument("--no-install", action="store_true", help="never apt-get install debootstrap/qemu-user-static/g++-aarch64-linux-gnu")
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
    report = check_folder(art, root, files=files, data=args.data, limit=args.limit, model_dir=args.model, work=work, quiet=args.quiet,
                          install_tools=not args.no_install)
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    from ..fsutil import write_text_atomic

    out = Path(args.json) if args.json else work / "arm64-parity.json"
    write_text_atomic(out, json.dumps(report, indent=2) + "\n")
    print(format_table(report))
    print(f"({report['total_seconds']:.0f} s in all, {report['emulated_seconds']:.0f} s emulated; report: {out})")
    if not report["passed"]:
        failed = [f"{a['file']} ({'; '.join(a['failures'])})" for a in report["artifacts"] if not a["passed"]]
        raise ParityError("arm64 parity failed: " + ", ".join(failed))
    return 0
