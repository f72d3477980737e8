"""`albert-edge export mediapipe`: a .tflite that MediaPipe Tasks' TextClassifier loads as it is
(Android, iOS, Web: `TextClassifier.createFromFile(...)`, no tokenizer code in the app).

What MediaPipe needs, and what each part of this file answers (measured with mediapipe 1.2.3):
- ONE subgraph: a file with several signatures is refused ("Classification tflite models are
  assumed to have a single subgraph"), so the file has one fixed length (--max-length, default
  128); MediaPipe pads every text to it and truncates longer ones ([CLS] … [SEP] kept).
- model metadata naming the tokenizer, the input tensors and the labels (export/mediapipe_metadata).
  The tokenizer packed in is the HF-exact SentencePiece model (albert_edge.spm_hf): with the
  original spiece.model, 20 of 872 SST-2 dev sentences got other ids than Hugging Face's.
- probabilities as the output: MediaPipe reports the output tensor as "scores" unchanged (it
  showed our logits, 3.10 / -2.52, as scores while the metadata declares 0..1), so score_threshold
  and max_results only mean something if the graph ends in a softmax.
- every weight stored once: the same conversion as `export tflite` (its layer-input optimization
  barriers keep LiteRT from folding LayerNorm scales into per-application weight copies), the same
  buffer merge, the same weight guard, on the final bytes.

Precisions: int8 (default: ai-edge-quantizer dynamic_wi8_afp32 as `quantize tflite`, except the
word-embedding table, stored as int8 rows + fp32 row scales without TFLite's int64 zero points, see
ROW_SCALED_CLASS), fp16 (float_casting), fp32.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import AlbertEdgeError
from ..staging import shown
from ..formats import INPUT_NAMES

HELP = "export a MediaPipe-ready TFLite text classifier (one sequence length, softmax output, tokenizer + labels in its metadata; uncased, right-truncating tokenizers only)"
FILES = {"int8": "model.int8.mediapipe.tflite", "fp16": "model.fp16.mediapipe.tflite", "fp32": "model.mediapipe.tflite"}
PRECISIONS = ("int8", "fp16", "fp32")
QUANT_MODE = {"int8": "dynamic", "fp16": "fp16"}
DEFAULT_MAX_LENGTH = 128
OUTPUT_NAME = "probabilities"
CLIENT = "mediapipe"


def signature_key(seq_len: int) -> str:
    from .tflite_export import signature_key as key

    return key(seq_len)


# The word-embedding table of the int8 file is stored as int8 rows + one fp32 scale per row, built
# here in the traced module (EMBEDDING_LOOKUP int8 -> CAST -> MUL by EMBEDDING_LOOKUP of the scales),
# the way export/onnx_graph.quantize_embedding_rows does it for ONNX. Why not ai-edge-quantizer's
# own per-row int8 table: TFLite stores a per-channel zero point as int64 next to each fp32 scale
# (12 B per row, the zero points all 0, and the runtime requires as many zero points as scales),
# 360 KB for a 30k vocabulary where 120 KB of scales carry the information. The packed HF-exact
# tokenizer (789 KB, stored uncompressed: MediaPipe refuses compressed associated files) put the
# ALBERT-base int8 file at 13.12 MB with the quantizer's table, 12.88 MB with this one (measured).
ROW_SCALED_CLASS = "RowScaledInt8Embedding"  # also the quantizer recipe's scope regex (tensor names carry it)


def row_scaled_int8_embedding(weight):
    """A module equal to nn.Embedding(weight) up to symmetric per-row int8 rounding."""
    import torch

    class RowScaledInt8Embedding(torch.nn.Module):
        def __init__(self, w):
            super().__init__()
            w = w.detach().float()
            amax = w.abs().amax(dim=1)
            scale = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
            self.register_buffer("rows", torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
            self.register_buffer("scale", scale[:, None].contiguous())

        def forward(self, ids):
            F = torch.nn.functional
            return F.embedding(ids, self.rows).to(torch.float32) * F.embedding(ids, self.scale)

    assert RowScaledInt8Embedding.__name__ == ROW_SCALED_CLASS
    return RowScaledInt8Embedding(weight)


@contextlib.contextmanager
def int8_word_embeddings(model, enabled: bool = True):
    """While active, the model's word embeddings are the row-scaled int8 table (for tracing only)."""
    if not enabled:
        yield
        return
    emb = model.albert.embeddings
    orig = emb.word_embeddings
    emb.word_embeddings = row_scaled_int8_embedding(orig.weight)
    try:
        yield
    finally:
        emb.word_embeddings = orig


