#!/usr/bin/env python3
"""Reproduce the LiteRT peer: the STANDARD LiteRT recipe for a Hugging Face text classifier.

    python -m albert_edge.benchmarks.peers.litert_stock MODEL_DIR OUT_DIR [--seq-len 128]

writes OUT_DIR/model.tflite       fp32: litert_torch.convert(model, sample_kwargs=<ONE fixed [1, 128] shape>)
       OUT_DIR/model_int8.tflite  int8: ai_edge_quantizer.Quantizer(model.tflite, recipe.dynamic_wi8_afp32()).quantize()
       OUT_DIR/peer.json          versions, the exact calls, sizes, constant bytes vs the unique parameters
and is timed with LiteRT's documented Python API (`Interpreter(model_path, num_threads).get_signature_runner()`),
default options: XNNPACK applied by default, no weight cache.

What albert-edge adds that this recipe does not have (the point of the comparison): no LayerNorm-fold barriers
(export/tflite_sharing.py), so on a trained checkpoint the converter folds each application's LayerNorm scale
into a private copy of the shared Q/K/V weights; no buffer compaction (export/tflite_buffers.py); one length,
so every sentence runs padded to 128; XNNPACK without its weight cache packs the weights per application.
Runs in albert-edge's own environment: litert-torch and ai-edge-quantizer are the same packages.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from albert_edge.benchmarks.peers.stock import quiet as _quiet
from albert_edge.benchmarks.peers.stock import stock_module as _stock_module

FP32_FILE = "model.tflite"
INT8_FILE = "model_int8.tflite"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def constant_summary(data: bytes, unique_parameters: int, precision: str) -> dict:
    """Constant bytes in the file vs what the unique parameters need (4 bytes fp32, 1 byte int8 + scales)."""
    from albert_edge.export.tflite_buffers import constant_stats

    st = constant_stats(data)
    per_param = 4 if precision == "fp32" else 1
    need = unique_parameters * per_param
    total = int(st["bytes"])
    return {"constant_bytes": total, "unique_parameters": unique_parameters, "bytes_needed": need,
            "constant_bytes_over_needed": round(total / need, 3) if need else None, "stats": {k: v for k, v in st.items() if isinstance(v, (int, float))}}


def build(model_dir: str, out_dir: str, seq_len: int = 128) -> dict:
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # the peer is built, not timed, here; keep the shared CPUs free
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    with _quiet():
        import litert_torch
        from ai_edge_quantizer import quantizer, recipe

        module, hf = _stock_module(model_dir)
        unique = sum(p.numel() for p in hf.parameters())  # parameters() yields a shared tensor once
        z = torch.zeros((1, seq_len), dtype=torch.long)
        sample = {"input_ids": z + 5, "attention_mask": z + 1, "token_type_ids": z}
        t = time.time()
        with torch.no_grad():
            edge = litert_torch.convert(module, sample_kwargs=sample)
        edge.export(str(out / FP32_FILE))
        t_fp32 = time.time() - t
        t = time.time()
        qt = quantizer.Quantizer(str(out / FP32_FILE), recipe.dynamic_wi8_afp32())
        res = qt.quantize()
        res.export_model(str(out / INT8_FILE), overwrite=True)
        t_int8 = time.time() - t
    peer = {
        "name": "litert-stock",
        "model_dir": str(Path(model_dir).resolve()),
        "seq_len": seq_len,
        "files": {"fp32": FP32_FILE, "int8": INT8_FILE},
        "bytes": {"fp32": (out / FP32_FILE).stat().st_size, "int8": (out / INT8_FILE).stat().st_size},
        "build_s": {"fp32": round(t_fp32, 1), "int8": round(t_int8, 1)},
        "unique_parameters": int(unique),
        "constants": {"fp32": constant_summary((out / FP32_FILE).read_bytes(), int(unique), "fp32"),
                      "int8": constant_summary((out / INT8_FILE).read_bytes(), int(unique), "int8")},
        "runtime": {"api": "ai_edge_litert.interpreter.Interpreter(model_path, num_threads).get_signature_runner()", "weight_cache": False},
        "commands": [
            f"python -m albert_edge.benchmarks.peers.litert_stock {model_dir} {out_dir} --seq-len {seq_len}",
            "model = AutoModelForSequenceClassification.from_pretrained(MODEL_DIR).eval()  # wrapped to return .logits",
            f"litert_torch.convert(model, sample_kwargs={{input_ids, attention_mask, token_type_ids: int64 [1, {seq_len}]}}).export('model.tflite')",
            "ai_edge_quantizer.Quantizer('model.tflite', recipe.dynamic_wi8_afp32()).quantize().export_model('model_int8.tflite')",
            "Interpreter(model_path=..., num_threads=T).get_signature_runner()(**inputs)  # default options, no XNNPACK weight cache",
        ],
        "versions": _versions(),
    }
    (out / "peer.json").write_text(json.dumps(peer, indent=2) + "\n")
    return peer


def _versions() -> dict:
    out = {}
    for n in ("litert-torch", "ai-edge-quantizer", "ai-edge-litert", "torch", "transformers"):
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    return out


class InterpreterRunner:
    """LiteRT's documented Python API on a one-signature file: every text padded to the file's length.

    Follows albert_edge.runners.Runner's interface (call/logits/info) without importing LiteRT until used;
    the benchmark constructs it through the spec's "runner" entry."""

    inputs = "ids"
    outputs = "logits"
    format = "tflite"

    def __init__(self, path, precision: str = "", pad_id: int = 0, threads: int | None = None, entry=None, sep_id: int | None = None, **_):
        from ai_edge_litert.interpreter import Interpreter

        from albert_edge.native_log import native_stderr_captured

        self.path = Path(path)
        self.name = self.path.name
        self.precision = precision
        self.pad_id = int(pad_id or 0)
        self.sep_id = sep_id
        self.threads = threads
        with native_stderr_captured():
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            self.runner = self.interpreter.get_signature_runner()
        details = self.runner.get_input_details()
        if not set(INPUTS) <= set(details):
            raise ValueError(f"{self.path}: signature inputs {sorted(details)} are not {INPUTS}")
        self.seq_len = int(details["input_ids"]["shape"][1])
        self.dtypes = {k: np.dtype(details[k]["dtype"]) for k in INPUTS}
        self.buckets = [self.seq_len]

    def _one(self, ids: list[int]) -> np.ndarray:
        L = self.seq_len
        if len(ids) > L:  # keep the final [SEP], as every albert-edge runner truncates
            ids = list(ids[: L - 1]) + [self.sep_id if self.sep_id is not None else ids[-1]]
        x = np.full((1, L), self.pad_id, dtype=self.dtypes["input_ids"])
        x[0, : len(ids)] = ids
        m = np.zeros((1, L), dtype=self.dtypes["attention_mask"])
        m[0, : len(ids)] = 1
        out = self.runner(input_ids=x, attention_mask=m, token_type_ids=np.zeros((1, L), dtype=self.dtypes["token_type_ids"]))
        return np.asarray(next(iter(out.values())), dtype=np.float32).reshape(-1)

    def logits(self, ids_list):
        return np.stack([self._one(list(ids)) for ids in ids_list]).astype(np.float32)

    def call(self, texts, ids_list):
        return self.logits(ids_list)

    def info(self) -> dict:
        return {"runtime": "ai-edge-litert Interpreter (default delegates: XNNPACK)", "threads": self.threads, "seq_len": self.seq_len, "weight_cache": False}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model_dir", metavar="MODEL_DIR")
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--seq-len", type=int, default=128)
    a = p.parse_args(argv)
    if not (Path(a.model_dir) / "config.json").is_file():
        print(f"litert peer: {a.model_dir} has no config.json (need a Hugging Face model folder)", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    peer = build(a.model_dir, a.out_dir, a.seq_len)
    c = peer["constants"]
    print(f"litert peer: wrote {a.out_dir}/{FP32_FILE} ({peer['bytes']['fp32'] / 1e6:.2f} MB, constants {c['fp32']['constant_bytes_over_needed']}x the parameters) "
          f"and {INT8_FILE} ({peer['bytes']['int8'] / 1e6:.2f} MB, {c['int8']['constant_bytes_over_needed']}x)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
