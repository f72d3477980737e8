"""Runners for the ONNX artifacts made for apps: text-in models (tokenizer in the graph, needs the
onnxruntime-extensions custom-op library) and ORT-format `.ort` files (ONNX Runtime Mobile).

Session settings come from one place, `make_session_options`, in the portable form every ONNX Runtime
binding accepts: session config entries (`SessionOptions.add_session_config_entry` in Python,
`AddSessionConfigEntry` in C#/Java, `addConfigEntry` in Obj-C, `extra.session` in JS). The entry
`optimization.disable_specified_optimizers` (onnxruntime_session_options_config_keys.h,
kOrtSessionOptionsDisableSpecifiedOptimizers) is the config-key form of the Python-only
`InferenceSession(..., disabled_optimizers=[...])` keyword that albert_edge.runners.OnnxRunner uses;
tests/test_onnx_text.py proves both give the same optimized graph.
(`make_session_options` should move to albert_edge/runners.py so OnnxRunner uses it too.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError
from .runners import ORT_DISABLED_OPTIMIZERS, OnnxRunner, Runner

# onnxruntime_session_options_config_keys.h: kOrtSessionOptionsDisableSpecifiedOptimizers. The header
# says "comma separated list", but onnxruntime 1.32 splits on ';': "SkipLayerNormFusion,GeluFusion"
# disabled neither, "SkipLayerNormFusion;GeluFusion" both (measured; tests/test_onnx_text.py checks it).
# When the Python keyword `disabled_optimizers` is also given, it replaces this entry (not a union).
ORT_CONFIG_DISABLE_OPTIMIZERS = "optimization.disable_specified_optimizers"
ORT_CONFIG_LOAD_FORMAT = "session.load_model_format"  # kOrtSessionOptionsConfigLoadModelFormat: "ORT"
EXTENSIONS_PACKAGE = "onnxruntime-extensions"


def session_config_entries(disabled_optimizers=ORT_DISABLED_OPTIMIZERS) -> dict[str, str]:
    """The runtime hint as ONNX Runtime session config entries (any binding)."""
    return {ORT_CONFIG_DISABLE_OPTIMIZERS: ";".join(disabled_optimizers)} if disabled_optimizers else {}


def runtime_hints(custom_ops: bool = False) -> dict:
    """The manifest's runtime_hints: the Python keyword form (kept as it was) plus the config-entry form."""
    hints = {
        "onnxruntime_disabled_optimizers": list(ORT_DISABLED_OPTIMIZERS),
        "onnxruntime_session_config": session_config_entries(),
    }
    if custom_ops:
        hints["onnxruntime_custom_op_library"] = EXTENSIONS_PACKAGE
    return hints


def extensions_library_path() -> str:
    try:
        from onnxruntime_extensions import get_library_path
    except ImportError:
        raise AlbertEdgeError(
            f"text-in ONNX models need the {EXTENSIONS_PACKAGE} package (pip install {EXTENSIONS_PACKAGE})"
        ) from None
    return get_library_path()


