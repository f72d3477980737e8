"""Timing loops and the per-artifact benchmark: synthetic lengths, real sentences, memory.

An artifact to benchmark is a plain dict ("spec") so it can be handed to the memory worker in
another process as JSON:
    {name, format: onnx|tflite|pytorch, precision, role: ours|reference|peer,
     path (file) | model_dir (pytorch), quantize (pytorch int8), entry (manifest entry or None),
     pad_id, cls_id, sep_id, vocab_size, max_len}
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import stats as st

# ---------------------------------------------------------------------------------------------
# runners


def make_runner(spec: dict, threads: int, weight_cache=None, torch_model=None):
    """A Runner for `spec` at `threads` (albert_edge.runners.make_runner, the one factory; PyTorch eager
    for the reference rows); torch_model reuses an already loaded/quantized model."""
    if spec["format"] == "pytorch":
        from ..runners import TorchRunner

        model = torch_model if torch_model is not None else load_torch_model(spec)
        return TorchRunner(model, pad_id=spec["pad_id"], name=spec["name"], precision=spec["precision"], threads=threads)
    from ..runners import make_runner as runner_for

    kw = {} if weight_cache is None else {"weight_cache": weight_cache}
    ids = {k: spec[k] for k in ("pad_id", "cls_id", "sep_id")}
    return runner_for(spec["format"], spec["path"], spec["precision"], ids, threads=threads, entry=spec.get("entry"), **kw)


def load_torch_model(spec: dict):
    """PyTorch eager model; int8 = torch.ao dynamic quantization of every nn.Linear, the baseline a
    PyTorch user gets in one line."""
    import warnings

    import torch

    from ..checkpoint import load_checkpoint

    model = load_checkpoint(spec["model_dir"], with_tokenizer=False).model
    if spec.get("quantize"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notice (moving to torchao)
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model.eval()


def torch_int8_bytes(model) -> int:
    """Serialized size of a dynamically quantized model's state dict (what a user would ship)."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


# ---------------------------------------------------------------------------------------------
# inputs


def synthetic_inputs(batch: int, seq_len: int, spec: dict) -> tuple[list[str], list[list[int]]]:
    """(texts, ids) of `batch` inputs of seq_len tokens. Text-in artifacts get a text of the filler word
    repeated (a word the tokenizer keeps as one piece, so the text is exactly seq_len tokens with [CLS]/[SEP])."""
    ids = synthetic_ids(batch, seq_len, spec)
    word = spec.get("filler")
    texts = [" ".join([word] * max(seq_len - 2, 0))] * batch if word else []
    return texts, ids


def synthetic_ids(batch: int, seq_len: int, spec: dict, seed: int = 0) -> list[list[int]]:
    """`batch` texts of exactly seq_len tokens: [CLS] random-word-ids [SEP] (ids past the special ones)."""
    rng = np.random.default_rng(seed + seq_len * 131 + batch)
    lo = 5 if spec["vocab_size"] > 10 else 0
    out = []
    for _ in range(batch):
        body = rng.integers(lo, spec["vocab_size"], size=max(seq_len - 2, 0)).tolist()
        out.append(([spec["cls_id"]] + body + [spec["sep_id"]])[:seq_len] if seq_len >= 2 else [spec["cls_id"]])
    return out


# ---------------------------------------------------------------------------------------------
# timing


# Configurations slower than this per call get at least SLOW_MIN_RUNS runs instead of min_runs,
# so a full ALBERT-base run stays within tens of minutes; their spread is reported as measured.
SLOW_CALL_MS = 1000.0
SLOW_MIN_RUNS = 3


