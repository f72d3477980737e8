"""The peers: what a user would run instead of albert-edge, each built by its own documented recipe.

| peer | recipe (benchmarks/peers/) | environment | timed with |
|---|---|---|---|
| optimum | optimum-cli export onnx + onnxruntime quantize --avx2 (optimum.sh) | own venv (transformers < 4.58) | our ONNX runner (same ORT, same settings) |
| litert-stock | litert_torch.convert at one 128-token shape + ai-edge-quantizer dynamic_wi8_afp32 (litert_stock.py) | ours | LiteRT's documented Interpreter API, default options |
| executorch-stock | torch.export + XNNPACK partitioner, PT2E XNNPACKQuantizer (executorch_stock.py) | ours | ExecuTorch runtime, default options (no weight cache) |
| openvino | ov.convert_model(model.onnx) + nncf.quantize(TRANSFORMER, 300 SST-2 train sentences) (openvino.sh) | own venv | OpenVINO CPU plugin, LATENCY hint, in its venv (openvino_peer.py worker) |

Each is built once per checkpoint (cached under cache_dir("peers"), keyed by the weights' sha256) and
reported with its versions and exact commands (peer.json). A peer that cannot be built is reported
`missing`/`failed` with the reason; its rows and the goals that need it read "not measured".

A peer's spec carries the overrides measure.make_runner/memory_variants honour (runner, runner_kwargs,
lengths, batch_mode, buckets, memory_variants, runtime_modules, worker): peer files are not albert-edge
artifacts, so they never go through the format registry's runner choice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import AlbertEdgeError
from ..paths import cache_dir, package_file
from ..progress import step

PEERS = ("optimum", "litert-stock", "executorch-stock", "openvino")
CALIBRATION_SENTENCES = 300  # the OpenVINO/NNCF recipe: nncf.quantize's default subset_size


def peer_cache() -> Path:
    return cache_dir("peers")


@dataclass
class Context:
    folder: Path
    manifest: dict
    model_dir: Path | None
    quiet: bool = False

    @property
    def sha(self) -> str:
        return (self.manifest.get("source", {}).get("weights_sha256") or "unknown")[:12]

    @property
    def max_len(self) -> int:
        return int(self.manifest["max_seq_length"])


def parse_peers(value: str | None, quick: bool) -> tuple[str, list[str]]:
    """--peers auto|cached|off|NAME,NAME (built as auto) -> (mode, names)."""
    if value is None:
        return ("cached" if quick else "auto"), list(PEERS)
    v = value.strip()
    if v in ("auto", "cached", "off"):
        return v, list(PEERS) if v != "off" else []
    names = [n.strip() for n in v.split(",") if n.strip()]
    bad = [n for n in names if n not in PEERS]
    if bad or not names:
        raise AlbertEdgeError(f"--peers {value!r}: use auto, cached, off or a comma list of {', '.join(PEERS)}")
    return "auto", names


def _read_peer_json(d: Path) -> dict:
    try:
        return json.loads((d / "peer.json").read_text())
    except (OSError, ValueError):
        return {}


def _record(name: str, status: str, detail: str, info: dict | None = None) -> dict:
    rec = {"name": name, "status": status, "detail": detail}
    if info:
        rec["versions"] = info.get("versions", {})
        rec["commands"] = info.get("commands", [])
        facts = {k: info[k] for k in ("bytes", "constants", "runtime", "partitions", "stock_quantizer_error", "quantizer", "build_s", "seq_len", "calibration", "ir") if k in info}
        if facts:
            rec["facts"] = facts
    return rec


def _run_build(cmd: list[str], title: str, quiet: bool, env: dict | None = None, timeout_s: float = 3600) -> tuple[bool, str]:
    with step(title, quiet):
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False, f"timed out after {timeout_s:.0f} s"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return False, lines[-1][:240] if lines else f"exit code {proc.returncode}"
    return True, ""


def _cmdline(cmd: list[str]) -> str:
    return " ".join(str(c) for c in cmd)


# ---------------------------------------------------------------------------------------------
# Optimum (ONNX, own venv)


def optimum(mode: str, ctx: Context, given: str | None = None) -> tuple[list[dict], dict]:
    """Specs for the Optimum peer and its status record. given: a folder with model_quantized.onnx."""
    if given:
        d = Path(given)
        if not (d / "model_quantized.onnx").is_file():
            raise AlbertEdgeError(f"--optimum {d}: no model_quantized.onnx there; make it with benchmarks/peers/optimum.sh MODEL_DIR {d}")
    else:
        if ctx.model_dir is None:
            return [], _record("optimum", "missing", "no source checkpoint to export with Optimum (pass --model)")
        d = peer_cache() / f"optimum-{ctx.sha}"
        if not (d / "model_quantized.onnx").is_file():
            script = package_file("benchmarks.peers", "optimum.sh")
            cmd = ["bash", str(script), str(ctx.model_dir), str(d)]
            if mode == "cached":
                return [], _record("optimum", "missing", f"not built for this checkpoint; run `{_cmdline(cmd)}` or `albert-edge bench` without --quick")
            if shutil.which("bash") is None or not script.is_file():
                return [], _record("optimum", "missing", f"peer script {script} or bash unavailable")
            ok, why = _run_build(cmd, "building the Optimum peer (optimum-cli export + quantize; first time also creates its venv)", ctx.quiet,
                                 env={"OPTIMUM_VENV": os.environ.get("OPTIMUM_VENV") or str(peer_cache() / "optimum-venv")})
            if not ok or not (d / "model_quantized.onnx").is_file():
                return [], _record("optimum", "failed", f"`{_cmdline(cmd)}` failed: {why}")
    specs = []
    for prec, f in (("fp32", "model.onnx"), ("int8", "model_quantized.onnx")):
        if (d / f).is_file():
            specs.append({"name": f"optimum-{prec}", "format": "onnx", "precision": prec, "file": str(d / f), "path": str((d / f).resolve()), "bytes": (d / f).stat().st_size})
    return specs, _record("optimum", "ok", f"files in {d}", _read_peer_json(d))


# ---------------------------------------------------------------------------------------------
# LiteRT standard recipe (ours venv)


def litert_stock(mode: str, ctx: Context) -> tuple[list[dict], dict]:
    if ctx.model_dir is None:
        return [], _record("litert-stock", "missing", "no source checkpoint to convert (pass --model)")
    L = min(128, ctx.max_len)
    d = peer_cache() / f"litert-stock-{ctx.sha}-L{L}"
    if not (d / "peer.json").is_file():
        cmd = [sys.executable, "-m", "albert_edge.benchmarks.peers.litert_stock", str(ctx.model_dir), str(d), "--seq-len", str(L)]
        if mode == "cached":
            return [], _record("litert-stock", "missing", f"not built for this checkpoint; run `{_cmdline(cmd)}` or `albert-edge bench` without --quick")
        ok, why = _run_build(cmd, f"building the standard LiteRT peer (litert_torch.convert at {L} tokens + dynamic_wi8_afp32)", ctx.quiet)
        if not ok or not (d / "peer.json").is_file():
            return [], _record("litert-stock", "failed", f"`{_cmdline(cmd)}` failed: {why}")
    info = _read_peer_json(d)
    specs = []
    for prec, f in (("fp32", "model.tflite"), ("int8", "model_int8.tflite")):
        if (d / f).is_file():
            specs.append({"name": f"litert-stock-{prec}", "format": "tflite", "precision": prec, "file": str(d / f), "path": str((d / f).resolve()),
                          "bytes": (d / f).stat().st_size, "runner": "albert_edge.benchmarks.peers.litert_stock:InterpreterRunner",
                          "buckets": [L], "lengths": "buckets", "batch_mode": "one", "memory_variants": ["default"],
                          "runtime_modules": ["ai_edge_litert.interpreter", "albert_edge.benchmarks.peers.litert_stock"]})
    return specs, _record("litert-stock", "ok", f"files in {d}", info)


# ---------------------------------------------------------------------------------------------
# ExecuTorch standard recipe (ours venv; benchmarks/peers/executorch_stock.py)


def executorch_stock(mode: str, ctx: Context) -> tuple[list[dict], dict]:
    import importlib.util

    if ctx.model_dir is None:
        return [], _record("executorch-stock", "missing", "no source checkpoint to export (pass --model)")
    if importlib.util.find_spec("executorch") is None:
        return [], _record("executorch-stock", "missing", "executorch is not installed in this environment (pip install executorch)")
    d = peer_cache() / f"executorch-stock-{ctx.sha}-L{ctx.max_len}"
    if not (d / "peer.json").is_file():
        cmd = [sys.executable, "-m", "albert_edge.benchmarks.peers.executorch_stock", str(ctx.model_dir), str(d), "--max-length", str(ctx.max_len)]
        if mode == "cached":
            return [], _record("executorch-stock", "missing", f"not built for this checkpoint; run `{_cmdline(cmd)}` or `albert-edge bench` without --quick")
        ok, why = _run_build(cmd, "building the standard ExecuTorch peer (torch.export + XNNPACK, PT2E int8)", ctx.quiet)
        if not ok or not (d / "peer.json").is_file():
            return [], _record("executorch-stock", "failed", f"`{_cmdline(cmd)}` failed: {why}")
    info = _read_peer_json(d)
    specs = []
    for prec in ("fp32", "int8"):
        f = (info.get("files") or {}).get(prec)
        if f and (d / f).is_file():
            specs.append({"name": f"executorch-stock-{prec}", "format": "executorch", "precision": prec, "file": str(d / f), "path": str((d / f).resolve()),
                          "bytes": (d / f).stat().st_size, "runner": "albert_edge.executorch_runner:ExecuTorchRunner",
                          "runner_kwargs": {"weight_cache": False}, "entry": {"sequence": {"min": 2, "max": ctx.max_len}},
                          "lengths": "dynamic", "batch_mode": "one", "memory_variants": ["default"],
                          "runtime_modules": ["executorch.runtime", "albert_edge.executorch_runner"]})
    return specs, _record("executorch-stock", "ok", f"files in {d}", info)


# ---------------------------------------------------------------------------------------------
# OpenVINO + NNCF (own venv)


def openvino_venv() -> Path:
    return Path(os.environ.get("OPENVINO_VENV") or peer_cache() / "openvino-venv")


def calibration_npz(ctx: Context, path: Path) -> str:
    """300 SST-2 train sentences (the shipped samples when ../shared is absent), tokenized with the
    folder's tokenizer: the peer's venv needs no tokenizer."""
    import numpy as np

    from ..data import SAMPLES_TSV, read_labeled_tsv, sst2_train
    from ..tokenizer import artifact_encoder

    src = sst2_train() or SAMPLES_TSV
    texts, _ = read_labeled_tsv(src, limit=CALIBRATION_SENTENCES)
    ids = artifact_encoder(ctx.folder, ctx.manifest).encode(texts)
    np.savez(path, ids=np.concatenate([np.asarray(x, dtype=np.int64) for x in ids]), lengths=np.asarray([len(x) for x in ids], dtype=np.int64),
             pad_id=np.int64(ctx.manifest["tokenizer"]["pad_id"]))
    return f"{len(ids)} sentences of {Path(src).name}"


def openvino(mode: str, ctx: Context) -> tuple[list[dict], dict]:
    from ..manifest import check_artifact_file

    entry = next((e for e in ctx.manifest["artifacts"] if e["format"] == "onnx" and e["precision"] == "fp32"), None)
    if entry is None:
        return [], _record("openvino", "missing", "the folder has no fp32 model.onnx to convert")
    onnx_path = check_artifact_file(ctx.folder, entry)
    d = peer_cache() / f"openvino-{ctx.sha}-{entry['sha256'][:8]}"
    script = package_file("benchmarks.peers", "openvino.sh")
    worker = package_file("benchmarks.peers", "openvino_peer.py")
    venv = openvino_venv()
    if not (d / "peer.json").is_file():
        cmd = ["bash", str(script), str(onnx_path), str(d / "calibration.npz"), str(d)]
        if mode == "cached":
            return [], _record("openvino", "missing", f"not built for this checkpoint; `albert-edge bench` without --quick builds it ({_cmdline(cmd)})")
        if shutil.which("bash") is None or not script.is_file():
            return [], _record("openvino", "missing", f"peer script {script} or bash unavailable")
        d.mkdir(parents=True, exist_ok=True)
        calib = calibration_npz(ctx, d / "calibration.npz")
        ok, why = _run_build(cmd, "building the OpenVINO peer (ov.convert_model + nncf.quantize; first time also creates its venv)", ctx.quiet,
                             env={"OPENVINO_VENV": str(venv), "CALIBRATION_DESC": calib})
        if not ok or not (d / "peer.json").is_file():
            return [], _record("openvino", "failed", f"`{_cmdline(cmd)}` failed: {why}")
    info = _read_peer_json(d)
    specs = []
    for prec in ("fp32", "int8"):
        f = (info.get("files") or {}).get(prec)
        if not f or not (d / f).is_file():
            continue
        xml = d / f
        size = xml.stat().st_size + (xml.with_suffix(".bin").stat().st_size if xml.with_suffix(".bin").is_file() else 0)
        specs.append({"name": f"openvino-{prec}", "format": "openvino", "precision": prec, "file": str(xml), "path": str(xml.resolve()), "bytes": size,
                      "worker": {"python": str(venv / "bin" / "python"), "script": str(worker)}, "lengths": "dynamic", "batch_mode": "dynamic",
                      "memory_variants": ["default"]})
    return specs, _record("openvino", "ok", f"files in {d} (bytes = .xml + .bin)", info)


BUILDERS = {"optimum": optimum, "litert-stock": litert_stock, "executorch-stock": executorch_stock, "openvino": openvino}


def peer_specs(names: list[str], mode: str, ctx: Context, optimum_dir: str | None = None) -> tuple[list[dict], list[dict]]:
    """(specs, status records) for the named peers; every requested peer gets a record."""
    specs, records = [], []
    for name in names:
        try:
            s, rec = optimum(mode, ctx, optimum_dir) if name == "optimum" else BUILDERS[name](mode, ctx)
        except AlbertEdgeError:
            raise
        except Exception as e:  # a broken peer never sinks the run: it is reported
            s, rec = [], _record(name, "failed", f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}")
        for x in s:
            x.setdefault("role", "peer")
            x.setdefault("entry", None)
            x["peer"] = name
        specs += s
        records.append(rec)
    return specs, records
