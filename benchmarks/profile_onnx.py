"""Where an int8 ONNX model's time goes: ONNX Runtime's own per-node profiler, grouped by op type, next to
the analytic operation count of each group and what that group would cost at the machine's int8 GEMM peak.

    python -m albert_edge.benchmarks.profile_onnx model.int8.onnx [--threads 2] [--seq-len 128] [--runs 30] [--peak GOPS]

Each node's time is the MINIMUM over the runs (its least disturbed sample: the machine is shared, and one
burst of another process's load would otherwise land on whichever node ran then). `albert-edge bench` runs
it in a fresh process for model.int8.onnx at 128 tokens per thread count and puts the table in the report
(the int8 efficiency goal's "why").

Operation counts per node (2 per multiply-add, the convention of flops.py):
  DynamicQuantizeMatMul / MatMulInteger / MatMul with a constant [K, N] weight: 2·M·K·N (M = batch·tokens;
    M = batch for the nodes export/onnx_cls_row.py put on the [CLS] row)
  QAttention / Attention: 2·M·H·3H (the int8 QKV projection) + 4·B·L²·H (scores and context, fp32 inside the kernel)
Everything else (FastGelu, LayerNormalization, Add, DynamicQuantizeLinear, Gather ...) counts 0: the analytic
model treats it as free, so its whole time is "loss" against the peak.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time

import numpy as np

GEMM_OPS = ("DynamicQuantizeMatMul", "MatMulInteger", "MatMulIntegerToFloat", "MatMul", "QLinearMatMul", "Gemm")
ATTENTION_OPS = ("QAttention", "Attention")


def _weight_shapes(model) -> dict[str, tuple[int, ...]]:
    from onnx import numpy_helper  # noqa: F401  (only shapes are read)

    return {t.name: tuple(t.dims) for t in model.graph.initializer}


def node_ops(model, batch: int, seq_len: int) -> dict[str, dict]:
    """name -> {op_type, int_ops, float_ops} for the nodes the analytic count covers."""
    from ..export.onnx_cls_row import cls_row_nodes

    shapes = _weight_shapes(model)
    heads = None
    out = {}
    M = batch * seq_len
    one_row = cls_row_nodes(model)  # the last application's O and FFN after albert-edge's [CLS]-row rewrite
    for n in model.graph.node:
        rec = {"op_type": n.op_type, "gemm_ops": 0, "attention_ops": 0}
        if n.op_type in GEMM_OPS and len(n.input) > 1 and shapes.get(n.input[1]) and len(shapes[n.input[1]]) == 2:
            K, N = shapes[n.input[1]]
            rec["gemm_ops"] = 2 * (batch if n.name in one_row else M) * K * N
        elif n.op_type in ATTENTION_OPS and len(n.input) > 1 and shapes.get(n.input[1]):
            H, N3 = shapes[n.input[1]][:2]
            rec["gemm_ops"] = 2 * M * H * N3
            rec["attention_ops"] = 4 * batch * seq_len * seq_len * (N3 // 3)
            heads = next((a.i for a in n.attribute if a.name == "num_heads"), heads)
        out[n.name] = rec
    return out


def token_id_bound(path) -> int:
    """Upper bound (exclusive) for the random token ids a profile feeds: the vocabulary of the manifest beside
    `path` (a small test vocabulary has far fewer than 1000 ids), else 1000."""
    from pathlib import Path

    man = Path(path).with_name("manifest.json")
    try:
        vocab = int(json.loads(man.read_text())["model"]["vocab_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1000
    return max(6, min(1000, vocab))


def profile(path: str, threads: int, seq_len: int = 128, runs: int = 30, batch: int = 1, peak_gops: float | None = None) -> dict:
    """Run the model `runs` times with ORT's profiler on; group the per-node minima by op type."""
    import onnx
    import onnxruntime as ort

    from ..runners import ort_session_options

    model = onnx.load(path, load_external_data=False)
    ops_by_node = node_ops(model, batch, seq_len)
    so = ort_session_options(threads)
    so.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="albert-edge-prof-") as d:
        so.profile_file_prefix = os.path.join(d, "ort")
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        ids = rng.integers(5, token_id_bound(path), (batch, seq_len)).astype(np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
        for _ in range(5):
            sess.run(None, feeds)
        wall = []
        for _ in range(runs):
            t0 = time.perf_counter()
            sess.run(None, feeds)
            wall.append((time.perf_counter() - t0) * 1000.0)
        events = json.load(open(sess.end_profiling()))
    per: dict[str, list[float]] = collections.defaultdict(list)
    op_of: dict[str, str] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            node = e["name"][: -len("_kernel_time")]
            per[node].append(e["dur"] / 1000.0)
            op_of[node] = e.get("args", {}).get("op_name", "?")
    groups: dict[str, dict] = {}
    for node, durs in per.items():
        op = op_of[node]
        g = groups.setdefault(op, {"op_type": op, "nodes": 0, "ms": 0.0, "gemm_ops": 0, "attention_ops": 0})
        g["nodes"] += 1
        g["ms"] += min(durs)  # warm-up runs excluded by taking the minimum over every run
        info = ops_by_node.get(node) or ops_by_node.get(node.replace("_quant", "")) or {}
        g["gemm_ops"] += info.get("gemm_ops", 0)
        g["attention_ops"] += info.get("attention_ops", 0)
    rows, total = finish_groups(groups, peak_gops)
    out = {"file": os.path.basename(path), "threads": threads, "seq_len": seq_len, "batch": batch, "runs": runs,
           "wall_ms_p50": float(np.median(wall)), "wall_ms_min": float(min(wall)), "sum_node_min_ms": total, "groups": rows}
    if peak_gops:
        out["peak_gops"] = peak_gops
        all_ops = sum(g["gemm_ops"] + g["attention_ops"] for g in rows)
        out["ms_at_peak"] = all_ops / (peak_gops * 1e9) * 1000.0
    return out


def apply_peak(rows: list[dict], peak_gops: float) -> None:
    """Per group: what its analytic operations would cost at the peak, and the time above that."""
    for g in rows:
        g["ms_at_peak"] = (g["gemm_ops"] + g["attention_ops"]) / (peak_gops * 1e9) * 1000.0
        g["excess_ms"] = g["ms"] - g["ms_at_peak"]


def finish_groups(groups: dict[str, dict], peak_gops: float | None) -> tuple[list[dict], float]:
    """Groups {op_type, nodes, ms, gemm_ops, attention_ops} -> (rows by time, share / rate / peak cost filled in; total ms).
    Shared by this profiler and profile_executorch.py, so both runtimes' tables mean the same."""
    total = sum(g["ms"] for g in groups.values())
    rows = sorted(groups.values(), key=lambda g: -g["ms"])
    for g in rows:
        g["share"] = g["ms"] / total if total else 0.0
        ops = g["gemm_ops"] + g["attention_ops"]
        g["gops_per_s"] = ops / (g["ms"] / 1000.0) / 1e9 if ops and g["ms"] else None
    if peak_gops:
        apply_peak(rows, peak_gops)
    return rows, total


def run_module(module: str, path: str, threads: int, seq_len: int, runs: int, peak_gops: float | None, timeout_s: float = 600) -> dict:
    """`python -m <module> PATH ... --json` in a fresh process (nothing else loaded; see timing.py): its profile."""
    import subprocess

    cmd = [sys.executable, "-m", module, str(path), "--threads", str(threads), "--seq-len", str(seq_len), "--runs", str(runs), "--json"]
    if peak_gops:
        cmd += ["--peak", str(peak_gops)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        raise RuntimeError((p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1][:200])
    return json.loads(lines[-1])


def profile_subprocess(path: str, threads: int, seq_len: int, runs: int, peak_gops: float | None, timeout_s: float = 600) -> dict:
    """profile() in a fresh process."""
    return run_module("albert_edge.benchmarks.profile_onnx", path, threads, seq_len, runs, peak_gops, timeout_s)


def table(res: dict) -> list[list[str]]:
    rows = []
    for g in res["groups"]:
        if g["ms"] < 0.005:
            continue
        rows.append([g["op_type"], str(g["nodes"]), f"{g['ms']:.2f}", f"{g['share'] * 100:.1f}%",
                     f"{(g['gemm_ops'] + g['attention_ops']) / 1e9:.2f}" if g["gemm_ops"] + g["attention_ops"] else "0",
                     f"{g['gops_per_s']:.0f}" if g.get("gops_per_s") else "—",
                     f"{g['ms_at_peak']:.2f}" if g.get("ms_at_peak") is not None else "—",
                     f"{g['excess_ms']:+.2f}" if g.get("excess_ms") is not None else "—"])
    return rows


HEADERS = ["op type", "nodes", "ms (sum of per-node minima)", "share", "G-ops (analytic)", "G-ops/s", "ms at int8 peak", "excess ms"]


def cli(argv, description: str, target: str, target_help: str, profile_fn, unit: str) -> int:
    """The command line both profilers share: options, --json, or the table printed."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(target, help=target_help)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--peak", type=float, help="the machine's int8 GEMM peak in GOP/s at this thread count")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    res = profile_fn(getattr(a, target), a.threads, a.seq_len, a.runs, peak_gops=a.peak)
    if a.json:
        print(json.dumps(res))
        return 0
    print(f"{res['file']}: {res['threads']} thread(s), {a.seq_len} tokens: wall p50 {res['wall_ms_p50']:.2f} ms, min {res['wall_ms_min']:.2f}; "
          f"sum of per-{unit} minima {res['sum_node_min_ms']:.2f} ms" + (f"; all analytic ops at the peak: {res['ms_at_peak']:.2f} ms" if "ms_at_peak" in res else ""))
    rows = table(res)
    w = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    print("  ".join(h.ljust(x) for h, x in zip(HEADERS, w)))
    for r in rows:
        print("  ".join(c.ljust(x) for c, x in zip(r, w)))
    return 0


def main(argv=None) -> int:
    return cli(argv, __doc__.splitlines()[0], "model", "model.int8.onnx (or any ONNX model with input_ids)", profile, "node")


if __name__ == "__main__":
    sys.exit(main())
