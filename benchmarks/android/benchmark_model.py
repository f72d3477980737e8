"""`--tool benchmark_model`: LiteRT's benchmark_model binary per artifact and signature bucket, and its log."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from ...errors import AlbertEdgeError
from ...formats import INPUT_NAMES
from .adb import Adb
from .constants import DEVICE_DIR, MIB


_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


def _stat_line(line: str) -> dict | None:
    """tensorflow/core/util/stats_calculator.h Stat::OutputToStream: `count=N first=.. curr=.. min=..
    max=.. avg=.. std=..` (newer builds append `p5=.. median=.. p95=..`); `count=N curr=X(all same)`
    when every sample was equal."""
    body = line.split("INFO:", 1)[-1].strip()
    if not body.startswith("count="):
        return None
    vals = {k: float(v) for k, v in re.findall(rf"(\w+)=({_NUM})", body)}
    if "count" not in vals:
        return None
    if "(all same)" in body or ("curr" in vals and "min" not in vals):
        c = vals.get("curr", 0.0)
        vals.update({"min": c, "max": c, "avg": c, "std": 0.0, "first": vals.get("first", c)})
    vals["count"] = int(vals["count"])
    return vals


def parse_benchmark_model(text: str) -> dict:
    """Parse benchmark_model's log (its INFO:/WARN:/ERROR: lines, tensorflow/lite/tools/logging.h).

    Returns init/first/warm-up/inference times (us), the warm-up and timed-run statistics, model
    size, memory lines and the signature used. Raises AlbertEdgeError on a failed run.
    """
    errors = [ln.split("ERROR:", 1)[1].strip() for ln in text.splitlines() if ln.startswith("ERROR:")]
    fatal = [ln.split("FATAL:", 1)[1].strip() for ln in text.splitlines() if ln.startswith("FATAL:")]
    m = re.search(rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), Warmup \(avg\): ({_NUM}|nan|-nan), Inference \(avg\): ({_NUM}|nan|-nan)", text)
    if not m:
        # The first ERROR line says what went wrong; the last is benchmark_main's "Benchmarking failed."
        why = (fatal or errors or [ln.strip() for ln in text.strip().splitlines()[-1:]] or ["no output"])[0]
        raise AlbertEdgeError(f"benchmark_model did not finish: {why[:200]}")

    def num(s: str) -> float | None:
        return None if "nan" in s else float(s)

    out: dict = {
        "init_us": float(m.group(1)),
        "first_inference_us": float(m.group(2)),
        "warmup_avg_us": num(m.group(3)),
        "inference_avg_us": num(m.group(4)),
        "errors": errors,
    }
    stats = [s for s in (_stat_line(ln) for ln in text.splitlines()) if s is not None]
    # Run() logs one stat line per phase: warm-up first, then the timed runs.
    if len(stats) >= 2:
        out["warmup"], out["inference"] = stats[-2], stats[-1]
    elif stats:
        out["inference"] = stats[-1]
    for key, pat in (
        ("model_size_mb", rf"The input model file size \(MB\): ({_NUM})"),
        ("init_ms", rf"Initialized session in ({_NUM}) ?ms"),
        ("peak_memory_mb", rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUM})"),
        ("vmrss_mb", rf"- VmRSS\s*: ({_NUM}) MB"),
    ):
        mm = re.search(pat, text)
        if mm:
            out[key] = float(mm.group(1))
    mm = re.search(rf"Memory footprint delta from the start of the tool \(MB\): init=({_NUM}) overall=({_NUM})", text)
    if mm:
        out["memory_delta_init_mb"], out["memory_delta_overall_mb"] = float(mm.group(1)), float(mm.group(2))
    mm = re.search(r"Using signature: (\S+)", text) or re.search(r"Signature to run: \[([^\]]*)\]", text)
    if mm:
        out["signature"] = mm.group(1)
    mm = re.search(r"#threads used for CPU inference: \[(\d+)\]|Num threads: \[(-?\d+)\]", text)
    if mm:
        out["threads"] = int(mm.group(1) or mm.group(2))
    out["tensor_name_warnings"] = re.findall(r"Tensor # ?(\d+) is named (\S+) but flags call it (\S+)", text)
    return out


def stats_from_benchmark_model(s: dict) -> tuple[dict, str]:
    """The schema's STATS (ms) from benchmark_model's summary, and how each field was filled.

    benchmark_model does not print its samples: it reports count/min/max/avg/std and, in newer
    builds, p5/median/p95. So p50 is its median (else its mean), p10/p90 its p5/p95 (else min/max:
    a wider, not a made-up, spread), p99 its max, iqr 1.349·std (the normal-distribution IQR).
    """
    ms = lambda us: us / 1000.0  # noqa: E731
    has_pct = "median" in s
    p50 = s["median"] if has_pct else s["avg"]
    p10 = s["p5"] if "p5" in s else s["min"]
    p90 = s["p95"] if "p95" in s else s["max"]
    p10, p90 = min(p10, p50), max(p90, p50)  # keep the schema's ordering if a summary rounds oddly
    p99 = max(s["max"], p90)
    stats = {
        "p10": ms(p10), "p50": ms(p50), "p90": ms(p90), "p99": ms(p99),
        "mean": ms(s["avg"]), "min": ms(s["min"]), "max": ms(s["max"]),
        "iqr": ms(1.349 * s.get("std", 0.0)), "n": int(s["count"]),
    }
    how = "p50=median, p10/p90=p5/p95" if has_pct else "p50=mean, p10/p90=min/max"
    return stats, f"from benchmark_model's summary ({how}, p99=max, iqr=1.349*std)"


def tflite_signatures(path: Path) -> list[dict]:
    """[{key, seq_len, inputs: names in subgraph order}] read from the model file itself.

    benchmark_model matches --input_layer entries to the signature subgraph's inputs by position,
    so the order must be the subgraph's (tensor index order), not the signature map's (sorted).
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    sigs = []
    for key in interp.get_signature_list():
        details = interp.get_signature_runner(key).get_input_details()
        names = sorted(details, key=lambda n: int(details[n]["index"]))
        if not set(INPUT_NAMES) <= set(names):
            continue
        sigs.append({"key": key, "seq_len": int(details["input_ids"]["shape"][1]), "inputs": names})
    if not sigs:
        raise AlbertEdgeError(f"{path} has no signature with inputs {', '.join(INPUT_NAMES)}")
    return sorted(sigs, key=lambda s: s["seq_len"])


