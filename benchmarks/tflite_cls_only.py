"""The TFLite file with the last layer application for [CLS] only (export/cls_only.py, the default)
against the same checkpoint converted with it on every row, side by side in one process: fp32 and
int8 (dynamic range), real sentences, interleaved sentence by sentence. Also checks both against
PyTorch and the weight guard. Writes JSON + Markdown under benchmarks/results/tflite/.

    python -m albert_edge.benchmarks.tflite_cls_only MODEL_DIR [--buckets 32,64,128] [--sentences 200] [--rounds 3] [--threads 2] [--name NAME] [--out DIR]

MODEL_DIR is a fine-tuned ALBERT folder (as for `albert-edge export tflite`). Sentences come from
SST-2 dev when ../shared has it, else the shipped samples (the report says which).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata as md
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("every-row", "cls-only")


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
    rows = []
    with tempfile.TemporaryDirectory(prefix="albert-edge-cls-") as td:
        runners = {}
        for (variant, precision), data in files.items():
            path = Path(td) / f"{variant}.{precision}.tflite"
            path.write_bytes(data)
            entry = {"precision": precision, "signatures": sigs, "buckets": list(buckets)}
            runners[(variant, precision)] = TFLiteRunner(path, precision=precision, pad_id=pad, threads=threads, entry=entry, weight_cache=False)
        logits = {k: r.logits(ids) for k, r in runners.items()}
        times = {k: np.zeros((rounds, len(ids))) for k in runners}
        for rnd in range(rounds):  # sentence by sentence, every file in turn: load on the machine hits all alike
            for i, x in enumerate(ids):
                for k, r in runners.items():
                    t = time.perf_counter()
                    r.logits([x])
                    times[k][rnd, i] = time.perf_counter() - t
            if not quiet:
                print(f"round {rnd + 1}/{rounds}", flush=True)
        bucket = np.array([next(iter(runners.values())).bucket_for(len(s)) for s in ids])  # the signature each sentence ran in
        for precision in ("fp32", "int8"):
            full, cls = (times[(v, precision)].min(axis=0) for v in VARIANTS)  # best of the rounds, per sentence
            a, b = logits[("every-row", precision)], logits[("cls-only", precision)]
            rows.append({
                "precision": precision,
                "bytes": {v: len(files[(v, precision)]) for v in VARIANTS},
                "sha256": {v: hashlib.sha256(files[(v, precision)]).hexdigest() for v in VARIANTS},
                "median_ms": {"every-row": round(1e3 * float(np.median(full)), 3), "cls-only": round(1e3 * float(np.median(cls)), 3)},
                "speedup_median_of_ratios": round(float(np.median(full / cls)), 3),
                "speedup_by_bucket": {str(L): round(float(np.median((full / cls)[bucket == L])), 3) for L in buckets if (bucket == L).any()},
                "max_abs_vs_torch": {v: float(np.abs(logits[(v, precision)] - ref).max()) for v in VARIANTS},
                "label_agreement_with_torch": {v: float((logits[(v, precision)].argmax(1) == ref.argmax(1)).mean()) for v in VARIANTS},
                "max_abs_between_variants": float(np.abs(a - b).max()),
            })
        del runners
    lengths = [len(x) for x in ids]
    return {"model_dir": str(model_dir), "buckets": list(buckets), "threads": threads, "rounds": rounds, "sentences": len(ids),
            "data": str(data_file.name), "median_tokens": int(np.median(lengths)), "rows": rows}


def main(argv=None) -> int:
    from albert_edge.options import int_list

    from .machine import host_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, metavar="MODEL_DIR")
    ap.add_argument("--buckets", default="32,64,128")
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default=None, help="name in the result file (default: the model folder's name)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tflite")
    a = ap.parse_args(argv)
    if a.sentences < 1 or a.rounds < 1 or a.threads < 1:
        ap.error("--sentences, --rounds and --threads must be >= 1")
    buckets = tuple(sorted(set(int_list(a.buckets, "--buckets", minimum=2))))
    name = a.name or a.model.resolve().name
    result = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "name": name,
              "litert_torch": md.version("litert-torch"), "ai_edge_litert": md.version("ai-edge-litert"), "host": host_info()}
    result.update(measure(a.model, buckets, a.sentences, a.rounds, a.threads))
    a.out.mkdir(parents=True, exist_ok=True)
    stem = a.out / f"{_dt.date.today().isoformat()}-{name}-cls-only"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    h = result["host"]
    lines = [f"# TFLite: last layer application for [CLS] only vs every row, {name} ({result['created']})", "",
             f"{result['sentences']} sentences of {result['data']} (median {result['median_tokens']} tokens), buckets {result['buckets']}, "
             f"{result['threads']} threads, best of {result['rounds']} interleaved rounds per sentence; litert-torch {result['litert_torch']}, "
             f"ai-edge-litert {result['ai_edge_litert']}; {h['cpu_model']} (`{h['cpu_id']}`), {h['cores_logical']} cores.", "",
             "| precision | every row ms | cls-only ms | speed-up (median of per-sentence ratios) | by bucket | size every row / cls-only | max \\|Δlogit\\| vs PyTorch (every row / cls-only) | between the two | sha256 (cls-only) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(
            f"| {r['precision']} | {r['median_ms']['every-row']:.2f} | {r['median_ms']['cls-only']:.2f} | {r['speedup_median_of_ratios']:.3f}× | "
            + ", ".join(f"{k}: {v:.3f}×" for k, v in r["speedup_by_bucket"].items())
            + f" | {r['bytes']['every-row'] / 1e6:.2f} / {r['bytes']['cls-only'] / 1e6:.2f} MB | {r['max_abs_vs_torch']['every-row']:.1e} / {r['max_abs_vs_torch']['cls-only']:.1e} | "
            f"{r['max_abs_between_variants']:.1e} | `{r['sha256']['cls-only'][:12]}` |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[4:]))
    print(f"wrote {stem}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