class Budget:
    """Shares a wall-clock budget among the configurations still to run."""

    def __init__(self, seconds: float | None, n_configs: int):
        self.deadline = None if seconds is None else time.perf_counter() + float(seconds)
        self.left = max(1, n_configs)

    def share(self) -> float | None:
        if self.deadline is None:
            return None
        s = max(0.0, self.deadline - time.perf_counter()) / self.left
        return s

    def done(self) -> None:
        self.left = max(1, self.left - 1)

    def exhausted(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline


def time_calls(fn, runs: int | None, warmup: int, budget_s: float | None, min_runs: int, max_runs: int) -> tuple[list[float], int]:
    """Call fn `warmup` times untimed, then time it; returns (samples_ms, warmup).

    With runs=None the count comes from the budget (st.runs_for_budget) after the first timed
    call, so slow configurations get min_runs and fast ones up to max_runs.
    """
    done_warm = 0
    while done_warm < warmup:
        t0 = time.perf_counter()
        fn()
        done_warm += 1
        # One warm-up suffices for calls over half a second (ALBERT-base, batch 8, 256 tokens):
        # one-time costs are amortized and five more would eat the whole budget.
        if runs is None and time.perf_counter() - t0 > 0.5:
            break
    warmup = done_warm
    samples = []
    t0 = time.perf_counter()
    fn()
    samples.append((time.perf_counter() - t0) * 1000.0)
    if runs is None:
        if samples[0] > SLOW_CALL_MS:
            min_runs = min(min_runs, SLOW_MIN_RUNS)
        remaining_s = None if budget_s is None else max(0.0, budget_s - samples[0] / 1000.0 * (warmup + 1))
        target = max_runs if remaining_s is None else st.runs_for_budget(samples[0], remaining_s, min_runs, max_runs)
    else:
        target = runs
    while len(samples) < target:
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples, warmup


# ---------------------------------------------------------------------------------------------
# memory (separate process per measurement)


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    import psutil

    return int(psutil.Process().memory_info().rss)


def _reset_peak() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM, so the peak excludes import-time spikes."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_bytes() -> int:
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def memory_inproc(spec: dict, threads: int, variant: str, seq_len: int, weight_cache=None) -> dict:
    """Runs INSIDE the worker process: baseline after imports, load, one inference, peak."""
    # Import the runtime first so the baseline includes the library, not the model.
    import importlib

    from ..formats import find

    fmt = find(spec["format"])
    for mod in fmt.runtime_modules if fmt else ("torch", "transformers"):
        importlib.import_module(mod)
    if fmt is None:
        from transformers import AlbertForSequenceClassification  # noqa: F401
    gc.collect()
    baseline = _rss_bytes()
    peak_reset = _reset_peak()
    t0 = time.perf_counter()
    runner = make_runner(spec, threads, weight_cache=weight_cache)
    load_s = time.perf_counter() - t0
    after_load = _rss_bytes()
    texts, ids = synthetic_inputs(1, min(seq_len, spec["max_len"]), spec)
    t1 = time.perf_counter()
    runner.call(texts, ids)
    first_ms = (time.perf_counter() - t1) * 1000.0
    runner.call(texts, ids)
    peak = _peak_bytes()
    if not peak_reset:
        peak = max(peak, after_load)
    out = {
        "variant": variant,
        "threads": threads,
        "rss_baseline_bytes": baseline,
        "rss_after_load_bytes": after_load,
        "rss_after_run_bytes": _rss_bytes(),
        "peak_rss_bytes": peak,
        "rss_growth_bytes": peak - baseline,
        "load_s": round(load_s, 4),
        "first_run_ms": round(first_ms, 3),
        "seq_len": min(seq_len, spec["max_len"]),
        "peak_excludes_imports": peak_reset,
    }
    try:
        out["info"] = json.loads(json.dumps(runner.info(), default=str))
    except Exception:
        pass
    return out


def memory_subprocess(spec: dict, threads: int, variant: str, seq_len: int, weight_cache=None, timeout_s: float = 600) -> dict:
    """One fresh Python process per measurement: RSS is per process, and a model loaded earlier in
    this process (or its allocator's retained pages) would pollute it."""
    job = {"spec": spec, "threads": threads, "variant": variant, "seq_len": seq_len, "weight_cache": weight_cache}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(
        [sys.executable, "-m", "albert_edge.benchmarks.worker"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise RuntimeError(f"memory worker failed: {tail[:200]}")
    res = json.loads(lines[-1])
    if "error" in res:
        raise RuntimeError(res["error"])
    return res


def memory_variants(spec: dict, threads: int, seq_len: int) -> tuple[list[dict], list[str]]:
    """default for ONNX/PyTorch; TFLite with and without the XNNPACK weight cache (the cache
    measured on its second use: the first load writes it, later app starts read it)."""
    notes: list[str] = []
    out: list[dict] = []
    from ..formats import find

    fmt = find(spec["format"])
    if fmt is None or "weight_cache" not in fmt.memory_variants:
        return [memory_subprocess(spec, threads, "default", seq_len)], notes
    out.append(memory_subprocess(spec, threads, "no_weight_cache", seq_len, weight_cache=False))
    with tempfile.TemporaryDirectory(prefix="albert-edge-xnn-") as d:
        cache = str(Path(d) / "weights.xnnpack_cache")
        first = memory_subprocess(spec, threads, "weight_cache", seq_len, weight_cache=cache)
        m = memory_subprocess(spec, threads, "weight_cache", seq_len, weight_cache=cache)
        m["first_load_s"] = first["load_s"]
        m["first_peak_rss_bytes"] = first["peak_rss_bytes"]
        out.append(m)
    return out, notes


# ---------------------------------------------------------------------------------------------
# one artifact


def bench_latency(runner, spec: dict, shape, threads: int, batch: int, seq_len: int, cfg: dict, budget: Budget, peaks: list[dict]) -> dict:
    from .flops import forward_flops
    from .machine import best_peak

    texts, ids = synthetic_inputs(batch, seq_len, spec)
    samples, warm = time_calls(lambda: runner.call(texts, ids), cfg["runs"], cfg["warmup"], budget.share(), cfg["min_runs"], cfg["max_runs"])
    s = st.summarize(samples)
    flops = forward_flops(shape, seq_len, batch)
    rec = {"seq_len": seq_len, "batch": batch, "threads": threads, "runs": len(samples), "warmup": warm, "ms": s, "flops": flops}
    rec["gflops_per_s"] = flops / (s["p50"] / 1000.0) / 1e9
    pk = best_peak(peaks, threads)
    if pk:
        rec["peak_fraction"] = rec["gflops_per_s"] / pk["gflops"]
    return rec


def bench_sentences(runner, spec: dict, texts: list[str], ids_list: list[list[int]], threads: int, cfg: dict) -> dict:
    """Each sentence alone (batch 1), as an app classifies text; one timed call per sentence."""
    for t, ids in list(zip(texts, ids_list))[: cfg["warmup"]]:
        runner.call([t], [ids])
    samples = []
    for t, ids in zip(texts, ids_list):
        t0 = time.perf_counter()
        runner.call([t], [ids])
        samples.append((time.perf_counter() - t0) * 1000.0)
    rec = {
        "threads": threads,
        "batch": 1,
        "count": len(ids_list),
        "runs": 1,
        "shape_handling": _lengths(spec),
        "mean_tokens": float(np.mean([len(x) for x in ids_list])),
        "ms": st.summarize(samples),
    }
    buckets = sorted(spec.get("buckets") or [])
    if _lengths(spec) == "buckets" and buckets:
        rec["mean_padded_tokens"] = float(np.mean([next((b for b in buckets if b >= len(x)), buckets[-1]) for x in ids_list]))
    else:
        rec["mean_padded_tokens"] = rec["mean_tokens"]
    return rec


def _lengths(spec: dict) -> str:
    """How the artifact handles sequence length: "buckets" or "dynamic" (the registry's Format.lengths)."""
    from ..formats import find

    fmt = find(spec["format"])
    return fmt.lengths if fmt else "dynamic"


def fixed_batch(spec: dict) -> bool:
    from ..formats import find

    fmt = find(spec["format"])
    return bool(fmt and fmt.batch == "one")
