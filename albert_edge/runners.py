"""Runners: one interface over PyTorch, ONNX Runtime and LiteRT, used by verify, predict and bench.

A runner takes encoded texts (id lists with [CLS] … [SEP], already truncated to the manifest's
max_seq_length) and returns logits; each runner pads the way its format prefers (dynamic shapes
for ONNX and PyTorch, fixed-length signature buckets for TFLite).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError
from .tokenizer import pad_batch


class Runner:
    name: str = "runner"
    format: str = ""
    precision: str = ""
    sha256: str | None = None  # set by open_runner: the verified digest of the file this runner loaded

    def logits(self, ids_list: list[list[int]]) -> np.ndarray:  # [len(ids_list), num_labels]
        raise NotImplementedError

    def info(self) -> dict:
        """Runtime facts worth reporting (threads, providers, weight cache…)."""
        return {}

    def run_batched(self, ids_list: list[list[int]], batch_size: int = 32, progress=None) -> np.ndarray:
        """Logits for many texts; batches are formed from similar lengths to keep padding small."""
        order = sorted(range(len(ids_list)), key=lambda i: len(ids_list[i]))
        out: list[np.ndarray | None] = [None] * len(ids_list)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            res = self.logits([ids_list[i] for i in idx])
            for j, i in enumerate(idx):
                out[i] = res[j]
            if progress is not None:
                progress.update(len(idx))
        return np.stack(out).astype(np.float32)


class TorchRunner(Runner):
    format = "pytorch"

    def __init__(self, model, pad_id: int = 0, name: str = "pytorch", precision: str = "fp32", threads: int | None = None):
        import torch

        self.model = model.eval()
        self.pad_id = pad_id
        self.name = name
        self.precision = precision
        if threads:
            torch.set_num_threads(threads)

    def logits(self, ids_list):
        import torch

        feeds = pad_batch(ids_list, pad_id=self.pad_id)
        device = next(self.model.parameters()).device  # CPU here; a GPU when training on one
        with torch.inference_mode():
            out = self.model(**{k: torch.from_numpy(v).to(device) for k, v in feeds.items()})
        return out.logits.float().cpu().numpy()


# onnxruntime 1.32's CPU SkipLayerNormalization took ~0.6 ms per call on ALBERT-base at 128 tokens where
# LayerNormalization + Add took ~0.06 ms; its session-level fusion rebuilds one from every residual
# Add -> LayerNorm (24 in ALBERT-base). Turning that single fusion off made our int8 model 7% faster
# (Optimum's 3%). Applied to every ONNX file this runner opens, so peers are measured the same way, and
# recorded in the manifest (`runtime_hints`) for other ONNX Runtime users.
ORT_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def runtime_hints() -> dict:
    """The manifest's `runtime_hints` for ONNX files: the session settings our runners apply."""
    return {"onnxruntime_disabled_optimizers": list(ORT_DISABLED_OPTIMIZERS)}


def ort_session(path: str | os.PathLike, threads: int | None = None):
    """The one place ONNX Runtime sessions are made (runners, the quantizer's smoke test, benchmarks,
    the arm64 check), so every caller runs the same fused graph."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"], disabled_optimizers=list(ORT_DISABLED_OPTIMIZERS))
    except Exception as e:
        raise AlbertEdgeError(f"ONNX Runtime cannot load {path}: {str(e).splitlines()[0][:200]}") from None


class OnnxRunner(Runner):
    format = "onnx"

    def __init__(self, path: str | os.PathLike, precision: str = "", pad_id: int = 0, threads: int | None = None, entry: dict | None = None, **_ids):
        self.path = Path(path)
        self.name = self.path.name
        self.precision = precision
        self.pad_id = pad_id
        self.session = ort_session(self.path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.threads = threads

    def logits(self, ids_list):
        feeds = pad_batch(ids_list, pad_id=self.pad_id)
        return self.session.run(["logits"], {k: feeds[k] for k in self.input_names})[0]

    def info(self):
        return {"runtime": "onnxruntime", "threads": self.threads, "providers": self.session.get_providers(), "disabled_optimizers": list(ORT_DISABLED_OPTIMIZERS)}


def tokenizer_ids(manifest: dict) -> dict:
    """The special ids a runner pads and truncates with, from the manifest (never assumed)."""
    tok = manifest["tokenizer"]
    return {"pad_id": int(tok["pad_id"]), "cls_id": int(tok["cls_id"]), "sep_id": int(tok["sep_id"])}


def make_runner(fmt: str, path: str | os.PathLike, precision: str, ids: dict, threads: int | None = None, entry: dict | None = None, **kwargs) -> Runner:
    """The one runner factory (verify, predict, bench, the exporters' self-checks): the registry's runner
    for `fmt`. The file is NOT checked here; use open_runner for manifest entries."""
    from .formats import get

    runner_cls = get(fmt).runner_class()  # imported lazily: ONNX-only use never imports LiteRT
    return runner_cls(path, precision=precision, pad_id=ids["pad_id"], threads=threads, entry=entry, sep_id=ids["sep_id"], cls_id=ids["cls_id"], **kwargs)


def open_runner(folder: str | os.PathLike, entry: dict, manifest: dict, threads: int | None = None, **kwargs) -> Runner:
    """Open the runner for one manifest entry, after its bytes are checked against the entry."""
    from .integrity import verified_path

    path = verified_path(Path(folder), entry)
    runner = make_runner(entry["format"], path, entry["precision"], tokenizer_ids(manifest), threads=threads, entry=entry, **kwargs)
    runner.sha256 = entry["sha256"]  # what verified_path just proved the file holds
    return runner