def benchmark_model_command(binary: str, graph: str, sig: dict, threads: int, runs: int, warmup: int, vocab_size: int) -> str:
    """The device command line. Inputs are given explicitly: by default benchmark_model fills int32
    inputs with random values in [0, 99], which puts token_type_ids outside ALBERT's 2 types."""
    L = sig["seq_len"]
    ranges = {"input_ids": f"5,{max(5, vocab_size - 1)}", "attention_mask": "1,1", "token_type_ids": "0,0"}
    flags = [
        f"--graph={graph}",
        f"--signature_to_run_for={sig['key']}",
        f"--num_threads={threads}",
        "--use_xnnpack=true",
        f"--num_runs={runs}",
        f"--warmup_runs={warmup}",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--report_peak_memory_footprint=true",
        "--input_layer=" + ",".join(sig["inputs"]),
        "--input_layer_shape=" + ":".join(f"1,{L}" for _ in sig["inputs"]),
        "--input_layer_value_range=" + ":".join(f"{n},{ranges[n]}" for n in sig["inputs"]),
    ]
    return " ".join(shlex.quote(x) for x in [binary, *flags])


def _check_input_order(parsed: dict, sig: dict) -> None:
    """benchmark_model warns when a flag's input name differs from the tensor at that position;
    our tensors are named like `seq_32_input_ids`, so each flag name must end the tensor's name."""
    for _, tensor, flag in parsed.get("tensor_name_warnings", []):
        if not re.sub(r":\d+$", "", tensor).endswith(flag):
            raise AlbertEdgeError(f"benchmark_model bound input {flag!r} to tensor {tensor!r} in signature {sig['key']}: input order mismatch")


