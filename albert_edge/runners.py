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


# Texts per call when verify/predict score many texts (length-sorted, so padding stays small).
SCORE_BATCH = 32


class Runner:
    name: str = "runner"
    format: str = ""
    precision: str = ""
    sha256: str | None = None  # set by open_runner: the verified digest of the file this runner loaded
    inputs: str = "ids"  # "text": the artifact tokenizes itself (run_batched_text), see formats.Format.inputs
    outputs: str = "logits"  # "probabilities": softmax in the artifact
    # False: a text's scores depend on the other texts (and their padding) in its batch, so run_batched and
    # run_batched_text go one text per call. Set by open_runner from the manifest (dynamic_activation_scales).
    batch_invariant: bool = True

    def scores(self, texts: list[str], ids_list: list[list[int]], batch_size: int = SCORE_BATCH, progress=None) -> np.ndarray:
        """Scores for texts whose HF ids are ids_list: what verify, predict and bench call for every format.
        Text-in runners get the raw texts, grouped into the same batches as the ids would be."""
        if self.inputs == "text":
            return self.run_batched_text(texts, batch_size=batch_size, lengths=[len(x) for x in ids_list], progress=progress)
        return self.run_batched(ids_list, batch_size=batch_size, progress=progress)

    def call(self, texts: list[str], ids_list: list[list[int]]) -> np.ndarray:
        """One batch, one runtime call (benchmarks time exactly this): raw texts for text-in runners."""
        return self.logits_text(texts) if self.inputs == "text" else self.logits(ids_list)

    def token_ids(self, texts: list[str]) -> list[list[int]] | None:
        """The ids an artifact with its own tokenizer feeds its model, where the runtime exposes them."""
        return None

    def logits(self, ids_list: list[list[int]]) -> np.ndarray:  # [len(ids_list), num_labels]
        raise NotImplementedError

    def info(self) -> dict:
        """Runtime facts worth reporting (threads, providers, weight cache…)."""
        return {}

    def run_batched(self, ids_list: list[list[int]], batch_size: int = SCORE_BATCH, progress=None) -> np.ndarray:
        """Logits for many texts; batches are formed from similar lengths to keep padding small."""
        batch_size = batch_size if self.batch_invariant else 1
        return _in_batches([len(x) for x in ids_list], batch_size, lambda idx: self.logits([ids_list[i] for i in idx]), progress)

    def run_batched_text(self, texts: list[str], batch_size: int = SCORE_BATCH, lengths: list[int] | None = None, progress=None) -> np.ndarray:
        """Scores for many raw texts (text-in runners); with `lengths` (token counts) the batches are the
        same as run_batched's for those ids, else characters are the proxy."""
        key = lengths if lengths is not None else [len(t) for t in texts]
        batch_size = batch_size if self.batch_invariant else 1
        return _in_batches(key, batch_size, lambda idx: self.logits_text([texts[i] for i in idx]), progress)

    def logits_text(self, texts: list[str]) -> np.ndarray:
        raise AlbertEdgeError(f"{self.name} takes token ids, not raw text")


def _in_batches(keys: list[int], batch_size: int, fn, progress=None) -> np.ndarray:
    """fn(indices) over batches of similar keys (sorted), rows put back in input order."""
    order = sorted(range(len(keys)), key=lambda i: keys[i])
    out: list[np.ndarray | None] = [None] * len(keys)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        res = fn(idx)
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
# (Optimum's 3%). Applied to every ONNX file our runners open, so peers are measured the same way, and
# recorded in the manifest (`runtime_hints`) for other ONNX Runtime users.
ORT_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
# The same setting as a session config entry, which every ORT binding accepts (C, C++, C#, Java, Obj-C,
# JS); the Python keyword `disabled_optimizers` is Python-only. onnxruntime_session_options_config_keys.h
# documents the value as comma separated, but 1.32 splits on ';' ("A,B" disabled neither, "A;B" both;
# measured, tests/test_onnx_text.py). The keyword, when also given, replaces the entry: we set only the entry
# (its optimized graph is byte-identical to the keyword's).
ORT_CONFIG_DISABLE_OPTIMIZERS = "optimization.disable_specified_optimizers"
ORT_CONFIG_LOAD_FORMAT = "session.load_model_format"  # "ORT" for .ort files
EXTENSIONS_PACKAGE = "onnxruntime-extensions"  # the contrib ops of the text-in models (SentencepieceTokenizer)


def session_config_entries(disabled_optimizers=ORT_DISABLED_OPTIMIZERS) -> dict[str, str]:
    """The runtime hint as ONNX Runtime session config entries (any binding)."""
    return {ORT_CONFIG_DISABLE_OPTIMIZERS: ";".join(disabled_optimizers)} if disabled_optimizers else {}


def runtime_hints(custom_ops: bool = False) -> dict:
    """The manifest's `runtime_hints` for ONNX/ORT files: the session settings our runners apply, in the
    Python keyword form and the config-entry form (docs/onnx-apps.md has a one-liner per binding)."""
    hints = {"onnxruntime_disabled_optimizers": list(ORT_DISABLED_OPTIMIZERS), "onnxruntime_session_config": session_config_entries()}
    if custom_ops:
        hints["onnxruntime_custom_op_library"] = EXTENSIONS_PACKAGE
    return hints


