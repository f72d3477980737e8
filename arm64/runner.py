"""Standalone logits runner for the arm64 parity check (`make arm64-parity`).

It runs inside an emulated aarch64 Debian (qemu-user) where only numpy, onnxruntime and
ai_edge_litert are installed: no torch, no transformers, no albert_edge. So it imports nothing
from this project and takes inputs that are already tokenized on the x86 side. The same file also
runs under the x86 virtual environment (tests do that), which is how it is checked against the
project's own runners.

Inputs (JSON): {"pad_id": int, "ids": [[int, ...], ...]} — each list is one sentence with
[CLS] ... [SEP], already truncated to the artifacts' max_seq_length. Each sentence is run on
its own, exactly as albert_edge's runners do for a batch of one:
  ONNX:   [1, n] tensors of the graph's input dtype, no padding;
  TFLite: [1, L] int32 tensors on the signature of the smallest bucket L >= n, padded with pad_id.
Output: OUT/<artifact file>.npy (float32 [sentences, labels]) and one JSON line per artifact on
stdout with what ran it (machine, runtime versions, seconds).

usage: python runner.py --inputs inputs.json --out OUT MODEL [MODEL ...]
       python runner.py --env     (prints the environment as JSON: the root's smoke test)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def environment() -> dict:
    import numpy as np
    import onnxruntime as ort

    env = {"machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__, "onnxruntime": ort.__version__}
    try:
        from importlib.metadata import version

        env["ai-edge-litert"] = version("ai-edge-litert")
    except Exception:  # noqa: BLE001 - only informative
        env["ai-edge-litert"] = "?"
    env["qemu_cpu"] = os.environ.get("QEMU_CPU", "")
    return env


def run_onnx(path: str, pad_id: int, ids_list: list[list[int]]):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    # One thread: timing is not the point, and threads under qemu only add emulation overhead.
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    dtypes = {i.name: (np.int32 if i.type == "tensor(int32)" else np.int64) for i in sess.get_inputs()}
    rows = []
    for ids in ids_list:
        n = len(ids)
        feeds = {
            "input_ids": np.asarray([ids], dtype=np.int64),
            "attention_mask": np.ones((1, n), dtype=np.int64),
            "token_type_ids": np.zeros((1, n), dtype=np.int64),
        }
        feeds = {k: v.astype(dtypes[k]) for k, v in feeds.items() if k in dtypes}
        rows.append(sess.run(["logits"], feeds)[0][0])
    return np.stack(rows).astype(np.float32), {"runtime": "onnxruntime", "providers": sess.get_providers()}


def run_tflite(path: str, pad_id: int, ids_list: list[list[int]]):
    import numpy as np
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import CpuOptions, Options

    # Same runtime API as albert_edge.tflite_runner (CompiledModel on XNNPACK), without the weight
    # cache: the cache only changes memory, not numbers, and must not be written beside artifacts here.
    opts = Options(hardware_accelerators=HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=1))
    model = CompiledModel.from_file(path, options=opts)
    buckets: dict[int, str] = {}
    for key, io in model.get_signature_list().items():
        if set(INPUT_NAMES) <= set(io["inputs"]):
            shape = model.get_input_tensor_details(key)["input_ids"]["shape"]
            buckets[int(shape[1])] = key
    if not buckets:
        raise SystemExit(f"{path}: no signature with inputs {INPUT_NAMES}")
    io_cache: dict[int, tuple] = {}
    rows = []
    for ids in ids_list:
        L = min((b for b in buckets if b >= len(ids)), default=None)
        if L is None:
            raise SystemExit(f"{path}: a sentence of {len(ids)} tokens exceeds the largest bucket {max(buckets)}")
        if L not in io_cache:
            key = buckets[L]
            outs = model.get_signature_list()[key]["outputs"]
            out_name = "logits" if "logits" in outs else outs[0]
            n_out = int(np.prod(model.get_output_tensor_details(key)[out_name]["shape"]))
            ins = {n: model.create_input_buffer_by_name(key, n) for n in INPUT_NAMES}
            io_cache[L] = (key, ins, {out_name: model.create_output_buffer_by_name(key, out_name)}, out_name, n_out)
        key, ins, outs, out_name, n_out = io_cache[L]
        input_ids = np.full((1, L), pad_id, dtype=np.int32)
        input_ids[0, : len(ids)] = ids
        mask = np.zeros((1, L), dtype=np.int32)
        mask[0, : len(ids)] = 1
        ins["input_ids"].write(input_ids)
        ins["attention_mask"].write(mask)
        ins["token_type_ids"].write(np.zeros((1, L), dtype=np.int32))
        model.run_by_name(key, ins, outs)
        rows.append(np.asarray(outs[out_name].read(n_out, np.float32)))
    return np.stack(rows).astype(np.float32), {"runtime": "ai-edge-litert CompiledModel (XNNPACK)", "buckets": sorted(buckets)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", metavar="MODEL")
    p.add_argument("--inputs")
    p.add_argument("--out")
    p.add_argument("--env", action="store_true")
    a = p.parse_args(argv)
    if a.env:
        from ai_edge_litert.compiled_model import CompiledModel  # noqa: F401 - the import is the check

        print(json.dumps(environment()))
        return 0
    if not (a.inputs and a.out and a.models):
        p.error("--inputs, --out and at least one MODEL are required")
    import numpy as np

    with open(a.inputs, encoding="utf-8") as f:
        data = json.load(f)
    env = environment()
    for path in a.models:
        t0 = time.time()
        with open(path, "rb") as f:  # the caller checks this against the manifest
            sha = hashlib.sha256(f.read()).hexdigest()
        if path.endswith(".onnx"):
            logits, info = run_onnx(path, int(data["pad_id"]), data["ids"])
        elif path.endswith(".tflite"):
            logits, info = run_tflite(path, int(data["pad_id"]), data["ids"])
        else:
            raise SystemExit(f"{path}: unknown model format (expected .onnx or .tflite)")
        name = os.path.basename(path)
        np.save(os.path.join(a.out, name + ".npy"), logits)
        print(json.dumps({"file": name, "sha256": sha, "seconds": round(time.time() - t0, 2), **env, **info}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
