"""Load an albert-edge artifacts folder with Hugging Face Optimum and dump what it computes.

Runs with the Optimum peer's own interpreter (benchmarks/peers/optimum.sh builds it under
.cache/peers/optimum-venv: optimum-onnx 0.1.0, transformers 4.57, the project's onnxruntime), NOT with
albert-edge's environment, so it imports nothing from albert_edge:

    .cache/peers/optimum-venv/bin/python benchmarks/peers/optimum_compat.py ARTIFACTS TEXTS.json OUT.json \
        [--files model.onnx,model.int8.onnx]

For each file: `ORTModelForSequenceClassification.from_pretrained(ARTIFACTS, file_name=FILE,
session_options=so)`, where `so` carries the manifest's runtime hint in its portable config-entry form
(Optimum builds the InferenceSession itself, so the Python `disabled_optimizers` keyword cannot be
passed). Writes, per file: the ids Optimum's tokenizer made, its logits (batch 1), the labels of
`transformers.pipeline("text-classification")`, and the SkipLayerNormalization count of the session's
optimized graph with and without the hint (the proof that the hint reached Optimum's session).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import tempfile
import warnings
from pathlib import Path

DISABLE_KEY = "optimization.disable_specified_optimizers"


def session_config(manifest: dict, file: str) -> dict[str, str]:
    entry = next(a for a in manifest["artifacts"] if a["file"] == file)
    hints = entry.get("runtime_hints") or {}
    if "onnxruntime_session_config" in hints:
        return dict(hints["onnxruntime_session_config"])
    names = hints.get("onnxruntime_disabled_optimizers") or []
    return {DISABLE_KEY: ";".join(names)} if names else {}  # onnxruntime 1.32 splits this value on ';'


def skip_layer_norms(path: str) -> int:
    import onnx

    return sum(n.op_type == "SkipLayerNormalization" for n in onnx.load(path).graph.node)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("texts", help="JSON list of strings")
    ap.add_argument("out")
    ap.add_argument("--files", default="model.onnx,model.int8.onnx")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.simplefilter("ignore")

    import numpy as np
    import onnxruntime as ort
    import torch
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer, pipeline

    folder = Path(args.folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    texts = json.loads(Path(args.texts).read_text())
    max_len = int(manifest["max_seq_length"])
    tok = AutoTokenizer.from_pretrained(str(folder))
    result: dict = {"versions": {}, "files": {}}
    for n in ("optimum-onnx", "optimum", "transformers", "onnxruntime", "torch"):
        try:
            result["versions"][n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    with tempfile.TemporaryDirectory() as td:
        for file in args.files.split(","):
            cfg = session_config(manifest, file)
            rec: dict = {"session_config": cfg}
            for with_hint in (True, False):
                so = ort.SessionOptions()
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                so.intra_op_num_threads = 1
                so.log_severity_level = 3  # the dump below warns about hardware-specific optimizations
                if with_hint:
                    for k, v in cfg.items():
                        so.add_session_config_entry(k, v)
                dump = os.path.join(td, f"{file}.{with_hint}.optimized.onnx")
                so.optimized_model_filepath = dump
                model = ORTModelForSequenceClassification.from_pretrained(
                    str(folder), file_name=file, session_options=so, provider="CPUExecutionProvider"
                )
                rec["skip_layer_norms" if with_hint else "skip_layer_norms_without_hint"] = skip_layer_norms(dump)
                if not with_hint:
                    continue
                ids, logits = [], []
                for t in texts:
                    enc = tok(t, return_tensors="pt", truncation=True, max_length=max_len)
                    with torch.inference_mode():
                        out = model(**enc)
                    ids.append(enc["input_ids"][0].tolist())
                    logits.append(np.asarray(out.logits[0], dtype=np.float32).tolist())
                clf = pipeline("text-classification", model=model, tokenizer=tok, truncation=True, max_length=max_len)
                rec.update(ids=ids, logits=logits, pipeline_labels=[r["label"] for r in clf(list(texts), batch_size=1)])
            result["files"][file] = rec
    Path(args.out).write_text(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