def extensions_library_path() -> str:
    try:
        from onnxruntime_extensions import get_library_path
    except ImportError:
        raise AlbertEdgeError(f"text-in ONNX models need the {EXTENSIONS_PACKAGE} package (pip install {EXTENSIONS_PACKAGE})") from None
    return get_library_path()


def ort_session_options(threads: int | None = None, custom_ops: bool = False, ort_format: bool = False, config_entries: dict | None = None):
    """SessionOptions as every albert-edge caller uses them: ORT_ENABLE_ALL, the runtime hint as config
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


def ort_session(path: str | os.PathLike | bytes, threads: int | None = None, custom_ops: bool = False, ort_format: bool | None = None,
                config: dict | None = None):
    """The one place ONNX Runtime sessions are made (runners, the quantizer's smoke test, the ONNX
    exporter's self-check, benchmarks, the arm64 check, the .ort converter's checks), so every caller runs
    the same fused graph. `path` may be a serialized model (bytes); `config`: session config entries
    added to the runtime hint's (e.g. spin-waiting off for side-by-side timing)."""
    import onnxruntime as ort

    source = path if isinstance(path, bytes) else str(Path(path))
    path = "the model" if isinstance(path, bytes) else Path(path)
    if ort_format is None:
        ort_format = isinstance(path, Path) and path.suffix == ".ort"
    entries = {**session_config_entries(), **(config or {})}
    so = ort_session_options(threads, custom_ops=custom_ops, ort_format=ort_format, config_entries=entries)
    try:
        return ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
    except AlbertEdgeError:
        raise
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "ai.onnx.contrib" in msg and not custom_ops:
            raise AlbertEdgeError(f"{path} is a text-in model (onnxruntime-extensions ops); open it as format onnx-text") from None
        raise AlbertEdgeError(f"ONNX Runtime cannot load {path}: {msg[:200]}") from None


class OnnxRunner(Runner):
    """An id-input ONNX model (.onnx, or its ORT-format .ort)."""

    format = "onnx"

    def __init__(self, path: str | os.PathLike, precision: str = "", pad_id: int = 0, threads: int | None = None, entry: dict | None = None,
                 session_config: dict | None = None, **_ids):
        self.path = Path(path)
        self.name = self.path.name
        self.precision = precision
        self.pad_id = pad_id
        self.session = ort_session(self.path, threads, config=session_config)
        self.input_names = [i.name for i in self.session.get_inputs()]
        if any(i.type == "tensor(string)" for i in self.session.get_inputs()):
            raise AlbertEdgeError(f"{self.path} is a text-in model; open it as format onnx-text")
        self.threads = threads

    def logits(self, ids_list):
        feeds = pad_batch(ids_list, pad_id=self.pad_id)
        return self.session.run(["logits"], {k: feeds[k] for k in self.input_names})[0]

    def info(self):
        return {"runtime": "onnxruntime", "threads": self.threads, "providers": self.session.get_providers(),
                "disabled_optimizers": list(ORT_DISABLED_OPTIMIZERS), "session_config": session_config_entries(),
                "model_format": "ORT" if self.path.suffix == ".ort" else "ONNX"}


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


def dynamic_activation_scales(entry: dict, manifest: dict) -> bool:
    """Whether the file quantizes activations with one scale per input tensor computed at run time, i.e.
    ONNX Runtime's dynamic int8 (DynamicQuantizeLinear feeding MatMulInteger/QAttention), followed
    through `derived_from` for the .ort and text-in files made from model.int8.onnx.

    Why it matters: that scale comes from the min/max over every row of the batch, padding included, so
    a text's int8 logits change with the texts it is batched with. Measured on a trained
    ALBERT-base-shaped model (80.6 % SST-2 dev): verify's length-sorted batches of 32 flipped 4 of 872
    labels against PyTorch (99.54 %), one text per call none (100 %), the way an app runs the file.
    XNNPACK's dynamic int8 (.pte) scales each token row on its own; TFLite runs one text per call.
    """
    by_file = {a.get("file"): a for a in manifest.get("artifacts") or []}
    seen = set()
    while entry is not None and entry.get("file") not in seen:
        seen.add(entry.get("file"))
        q = entry.get("quantization")
        if isinstance(q, dict) and q.get("mode") is not None:
            return entry.get("format") in ("onnx", "ort", "onnx-text") and q.get("mode") == "dynamic"
        entry = by_file.get(entry.get("derived_from"))
    return False


def open_runner(folder: str | os.PathLike, entry: dict, manifest: dict, threads: int | None = None, **kwargs) -> Runner:
    """Open the runner for one manifest entry, after its bytes are checked against the entry."""
    from .integrity import verified_path

    path = verified_path(Path(folder), entry)
    runner = make_runner(entry["format"], path, entry["precision"], tokenizer_ids(manifest), threads=threads, entry=entry, **kwargs)
    runner.sha256 = entry["sha256"]  # what verified_path just proved the file holds
    # verify and predict score a dynamic-int8 ONNX file one text per call, as an app runs it, so a
    # text's label never depends on its neighbours in a batch (benchmarks still time real batches).
    runner.batch_invariant = not dynamic_activation_scales(entry, manifest)
    return runner