def run_benchmark_model(adb: Adb, folder: Path, manifest: dict, binary: Path, seq_lens: list[int] | None, threads_list: list[int], runs: int, warmup: int, files: list[str] | None = None, quiet: bool = False) -> tuple[list[dict], list[str]]:
    """Push the binary and each TFLite artifact, run every (signature, threads), parse -> artifacts[]."""
    from ...progress import step

    binary = Path(binary)
    if not binary.is_file():
        raise AlbertEdgeError(f"benchmark_model binary {binary} does not exist (build or download LiteRT's android_arm64 benchmark_model)")
    head = binary.read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        raise AlbertEdgeError(f"{binary} is not an ELF executable (expected LiteRT's benchmark_model for Android)")
    if head[18] != 183:  # e_machine EM_AARCH64, little-endian low byte
        raise AlbertEdgeError(f"{binary} is not an arm64 (aarch64) executable; use the android_arm64 benchmark_model")
    entries = [a for a in manifest["artifacts"] if a["format"] == "tflite" and (not files or a["file"] in files)]
    if not entries:
        raise AlbertEdgeError(f"{folder} has no TFLite artifacts (run `albert-edge export tflite` first)")
    vocab = int(manifest.get("model", {}).get("vocab_size") or 30000)
    try:
        from ..flops import Shape

        shape = Shape.from_config({**manifest["model"], "num_labels": len(manifest.get("labels") or []) or 2})
    except (KeyError, TypeError, ValueError):
        shape = None  # GFLOP/s is a nicety; a manifest without the model block still benchmarks
    dev_bin = f"{DEVICE_DIR}/benchmark_model"
    adb.shell(f"mkdir -p {DEVICE_DIR}")
    with step(f"pushing {binary.name} to {DEVICE_DIR}", quiet):
        adb.push(binary, dev_bin)
        adb.shell(f"chmod 755 {dev_bin}")
    notes: list[str] = []
    arts = []
    for e in entries:
        from ...integrity import verified_path

        local = verified_path(folder, e)  # the bytes pushed to the phone are the ones the manifest describes
        sigs = tflite_signatures(local)
        chosen = [s for s in sigs if not seq_lens or s["seq_len"] in seq_lens]
        art = {
            "name": f"tflite-{e['precision']}",
            "format": "tflite",
            "precision": e["precision"],
            "role": "ours",
            "file": e["file"],
            "bytes": local.stat().st_size,
            "load_s": None,
            "memory": [],
            "latency": [],
            "sentences": [],
            "skipped": [{"what": f"seq_len {L}", "reason": "no signature bucket of that length"} for L in (seq_lens or []) if L not in {s["seq_len"] for s in sigs}],
            "error": None,
            "info": {"tool": "benchmark_model", "use_xnnpack": True, "sha256": e.get("sha256"), "runs": []},
        }
        remote = f"{DEVICE_DIR}/{e['file']}"
        with step(f"pushing {e['file']}", quiet):
            adb.push(local, remote)
        for sig in chosen:
            for t in threads_list:
                cmd = benchmark_model_command(dev_bin, remote, sig, t, runs, warmup, vocab)
                with step(f"benchmark_model {e['file']} {sig['key']} threads={t}", quiet):
                    text = adb.shell(cmd + " 2>&1", check=False, timeout=max(600.0, runs * 5.0))
                try:
                    parsed = parse_benchmark_model(text)
                    _check_input_order(parsed, sig)
                except AlbertEdgeError as err:
                    art["skipped"].append({"what": f"{sig['key']} threads={t}", "reason": str(err)})
                    continue
                _add_benchmark_model_run(art, parsed, sig, t, warmup, shape)
        if not art["latency"]:
            art["error"] = "; ".join(s["reason"] for s in art["skipped"]) or "nothing was run"
        arts.append(art)
    adb.shell(f"rm -f {DEVICE_DIR}/*.tflite", check=False)
    notes.append("Android latency from LiteRT benchmark_model (random token ids, attention mask all ones); "
                 "its log gives count/min/max/avg/std (p5/median/p95 in newer builds), not raw samples, see each entry's stats_source")
    return arts, notes


def _add_benchmark_model_run(art: dict, parsed: dict, sig: dict, threads: int, warmup: int, shape=None) -> None:
    inf = parsed.get("inference")
    if inf is None:
        raise AlbertEdgeError("benchmark_model printed no statistics line for the timed runs")
    stats, how = stats_from_benchmark_model(inf)
    lat = {"seq_len": sig["seq_len"], "batch": 1, "threads": threads, "runs": int(inf["count"]), "warmup": warmup,
           "ms": stats, "stats_source": how, "signature": sig["key"], "first_inference_ms": parsed["first_inference_us"] / 1000.0}
    if shape is not None and stats["p50"] > 0:
        from ..flops import forward_flops

        lat["flops"] = int(forward_flops(shape, sig["seq_len"]))
        lat["gflops_per_s"] = lat["flops"] / (stats["p50"] / 1000.0) / 1e9
    art["latency"].append(lat)
    load_s = parsed["init_us"] / 1e6
    art["load_s"] = load_s if art["load_s"] is None else min(art["load_s"], load_s)
    peak_mb = parsed.get("peak_memory_mb") or parsed.get("vmrss_mb")
    if peak_mb and "memory_delta_overall_mb" in parsed:
        growth = int(parsed["memory_delta_overall_mb"] * MIB)
        peak = int(peak_mb * MIB)
        base = max(1, peak - growth)
        art["memory"].append(
            {"variant": "default", "threads": threads, "rss_baseline_bytes": base,
             "rss_after_load_bytes": max(1, base + int(parsed.get("memory_delta_init_mb", 0.0) * MIB)),
             "peak_rss_bytes": peak, "rss_growth_bytes": growth, "load_s": load_s, "seq_len": sig["seq_len"],
             "info": {"source": "benchmark_model --report_peak_memory_footprint (approximate, says the tool)",
                      "delta_init_mb": parsed.get("memory_delta_init_mb"), "delta_overall_mb": parsed["memory_delta_overall_mb"],
                      "peak_mb": parsed.get("peak_memory_mb"), "vmrss_end_mb": parsed.get("vmrss_mb")}}
        )
    art["info"]["runs"].append({k: parsed.get(k) for k in ("signature", "init_us", "first_inference_us", "warmup_avg_us", "inference_avg_us", "model_size_mb")} | {"threads": threads})


# -- the demo app --------------------------------------------------------------------------------------
