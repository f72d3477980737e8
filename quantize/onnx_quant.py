"""`albert-edge quantize onnx`: int8 ONNX in which every application of every shared ALBERT weight runs
an integer kernel, each weight is stored once (int8), the word-embedding table included, and no dead
fp32 initializer is left in the file.

Recipe (dynamic, the default): onnxruntime's transformer optimizer fuses attention/LayerNorm/GELU;
`onnx_graph` repairs what it does to shared weights (first-application fusion, per-application QKV
copies); onnxruntime's `quantize_dynamic` quantizes MatMul / Attention with int8 per-channel,
reduce-range weights; embedding tables become int8 with one scale per row (onnx_graph); a final pass
proves coverage and removes leftovers. Static mode calibrates QDQ activations on a labeled TSV instead.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..errors import AlbertEdgeError
from ..staging import shown
from .. import options, runners

HELP = "quantize the artifacts folder's model.onnx to int8 (model.int8.onnx)"
INT8_FILE = "model.int8.onnx"
MODES = ("dynamic", "static")
# Word (30k rows) and position (512) embedding tables become per-row int8; token-type (2 rows) stays fp32.
EMBEDDING_MIN_ROWS = 256


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder holding model.onnx")
    p.add_argument("--mode", choices=MODES, default="dynamic", help="dynamic int8 (default) or calibrated static QDQ")
    p.add_argument("--calibration", metavar="FILE.tsv", help="labeled sentences for --mode static (sentence<TAB>label)")
    p.add_argument("--calibration-size", type=options.positive_int, default=256, help="sentences used for calibration (default %(default)s)")
    p.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=True, help="per-output-channel weight scales (default on)")
    # Measured on the AVX2 machine without VNNI: 7-bit weights cut the mean |Δlogit| ~6x and lifted SST-2
    # label agreement from 97.3% to 99.4% (README, "Why ALBERT needs care").
    p.add_argument(
        "--reduce-range",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="7-bit weights (default on): x86 CPUs without VNNI multiply uint8 x int8 with a saturating 16-bit instruction",
    )
    p.add_argument("--no-fusion", dest="fusion", action="store_false", help="skip onnxruntime's transformer fusions (debugging)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model.int8.onnx")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--allow-duplicated-weights", action="store_true", help="write the file even if it stores weights more than once (recorded in the manifest)")
    p.add_argument("--no-text", dest="text", action="store_false", help="skip model.int8.text.onnx (text-in model, tokenizer in the graph)")
    p.add_argument("--no-ort", dest="ort", action="store_false", help="skip the ORT-format files for ONNX Runtime Mobile (model.int8.ort, model.int8.text.ort)")
    p.add_argument("--ort-target", choices=("arm", "amd64"), default=None, help="optimize the .ort files for this CPU family (default: generic)")


def run(args) -> int:
    if args.mode == "static" and not args.calibration:
        raise AlbertEdgeError("--mode static needs --calibration FILE.tsv")
    if args.mode == "dynamic" and args.calibration:
        raise AlbertEdgeError("--calibration is only used with --mode static")
    if args.calibration:  # a bad file is refused before minutes of graph work
        from ..data import read_labeled_tsv

        read_labeled_tsv(args.calibration, limit=args.calibration_size)
    entry = quantize_onnx(
        args.output,
        mode=args.mode,
        calibration=args.calibration,
        calibration_size=args.calibration_size,
        per_channel=args.per_channel,
        reduce_range=args.reduce_range,
        fusion=args.fusion,
        overwrite=args.overwrite,
        quiet=args.quiet,
        allow_duplicated_weights=getattr(args, "allow_duplicated_weights", False),
        text=args.text,
        ort=args.ort,
        ort_target=args.ort_target,
    )
    if not args.quiet:
        g = entry["graph"]
        print(
            f"wrote {shown(Path(args.output) / entry['file'])} ({entry['bytes'] / 1e6:.2f} MB; integer weight matmuls "
            f"{g['weight_matmuls_integer']}, float {g['weight_matmuls_float']}; dead initializers {g['dead_initializers']})"
        )
    return 0


def _fuse(src: Path, dst: Path, cfg: dict) -> dict:
    import onnx
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    from ..export.onnx_graph import declare_node_domains, dedupe_initializers, fuse_unfused_attention, gemm_to_matmul, remove_dead_initializers

    opts = FusionOptions("bert")
    # SkipLayerNormalization ran ~10x slower than LayerNormalization + Add with ORT 1.32 on AVX2 (profiled
    # on ALBERT-base, 128 tokens), so the residual adds stay separate.
    opts.enable_skip_layer_norm = False
    opts.enable_bias_skip_layer_norm = False
    # EmbedLayerNormalization assumes BERT's embedding width == hidden size; ALBERT projects 128 -> H.
    opts.enable_embed_layer_norm = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimize_model(str(src), model_type="bert", num_heads=cfg["num_attention_heads"], hidden_size=cfg["hidden_size"], opt_level=0, optimization_options=opts)
    model = opt.model
    info = {"fused_by_onnxruntime": {k: v for k, v in opt.get_fused_operator_statistics().items() if v}}
    info["attention_fused_by_albert_edge"] = fuse_unfused_attention(model, cfg["hidden_size"])
    info["gemm_rewritten"] = gemm_to_matmul(model)
    info["deduplicated_initializers"] = dedupe_initializers(model)
    remove_dead_initializers(model)
    declare_node_domains(model)
    onnx.save(model, str(dst))
    return info


def _calibration_reader(folder: Path, manifest: dict, tsv: str, size: int):
    from onnxruntime.quantization import CalibrationDataReader

    from ..data import read_labeled_tsv
    from ..tokenizer import artifact_encoder, pad_batch

    texts, _ = read_labeled_tsv(tsv, manifest["labels"], limit=size)
    enc = artifact_encoder(folder, manifest)
    ids = enc.encode(texts)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(ids)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else pad_batch([x])

        def rewind(self):
            self.it = iter(ids)

    return Reader(), len(ids)


def quantize_onnx(
    folder,
    mode: str = "dynamic",
    calibration: str | None = None,
    calibration_size: int = 256,
    per_channel: bool = True,
    reduce_range: bool = True,
    fusion: bool = True,
    overwrite: bool = False,
    quiet: bool = False,
    allow_duplicated_weights: bool = False,
    text: bool = True,
    ort: bool = True,
    ort_target: str | None = None,
) -> dict:
    """model.int8.onnx, plus (defaults) model.int8.text.onnx and the ORT-format model.int8.ort /
    model.int8.text.ort with required_operators.config, in one transaction; returns model.int8.onnx's entry."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    from ..export.onnx_export import ONNX_FILE, onnx_io
    from ..fsutil import atomic_path
    from ..artifacts import update_output
    from ..integrity import verified_path
    from ..manifest import artifact_entry, find_artifact
    from ..progress import step
    from ..export.onnx_graph import dedupe_initializers, gemm_to_matmul, graph_stats, quantize_embedding_rows, remove_dead_initializers
    from ..export.onnx_cls_row import has_cls_row_slices

    if mode not in MODES:
        raise AlbertEdgeError(f"unknown ONNX quantization mode {mode!r} (choose from {', '.join(MODES)})")
    with update_output(folder) as out:
        manifest = out.manifest
        src = verified_path(out.dir, find_artifact(manifest, ONNX_FILE), what="quantizer source")
        if (out.dir / INT8_FILE).exists() and not overwrite:
            raise AlbertEdgeError(f"{Path(folder) / INT8_FILE} already exists (use --overwrite)")
        cfg = manifest["model"]
        details: dict = {"mode": mode, "per_channel": per_channel, "reduce_range": reduce_range, "weight_type": "int8"}
        with tempfile.TemporaryDirectory(prefix="albert-edge-q-") as td:
            td = Path(td)
            prepared = td / "prepared.onnx"
            if mode == "dynamic" and fusion:
                with step("fusing attention/GELU/LayerNorm (onnxruntime transformer optimizer)", quiet):
                    details.update(_fuse(src, prepared, cfg))
            else:
                m = onnx.load(str(src))
                details["gemm_rewritten"] = gemm_to_matmul(m)
                onnx.save(m, str(prepared))
            quantized = td / "quantized.onnx"
            with warnings.catch_warnings(), _root_log_level(logging.ERROR):
                warnings.simplefilter("ignore")
                if mode == "dynamic":
                    with step("quantizing weights to int8 (onnxruntime quantize_dynamic)", quiet):
                        quantize_dynamic(
                            str(prepared),
                            str(quantized),
                            weight_type=QuantType.QInt8,
                            per_channel=per_channel,
                            reduce_range=reduce_range,
                            # Gather (embedding tables) is left to quantize_embedding_rows below.
                            op_types_to_quantize=["MatMul", "Attention"],
                            # Contrib ops from the fusion defeat ONNX shape inference; every tensor here is fp32.
                            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                        )
                else:
                    reader, n = _calibration_reader(out.dir, manifest, calibration, calibration_size)
                    details.update({"calibration_file": str(calibration), "calibration_sentences": n, "activation_type": "uint8", "format": "QDQ"})
                    with step(f"calibrating and quantizing (static QDQ, {n} sentences)", quiet):
                        quantize_static(
                            str(prepared),
                            str(quantized),
                            reader,
                            quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8,
                            per_channel=per_channel,
                            reduce_range=reduce_range,
                            op_types_to_quantize=["MatMul"],
                            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                        )
            model = onnx.load(str(quantized))
            # After ORT's quantizer, which would otherwise re-quantize the per-row scale vectors.
            details["embedding_tables_int8_per_row"] = quantize_embedding_rows(model, min_rows=EMBEDDING_MIN_ROWS)
            details["deduplicated_after_quantization"] = dedupe_initializers(model)
            remove_dead_initializers(model)
            model.doc_string = f"albert-edge int8 ({mode})"
            stats = graph_stats(model)
            if stats["weight_matmuls_float"]:
                raise AlbertEdgeError(f"quantization left {stats['weight_matmuls_float']} weight matmul(s) in fp32; refusing to write a partial int8 model")
            guard = _weight_guard(model, out.dir, manifest, per_channel, allow_duplicated_weights)
            with atomic_path(out.dir / INT8_FILE, suffix=".onnx") as tmp:
                onnx.save(model, str(tmp))
                _smoke_test(tmp, len(manifest["labels"]))
        inputs, outputs = onnx_io(len(manifest["labels"]))
        extra = {}
        if has_cls_row_slices(model):  # the source's [CLS]-row rewrite survived fusion and quantization
            extra["rewrites"] = dict(find_artifact(manifest, ONNX_FILE).get("rewrites") or {"cls_row_after_last_attention": True})
        entry = artifact_entry(
            out.dir, INT8_FILE, "onnx", "int8", inputs, outputs, derived_from=ONNX_FILE, quantization=details, graph=stats, runtime_hints=runners.runtime_hints(),
            weight_guard=guard, **extra,
        )
        out.add(entry)
        if text:
            from ..export.onnx_text import add_text_models_for

            add_text_models_for(out, INT8_FILE, overwrite=True, quiet=quiet)
        if ort:
            from .onnx_mobile import add_ort_models

            add_ort_models(out.dir, target_platform=ort_target, overwrite=True, quiet=quiet)
    return entry