def convert_probabilities(model, seq_len: int, quiet: bool = False) -> bytes:
    """One signature at seq_len ending in a softmax, converted like `export tflite` (the LayerNorm-fold
    barriers of tflite_sharing included)."""
    from .tflite_export import convert_buckets

    return convert_buckets(model, (seq_len,), quiet, probabilities=True)


def quantize_bytes(data: bytes, precision: str, quiet: bool = False) -> tuple[bytes, dict]:
    """int8 / fp16 with ai-edge-quantizer, the recipes of `quantize tflite`; then the buffer merge."""
    from ..progress import step
    from .tflite_recipes import RECIPE_NAME, quantized_bytes, recipe_for
    from .tflite_buffers import compact

    mode = QUANT_MODE[precision]
    from ai_edge_quantizer import quantizer

    recipe = recipe_for(mode)
    if precision == "int8":
        # The row-scaled table is int8 already; its [V, 1] fp32 scales feed an EMBEDDING_LOOKUP too,
        # which the recipe would otherwise quantize (the latest matching recipe entry wins).
        recipe = list(recipe) + [{"regex": ROW_SCALED_CLASS, "operation": "EMBEDDING_LOOKUP", "algorithm_key": "no_quantize"}]
    q = quantizer.Quantizer(data, recipe)
    with step(f"quantizing ({precision}: {RECIPE_NAME[mode]})", quiet):
        quantized = quantized_bytes(q, mode)
    out, stats = compact(quantized, shorten_names=False)
    return out, {"tool": "ai-edge-quantizer", "recipe": RECIPE_NAME[mode], "mode": mode, "stats": stats}


def hf_spm(folder: Path, manifest: dict) -> tuple[Path, dict]:
    """The folder's HF-exact SentencePiece model (open_output writes and checks it for every export):
    MediaPipe's own tokenizer then gives Hugging Face's ids."""
    from ..artifacts import HF_SPM_FILE, hf_spm_bytes

    hf_spm_bytes(folder, manifest, "export mediapipe")  # checked against the manifest, or a one-line error
    facts = manifest["tokenizer"]["hf_spm"]
    return folder / HF_SPM_FILE, {k: facts[k] for k in ("file", "sha256", "bytes", "rules", "score_changes", "exceptions") if k in facts}


def tokenizer_problem(tok) -> str | None:
    """Why MediaPipe cannot serve this tokenizer, or None. Its TextClassifier lower-cases the text before
    its SentencePiece tokenizer (measured: on a cased tokenizer "A Good Film" scored as "a good film"), and
    cuts long texts at the end."""
    from ..tokenizer import LEFT_TRUNCATION, is_cased, truncates_from_left

    if is_cased(tok):
        return (
            "is cased (do_lower_case false), but MediaPipe's TextClassifier lower-cases every text before "
            "tokenizing: its scores would be for other ids"
        )
    if truncates_from_left(tok):
        return LEFT_TRUNCATION
    return None


def require_mediapipe_tokenizer(tok, model_dir) -> None:
    why = tokenizer_problem(tok)
    if why:
        raise AlbertEdgeError(f"the tokenizer in {model_dir} {why}; use the onnx, tflite or executorch formats")


