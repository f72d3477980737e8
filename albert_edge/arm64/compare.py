"""Run artifacts on x86 and on emulated aarch64 and compare both with the PyTorch reference."""

from __future__ import annotations

import gc
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import formats
from ..errors import AlbertEdgeError
from .provision import QEMU_CPU, RUNNER_SCRIPT, _now, find_qemu, run_in_root

# Checked when present (fp16 is optional: `quantize tflite --mode fp16`; the .pte files need the executorch extra).
DEFAULT_FILES = formats.arm64_files()  # the registry says which formats the aarch64 check runs, and how


# -- artifacts -------------------------------------------------------------------------------------
def build_artifacts(work: Path, model_dir: Path | None, quiet: bool, buckets: str = "16,32") -> Path:
    """Export + quantize with the project's CLI into work/artifacts (always fresh: this is the check).

    Two short buckets: litert-torch converts each signature separately (most of this check's
    time), and two are enough to exercise bucket choice on the aarch64 side.
    """
    from .. import cli
    from ..progress import step

    if model_dir is None:
        from ..data import DEMO_MODEL_DIR

        # The embedded demo model: trained weights (LayerNorm scales/shifts, biases and label margins
        # of a real fine-tune). A random-init default hid value-dependent behaviour and put labels of
        # perturbed weights on the decision boundary (docs/arm64.md). The check takes as long as it did.
        model_dir = DEMO_MODEL_DIR
        if not (model_dir / "config.json").is_file():
            raise AlbertEdgeError(f"the embedded demo model is missing ({model_dir}); pass --model MODEL_DIR or --artifacts DIR")
    art = work / "artifacts"
    max_len = buckets.split(",")[-1]
    q = ["--quiet"] if quiet else []
    steps = [
        ["export", "onnx", "--model", str(model_dir), "--max-length", max_len, "--overwrite", *q, str(art)],
        ["quantize", "onnx", "--overwrite", *q, str(art)],
        ["export", "tflite", "--model", str(model_dir), "--buckets", buckets, "--overwrite", *q, str(art)],
        ["quantize", "tflite", "--overwrite", *q, str(art)],
    ]
    if formats.available(formats.get("executorch")):  # an optional extra (`make env` installs it)
        steps += [
            ["export", "executorch", "--model", str(model_dir), "--max-length", max_len, "--overwrite", *q, str(art)],
            ["quantize", "executorch", "--overwrite", *q, str(art)],
        ]
    for argv in steps:
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
    from ..parity import compare

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
    from ..table import render

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
    parts = [f"qemu {env.get('qemu_cpu', QEMU_CPU)}"]  # the runtimes that ran (a .pte-only check has no Python side)
    parts += [f"{k} {env[k]}" for k in ("python", "onnxruntime", "ai-edge-litert") if env.get(k)]
    parts += [f"executorch {env['executorch']} via its C++ runtime"] if env.get("executorch") else []
    lines = [f"arm64 parity: {report['sentences']} sentences from {report['data']} on emulated aarch64 ({', '.join(parts)})"]
    lines += render(rows)
    for a in report["artifacts"]:
        x, r = a.get("x86_vs_pytorch"), a["arm64_vs_pytorch"]
        if a["precision"] == "int8" and x and x["disagreements"] > r["disagreements"]:
            lines.append(
                f"note: on x86 {a['file']} disagrees with PyTorch on {x['disagreements']} sentence(s) (aarch64: {r['disagreements']}); "
                "x86-only int8 error (e.g. ONNX Runtime's AVX2 u8s8 saturation) is verify's business, not this check's"
            )
    return "\n".join(lines)