def _weight_guard(model, folder: Path, manifest: dict, per_channel: bool, allow: bool) -> dict:
    """Refuse a model.int8.onnx that stores any weight twice (albert_edge.weight_guard)."""
    from ..weight_guard import check_weights, parameter_shapes_for_folder
    from ..export.onnx_graph import list_constants, weight_budget

    budget = weight_budget(parameter_shapes_for_folder(folder, manifest), "int8", embedding_min_rows=EMBEDDING_MIN_ROWS, per_channel=per_channel)
    return check_weights(list_constants(model), budget, INT8_FILE, allow=allow)


@contextlib.contextmanager
def _root_log_level(level):
    """onnxruntime.quantization logs advice ("consider pre-processing") on the root logger."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(old)


def _smoke_test(path: Path, num_labels: int) -> None:
    """Load the file in ONNX Runtime (with the runners' session settings) and run two lengths before it
    is renamed into place."""
    from ..runners import ort_session

    s = ort_session(path, threads=1)
    try:
        for L in (5, 17):
            feeds = {"input_ids": np.full((2, L), 5, np.int64), "attention_mask": np.ones((2, L), np.int64), "token_type_ids": np.zeros((2, L), np.int64)}
            out = s.run(["logits"], feeds)[0]
            if out.shape != (2, num_labels) or not np.isfinite(out).all():
                raise AlbertEdgeError(f"quantized model produced bad logits of shape {out.shape}")
    except AlbertEdgeError:
        raise
    except Exception as e:
        raise AlbertEdgeError(f"quantized model does not run in ONNX Runtime: {str(e).splitlines()[0][:200]}") from None