def make_session_options(threads: int | None = None, custom_ops: bool = False, ort_format: bool = False, config_entries: dict | None = None):
    """SessionOptions as albert-edge's runners use them: ORT_ENABLE_ALL, the runtime hints as config
    entries, optionally the extensions library registered and the ORT model format forced."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    for k, v in (session_config_entries() if config_entries is None else config_entries).items():
        so.add_session_config_entry(k, v)
    if ort_format:
        so.add_session_config_entry(ORT_CONFIG_LOAD_FORMAT, "ORT")
    if custom_ops:
        so.register_custom_ops_library(extensions_library_path())
    return so


def _session(path: Path, so):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except AlbertEdgeError:
        raise
    except Exception as e:
        msg = str(e).splitlines()[0]
        if "ai.onnx.contrib" in msg and "not a registered" in msg:
            raise AlbertEdgeError(f"{path} is a text-in model (onnxruntime-extensions ops); open it with TextOnnxRunner") from None
        raise AlbertEdgeError(f"ONNX Runtime cannot load {path}: {msg[:200]}") from None


def _is_text_model(session) -> bool:
    ins = session.get_inputs()
    return len(ins) == 1 and ins[0].type == "tensor(string)"


class TextOnnxRunner(Runner):
    """A text-in model (model.text.onnx, model.int8.text.onnx, or its .ort): raw strings in, logits out."""

    format = "onnx-text"
    input_kind = "text"

    def __init__(self, path: str | os.PathLike, precision: str = "", pad_id: int = 0, threads: int | None = None, entry: dict | None = None, **kwargs):
        self.path = Path(path)
        self.name = self.path.name
        self.precision = precision
        self.pad_id = pad_id  # padding happens inside the graph; kept for the common constructor
        self.threads = threads
        self.ort_format = self.path.suffix == ".ort"
        self.session = _session(self.path, make_session_options(threads, custom_ops=True, ort_format=self.ort_format))
        if not _is_text_model(self.session):
            raise AlbertEdgeError(f"{self.path} is not a text-in model (its inputs are {[i.name for i in self.session.get_inputs()]})")
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def logits(self, ids_list):
        raise AlbertEdgeError(f"{self.name} takes raw text (its tokenizer is in the graph); use logits_text(texts)")

    def logits_text(self, texts: list[str], progress=None) -> np.ndarray:
        """Logits for a batch of raw strings (padded in the graph to the batch's longest text)."""
        out = self._run(texts, "logits")
        if progress is not None:
            progress.update(len(out))
        return out

    def probabilities_text(self, texts: list[str]) -> np.ndarray:
        return self._run(texts, "probabilities")

    def _run(self, texts, output):
        texts = list(texts)
        if not texts:
            raise AlbertEdgeError("no texts given")
        if not all(isinstance(t, str) for t in texts):
            raise AlbertEdgeError("a text-in model takes str texts")
        return self.session.run([output], {self.input_name: np.array(texts, dtype=object)})[0]

    def run_batched_text(self, texts: list[str], batch_size: int = 32, lengths: list[int] | None = None, progress=None) -> np.ndarray:
        """Logits for many texts in batches; with `lengths` (e.g. token counts) batches group similar
        lengths as Runner.run_batched does, else characters are the proxy."""
        key = lengths if lengths is not None else [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: key[i])
        out: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            res = self.logits_text([texts[i] for i in idx])
            for j, i in enumerate(idx):
                out[i] = res[j]
            if progress is not None:
                progress.update(len(idx))
        return np.stack(out).astype(np.float32)

    def info(self):
        return {
            "runtime": "onnxruntime",
            "threads": self.threads,
            "providers": self.session.get_providers(),
            "session_config": session_config_entries(),
            "custom_op_library": EXTENSIONS_PACKAGE,
            "model_format": "ORT" if self.ort_format else "ONNX",
        }


class OrtFormatRunner(OnnxRunner):
    """An ORT-format (.ort) id-input model, e.g. model.int8.ort; same interface as OnnxRunner."""

    format = "ort"

    def __init__(self, path: str | os.PathLike, precision: str = "", pad_id: int = 0, threads: int | None = None, entry: dict | None = None, **kwargs):
        # Not OnnxRunner.__init__: that one passes the hint as the Python keyword and cannot force the
        # ORT format; the rest of OnnxRunner (logits, info's fields) applies unchanged.
        self.path = Path(path)
        self.name = self.path.name
        self.precision = precision
        self.pad_id = pad_id
        self.threads = threads
        self.session = _session(self.path, make_session_options(threads, ort_format=True))
        if _is_text_model(self.session):
            raise AlbertEdgeError(f"{self.path} is a text-in model; open it with TextOnnxRunner")
        self.input_names = [i.name for i in self.session.get_inputs()]

    def info(self):
        return {**super().info(), "session_config": session_config_entries(), "model_format": "ORT"}
