"""`albert-edge quantize executorch`: int8 ExecuTorch program (model.int8.pte) in which every application
of every shared ALBERT weight runs an XNNPACK integer matmul, each weight is stored once (int8), the
word-embedding table included.

Recipe: the checkpoint the folder was exported from is rewritten for XNNPACK as for model.pte
(export/executorch_rewrites.py), captured with torch.export, and quantized with PT2E:
ExecuTorch's XNNPACKQuantizer (dynamic int8 activations, per-channel symmetric int8 weights; with the
integer-add fix, see IntegerSafeXNNPACKQuantizer) composed with torchao's EmbeddingQuantizer
(uint8 rows with one scale and zero point per row). ExecuTorch's quant fusion turns the embedding into
its quantized_decomposed::embedding_byte kernel. Why the embedding matters: ALBERT-base's
30000 x 128 fp32 table is 15.4 MB, which kept the linears-only int8 program at 23.7 MB; int8 rows make
it 3.9 MB (12.2 MB total).

PT2E quantizes the torch model, not the .pte, so the checkpoint must be available (the folder's
manifest names it and records its sha256; --model points elsewhere).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import AlbertEdgeError
from ..staging import shown

HELP = "quantize for ExecuTorch: int8 model.int8.pte (XNNPACK dynamic int8 linears, int8 embedding tables)"
INT8_FILE = "model.int8.pte"
EMBEDDINGS = ("int8", "fp32")
# Word (30k rows) and position (512) tables become int8 rows; token-type (2 rows) stays fp32, as in
# model.int8.onnx: its row 0 is added to every token, so its rounding error is a bias on every input.
# Label agreement with PyTorch on the trained demo model, 872 SST-2 dev sentences: every table int8
# 99.54% (accuracy -0.23 pt), token-type fp32 99.77% (-0.0 pt, +128 bytes), every table fp32 99.89%.
EMBEDDING_MIN_ROWS = 256


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder (made by `export executorch` or any `export` of the same checkpoint)")
    p.add_argument("--model", metavar="MODEL_DIR", help="the checkpoint folder (default: the one the manifest names; its weights must match)")
    p.add_argument("--embeddings", choices=EMBEDDINGS, default="int8", help="embedding tables as int8 rows (default) or left fp32")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model.int8.pte")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--allow-duplicated-weights", action="store_true", help="write the file even if it stores weights more than once (recorded in the manifest)")


def run(args) -> int:
    from ..export.executorch_export import describe

    entry = quantize_executorch(
        args.output, model_dir=args.model, embeddings=args.embeddings, overwrite=args.overwrite, quiet=args.quiet,
        allow_duplicated_weights=getattr(args, "allow_duplicated_weights", False),
    )
    if not args.quiet:
        print(f"wrote {shown(Path(args.output) / entry['file'])} ({describe(entry)})")
    return 0


def _embedding_quantizer(min_rows: int):
    import torch
    from torchao.quantization.pt2e.quantizer.embedding_quantizer import EmbeddingQuantizer
    from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY

    class TableEmbeddingQuantizer(EmbeddingQuantizer):
        """torchao's EmbeddingQuantizer for tables of at least `min_rows` rows only (it annotates every
        aten.embedding; why not the token-type table: see EMBEDDING_MIN_ROWS)."""

        def annotate(self, model):
            model = super().annotate(model)
            for n in model.graph.nodes:
                if n.op == "call_function" and n.target == torch.ops.aten.embedding.default and Q_ANNOTATION_KEY in n.meta:
                    w = n.args[0].meta.get("val") if isinstance(n.args[0], torch.fx.Node) else None
                    if w is not None and w.shape[0] < min_rows:
                        del n.meta[Q_ANNOTATION_KEY]
            return model

    return TableEmbeddingQuantizer()


def quantizer(embeddings: str = "int8", min_rows: int = EMBEDDING_MIN_ROWS):
    """The PT2E quantizer: dynamic per-channel int8 linears (+ per-row int8 embedding tables)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantizer import ComposableQuantizer

    from ..export.executorch_rewrites import IntegerSafeXNNPACKQuantizer

    q = IntegerSafeXNNPACKQuantizer()
    q.set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
    return ComposableQuantizer([_embedding_quantizer(min_rows), q]) if embeddings == "int8" else q


def quantize_program(ep, max_length: int, embeddings: str = "int8"):
    """prepare_pt2e -> one calibration call (dynamic activations: only the weight observers need data)
    -> convert_pt2e -> torch.export again."""
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from ..export.executorch_export import _first_line, export_program, quiet_native, sample_inputs

    try:
        with torch.no_grad(), quiet_native():
            gm = prepare_pt2e(ep.module(), quantizer(embeddings))
            gm(*sample_inputs(min(16, max_length)))
            gm = convert_pt2e(gm)
    except Exception as e:
        raise AlbertEdgeError(f"PT2E quantization failed: {_first_line(e)}") from None
    return export_program(gm, max_length)


