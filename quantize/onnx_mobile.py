"""ORT Mobile: `.ort` (ONNX Runtime's flatbuffer format) copies of the int8 ONNX models, and the
`required_operators.config` that ONNX Runtime's reduced ("minimal") build takes (--include_ops_by_config).

What onnxruntime's own `python -m onnxruntime.tools.convert_onnx_models_to_ort` does, for one model:
optimize at ORT_ENABLE_ALL in a session whose optimized_model_filepath is the .ort
(`session.save_model_format` = ORT, `session.qdqisint8allowed` per target, NchwcTransformer off unless the
target is amd64 — NCHWc is x86-only), then list the operators of the .ort files with
`onnxruntime.tools.ort_format_model.create_config_from_models`.

Why the session is made here instead of calling the tool: the fusion choice albert-edge needs
(SkipLayerNormFusion off: its CPU kernel measured ~10x slower, albert_edge.runners.ORT_DISABLED_OPTIMIZERS)
cannot be passed to the tool. It has no option for it, and it passes `disabled_optimizers=["NchwcTransformer"]`
to InferenceSession, a keyword that *replaces* the `optimization.disable_specified_optimizers` config entry
rather than adding to it (measured, onnxruntime 1.32: keyword GeluFusion + entry SkipLayerNormFusion left all
8 SkipLayerNormalization nodes of the demo int8 model). So the same three session settings are set here
with the keyword holding both names; the config file still comes from the tool's own function.

Optimization style: Fixed (optimizations run now and are stored). The tool's alternative, Runtime, stores
only basic optimizations plus records replayed with `session.enable_saved_runtime_optimizations` — meant for
NNAPI/CoreML, which take an unknown share of the nodes; albert-edge's artifacts target the CPU EP.
A Fixed .ort keeps the choice: loading it with default session options does not re-fuse (0
SkipLayerNormalization after load, checked in tests/test_onnx_text.py), so apps need no runtime hint for it.

The text-in model converts too (the extensions library registered during conversion and at load): its
config lists `ai.onnx.contrib;1;SentencepieceTokenizer`, which the app gets from the onnxruntime-extensions
library registered at run time (docs/onnx-apps.md).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from ..errors import AlbertEdgeError

HELP = "convert the int8 ONNX models to ORT format (.ort) for ONNX Runtime Mobile"
# source -> .ort file. model.int8.text.ort only when the folder has model.int8.text.onnx.
ORT_FILES = {"model.int8.onnx": "model.int8.ort", "model.int8.text.onnx": "model.int8.text.ort"}
REQUIRED_OPS_FILE = "required_operators.config"
OPTIMIZATION_STYLE = "Fixed"
ORT_FORMAT = "ort"  # manifest format of model.int8.ort (albert_edge/formats.py); a text .ort stays onnx-text
TARGETS = (None, "arm", "amd64")


def _tool_disabled(target_platform: str | None) -> list[str]:
    """What convert_onnx_models_to_ort itself turns off (see its _convert)."""
    return [] if target_platform == "amd64" else ["NchwcTransformer"]


def convert_to_ort(src, dst, custom_ops: bool = False, target_platform: str | None = None, disabled_optimizers=None) -> dict:
    """Write the Fixed-style ORT-format model of `src` to `dst`; returns the conversion settings."""
    import onnxruntime as ort

    from ..runners import extensions_library_path
    from ..runners import ORT_DISABLED_OPTIMIZERS

    if target_platform not in TARGETS:
        raise AlbertEdgeError(f"unknown target platform {target_platform!r} (choose from arm, amd64, or none)")
    extra = list(ORT_DISABLED_OPTIMIZERS if disabled_optimizers is None else disabled_optimizers)
    disabled = _tool_disabled(target_platform) + [n for n in extra if n not in _tool_disabled(target_platform)]
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(dst)
    so.add_session_config_entry("session.save_model_format", "ORT")
    so.add_session_config_entry("session.qdqisint8allowed", "1" if target_platform == "arm" else "0")
    if custom_ops:
        so.register_custom_ops_library(extensions_library_path())
    try:
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"], disabled_optimizers=disabled or None)
    except Exception as e:
        raise AlbertEdgeError(f"ONNX Runtime cannot convert {Path(src).name} to ORT format: {str(e).splitlines()[0][:200]}") from None
    if not Path(dst).is_file() or Path(dst).stat().st_size == 0:
        raise AlbertEdgeError(f"ONNX Runtime wrote no ORT-format model for {Path(src).name}")
    return {
        "tool": "onnxruntime session (as onnxruntime.tools.convert_onnx_models_to_ort)",
        "optimization_style": OPTIMIZATION_STYLE,
        "optimization_level": "all",
        "target_platform": target_platform,
        "disabled_optimizers": disabled,
        "onnxruntime": ort.__version__,
    }


def required_operators(ort_files: list[Path], dst: Path, names: list[str] | None = None) -> dict[str, list[str]]:
    """Write the reduced-build operator config for `ort_files` (onnxruntime's create_config_from_models);
    returns {domain;opset: [ops]}. The tool's header lists absolute model paths; they are replaced by
    `names` (the artifact file names) so the file does not depend on where it was made."""
    from onnxruntime.tools.ort_format_model import create_config_from_models

    with tempfile.TemporaryDirectory(prefix="albert-edge-ortcfg-") as td:
        tmp = Path(td) / REQUIRED_OPS_FILE
        log = logging.getLogger("ort_format_model.utils")  # logs "Created config in <tmp>" at INFO
        old, log.level = log.level, logging.WARNING
        try:
            create_config_from_models([Path(p) for p in ort_files], tmp, False)
        finally:
            log.setLevel(old)
        body = [ln for ln in tmp.read_text().splitlines() if not ln.startswith("#")]
    names = names or [Path(p).name for p in ort_files]
    header = ["# Generated by onnxruntime.tools.ort_format_model.create_config_from_models from:"] + [f"# - {n}" for n in sorted(names)]
    header.append("# ONNX Runtime reduced build: build.sh --minimal_build --include_ops_by_config required_operators.config (docs/onnx-apps.md)")
    if any(ln.startswith("ai.onnx.contrib;") for ln in body):
        header.append("# ai.onnx.contrib ops come from the onnxruntime-extensions custom-op library, registered at run time")
    Path(dst).write_text("\n".join(header + body) + "\n")
    ops = {}
    for ln in body:
        domain, opset, names_ = ln.split(";")
        ops[f"{domain};{opset}"] = names_.split(",")
    return ops


def ort_op_counts(path, custom_ops: bool = False) -> dict[str, int]:
    """Operator counts of an .ort file (its nodes as ONNX Runtime loads them, no further optimization)."""
    import onnxruntime as ort

    from ..runners import ort_session_options

    so = ort_session_options(custom_ops=custom_ops, ort_format=True)
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    with tempfile.TemporaryDirectory(prefix="albert-edge-ortops-") as td:
        out = Path(td) / "loaded.onnx"
        so.optimized_model_filepath = str(out)
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        import onnx

        m = onnx.load(str(out))
    counts: dict[str, int] = {}
    for n in m.graph.node:
        key = f"{n.domain}.{n.op_type}" if n.domain else n.op_type
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _check_same_outputs(src: Path, dst: Path, text: bool, manifest: dict, folder: Path) -> float:
    """The .ort must compute what its source computes (same kernels after the same optimizations): max |Δlogit|
    on the packaged sample sentences, batch 1."""
    from ..data import SAMPLES_TSV, read_labeled_tsv
    from ..onnx_text_runner import TextOnnxRunner
    from ..runners import OnnxRunner

    texts, _ = read_labeled_tsv(SAMPLES_TSV, manifest["labels"], limit=16)
    if text:
        a, b = TextOnnxRunner(src, threads=1), TextOnnxRunner(dst, threads=1)
        la = np.concatenate([a.logits_text([t]) for t in texts])
        lb = np.concatenate([b.logits_text([t]) for t in texts])
    else:
        from ..tokenizer import TextEncoder, load_tokenizer

        ids = TextEncoder(load_tokenizer(folder), manifest["max_seq_length"]).encode(texts)
        pad = manifest["tokenizer"].get("pad_id") or 0
        a, b = OnnxRunner(src, pad_id=pad, threads=1), OnnxRunner(dst, pad_id=pad, threads=1)
        la = np.concatenate([a.logits([x]) for x in ids])
        lb = np.concatenate([b.logits([x]) for x in ids])
    diff = float(np.abs(la - lb).max())
    if diff > 1e-5:
        raise AlbertEdgeError(f"{dst.name} differs from {src.name} by {diff:.3g} (max |Δlogit|); refusing to write it")
    return diff


def add_ort_models(
    folder, sources: tuple[str, ...] | None = None, target_platform: str | None = None, overwrite: bool = False, quiet: bool = False, record: bool = True
) -> list[dict]:
    """Write model.int8.ort (and model.int8.text.ort when model.int8.text.onnx is there) plus
    required_operators.config into the artifacts folder; returns the .ort manifest entries."""
    from ..artifacts import update_output
    from ..fsutil import atomic_path
    from ..integrity import verified_path
    from ..manifest import artifact_entry, find_artifact, record_files
    from ..runners import runtime_hints
    from ..progress import step

    with update_output(folder) as out:
        manifest = out.manifest
        have = {a["file"] for a in manifest["artifacts"]}
        if sources:
            bad = [s for s in sources if s not in ORT_FILES or s not in have]
            if bad:
                raise AlbertEdgeError(f"cannot make an ORT-format model of {bad[0]} (possible: {', '.join(f for f in ORT_FILES if f in have) or 'none'})")
            todo = list(sources)
        else:
            todo = [s for s in ORT_FILES if s in have]
        if not todo:
            raise AlbertEdgeError(f"{folder} has no int8 ONNX model; run `albert-edge quantize onnx` first")
        for s in todo:
            if (out.dir / ORT_FILES[s]).exists() and not overwrite:
                raise AlbertEdgeError(f"{Path(folder) / ORT_FILES[s]} already exists (use --overwrite)")
        entries = []
        for s in todo:
            src_entry = find_artifact(manifest, s)
            src = verified_path(out.dir, src_entry, what="ORT conversion source")
            text = src_entry.get("input_kind") == "text"
            dst_name = ORT_FILES[s]
            with step(f"converting {s} to ORT format ({dst_name})", quiet), atomic_path(out.dir / dst_name, suffix=".ort") as tmp:
                conv = convert_to_ort(src, tmp, custom_ops=text, target_platform=target_platform)
                conv["max_abs_diff_vs_source"] = _check_same_outputs(src, tmp, text, manifest, out.dir)
                ops = ort_op_counts(tmp, custom_ops=text)
            extra = {k: src_entry[k] for k in ("input_kind", "tokenizer_in_graph", "custom_ops") if k in src_entry}
            hints = runtime_hints(custom_ops=text)
            hints["baked_in"] = True  # a Fixed .ort does not re-fuse at load; the hint is harmless
            fmt = src_entry["format"] if text else ORT_FORMAT
            entry = artifact_entry(
                out.dir, dst_name, fmt, src_entry["precision"], src_entry["inputs"], src_entry["outputs"],
                serialization="ort", derived_from=s, ort_format=conv, graph={"ops": ops}, runtime_hints=hints, **extra,
            )
            entries.append(entry)
        present = [f for f in ORT_FILES.values() if (out.dir / f).is_file()]  # the config covers every .ort here
        with atomic_path(out.dir / REQUIRED_OPS_FILE) as tmp:
            ops_cfg = required_operators([out.dir / f for f in present], tmp, present)
        for e in entries:
            e["required_operators"] = {"file": REQUIRED_OPS_FILE, "ops": ops_cfg}
            if record:
                out.add(e)
        if record:
            record_files(out.dir, manifest, [REQUIRED_OPS_FILE])
            from ..manifest import save_manifest

            save_manifest(out.dir, manifest)
    return entries

