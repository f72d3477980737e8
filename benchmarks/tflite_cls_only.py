"""The TFLite file with the last layer application for [CLS] only (export/cls_only.py, the default)
against the same checkpoint converted with it on every row, side by side in one process: fp32 and
int8 (dynamic range), real sentences, interleaved sentence by sentence. Also checks both against
PyTorch and the weight guard. Writes JSON + Markdown under benchmarks/results/tflite/.

    python -m albert_edge.benchmarks.tflite_cls_only MODEL_DIR [--buckets 32,64,128] [--sentences 200] [--rounds 3] [--threads 2] [--name NAME] [--out DIR]

MODEL_DIR is a fine-tuned ALBERT folder (as for `albert-edge export tflite`). Sentences come from
SST-2 dev when ../shared has it, else the shipped samples (the report says which).
"""

from __future__ import annotations

import importlib.metadata as md
import time
from pathlib import Path

from .side_by_side import VARIANTS, compare_rows, interleaved_times

ROOT = Path(__file__).resolve().parents[1]


def _files(ckpt, buckets, quiet: bool) -> dict:
    """{(variant, precision): bytes}: both conversions, merged and quantized as the CLI does."""
    from ai_edge_quantizer import quantizer

    from albert_edge.export.tflite_buffers import compact
    from albert_edge.export.tflite_export import convert_buckets, weight_guard
    from albert_edge.export.tflite_recipes import quantized_bytes, recipe_for
    from albert_edge.weight_guard import parameter_shapes

    out = {}
    shapes = parameter_shapes(ckpt.model)
    for variant in VARIANTS:
        t = time.perf_counter()
        fp32 = compact(convert_buckets(ckpt.model, buckets, quiet=True, cls_only=variant == "cls-only"))[0]
        int8 = compact(quantized_bytes(quantizer.Quantizer(fp32, recipe_for("dynamic")), "dynamic"), shorten_names=False)[0]
        for precision, data in (("fp32", fp32), ("int8", int8)):
            weight_guard(data, f"{variant} {precision}", shapes, precision, buckets)  # raises if a weight is stored twice
            out[(variant, precision)] = data
        if not quiet:
            print(f"converted {variant}: {time.perf_counter() - t:.0f} s", flush=True)
    return out


def measure(model_dir, buckets=(32, 64, 128), sentences: int = 200, rounds: int = 3, threads: int = 2, quiet: bool = False) -> dict:
    import tempfile

    import numpy as np

    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.data import SAMPLES_TSV, read_labeled_tsv, sst2_dev
    from albert_edge.export.tflite_export import signature_specs
    from albert_edge.runners import TorchRunner
    from albert_edge.tflite_runner import TFLiteRunner
    from albert_edge.tokenizer import TextEncoder

    ckpt = load_checkpoint(model_dir)
    files = _files(ckpt, buckets, quiet)
    data_file = sst2_dev() or SAMPLES_TSV
    texts = read_labeled_tsv(data_file)[0][:sentences]
    ids = TextEncoder(ckpt.tokenizer, max(buckets)).encode(texts)
    pad = ckpt.tokenizer.pad_token_id or 0
    ref = TorchRunner(ckpt.model, pad_id=pad).logits(ids)
    sigs = signature_specs(buckets)
    with tempfile.TemporaryDirectory(prefix="albert-edge-cls-") as td:
        runners = {}
        for (variant, precision), data in files.items():
            path = Path(td) / f"{variant}.{precision}.tflite"
            path.write_bytes(data)
            entry = {"precision": precision, "signatures": sigs, "buckets": list(buckets)}
            runners[(variant, precision)] = TFLiteRunner(path, precision=precision, pad_id=pad, threads=threads, entry=entry, weight_cache=False)
        times, logits = interleaved_times(runners, ids, rounds, quiet)
        bucket = [next(iter(runners.values())).bucket_for(len(s)) for s in ids]  # the signature each sentence ran in
        rows = compare_rows(files, logits, times, ref, groups=bucket)
        del runners
    lengths = [len(x) for x in ids]
    return {"model_dir": str(model_dir), "buckets": list(buckets), "threads": threads, "rounds": rounds, "sentences": len(ids),
            "data": str(data_file.name), "median_tokens": int(np.median(lengths)), "rows": rows}


def main(argv=None) -> int:
    from albert_edge.options import int_list

    from . import side_by_side as sbs

    ap = sbs.arguments(__doc__, ROOT / "benchmarks" / "results" / "tflite")
    ap.add_argument("--buckets", default="32,64,128")
    a = sbs.checked(ap, argv)
    buckets = tuple(sorted(set(int_list(a.buckets, "--buckets", minimum=2))))
    result = {"name": a.name or a.model.resolve().name,
              **sbs.header({"litert_torch": md.version("litert-torch"), "ai_edge_litert": md.version("ai-edge-litert")})}
    result.update(measure(a.model, buckets, a.sentences, a.rounds, a.threads))
    settings = (f"{result['sentences']} sentences of {result['data']} (median {result['median_tokens']} tokens), buckets {result['buckets']}, "
                f"{result['threads']} threads, best of {result['rounds']} interleaved rounds per sentence; litert-torch {result['litert_torch']}, "
                f"ai-edge-litert {result['ai_edge_litert']}")
    sbs.write(result, a.out, "cls-only", "TFLite: last layer application for [CLS] only vs every row", settings, "by bucket")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