def _run_native(art: Path, entries: list[dict], ids: list[list[int]], pad_id: int, root: Path, qemu: str, io_dir: Path, quiet: bool,
                install_tools: bool = True) -> tuple[list[dict], dict]:
    """The .pte files through the cross-compiled ExecuTorch C++ runner under qemu (arm64/pte.py): one text
    per call, as ExecuTorchRunner feeds them on x86. The bytes are checked against the manifest before
    and after the run (the runner itself does not hash them)."""
    from ..integrity import verified_path
    from ..progress import step
    from . import pte
    from .provision import native_command, pte_runner, read_stamp

    binary = pte_runner(root, install_tools=install_tools, quiet=quiet)
    prefix, env = native_command(root, qemu)
    pte.write_ids(ids, io_dir / "ids.txt")
    version = ((read_stamp(root) or {}).get("wheels") or {}).get("executorch", "?")
    runs, arm = [], {}
    with step(f"running {len(entries)} ExecuTorch program(s) on emulated aarch64 ({QEMU_CPU}, C++ runner)", quiet):
        for e in entries:
            path = verified_path(art, e)
            logits, rec = pte.run(prefix, binary, path, io_dir / "ids.txt", io_dir / (e["file"] + ".f32"), len(ids), threads=1, pad_id=pad_id, env=env, what="the arm64 ExecuTorch runner")
            verified_path(art, e)  # unchanged while it ran
            arm[e["file"]] = logits
            runs.append({**rec, "sha256": e["sha256"], "machine": "aarch64", "executorch": version, "qemu_cpu": QEMU_CPU, "runner": "pte_runner (C++)"})
    return runs, arm


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
    install_tools: bool = True,
) -> dict:
    """Run the artifacts of `art` on x86 and emulated aarch64 and compare (no gate raised here)."""
    from ..checkpoint import load_checkpoint
    from ..data import SAMPLES_TSV, read_labeled_tsv
    from ..fsutil import sha256_file
    from ..integrity import verified_path
    from ..manifest import find_artifact, load_manifest
    from ..parity import Thresholds
    from ..progress import step
    from ..runners import TorchRunner, open_runner
    from ..tokenizer import artifact_encoder

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
        from ..native_log import native_stderr_captured

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
        from ..runners import tokenizer_ids

        t0 = time.perf_counter()
        runs, arm = [], {}
        in_python = [e for e in entries if formats.arm64_runner(e["format"]) == "python"]
        native = [e for e in entries if formats.arm64_runner(e["format"]) == "native"]
        if in_python:
            spec = {"ids": ids, "tokenizer_ids": tokenizer_ids(manifest), "artifacts": {e["file"]: {"format": e["format"], "precision": e["precision"]} for e in in_python}}
            (io_dir / "inputs.json").write_text(json.dumps(spec))
            package = io_dir / "pkg"
            # The runner imports albert-edge's own runners from this copy (pure Python; the aarch64 root has
            # numpy, onnxruntime and ai_edge_litert, and the x86 site-packages cannot go on its path).
            shutil.copytree(Path(__file__).resolve().parents[1], package / "albert_edge", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "data"))
            with step(f"running {len(in_python)} artifact(s) on emulated aarch64 ({QEMU_CPU})", quiet):
                paths = [str(verified_path(art, e)) for e in in_python]
                r = run_in_root(root, qemu, [str(RUNNER_SCRIPT), "--package", str(package), "--inputs", str(io_dir / "inputs.json"), "--out", str(io_dir), *paths], "the arm64 runner")
            runs += [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
            for run_rec in runs:  # the bytes the emulated runtime loaded are the ones the manifest describes
                e = next((e for e in in_python if e["file"] == run_rec.get("file")), None)
                if e is not None and run_rec.get("sha256") != e["sha256"]:
                    raise AlbertEdgeError(f"{art / e['file']} changed while the arm64 check ran (sha256 differs from the manifest)")
            arm.update({e["file"]: np.load(io_dir / (e["file"] + ".npy")) for e in in_python if (io_dir / (e["file"] + ".npy")).is_file()})
        if native:
            runs_native, arm_native = _run_native(art, native, ids, pad_id, root, qemu, io_dir, quiet, install_tools)
            runs += runs_native
            arm.update(arm_native)
        emulated_s = time.perf_counter() - t0
    finally:
        if tmp_ctx:
            tmp_ctx.cleanup()
    results = evaluate(entries, ref, x86, arm, labels, thresholds)
    env = {}
    for run_rec in runs:  # the Python runner's records name the Python side, the native runner's executorch
        env.update({k: v for k, v in run_rec.items() if k in ("machine", "python", "numpy", "onnxruntime", "ai-edge-litert", "executorch", "qemu_cpu") and k not in env})
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
