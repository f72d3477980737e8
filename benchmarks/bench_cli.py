"""`albert-edge bench`: latency vs length, real-sentence latency, memory, load time, size and
efficiency vs the machine's measured GEMM peak, for every artifact of a folder beside PyTorch eager
and peers (Optimum) — all in one run, written as JSON + Markdown + PNG plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import AlbertEdgeError
from .. import options

HELP = "benchmark every artifact of a folder (latency, memory, size, efficiency) beside PyTorch and Optimum"


def parse_int_list(text: str, flag: str) -> list[int]:
    from ..options import MAX_THREADS, int_list

    out = int_list(text, flag, minimum=1)
    if flag == "--threads" and out[-1] > MAX_THREADS:
        raise AlbertEdgeError(f"--threads {text!r}: at most {MAX_THREADS} (4 per logical CPU)")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .analysis import GOAL_SEQ_LEN

    p.add_argument("folder", metavar="OUTPUT_DIR", help="artifacts folder (with manifest.json) to benchmark")
    p.add_argument("--seq-lens", help="synthetic sequence lengths (default 8,16,32,64,128,256; --quick 32,128)")
    p.add_argument("--threads", help="thread counts (default 1,2; --quick 1)")
    p.add_argument("--batch", help="batch sizes for ONNX/PyTorch (default 1,8; --quick 1); TFLite is batch 1")
    p.add_argument("--runs", type=options.positive_int, help="timed runs per configuration (default: as many as --budget-s allows, 10–200)")
    p.add_argument("--warmup", type=options.non_negative_int, help="untimed warm-up calls per configuration (default 5; --quick 2)")
    p.add_argument("--budget-s", type=options.positive_float, help="time budget in seconds for the whole run, shared by all configurations (default 240; --quick 45)")
    p.add_argument("--sentences", type=options.non_negative_int, help="real sentences timed one by one per artifact (default 200; --quick 40; 0 = skip)")
    p.add_argument("--sentence-rounds", type=options.non_negative_int, metavar="N",
                   help="rounds in which the artifacts the sentence-speed goals compare are timed again, each in a fresh process, "
                        "the order rotating; those goals read the median round. The efficiency goals' ONNX files are also timed at "
                        f"{GOAL_SEQ_LEN} tokens in each round and those goals read the best of row and rounds (default 5; --quick 0; 0 = off)")
    p.add_argument("--quick", action="store_true", help="fewer lengths, 1 thread, batch 1, fewer runs (a few seconds per artifact, each in its own processes; make demo runs it)")
    p.add_argument("--extra", action="append", metavar="NAME=PATH.onnx", help="also benchmark this ONNX file (repeatable), e.g. optimum-int8=peer/model_quantized.onnx")
    p.add_argument("--optimum", default=None, metavar="auto|cached|off|DIR",
                   help="Optimum peer: auto = build it with benchmarks/peers/optimum.sh if not cached (default), cached = only if already built (--quick default), off, or a folder holding model.onnx/model_quantized.onnx")
    p.add_argument("--peers", default=None, metavar="auto|cached|off|NAMES",
                   help="peers (optimum, litert-stock, executorch-stock, openvino): auto = build missing ones (default), cached = only already built (--quick default), off, or a comma list built as auto")
    p.add_argument("--model", metavar="MODEL_DIR", help="source checkpoint for the PyTorch reference (default: the manifest's source.model_dir)")
    p.add_argument("--no-pytorch", action="store_true", help="skip the PyTorch eager reference")
    p.add_argument("--no-memory", action="store_true", help="skip the per-artifact memory processes")
    p.add_argument("--name", help="model name used in the result file names (default: the source folder's name)")
    p.add_argument("--out", metavar="DIR", help="where results go (default: OUTPUT_DIR/bench/)")
    # Android (module owned by the Android bench runner; dispatched when present)
    p.add_argument("--android", action="store_true", help="benchmark on a connected Android device instead (adb)")
    p.add_argument("--serial", help="Android: adb device serial")
    p.add_argument("--tool", choices=("benchmark_model", "app"), default=None, help="Android: LiteRT benchmark_model binary or the demo app's benchmark mode")
    p.add_argument("--benchmark-model-binary", metavar="PATH", help="Android: path to LiteRT's benchmark_model for the device ABI")
    p.add_argument("--apk", metavar="PATH", help="Android --tool app: demo APK to install (default: android_demo/build/albert-edge-demo.apk, else the installed app)")
    p.add_argument("--text", help="Android --tool app: sentence the app's benchmark mode classifies")
    p.add_argument("--app-timeout", type=options.positive_float, metavar="S", help="Android --tool app: seconds to wait for the app's result (default 900)")


def settings_from_args(args):
    from .suite import Settings

    s = Settings.quick_defaults() if args.quick else Settings()
    if args.seq_lens is not None:
        s.seq_lens = parse_int_list(args.seq_lens, "--seq-lens")
    if args.threads is not None:
        s.threads = parse_int_list(args.threads, "--threads")
    if args.batch is not None:
        s.batches = parse_int_list(args.batch, "--batch")
    if args.runs is not None:
        if args.runs < 1:
            raise AlbertEdgeError("--runs must be >= 1")
        s.runs = args.runs
        s.min_runs = min(s.min_runs, args.runs)
    if args.warmup is not None:
        if args.warmup < 0:
            raise AlbertEdgeError("--warmup must be >= 0")
        s.warmup = args.warmup
    if args.budget_s is not None:
        if args.budget_s <= 0:
            raise AlbertEdgeError("--budget-s must be > 0")
        s.budget_s = args.budget_s
    if args.sentences is not None:
        if args.sentences < 0:
            raise AlbertEdgeError("--sentences must be >= 0")
        s.sentences = args.sentences
    if args.sentence_rounds is not None:
        s.sentence_rounds = args.sentence_rounds
    s.memory = not args.no_memory
    s.pytorch = not args.no_pytorch
    return s


def run(args) -> int:
    if args.android:
        from . import android

        return int(android.run(args) or 0)
    for flag in ("serial", "tool", "benchmark_model_binary", "apk", "text", "app_timeout"):
        if getattr(args, flag, None):
            raise AlbertEdgeError(f"--{flag.replace('_', '-')} only applies with --android")
    folder = Path(args.folder)
    if not folder.exists():
        raise AlbertEdgeError(f"artifacts folder {folder} does not exist")
    settings = settings_from_args(args)
    from .report import summary_table
    from .suite import run_suite

    optimum = args.optimum or ("cached" if args.quick else "auto")
    result, paths = run_suite(folder, settings, out_dir=args.out, model=args.model, extras=args.extra, optimum=optimum, model_name=args.name, peers=args.peers)
    print(summary_table(result))
    for g in result["goals"]:
        verdict = "not measured" if g["met"] is None else ("met" if g["met"] else "MISSED")
        print(f"goal {g['name']}: {verdict} — {g['note']}")
    for p in result["peers"]:
        if p["status"] != "ok":
            print(f"peer {p['name']}: {p['status']} — {p['detail']}")
    print(f"results: {paths['json']}\nreport:  {paths['report']}")
    return 0


def run_bench(folder, quick: bool = True, out_dir=None, **opts):
    """For `albert-edge pipeline`: benchmark `folder` (quick by default) -> (result_dict, paths).

    opts: seq_lens, threads, batches, runs, warmup, budget_s, sentences, memory, pytorch (Settings
    fields), plus model, extras (list of "name=path.onnx"), optimum and peers ("cached" by default:
    never builds a peer inside a pipeline), model_name, quiet. Print `report.summary_table(result)`
    for the summary.
    """
    from .suite import Settings, run_suite

    s = Settings.quick_defaults() if quick else Settings()
    run_kw = {k: opts.pop(k) for k in ("model", "extras", "optimum", "model_name", "quiet", "source_label", "peers") if k in opts}
    for k, v in opts.items():
        if not hasattr(s, k):
            raise TypeError(f"run_bench: unknown option {k!r}")
        setattr(s, k, v)
    run_kw.setdefault("optimum", "cached")
    run_kw.setdefault("peers", "cached")
    return run_suite(folder, s, out_dir=out_dir, **run_kw)


if __name__ == "__main__":
    from ..cli import main

    sys.exit(main(["bench"] + sys.argv[1:]))
