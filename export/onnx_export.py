"""`albert-edge export onnx`: a portable fp32 ONNX graph with each shared ALBERT weight stored once."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

from ..errors import AlbertEdgeError
from ..staging import shown
from ..formats import INPUT_NAMES
from .. import options

HELP = "export a fine-tuned ALBERT checkpoint to fp32 ONNX (model.onnx) in an artifacts folder"
ONNX_FILE = "model.onnx"
OPSET = 17
DEFAULT_MAX_LENGTH = 128


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder to create or add to")
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="local Hugging Face ALBERT classifier folder")
    p.add_argument("--max-length", type=options.positive_int, default=DEFAULT_MAX_LENGTH, help="longest token sequence the artifacts serve (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace existing artifacts")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--allow-duplicated-weights", action="store_true", help="write the file even if it stores weights more than once (recorded in the manifest)")
    p.add_argument("--no-text", dest="text", action="store_false", help="skip model.text.onnx (the text-in model with the tokenizer in the graph)")


def run(args) -> int:
    entry = export_onnx(
        args.model, args.output, max_length=args.max_length, overwrite=args.overwrite, quiet=args.quiet,
        allow_duplicated_weights=getattr(args, "allow_duplicated_weights", False), text=args.text,
    )
    if not args.quiet:
        print(f"wrote {shown(Path(args.output) / entry['file'])} ({entry['bytes'] / 1e6:.2f} MB, {entry['graph']['initializers']} initializers)")
    return 0


def onnx_io(num_labels: int) -> tuple[list[dict], list[dict]]:
    inputs = [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in INPUT_NAMES]
    outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", num_labels]}]
    return inputs, outputs


def export_onnx(model_dir, folder, max_length: int = DEFAULT_MAX_LENGTH, overwrite: bool = False, quiet: bool = False, allow_duplicated_weights: bool = False,
                text: bool = True, cls_row: bool = True) -> dict:
    """model.onnx (+ model.text.onnx unless text=False) in one transaction; returns model.onnx's entry.
    cls_row=False keeps the last layer application on every row (the graph before
    export/onnx_cls_row.py, for side-by-side measurements: benchmarks/onnx_cls_row.py)."""
    from ..artifacts import open_output, preflight
    from ..checkpoint import load_checkpoint
    from ..progress import step

    if max_length < 2:
        raise AlbertEdgeError("--max-length must be at least 2 ([CLS] and [SEP])")
    folder = Path(folder)
    preflight(folder, model_dir, max_length, overwrite, [ONNX_FILE])
    with step(f"loading {model_dir}", quiet):
        ckpt = load_checkpoint(model_dir)
    with open_output(folder, ckpt, max_length, overwrite, [ONNX_FILE]) as out:
        entry = _write_onnx(ckpt, out.dir, quiet, allow_duplicated_weights, cls_row)
        out.add(entry)
        if text:
            from .onnx_text import add_text_models_for

            add_text_models_for(out, ONNX_FILE, overwrite=True, quiet=quiet)
    return entry


def _write_onnx(ckpt, folder: Path, quiet: bool, allow_duplicated_weights: bool = False, cls_row: bool = True) -> dict:
    """Trace `ckpt` to folder/model.onnx; returns its manifest entry."""
    import onnx
    import torch

    from ..fsutil import atomic_path
    from ..manifest import artifact_entry
    from ..progress import step
    from .onnx_graph import graph_stats, remove_dead_initializers, resolve_initializer_aliases
    from .wrappers import logits_only

    wrapped = logits_only(ckpt.model)
    sample = ckpt.tokenizer(["albert edge export"], return_tensors="pt")
    ex = tuple(sample[n] if n in sample else torch.zeros_like(sample["input_ids"]) for n in INPUT_NAMES)
    with step("exporting to ONNX (torch.onnx)", quiet), atomic_path(folder / ONNX_FILE, suffix=".onnx") as tmp:
        # The TorchScript-based exporter keeps each nn.Parameter as one initializer however many times the
        # shared layer is applied, and folds Linear transposes into it; the dynamo exporter (tried: torch
        # 2.13) emits per-application constants and needs ~30x longer for the same graph.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapped,
                ex,
                str(tmp),
                dynamo=False,
                input_names=list(INPUT_NAMES),
                output_names=["logits"],
                dynamic_axes={n: {0: "batch", 1: "sequence"} for n in INPUT_NAMES} | {"logits": {0: "batch"}},
                opset_version=OPSET,
                do_constant_folding=True,
            )
        model = onnx.load(str(tmp))
        resolve_initializer_aliases(model)
        remove_dead_initializers(model)
        if cls_row:
            with step("computing the last application's output projection and FFN for [CLS] only", quiet):
                rewrites = cls_row_rewrite(model)
        else:
            rewrites = {"cls_row_after_last_attention": False}
        model.doc_string = "exported by albert-edge"
        onnx.checker.check_model(model, full_check=True)
        guard = _weight_guard(model, ckpt, allow_duplicated_weights)
        onnx.save(model, str(tmp))
        stats = graph_stats(model)
    inputs, outputs = onnx_io(len(ckpt.labels))
    from ..runners import runtime_hints

    return artifact_entry(
        folder, ONNX_FILE, "onnx", "fp32", inputs, outputs, opset=OPSET, graph=stats, runtime_hints=runtime_hints(), weight_guard=guard,
        rewrites=rewrites,
    )


def cls_row_rewrite(model) -> dict:
    """export/onnx_cls_row.hoist_row_select on `model` (in place), proven on the spot: the rewritten
    graph must give the logits of the graph before it (ONNX Runtime, padded batches of two lengths).
    Returns the manifest entry's "rewrites". A rewrite that changes the logits is an albert-edge bug: it
    is refused with an error rather than shipped."""
    from .onnx_cls_row import hoist_row_select

    before = model.SerializeToString()
    stats = hoist_row_select(model)
    if not stats["row_slices"]:
        return {"cls_row_after_last_attention": False}
    probes = _probe_feeds()
    want, got = _run_logits(before, probes), _run_logits(model.SerializeToString(), probes)
    diff = max(float(np.max(np.abs(w - g))) for w, g in zip(want, got))
    scale = max(1.0, max(float(np.max(np.abs(w))) for w in want))
    # fp32 rounding may differ where a matmul runs on 1 row instead of L (another kernel path; 0.0
    # measured here); a wrong row gives differences of the logits' own size.
    if not diff <= 1e-4 * scale:
        raise AlbertEdgeError(f"internal error: the [CLS]-row rewrite of the ONNX graph changed the logits by {diff:.3g}; please report it")
    return {"cls_row_after_last_attention": True, "weight_matmuls_on_cls_row": stats["weight_matmuls"], "rowwise_nodes_on_cls_row": stats["rowwise_nodes"]}


def _probe_feeds() -> list[dict]:
    """Two padded batches (lengths 7 and 19, ids from a fixed seed): rows past the padding and the
    second sentence of a batch are where a wrong row selection would show."""
    rng = np.random.default_rng(0)
    feeds = []
    for L in (7, 19):
        ids = rng.integers(5, 100, size=(2, L), dtype=np.int64)
        mask = np.ones((2, L), np.int64)
        mask[1, L // 2 :] = 0
        feeds.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros((2, L), np.int64)})
    return feeds


def _run_logits(model_bytes: bytes, feeds: list[dict]) -> list:
    from ..runners import ort_session

    s = ort_session(model_bytes, threads=1)
    return [s.run(["logits"], f)[0] for f in feeds]


def _weight_guard(model, ckpt, allow: bool) -> dict:
    """Refuse a model.onnx that stores any weight twice (albert_edge.weight_guard)."""
    from .onnx_graph import list_constants, weight_budget
    from ..weight_guard import check_weights, parameter_shapes

    return check_weights(list_constants(model), weight_budget(parameter_shapes(ckpt.model), "fp32"), ONNX_FILE, allow=allow)