def export_mediapipe(
    model_dir, folder, max_length: int = DEFAULT_MAX_LENGTH, precision: str = "int8", overwrite: bool = False, quiet: bool = False,
    allow_duplicated_weights: bool = False,
) -> dict:
    """Write `folder`/model[.int8|.fp16].mediapipe.tflite; returns its manifest entry."""
    from ..artifacts import check_length, open_output, preflight
    from ..checkpoint import load_checkpoint
    from ..fsutil import atomic_path
    from ..manifest import artifact_entry
    from .cls_only import TFLITE_REWRITES
    from ..progress import step
    from ..staging import current
    from ..weight_guard import parameter_shapes
    from .mediapipe_metadata import mediapipe_version, require_mediapipe, write_metadata, input_tensor_names
    from .tflite_buffers import compact
    from .tflite_export import _existing_max_length, remove_stale_caches, weight_guard

    if precision not in PRECISIONS:
        raise AlbertEdgeError(f"unknown precision {precision!r} (choose {', '.join(PRECISIONS)})")
    max_length = int(max_length)
    if max_length < 2:
        raise AlbertEdgeError(f"--max-length {max_length} is too small (need room for [CLS] and [SEP])")
    require_mediapipe("export mediapipe")  # before minutes of conversion (a missing extra is said first)
    folder = Path(folder)
    preflight(folder, model_dir, max_length)
    file = FILES[precision]
    with step("loading checkpoint", quiet):
        ckpt = load_checkpoint(model_dir)
    check_length(max_length, ckpt.config.max_position_embeddings)
    require_mediapipe_tokenizer(ckpt.tokenizer, model_dir)
    # A folder already exported at another max_seq_length keeps it (the MediaPipe file's length is
    # its own); a longer MediaPipe file than the folder serves would be truncated by our runners.
    existing = _existing_max_length(current(folder), ckpt)
    if existing and max_length > existing:
        raise AlbertEdgeError(f"--max-length {max_length} exceeds the folder's max_seq_length {existing}; use a length <= {existing} or another folder")
    labels = list(ckpt.labels)
    with open_output(folder, ckpt, existing or max_length, overwrite, [file]) as out:
        spm_path, spm_facts = hf_spm(out.dir, out.manifest)
        with int8_word_embeddings(ckpt.model, enabled=precision == "int8"):
            raw = convert_probabilities(ckpt.model, max_length, quiet)
        with step("merging duplicate constant buffers", quiet):
            data, stats = compact(raw)
        quant = None
        if precision != "fp32":
            data, q = quantize_bytes(data, precision, quiet)
            stats, quant = q.pop("stats"), q
        names = input_tensor_names(data)
        with step("writing MediaPipe metadata (tokenizer, labels, tensor names)", quiet):
            data, md = write_metadata(data, spm_path, labels, names)
        # On the final bytes: the metadata step re-packs the flatbuffer.
        mode = QUANT_MODE.get(precision, "dynamic")
        guard = weight_guard(data, file, parameter_shapes(ckpt.model), precision, [max_length], allow_duplicated_weights, mode=mode)
        path = out.dir / file
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
            remove_stale_caches(out.dir, file)
        from .tflite_buffers import constant_stats

        after = constant_stats(data)
        sig = {
            "key": signature_key(max_length),
            "seq_len": max_length,
            "inputs": [{"name": n, "dtype": "int32", "shape": [1, max_length], "tensor": names[n]} for n in INPUT_NAMES],
            "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": [1, len(labels)]}],
        }
        params = int(ckpt.unique_parameters)
        entry = artifact_entry(
            out.dir, file, "mediapipe", precision,
            inputs=sig["inputs"], outputs=sig["outputs"], signatures=[sig], buckets=[max_length],
            client=CLIENT,
            scores="probabilities",  # softmax in the graph: rows sum to 1 (runners must not softmax again)
            max_length=max_length,
            converter="litert-torch",
            rewrites=dict(TFLITE_REWRITES),
            mediapipe={
                **md,
                "tested_with": mediapipe_version(),
                "tokenizer": spm_facts,
                "truncation": f"texts longer than {max_length} tokens are cut to [CLS] + {max_length - 2} pieces + [SEP]",
            },
            constants={
                "buffers": after["buffers"],
                "bytes": after["bytes"],
                "unique_parameters": params,
                "bytes_per_param": round(after["bytes"] / max(params, 1), 4),
                "duplicates_merged": stats["before"]["duplicate_buffers"] - stats["after"]["duplicate_buffers"],
                "misaligned_buffers": after["misaligned"],
            },
            weight_guard=guard,
            **({"quantization": quant} if quant else {}),
        )
        entry["export_check"] = export_check(path, ckpt, entry, quiet)
        out.add(entry)
    if not quiet:
        c, x = entry["constants"], entry["export_check"]
        print(
            f"wrote {shown(folder / file)} ({entry['bytes'] / 1e6:.2f} MB, {precision}, {max_length} tokens; constants {c['bytes'] / 1e6:.2f} MB = "
            f"{c['bytes_per_param']:.2f} B/param; MediaPipe TextClassifier on {x['texts']} sample texts: labels {x['label_agreement']:.1%} "
            f"equal to PyTorch, max |Δp| {x['max_abs_diff']:.1e})"
        )
    return entry


