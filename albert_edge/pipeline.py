"""`albert-edge pipeline`: every stage on one checkpoint, with a summary a person can read.

export (ONNX, TFLite) → quantize (ONNX int8, TFLite int8 + fp16) → verify (the parity gate) → quick
benchmark. Exit code 1 when any parity threshold fails (and the summary says which).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import formats
from .errors import AlbertEdgeError, ParityError
from .options import MAX_THREADS, int_list, positive_int
from .options import threads as threads_type

HELP = "run export, quantize, verify and a quick benchmark end to end (default: the embedded demo model)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="MODEL_DIR", help="ALBERT classifier folder (default: the embedded demo model, models/albert-sst2-demo)")
    p.add_argument("--output", metavar="DIR", help="artifacts folder (default: artifacts/<model name>)")
    p.add_argument("--data", metavar="FILE.tsv", help="labeled data for verify (default: SST-2 dev from ../shared, else the shipped samples)")
    p.add_argument("--max-length", type=positive_int, default=128, help="longest sequence served, also the largest TFLite bucket (default %(default)s)")
    p.add_argument("--buckets", default="32,64,128", help="TFLite sequence buckets, each <= --max-length (which is added as the largest) (default %(default)s)")
    p.add_argument("--formats", metavar="F1,F2", help=f"formats to build (default: all: {','.join(f.name for f in formats.REGISTRY if f.steps)}; mediapipe is left out for a cased or left-truncating tokenizer)")
    p.add_argument("--no-tflite", dest="tflite", action="store_false", help="skip the TFLite stages (same as leaving tflite out of --formats)")
    p.add_argument("--no-bench", dest="bench", action="store_false", help="skip the quick benchmark")
    p.add_argument("--threads", type=threads_type, metavar="N", help=f"threads for verify, 1..{MAX_THREADS}")
    p.add_argument("--overwrite", action="store_true", help="replace an existing artifacts folder")
    from .parity import add_threshold_arguments

    add_threshold_arguments(p)


def _stage(name: str, fn, timings: dict):
    print(f"\n== {name}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        return fn()
    except AlbertEdgeError as e:
        raise type(e)(f"{name} failed: {e}") from None
    finally:
        timings[name] = time.perf_counter() - t0


def run(args) -> int:
    from .artifacts import check_not_model_folder
    from .checkpoint import labels_from_config, read_config
    from .data import default_eval_data, read_labeled_tsv
    from .paths import default_artifacts, demo_model
    from .parity import format_table, thresholds_from_args, verify
    from .staging import transaction

    # Everything a user can get wrong is checked before minutes of export work.
    model = Path(args.model) if args.model else demo_model()
    if not args.model and (model is None or not (model / "config.json").is_file()):
        raise AlbertEdgeError("the embedded demo model ships with the source checkout only (models/albert-sst2-demo); pass --model MODEL_DIR")
    out = Path(args.output) if args.output else default_artifacts(model.name)
    cfg = read_config(model)
    check_not_model_folder(out, model)
    if out.exists() and not out.is_dir():
        raise AlbertEdgeError(f"output path {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise AlbertEdgeError(f"output folder {out} already exists and is not empty (use --overwrite)")
    chosen = _chosen_formats(args, model)
    options = {}
    if any("buckets" in st.options for f in chosen for st in f.steps):
        from .export.tflite_export import resolve_buckets

        options["buckets"], _ = resolve_buckets(int_list(args.buckets, "--buckets", minimum=2), args.max_length, int(cfg.get("max_position_embeddings", 512)))
    data, data_desc = (args.data, args.data) if args.data else default_eval_data()
    from transformers import AlbertConfig

    read_labeled_tsv(data, labels_from_config(AlbertConfig.from_dict(cfg)))
    thresholds = thresholds_from_args(args)
    print(f"model: {model}\noutput: {out}\ndata: {data_desc}", file=sys.stderr)
    timings: dict[str, float] = {}

    # One transaction: every stage writes into the same staging folder, swapped in at the end, so an
    # interrupt or failure at any stage leaves the old folder as it was.
    with transaction(out) as txn:
        stage = txn.dir
        for fmt in chosen:
            for st in fmt.steps:
                _stage(st.title, lambda st=st: _run_step(st, model, stage, args.max_length, options), timings)
        report = _stage("verify", lambda: verify(stage, data=data, model_dir=model, thresholds=thresholds, threads=args.threads), timings)
        print(format_table(report), file=sys.stderr)
        bench_result, bench_paths = None, {}
        if args.bench:
            from .benchmarks.bench_cli import run_bench

            bench_result, bench_paths = _stage(
                "benchmark (quick)", lambda: run_bench(stage, quick=True, out_dir=stage / "bench", model=str(model), source_label=str(out)), timings
            )
            bench_paths = {k: Path(txn.user_path(v)) for k, v in bench_paths.items()}

    print(summary(out, report, bench_result, bench_paths, timings))
    if not report["passed"]:
        failed = [f"{a['file']} ({'; '.join(a['failures'])})" for a in report["artifacts"] if not a["passed"]]
        raise ParityError("parity gate failed: " + ", ".join(failed))
    return 0


def _without_mediapipe_if_unservable(built: list, model: Path, explicit: bool) -> list:
    """The default format list leaves MediaPipe out for a tokenizer it cannot reproduce (cased: MediaPipe
    lower-cases every text; truncating from the left); asked for by name (--formats), it is the export's
    one-line error, before any stage runs."""
    if not any(f.name == "mediapipe" for f in built):
        return built
    from .export.mediapipe_export import require_mediapipe_tokenizer, tokenizer_problem
    from .tokenizer import load_tokenizer

    tok = load_tokenizer(model)
    why = tokenizer_problem(tok)
    if not why:
        return built
    if explicit:
        require_mediapipe_tokenizer(tok, model)
    print(f"note: skipping mediapipe (the tokenizer {why})", file=sys.stderr)
    return [f for f in built if f.name != "mediapipe"]


def _chosen_formats(args, model: Path) -> list:
    built = [f for f in formats.REGISTRY if f.steps]
    if args.formats:
        wanted = [w.strip() for w in args.formats.split(",") if w.strip()]
        for w in wanted:
            if formats.find(w) is None or not formats.get(w).steps:
                raise AlbertEdgeError(f"--formats: {w!r} is not one of {', '.join(f.name for f in built)}")
        built = [f for f in built if f.name in wanted]
        missing = [f for f in built if not formats.available(f)]
        if missing:
            f = missing[0]
            raise AlbertEdgeError(f"--formats {f.name} needs the {f.optional_module} package: pip install 'albert-edge[{f.optional_module}]' -c constraints.txt")
    else:
        for f in [f for f in built if not formats.available(f)]:
            print(f"note: skipping {f.name} ({f.optional_module} is not installed: pip install 'albert-edge[{f.optional_module}]')", file=sys.stderr)
        built = [f for f in built if formats.available(f)]
    if not args.tflite:
        built = [f for f in built if f.name != "tflite"]
    built = _without_mediapipe_if_unservable(built, model, explicit=bool(args.formats))
    if not built:
        raise AlbertEdgeError("no format left to build (check --formats / --no-tflite)")
    return built


def _run_step(step, model: Path, folder: Path, max_length: int, options: dict):
    import importlib

    mod, fn = step.call.split(":")
    call = getattr(importlib.import_module(mod), fn)
    kw = {**step.kwargs, **{o: options[o] for o in step.options}, "overwrite": True}
    if step.kind == "export":
        return call(model, folder, max_length=max_length, **kw)
    return call(folder, **kw)


def _bench_latency(bench_result: dict | None, file: str) -> str:
    """Median latency over real sentences (1 thread) for one artifact, from the quick benchmark."""
    if not bench_result:
        return "—"
    from .benchmarks import analysis

    for a in bench_result.get("artifacts", []):
        if a.get("file") and Path(a["file"]).name == file and not a.get("error"):
            s = analysis.sentences_at(a, min(bench_result["settings"]["threads"]))
            if s:
                return f"{s['ms']['p50']:.2f}"
    return "—"


def summary(out: Path, report: dict, bench_result, bench_paths: dict, timings: dict) -> str:
    rows = [("artifact", "format", "precision", "size MB", "parity", "accuracy", "sentence p50 ms")]
    rows.append(("PyTorch reference", "pytorch", "fp32", "", "", f"{100 * report['reference']['accuracy']:.2f}%", ""))
    for a in report["artifacts"]:
        if a["precision"] == "int8":
            metric = f"agree {100 * a['agreement']:.2f}%"
        else:
            metric = f"max|Δ| {a['max_abs_diff']:.1e}"
        rows.append((a["file"] + (f" ({a['runner_format']} runner)" if a.get("runner_format") else ""), a["format"], a["precision"], f"{a['bytes'] / 1e6:.2f}", ("PASS " if a["passed"] else "FAIL ") + metric, f"{100 * a['accuracy']:.2f}%", _bench_latency(bench_result, a["file"])))
    from .table import render

    lines = ["", f"albert-edge pipeline summary ({report['sentences']} sentences from {report['data']})", ""]
    lines += render(rows)
    lines.append("")
    lines.append(f"artifacts:     {out}")
    lines.append(f"manifest:      {out / 'manifest.json'}")
    lines.append(f"parity report: {out / 'parity.json'}")
    for k, v in (bench_paths or {}).items():
        if isinstance(v, (str, Path)) and k in ("json", "report", "markdown"):
            lines.append(f"benchmark {k}: {v}")
    lines.append("stage times:   " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    lines.append("parity gate:   " + ("PASSED" if report["passed"] else "FAILED"))
    return "\n".join(lines)