def _source_checkpoint(manifest: dict, model_dir) -> Path:
    from ..fsutil import sha256_file

    src = manifest["source"]
    path = Path(model_dir) if model_dir else Path(src["model_dir"])
    if not path.is_dir():
        raise AlbertEdgeError(f"the checkpoint folder {path} does not exist; pass --model MODEL_DIR (the checkpoint this folder was exported from)")
    weights = path / src["weights_file"]
    if not weights.is_file():
        raise AlbertEdgeError(f"{path} has no {src['weights_file']}; pass --model MODEL_DIR (the checkpoint this folder was exported from)")
    if sha256_file(weights) != src["weights_sha256"]:
        raise AlbertEdgeError(f"{weights} is not the checkpoint this folder was exported from (sha256 differs); pass the right --model")
    return path


def quantize_executorch(
    folder,
    model_dir=None,
    embeddings: str = "int8",
    overwrite: bool = False,
    quiet: bool = False,
    allow_duplicated_weights: bool = False,
) -> dict:
    from ..artifacts import update_output
    from ..checkpoint import load_checkpoint
    from ..export.executorch_export import (
        BACKEND,
        MIN_LENGTH,
        PTE_FILE,
        _weight_guard,
        executorch_io,
        export_program,
        lower_to_pte,
        prepare_module,
        probe_ids,
        pte_summary,
        require_executorch,
        runtime_hints,
        self_check,
        torch_logits,
    )
    from ..fsutil import atomic_path
    from ..manifest import artifact_entry
    from ..progress import step
    from ..weight_guard import parameter_shapes

    if embeddings not in EMBEDDINGS:
        raise AlbertEdgeError(f"unknown --embeddings {embeddings!r} (choose from {', '.join(EMBEDDINGS)})")
    require_executorch()
    with update_output(folder) as out:
        manifest = out.manifest
        if (out.dir / INT8_FILE).exists() and not overwrite:
            raise AlbertEdgeError(f"{Path(folder) / INT8_FILE} already exists (use --overwrite)")
        max_length = int(manifest["max_seq_length"])
        src = _source_checkpoint(manifest, model_dir)
        with step(f"loading {src}", quiet):
            ckpt = load_checkpoint(src, with_tokenizer=False)
        probes = probe_ids(ckpt.config.vocab_size, max_length)
        reference = torch_logits(ckpt.model, probes)
        params = parameter_shapes(ckpt.model)
        module, rewrites = prepare_module(ckpt.model)
        with step(f"exporting and quantizing (torch.export + PT2E: dynamic int8 linears{', int8 embedding rows' if embeddings == 'int8' else ''})", quiet):
            ep = quantize_program(export_program(module, max_length), max_length, embeddings)
        with step("lowering to XNNPACK (to_edge_transform_and_lower)", quiet):
            data, stats = lower_to_pte(ep, quantized=True)
        with atomic_path(out.dir / INT8_FILE, suffix=".pte") as tmp:
            tmp.write_bytes(data)
            summary = pte_summary(tmp)
            if summary["weight_matmuls_float"] or not summary["weight_matmuls_integer"]:
                raise AlbertEdgeError(
                    f"quantization left {summary['weight_matmuls_float']} of {summary['weight_matmuls_float'] + summary['weight_matmuls_integer']} "
                    "weight matmul(s) in fp32; refusing to write a partial int8 model"
                )
            small = sum(1 for name, shape in params if "embeddings." in name and len(shape) == 2 and shape[0] < EMBEDDING_MIN_ROWS)
            fp32_tables = summary["instructions"].get("aten::embedding.out", 0)
            if embeddings == "int8" and fp32_tables > small:
                raise AlbertEdgeError(f"{fp32_tables - small} large embedding table(s) stayed fp32; refusing to write it")
            guard = _weight_guard(tmp, INT8_FILE, params, "int8", allow_duplicated_weights, embeddings_int8=embeddings == "int8", embedding_min_rows=EMBEDDING_MIN_ROWS)
            with step("checking the program runs (ExecuTorch)", quiet):
                diff = self_check(tmp, probes, reference, None, INT8_FILE)
        inputs, outputs = executorch_io(len(manifest["labels"]), max_length)
        details = {
            "tool": "pt2e",
            "mode": "dynamic",
            "quantizer": "XNNPACKQuantizer(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)), integer adds skipped",
            "per_channel": True,
            "weight_type": "int8",
            "activations": "int8, dynamic per row (XNNPACK qd8)",
            "embeddings": f"tables with >= {EMBEDDING_MIN_ROWS} rows uint8 per row (scale + zero point), quantized_decomposed::embedding_byte; smaller tables fp32" if embeddings == "int8" else "fp32",
        }
        entry = artifact_entry(
            out.dir, INT8_FILE, "executorch", "int8", inputs, outputs,
            backend=BACKEND,
            batch=1,
            sequence={"min": MIN_LENGTH, "max": max_length},
            derived_from=PTE_FILE if any(a["file"] == PTE_FILE for a in manifest["artifacts"]) else manifest["source"]["weights_file"],
            rewrites=rewrites,
            quantization=details,
            graph={**stats, **summary},
            self_check={"max_abs_logit_diff_vs_fp32_pytorch": diff, "lengths": [len(p) for p in probes]},
            runtime_hints=runtime_hints(),
            weight_guard=guard,
        )
        out.add(entry)
    return entry
