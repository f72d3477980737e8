"""Logits runner for the arm64 parity check, run by the emulated aarch64 Python (qemu-user).

The aarch64 root has only numpy, onnxruntime and ai_edge_litert (no torch, no transformers), so the
x86 side tokenizes and hands over ids. It runs the artifacts with albert-edge's OWN runners
(albert_edge.runners.make_runner, the registry's runner per format: the same ONNX Runtime session
settings, TFLite bucket choice and output dequantization as on x86), imported from a copy of the pure-
Python core package that the caller passes with --package (the x86 site-packages cannot be put on the
aarch64 path: its compiled wheels are x86).

Inputs (JSON): {"ids": [[int, ...], ...], "tokenizer_ids": {"pad_id", "cls_id", "sep_id"},
                "artifacts": {FILE: {"format": str, "precision": str}}}
Each sentence runs on its own (batch of one), as the x86 side does. Output: OUT/<file>.npy (float32
[sentences, labels]) and one JSON line per artifact on stdout (machine, versions, sha256 of the bytes
loaded, seconds).

usage: python runner.py --package DIR --inputs inputs.json --out OUT MODEL [MODEL ...]
       python runner.py --env     (the environment as JSON: the root's smoke test)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time


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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", metavar="MODEL")
    p.add_argument("--package", metavar="DIR", help="folder holding a copy of the albert_edge package")
    p.add_argument("--inputs")
    p.add_argument("--out")
    p.add_argument("--env", action="store_true")
    a = p.parse_args(argv)
    if a.env:
        from ai_edge_litert.compiled_model import CompiledModel  # noqa: F401 - the import is the check

        print(json.dumps(environment()))
        return 0
    if not (a.inputs and a.out and a.models and a.package):
        p.error("--package, --inputs, --out and at least one MODEL are required")
    sys.path.insert(0, a.package)
    import numpy as np

    from albert_edge.runners import make_runner

    with open(a.inputs, encoding="utf-8") as f:
        data = json.load(f)
    env = environment()
    for path in a.models:
        name = os.path.basename(path)
        spec = data["artifacts"][name]
        t0 = time.time()
        with open(path, "rb") as f:  # the caller checks this against the manifest
            sha = hashlib.sha256(f.read()).hexdigest()
        # One thread: timing is not the point, and threads under qemu only add emulation overhead. No
        # XNNPACK weight cache: it changes memory, not numbers, and must not be written beside artifacts.
        extra = {"weight_cache": False} if spec["format"] == "tflite" else {}
        runner = make_runner(spec["format"], path, spec["precision"], data["tokenizer_ids"], threads=1, **extra)
        logits = np.stack([runner.logits([ids])[0] for ids in data["ids"]]).astype(np.float32)
        info = runner.info()
        del runner
        np.save(os.path.join(a.out, name + ".npy"), logits)
        print(json.dumps({"file": name, "sha256": sha, "seconds": round(time.time() - t0, 2), **env, **{k: v for k, v in info.items() if isinstance(v, (str, int, float, list))}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
