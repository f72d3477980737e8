"""The format registry: the one list of artifact formats albert-edge produces.

Each `Format` says which files it writes (its precision variants and the commands that make them),
which runner opens them, what a benchmark may vary (batch, sequence length), how its memory is measured,
whether the arm64 check runs it, and what `pipeline` does for it. The CLI, the manifest, verify, predict,
bench, pipeline and arm64 ask this module; nothing else lists formats. Adding a format = one exporter
(and quantizer), one runner, one entry here (docs/architecture.md, "How to add a format").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

# The id-input models' tensors, in the order every runtime feeds them (ALBERT's tokenizer outputs).
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Variant:
    file: str
    precision: str
    command: str  # the CLI that writes it, e.g. "quantize tflite --mode fp16"
    derived_from: str | None = None
    # The same network as derived_from in another packaging (tokenizer in the graph, ORT format): verify
    # also requires its scores to equal derived_from's within EQUIVALENT_MAX_ABS.
    equivalent: bool = False


@dataclass(frozen=True)
class Step:
    """One pipeline stage: `call` is "module:function"; it gets (model_dir, folder) for an export or
    (folder,) for a quantize, plus overwrite/quiet, `kwargs`, and the pipeline options named in `options`."""

    title: str
    call: str
    kind: str  # "export" | "quantize"
    kwargs: dict = field(default_factory=dict)
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Format:
    name: str  # the manifest's "format"
    title: str
    runner: str  # "module:Class" (a subclass of albert_edge.runners.Runner)
    variants: tuple[Variant, ...]
    commands: tuple[tuple[tuple[str, str], str], ...]  # (("export", NAME), "module"), (("quantize", NAME), "module")
    steps: tuple[Step, ...] = ()  # what `pipeline` runs for this format, in order
    inputs: str = "ids"  # "ids": token ids in; "text": raw strings in (the tokenizer is in the artifact)
    outputs: str = "logits"  # "logits", or "probabilities" (softmax in the artifact; verify compares with softmax(reference))
    also_runs_as: tuple[str, ...] = ()  # other formats whose runner must give the same scores for the file (verify adds a row each)
    optional_module: str | None = None  # a Python module the format needs that is an optional extra (pipeline skips the format without it)
    lengths: str = "dynamic"  # sequence length: "dynamic" or "buckets" (one fixed-length signature each)
    batch: str = "dynamic"  # "dynamic" or "one" (fixed batch of 1)
    runtime_modules: tuple[str, ...] = ()  # imported before a memory measurement's baseline is read
    memory_variants: tuple[str, ...] = ("default",)  # see benchmarks/measure.py memory_variants
    # How the aarch64 parity check runs its files: "python" (arm64/runner.py on the emulated Python, with
    # the format's own runner), "native" (the ExecuTorch C++ runner, arm64/pte_runner.cpp), "" (not run).
    arm64: str = ""
    packages: tuple[str, ...] = ()  # versions worth recording in the manifest and benchmark results

    def variant(self, file: str) -> Variant | None:
        return next((v for v in self.variants if v.file == file), None)

    def runner_class(self):
        mod, cls = self.runner.split(":")
        return getattr(importlib.import_module(mod), cls)


REGISTRY: tuple[Format, ...] = (
    Format(
        name="onnx",
        title="ONNX (ONNX Runtime)",
        runner="albert_edge.runners:OnnxRunner",
        variants=(
            Variant("model.onnx", "fp32", "export onnx"),
            Variant("model.int8.onnx", "int8", "quantize onnx", derived_from="model.onnx"),
        ),
        commands=((("export", "onnx"), "albert_edge.export.onnx_export"), (("quantize", "onnx"), "albert_edge.quantize.onnx_quant")),
        steps=(
            Step("export onnx", "albert_edge.export.onnx_export:export_onnx", "export"),
            Step("quantize onnx (dynamic int8)", "albert_edge.quantize.onnx_quant:quantize_onnx", "quantize"),
        ),
        runtime_modules=("onnxruntime",),
        arm64="python",
        packages=("onnx", "onnxruntime"),
    ),
    Format(
        name="tflite",
        title="TFLite (LiteRT)",
        runner="albert_edge.tflite_runner:TFLiteRunner",
        variants=(
            Variant("model.tflite", "fp32", "export tflite"),
            Variant("model.fp16.tflite", "fp16", "quantize tflite --mode fp16", derived_from="model.tflite"),
            Variant("model.int8.tflite", "int8", "quantize tflite", derived_from="model.tflite"),
        ),
        commands=((("export", "tflite"), "albert_edge.export.tflite_export"), (("quantize", "tflite"), "albert_edge.quantize.tflite_quant")),
        steps=(
            Step("export tflite", "albert_edge.export.tflite_export:export_tflite", "export", options=("buckets",)),
            Step("quantize tflite (dynamic int8)", "albert_edge.quantize.tflite_quant:quantize_tflite", "quantize", {"mode": "dynamic"}),
            Step("quantize tflite (fp16)", "albert_edge.quantize.tflite_quant:quantize_tflite", "quantize", {"mode": "fp16"}),
        ),
        lengths="buckets",
        batch="one",
        runtime_modules=("ai_edge_litert.compiled_model", "albert_edge.tflite_runner"),
        memory_variants=("no_weight_cache", "weight_cache"),
        arm64="python",
        packages=("litert-torch", "ai-edge-quantizer", "ai-edge-litert"),
    ),
)

EQUIVALENT_MAX_ABS = 1e-5

REGISTRY += (
    Format(
        name="onnx-text",
        title="ONNX with the tokenizer in the graph (onnxruntime-extensions)",
        runner="albert_edge.onnx_text_runner:TextOnnxRunner",
        variants=(
            Variant("model.text.onnx", "fp32", "export onnx", derived_from="model.onnx", equivalent=True),
            Variant("model.int8.text.onnx", "int8", "quantize onnx", derived_from="model.int8.onnx", equivalent=True),
            Variant("model.int8.text.ort", "int8", "quantize onnx", derived_from="model.int8.text.onnx", equivalent=True),
        ),
        commands=(),  # written by `export onnx` / `quantize onnx` (--no-text skips them)
        inputs="text",
        runtime_modules=("onnxruntime", "onnxruntime_extensions", "albert_edge.onnx_text_runner"),
        packages=("onnxruntime-extensions",),
    ),
    Format(
        name="ort",
        title="ORT format for ONNX Runtime Mobile",
        runner="albert_edge.runners:OnnxRunner",
        variants=(Variant("model.int8.ort", "int8", "quantize onnx", derived_from="model.int8.onnx", equivalent=True),),
        commands=(),  # written by `quantize onnx` (--no-ort skips it)
        runtime_modules=("onnxruntime",),
    ),
    Format(
        name="mediapipe",
        title="MediaPipe Tasks TextClassifier (TFLite with metadata)",
        runner="albert_edge.mediapipe_runner:MediaPipeRunner",
        variants=(
            Variant("model.mediapipe.tflite", "fp32", "export mediapipe --precision fp32"),
            Variant("model.fp16.mediapipe.tflite", "fp16", "export mediapipe --precision fp16"),
            Variant("model.int8.mediapipe.tflite", "int8", "export mediapipe"),
        ),
        commands=((("export", "mediapipe"), "albert_edge.export.mediapipe_export"),),
        steps=(Step("export mediapipe (int8)", "albert_edge.export.mediapipe_export:export_mediapipe", "export", {"precision": "int8"}),),
        inputs="text",
        outputs="probabilities",
        lengths="buckets",
        batch="one",
        also_runs_as=("tflite",),
        runtime_modules=("mediapipe", "albert_edge.mediapipe_runner"),
        optional_module="mediapipe",
        packages=("mediapipe",),
    ),
)

REGISTRY += (
    Format(
        name="executorch",
        title="ExecuTorch (.pte, XNNPACK delegate)",
        runner="albert_edge.executorch_runner:ExecuTorchRunner",
        variants=(
            Variant("model.pte", "fp32", "export executorch"),
            Variant("model.int8.pte", "int8", "quantize executorch", derived_from="model.pte"),
        ),
        commands=((("export", "executorch"), "albert_edge.export.executorch_export"), (("quantize", "executorch"), "albert_edge.quantize.executorch_quant")),
        steps=(
            Step("export executorch", "albert_edge.export.executorch_export:export_executorch", "export"),
            Step("quantize executorch (int8)", "albert_edge.quantize.executorch_quant:quantize_executorch", "quantize"),
        ),
        batch="one",  # dynamic sequence length, batch 1 (docs/executorch.md: XNNPACK's reshapes)
        runtime_modules=("executorch.runtime", "albert_edge.executorch_runner"),
        memory_variants=("no_weight_cache", "weight_cache"),
        arm64="native",  # the wheel's Python bindings need torch; its runtime libraries do not (arm64/pte.py)
        optional_module="executorch",
        packages=("executorch",),
    ),
)

# Formats that appear in benchmark results without being albert-edge artifacts.
REFERENCE_FORMATS = ("pytorch",)
# File formats of benchmark peers (benchmarks/peerset.py) that no registry entry writes: accepted in
# benchmark results only, never by the manifest (names() does not list them). "executorch" stays here
# until the registry has its own entry (then it drops out of this tuple by itself).
PEER_FORMATS = tuple(n for n in ("openvino", "executorch") if n not in (f.name for f in REGISTRY))


def names() -> tuple[str, ...]:
    return tuple(f.name for f in REGISTRY)


def get(name: str) -> Format:
    for f in REGISTRY:
        if f.name == name:
            return f
    from .errors import AlbertEdgeError

    raise AlbertEdgeError(f"unknown artifact format {name!r} (known: {', '.join(names())})")


def find(name: str) -> Format | None:
    return next((f for f in REGISTRY if f.name == name), None)


def order_key(entry: dict) -> tuple:
    """Manifest order: registry order, then precision, then file name."""
    fmts = names()
    fmt = entry.get("format")
    return (fmts.index(fmt) if fmt in fmts else len(fmts), PRECISIONS.index(entry["precision"]) if entry.get("precision") in PRECISIONS else 9, entry.get("file", ""))


def commands() -> list[tuple[tuple[str, str], str]]:
    return [c for f in REGISTRY for c in f.commands]


def arm64_files() -> tuple[str, ...]:
    return tuple(v.file for f in REGISTRY if f.arm64 for v in f.variants)


def arm64_runner(fmt: str) -> str:
    """How the arm64 check runs a format's files: "python", "native" or "" (see Format.arm64)."""
    f = find(fmt)
    return f.arm64 if f else ""


def packages() -> tuple[str, ...]:
    seen: list[str] = []
    for f in REGISTRY:
        seen += [p for p in f.packages if p not in seen]
    return tuple(seen)


def variant_of(entry: dict) -> Variant | None:
    f = find(entry.get("format", ""))
    return f.variant(entry.get("file", "")) if f else None


def available(f: Format) -> bool:
    """Whether the format's optional extra is installed (always True for formats without one)."""
    if f.optional_module is None:
        return True
    import importlib.util

    return importlib.util.find_spec(f.optional_module) is not None
