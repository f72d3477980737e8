"""Where an ExecuTorch program's time goes: ExecuTorch's own per-op profiler (ETDump, read with
`executorch.devtools.Inspector`), grouped by op type. The counterpart of profile_onnx.py, in the same
record shape, so the report can set the two runtimes side by side at one length.

    python -m albert_edge.benchmarks.profile_executorch model.int8.pte [--threads 2] [--seq-len 27] [--runs 30] [--json]

Each op's time is the MINIMUM over the runs (as in profile_onnx.py). Inside the XNNPACK delegate every
operator is its own event ("Fully Connected (NC, QD8, F32, QC8W) GEMM #6"); ops outside it appear as
"native_call_<kernel>" (here: "portable <kernel>"). The containers (Method::execute, DELEGATE_CALL,
OPERATOR_CALL) are not ops and are left out of the groups.

Analytic operations (2 per multiply-add, benchmarks/flops.py): the program's weight matmuls, read from the
manifest beside the file (the model's shape and whether the export computes the last layer application for
[CLS] only), go to the fully-connected group that runs them (QD8 or QDU8 in an int8 program, is_int8_fc;
F32 in an fp32 one);
the attention score/context matmuls to the batch-matmul group. Without a manifest no group has operations.

The ETDump event tracer is compiled into the executorch wheel's Python bindings
(`_load_for_executorch(..., enable_etdump=True)`); ExecuTorch ships no command that prints a per-op table,
hence this module.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

CONTAINERS = ("Method::execute", "DELEGATE_CALL", "OPERATOR_CALL", "Method::init", "Program::load_method")
FP32_FC_GROUP = "Fully Connected (NC, F32) GEMM"
# XNNPACK names its dynamically quantized fully-connected operator after the activation type it picked
# for the CPU: "QD8" (signed) on AVX2 and Arm, "QDU8" (unsigned) where its AVX-512 VNNI kernels run
# (recorded 2026-12-07 on a Zen 4 EPYC); the weights are "QC8W" (int8 per channel) either way.
INT8_FC_PATTERN = re.compile(r"^Fully Connected \(NC, QDU?8, F32, QC\d+W\) GEMM$")


def is_int8_fc(op: str) -> bool:
    """Whether an op type (op_type()) is XNNPACK's dynamically quantized fully-connected GEMM."""
    return bool(INT8_FC_PATTERN.match(op))
ATTENTION_GROUP = "Batch Matrix Multiply (NC, F32) GEMM"


def op_type(event_name: str) -> str:
    """'Fully Connected (NC, QD8, F32, QC8W) GEMM #6' -> without the instance number; native kernels named as such."""
    name = re.sub(r" #\d+$", "", str(event_name))
    return "portable " + name[len("native_call_"):] if name.startswith("native_call_") else name


def analytic_ops(manifest: dict | None, file: str, seq_len: int) -> dict[str, int]:
    """{"weights": weight-matmul operations, "attention": score + context operations} of one call of `file`
    at `seq_len` tokens, batch 1, from the manifest's model block and the entry's rewrites ({} if unknown)."""
    from .flops import Shape, breakdown

    if not manifest:
        return {}
    entry = next((a for a in manifest.get("artifacts") or [] if a.get("file") == file), None)
    if entry is None:
        return {}
    shape = Shape.from_config({**manifest["model"], "num_labels": len(manifest.get("labels") or []) or 2})
    cls_only = bool((entry.get("rewrites") or {}).get("cls_only_last_application"))
    b = breakdown(shape, seq_len, 1, cls_only_last=cls_only)
    attention = b["attention_scores"] + b["attention_context"]
    return {"weights": sum(b.values()) - attention, "attention": attention}


def profile(path: str, threads: int, seq_len: int = 128, runs: int = 30, peak_gops: float | None = None) -> dict:
    """Run the program `runs` times with ETDump on (XNNPACK's weight cache on, as our runner loads it);
    group the per-op minima by op type. Run it in a fresh process: the thread pool is process-wide."""
    import warnings

    import numpy as np
    import torch

    from ..executorch_runner import _bindings, _set_threads, quiet_executorch, set_xnnpack_weight_cache
    from .profile_onnx import finish_groups, token_id_bound

    path = str(path)
    pl = _bindings()
    threads = _set_threads(threads)
    cache, _ = set_xnnpack_weight_cache(True)
    with quiet_executorch():
        module = pl._load_for_executorch(path, enable_etdump=True, debug_buffer_size=0)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, token_id_bound(path), (1, seq_len), generator=g, dtype=torch.long)
    inputs = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    for _ in range(5):
        module.run_method("forward", inputs)
    wall = []
    for _ in range(runs):
        t0 = time.perf_counter()
        module.run_method("forward", inputs)
        wall.append((time.perf_counter() - t0) * 1000.0)
    with tempfile.TemporaryDirectory(prefix="albert-edge-etdump-") as d:
        etdp = os.path.join(d, "run.etdp")
        module.write_etdump_result_to_file(etdp)
        with warnings.catch_warnings(), quiet_executorch():
            warnings.simplefilter("ignore")  # "Output Buffer not found": no debug buffer was asked for
            from executorch.devtools import Inspector

            inspector = Inspector(etdump_path=etdp)
    groups: dict[str, dict] = {}
    for block in inspector.event_blocks:
        if block.name != "Execute":
            continue
        for ev in block.events:
            if ev.name in CONTAINERS or ev.perf_data is None or not ev.perf_data.raw:
                continue
            op = op_type(ev.name)
            grp = groups.setdefault(op, {"op_type": op, "nodes": 0, "ms": 0.0, "gemm_ops": 0, "attention_ops": 0})
            grp["nodes"] += 1
            grp["ms"] += float(min(ev.perf_data.raw))  # Inspector's perf data is in ms
    if not groups:
        raise RuntimeError(f"{os.path.basename(path)}: the ETDump holds no operator events (is the event tracer compiled in?)")
    manifest_path = Path(path).with_name("manifest.json")
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    ops = analytic_ops(manifest, os.path.basename(path), seq_len)
    if ops:
        fc = next((g for n, g in groups.items() if is_int8_fc(n)), groups.get(FP32_FC_GROUP))
        if fc is not None:
            fc["gemm_ops"] = ops["weights"]
        if ATTENTION_GROUP in groups:
            groups[ATTENTION_GROUP]["attention_ops"] = ops["attention"]
    rows, total = finish_groups(groups, peak_gops)
    return {"file": os.path.basename(path), "engine": "executorch", "profiler": "ETDump", "threads": threads, "seq_len": seq_len, "batch": 1,
            "runs": runs, "weight_cache": cache, "wall_ms_p50": float(np.median(wall)), "wall_ms_min": float(min(wall)),
            "sum_node_min_ms": total, "groups": rows}


def profile_subprocess(path: str, threads: int, seq_len: int, runs: int, peak_gops: float | None = None, timeout_s: float = 600) -> dict:
    """profile() in a fresh process (the thread pool is process-wide; see timing.py)."""
    from .profile_onnx import run_module

    return run_module("albert_edge.benchmarks.profile_executorch", path, threads, seq_len, runs, peak_gops, timeout_s)


def main(argv=None) -> int:
    from .profile_onnx import cli

    return cli(argv, __doc__.splitlines()[0], "program", "model.pte / model.int8.pte (the manifest beside it gives the analytic operations)",
               profile, "op")


if __name__ == "__main__":
    sys.exit(main())
