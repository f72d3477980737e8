"""`albert-edge export tflite`: a LiteRT (.tflite) model with one fixed-length signature per
sequence bucket, every shared ALBERT weight stored once.

litert-torch converts a torch module traced at fixed shapes; dynamic sequence length does not
convert and a fixed model cannot be resized at run time, so the file carries several signatures
(seq_32, seq_64, seq_128 by default) over ONE set of constant buffers, and the runner picks the
smallest bucket that fits each text.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from ..errors import AlbertEdgeError
from ..staging import shown
from ..formats import INPUT_NAMES
from .. import options
from .wrappers import logits_only

HELP = "export a checkpoint to TFLite (LiteRT): fp32 model.tflite with one signature per sequence bucket"
FILE = "model.tflite"
DEFAULT_BUCKETS = (32, 64, 128)
OUTPUT_NAME = "logits"


def signature_key(seq_len: int) -> str:
    return f"seq_{seq_len}"


def parse_buckets(text: str | None) -> tuple[int, ...] | None:
    """"32,64,128" -> (32, 64, 128) (options.int_list, the one parser of integer lists); None stays None."""
    from ..options import int_list

    return None if text is None else tuple(int_list(text, "--buckets", minimum=2))


def resolve_buckets(buckets, max_length: int | None, max_positions: int) -> tuple[tuple[int, ...], int]:
    """Buckets and the folder's max_seq_length: the largest bucket IS max_seq_length, so every
    text the tokenizer lets through fits a signature without further truncation."""
    buckets = tuple(sorted({int(b) for b in (buckets or DEFAULT_BUCKETS)}))
    if not buckets or buckets[0] < 2:
        raise AlbertEdgeError("sequence buckets must be integers >= 2 (room for [CLS] and [SEP])")
    if max_length is not None:
        if max_length < 2:
            raise AlbertEdgeError(f"--max-length {max_length} is too small (need room for [CLS] and [SEP])")
        if buckets[-1] > max_length:
            raise AlbertEdgeError(f"bucket {buckets[-1]} exceeds --max-length {max_length}; buckets must be <= the maximum length")
        if buckets[-1] < max_length:
            buckets = buckets + (max_length,)
    if buckets[-1] > max_positions:
        raise AlbertEdgeError(
            f"bucket {buckets[-1]} exceeds the model's max_position_embeddings ({max_positions}); "
            f"pass --max-length {max_positions} or less (and --buckets no larger)"
        )
    return buckets, buckets[-1]


def _existing_max_length(folder: Path, ckpt) -> int | None:
    """max_seq_length of a folder already holding artifacts of this checkpoint (e.g. from export onnx)."""
    from ..fsutil import sha256_file
    from ..manifest import MANIFEST, load_manifest

    if not (folder / MANIFEST).is_file():
        return None
    try:
        m = load_manifest(folder)
    except AlbertEdgeError:
        return None
    if m.get("source", {}).get("weights_sha256") != sha256_file(ckpt.weights_file):
        return None
    return m.get("max_seq_length")


def convert_buckets(model, buckets, quiet: bool = False, fold_barriers: bool | None = None, probabilities: bool = False, cls_only: bool = True) -> bytes:
    """Convert `model` (AlbertForSequenceClassification, eval) to one .tflite with a signature per bucket.

    fold_barriers (default: on, unless ALBERT_EDGE_TFLITE_FOLD_BARRIERS=0) keeps the converter from
    folding each application's preceding LayerNorm into the shared weights (see tflite_sharing).
    cls_only (default) computes the last layer application for [CLS] only (export/cls_only.py);
    False keeps it on every row, for side-by-side measurements."""
    import torch

    from .cls_only import ClsOnlyLogits, first_two_rows
    from .tflite_sharing import barriers_enabled, fold_barrier

    from ..progress import step

    if quiet or not sys.stderr.isatty():
        os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    from ..native_log import native_stderr_captured

    # Importing it loads TensorFlow's C++ runtime, which prints a oneDNN INFO line through absl
    # before any log level can apply (TF_CPP_MIN_LOG_LEVEL does not reach it); shown only on failure.
    failure = None
    with native_stderr_captured() as native:
        try:
            import litert_torch
        except ImportError as e:
            failure = str(e)
    if failure is not None:
        tail = " ".join(native["text"].strip().splitlines()[-1:])
        raise AlbertEdgeError(f"cannot import litert-torch ({failure})" + (f"; native log: {tail[:200]}" if tail else ""))

    barrier = fold_barrier(barriers_enabled() if fold_barriers is None else fold_barriers)
    # Static slices (every signature has a fixed length); two rows, not one: first_two_rows says why.
    classifier = ClsOnlyLogits(model, first_row=first_two_rows, barrier=barrier, cls_only=cls_only)
    wrapped = logits_only(classifier, as_dict=True, probabilities=probabilities)  # MediaPipe's file ends in a softmax
    conv = litert_torch.Converter()
    for L in buckets:
        # int32 in the graph: what phones feed, and litert-torch would downcast int64 anyway.
        z = torch.zeros((1, L), dtype=torch.int32)
        sample = {"input_ids": z + 5, "attention_mask": z + 1, "token_type_ids": z}
        conv.signature(signature_key(L), wrapped, sample_kwargs=sample)
    head = ", softmax output" if probabilities else ""
    with step(f"converting with litert-torch ({len(buckets)} signature{'s' if len(buckets) > 1 else ''}: {', '.join(map(str, buckets))}{head})", quiet):
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # torch.export's pytree deprecation chatter, not actionable for users.
                warnings.simplefilter("ignore", FutureWarning)
                edge = conv.convert()
        except Exception as e:  # the converter raises many types; the user needs one line
            msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise AlbertEdgeError(f"litert-torch could not convert the model: {msg}") from None
    return bytes(edge.model_content())


def signature_specs(buckets) -> list[dict]:
    return [
        {
            "key": signature_key(L),
            "seq_len": int(L),
            "inputs": [{"name": n, "dtype": "int32", "shape": [1, int(L)]} for n in INPUT_NAMES],
            "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": [1, "num_labels"]}],
        }
        for L in buckets
    ]


def check_ids(tokenizer, buckets) -> list[list[int]]:
    """A few encoded texts whose lengths land in every bucket (short samples + long concatenations)."""
    from ..data import SAMPLES_TSV, read_labeled_tsv
    from ..tokenizer import TextEncoder

    texts = read_labeled_tsv(SAMPLES_TSV)[0]
    enc = TextEncoder(tokenizer, max(buckets))
    ids = enc.encode(texts[:4])
    long_text = " ".join(texts)
    for i, L in enumerate(buckets):
        lo = buckets[i - 1] + 1 if i else 2
        ids += enc.encode([long_text], max_length=max(lo, (lo + L) // 2))
        ids += enc.encode([long_text], max_length=L)
    return ids


def parity_vs_torch(path: Path, ckpt, entry: dict, ids_list) -> float:
    import numpy as np

    from ..runners import TorchRunner
    from ..tflite_runner import TFLiteRunner

    pad = ckpt.tokenizer.pad_token_id or 0
    ref = np.concatenate([TorchRunner(ckpt.model, pad_id=pad).logits([ids]) for ids in ids_list])
    runner = TFLiteRunner(path, precision=entry["precision"], pad_id=pad, threads=1, entry=entry, weight_cache=False)
    got = runner.logits(ids_list)
    del runner
    return float(np.max(np.abs(got - ref)))


def remove_stale_caches(folder: Path, file: str) -> None:
    """XNNPACK weight-cache files belong to one exact artifact (their names carry its sha256)."""
    for p in folder.glob(f".{file}.*.xnnpack_cache"):
        p.unlink(missing_ok=True)


def export_tflite(
    model_dir, folder, buckets=DEFAULT_BUCKETS, overwrite: bool = False, quiet: bool = False, max_length: int | None = None, allow_duplicated_weights: bool = False
) -> dict:
    """Export `model_dir` to `folder`/model.tflite (fp32); returns the manifest entry written."""
    from ..artifacts import open_output, preflight
    from ..checkpoint import load_checkpoint
    from ..fsutil import atomic_path
    from ..manifest import artifact_entry
    from ..parity import Thresholds
    from ..progress import step
    from ..staging import current
    from ..weight_guard import parameter_shapes
    from .cls_only import TFLITE_REWRITES
    from .tflite_buffers import compact

    folder = Path(folder)
    preflight(folder, model_dir, max_length)
    with step("loading checkpoint", quiet):
        ckpt = load_checkpoint(model_dir)
    if max_length is None and tuple(buckets or DEFAULT_BUCKETS) == DEFAULT_BUCKETS:
        # Default buckets adapt to a folder already exported (e.g. by `export onnx --max-length 256`).
        existing = _existing_max_length(current(folder), ckpt)
        if existing:
            buckets = tuple(b for b in DEFAULT_BUCKETS if b < existing)
            max_length = existing
    buckets, max_seq = resolve_buckets(buckets, max_length, ckpt.config.max_position_embeddings)
    with open_output(folder, ckpt, max_seq, overwrite, [FILE]) as out:
        raw = convert_buckets(ckpt.model, buckets, quiet)
        with step("merging duplicate constant buffers", quiet):
            data, stats = compact(raw)
        guard = weight_guard(data, FILE, parameter_shapes(ckpt.model), "fp32", buckets, allow_duplicated_weights)
        path = out.dir / FILE
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
            remove_stale_caches(out.dir, FILE)
        sigs = signature_specs(buckets)
        entry = artifact_entry(
            out.dir,
            FILE,
            "tflite",
            "fp32",
            inputs=sigs[-1]["inputs"],
            outputs=sigs[-1]["outputs"],
            signatures=sigs,
            buckets=list(buckets),
            converter="litert-torch",
            rewrites=dict(TFLITE_REWRITES),
            constants=_constants_summary(stats, ckpt),
            weight_guard=guard,
        )
        with step("checking fp32 parity against PyTorch on sample texts", quiet):
            diff = parity_vs_torch(path, ckpt, entry, check_ids(ckpt.tokenizer, buckets))
        # The parity gate's fp32 threshold; the self-check warns (verify is where it fails).
        tolerance = Thresholds().fp32_max_abs
        entry["export_check"] = {"max_abs_diff": diff, "tolerance": tolerance}
        if diff > tolerance and not quiet:
            print(f"warning: fp32 TFLite differs from PyTorch by {diff:.2e} (> {tolerance:g}) on sample texts", file=sys.stderr)
        out.add(entry)
    if not quiet:
        c = entry["constants"]
        print(
            f"wrote {shown(folder / FILE)} ({entry['bytes'] / 1e6:.2f} MB; signatures {', '.join(s['key'] for s in sigs)}; "
            f"constants {c['bytes'] / 1e6:.2f} MB = {c['bytes_per_param']:.2f} B/param, "
            f"{c['duplicates_merged']} duplicate buffer(s) merged; max |Δlogit| vs PyTorch {diff:.1e})"
        )
    return entry


def weight_guard(data: bytes, file: str, param_shapes, precision: str, buckets, allow: bool = False, mode: str = "dynamic") -> dict:
    """Refuse a .tflite that stores any weight more than once (albert_edge.weight_guard); returns the
    report recorded in the manifest entry."""
    from ..weight_guard import check_weights
    from .tflite_buffers import list_constants, weight_budget

    constants = list_constants(data, count_quantization=mode != "static")
    return check_weights(constants, weight_budget(param_shapes, precision, buckets, mode=mode), file, allow=allow)


def _constants_summary(stats: dict, ckpt) -> dict:
    before, after = stats["before"], stats["after"]
    params = int(ckpt.unique_parameters)
    return {
        "buffers": after["buffers"],
        "bytes": after["bytes"],
        "unique_parameters": params,
        "bytes_per_param": round(after["bytes"] / max(params, 1), 4),
        "duplicates_merged": before["duplicate_buffers"] - after["duplicate_buffers"],
        "bytes_before_merge": before["bytes"],
        "tensor_name_bytes": after["tensor_name_bytes"],
    }


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="fine-tuned ALBERT Hugging Face folder")
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder (may already hold ONNX artifacts of the same checkpoint)")
    p.add_argument(
        "--buckets",
        default=None,
        metavar="L1,L2,…",
        help=f"sequence lengths, one signature each (default {','.join(map(str, DEFAULT_BUCKETS))}); the largest is the folder's max length",
    )
    p.add_argument("--max-length", type=options.positive_int, default=None, metavar="N", help="maximum sequence length (added as the largest bucket)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model.tflite / folder")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--allow-duplicated-weights", action="store_true", help="write the file even if it stores weights more than once (recorded in the manifest)")


def run(args) -> int:
    buckets = parse_buckets(args.buckets) or DEFAULT_BUCKETS
    export_tflite(
        args.model, args.output, buckets=buckets, overwrite=args.overwrite, quiet=args.quiet, max_length=args.max_length,
        allow_duplicated_weights=getattr(args, "allow_duplicated_weights", False),
    )
    return 0