def export_check(path: Path, ckpt, entry: dict, quiet: bool = False) -> dict:
    """MediaPipe's TextClassifier itself on the shipped sample texts vs PyTorch's softmax (same
    truncation), plus our LiteRT runner on HF ids; recorded in the entry, refused when broken."""
    import numpy as np

    from ..data import SAMPLES_TSV, read_labeled_tsv
    from ..progress import step
    from ..runners import TorchRunner
    from ..tokenizer import TextEncoder
    from ..mediapipe_runner import MediaPipeRunner
    from ..parity import softmax
    from ..tflite_runner import TFLiteRunner

    texts = read_labeled_tsv(SAMPLES_TSV)[0]
    L = entry["max_length"]
    pad = ckpt.tokenizer.pad_token_id or 0
    ids = TextEncoder(ckpt.tokenizer, L).encode(texts)
    with step(f"checking with MediaPipe's TextClassifier on {len(texts)} sample texts", quiet):
        ref = TorchRunner(ckpt.model, pad_id=pad).run_batched(ids)
        ref_p = softmax(ref)
        mp = MediaPipeRunner(path, entry=entry)
        got = mp.logits_text(texts)
        mp.close()
        lite = TFLiteRunner(path, pad_id=pad, threads=1, entry=entry, weight_cache=False)
        got_lite = lite.logits(ids)
        lite.close()
    sums = got.sum(1)
    result = {
        "texts": len(texts),
        "label_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
        "max_abs_diff": float(np.abs(got - ref_p).max()),
        "max_sum_error": float(np.abs(sums - 1).max()),
        "litert_max_abs_diff": float(np.abs(got_lite - ref_p).max()),
        "mediapipe_vs_litert_max_abs_diff": float(np.abs(got - got_lite).max()),
    }
    from ..parity import Thresholds

    SUM_TOLERANCE = Thresholds().probability_sum_tolerance

    if result["max_sum_error"] > SUM_TOLERANCE:
        raise AlbertEdgeError(f"{path.name}: MediaPipe's scores sum to 1 ± {result['max_sum_error']:.1e}, not probabilities (tolerance {SUM_TOLERANCE:g})")
    return result


def add_arguments(p) -> None:
    from ..options import positive_int

    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="fine-tuned ALBERT Hugging Face folder")
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder (may already hold other artifacts of the same checkpoint)")
    p.add_argument("--max-length", type=positive_int, default=DEFAULT_MAX_LENGTH, metavar="N",
                   help="the file's one sequence length: MediaPipe pads every text to it and truncates longer ones (default %(default)s)")
    p.add_argument("--precision", choices=PRECISIONS, default="int8", help="int8 weights (default), fp16 weights, or fp32")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file / folder")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--allow-duplicated-weights", action="store_true", help="write the file even if it stores weights more than once (recorded in the manifest)")


def run(args) -> int:
    export_mediapipe(
        args.model, args.output, max_length=args.max_length, precision=args.precision, overwrite=args.overwrite, quiet=args.quiet,
        allow_duplicated_weights=getattr(args, "allow_duplicated_weights", False),
    )
    return 0
