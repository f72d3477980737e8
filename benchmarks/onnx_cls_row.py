"""The ONNX files with the last application's output projection and FFN on the [CLS] row
(export/onnx_cls_row.py, the default) against the same checkpoint exported with them on every row,
side by side in one process: fp32 and int8 (`albert-edge quantize onnx`'s default recipe), real
sentences, interleaved sentence by sentence. Also checks both against PyTorch. Writes JSON + Markdown
under benchmarks/results/onnx/.

    python -m albert_edge.benchmarks.onnx_cls_row MODEL_DIR [--sentences 200] [--rounds 3] [--threads 2] [--max-length 128] [--name NAME] [--out DIR]

MODEL_DIR is a fine-tuned ALBERT folder (as for `albert-edge export onnx`). Sentences come from SST-2
dev when ../shared has it, else the shipped samples (the report says which).
"""

from __future__ import annotations

import importlib.metadata as md
import json
import time
from pathlib import Path

from .side_by_side import VARIANTS, compare_rows, interleaved_times

ROOT = Path(__file__).resolve().parents[1]
# Token-count groups of the per-sentence speed-ups: the rewrite saves a fixed share of the last
# application, so its gain shrinks as attention (which it leaves alone) grows with the length.
LENGTH_GROUPS = (16, 32, 64)


def _length_group(n: int) -> str:
    for edge in LENGTH_GROUPS:
        if n <= edge:
            return f"≤{edge}"
    return f">{LENGTH_GROUPS[-1]}"


# Four sessions take turns in this one process, and a session's idle pool spinning for its next call
# (ONNX Runtime's default) took the cores from the one running: the same int8 file pair measured 1.08x
# and 0.99x in two runs with spinning on.
NO_SPINNING = {"session.intra_op.allow_spinning": "0"}


def measure(model_dir, sentences: int = 200, rounds: int = 3, threads: int = 2, max_length: int = 128, quiet: bool = False) -> dict:
    import tempfile

    import numpy as np

    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.data import SAMPLES_TSV, read_labeled_tsv, sst2_dev
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.quantize.onnx_quant import quantize_onnx
    from albert_edge.runners import OnnxRunner, TorchRunner
    from albert_edge.tokenizer import TextEncoder

    ckpt = load_checkpoint(model_dir)
    data_file = sst2_dev() or SAMPLES_TSV
    texts = read_labeled_tsv(data_file)[0][:sentences]
    ids = TextEncoder(ckpt.tokenizer, max_length).encode(texts)
    pad = ckpt.tokenizer.pad_token_id or 0
    ref = TorchRunner(ckpt.model, pad_id=pad).logits(ids)
    with tempfile.TemporaryDirectory(prefix="albert-edge-cls-row-") as td:
        files, runners, rewrites = {}, {}, {}
        for variant in VARIANTS:
            t = time.perf_counter()
            folder = Path(td) / variant
            # the CLI's own export and quantization, only the rewrite switched
            entry = export_onnx(model_dir, folder, max_length=max_length, quiet=True, text=False, cls_row=variant == "cls-only")
            quantize_onnx(folder, quiet=True, text=False, ort=False)
            rewrites[variant] = entry["rewrites"]
            for precision, name in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
                files[(variant, precision)] = (folder / name).read_bytes()
                runners[(variant, precision)] = OnnxRunner(folder / name, precision=precision, pad_id=pad, threads=threads, session_config=NO_SPINNING)
            if not quiet:
                print(f"exported {variant}: {time.perf_counter() - t:.0f} s", flush=True)
        times, logits = interleaved_times(runners, ids, rounds, quiet)
        rows = compare_rows(files, logits, times, ref, groups=[_length_group(len(x)) for x in ids])
        del runners
    lengths = [len(x) for x in ids]
    return {"model_dir": str(model_dir), "threads": threads, "rounds": rounds, "sentences": len(ids), "max_length": max_length,
            "data": str(data_file.name), "median_tokens": int(np.median(lengths)), "rewrites": rewrites, "rows": rows}


def main(argv=None) -> int:
    from . import side_by_side as sbs

    ap = sbs.arguments(__doc__, ROOT / "benchmarks" / "results" / "onnx")
    ap.add_argument("--max-length", type=int, default=128)
    a = sbs.checked(ap, argv)
    if a.max_length < 2:
        ap.error("--max-length must be >= 2")
    result = {"name": a.name or a.model.resolve().name, **sbs.header({"onnxruntime": md.version("onnxruntime")})}
    result.update(measure(a.model, a.sentences, a.rounds, a.threads, a.max_length))
    settings = (f"{result['sentences']} sentences of {result['data']} (median {result['median_tokens']} tokens, at most {result['max_length']}), "
                f"{result['threads']} threads, best of {result['rounds']} interleaved rounds per sentence, batch 1, ORT spin-waiting off; "
                f"onnxruntime {result['onnxruntime']}. Rewrite: {json.dumps(result['rewrites']['cls-only'])}")
    sbs.write(result, a.out, "cls-row", "ONNX: the last application's output projection and FFN on the [CLS] row vs every row", settings, "by token count")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
