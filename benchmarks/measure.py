"""Timing loops and the per-artifact benchmark: synthetic lengths, real sentences, memory.

An artifact to benchmark is a plain dict ("spec") so it can be handed to the memory worker in
another process as JSON:
    {name, format, precision, role: ours|reference|peer,
     path (file) | model_dir (pytorch), quantize (pytorch int8), entry (manifest entry or None),
     pad_id, cls_id, sep_id, vocab_size, max_len,
     optional overrides for peers: runner ("module:Class"), runner_kwargs, lengths, batch_mode,
     buckets, memory_variants, runtime_modules, worker ({python, script}: a worker in another venv)}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import stats as st

# ---------------------------------------------------------------------------------------------
# runners


def make_runner(spec: dict, threads: int, weight_cache=None, torch_model=None):
    """A Runner for `spec` at `threads` (albert_edge.runners.make_runner, the one factory; PyTorch eager
    for the reference rows; a peer's own runner class when the spec names one in "runner");
    torch_model reuses an already loaded/quantized model."""
    if spec["format"] == "pytorch":
        from ..runners import TorchRunner

        model = torch_model if torch_model is not None else load_torch_model(spec)
        return TorchRunner(model, pad_id=spec["pad_id"], name=spec["name"], precision=spec["precision"], threads=threads)
    kw = dict(spec.get("runner_kwargs") or {})
    if weight_cache is not None:
        kw["weight_cache"] = weight_cache
    ids = {k: spec[k] for k in ("pad_id", "cls_id", "sep_id")}
    if spec.get("runner"):
        import importlib

        mod, cls = spec["runner"].split(":")
        runner_cls = getattr(importlib.import_module(mod), cls)
        return runner_cls(spec["path"], precision=spec["precision"], pad_id=ids["pad_id"], threads=threads, entry=spec.get("entry"), sep_id=ids["sep_id"], cls_id=ids["cls_id"], **kw)
    from ..runners import make_runner as runner_for

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
# timing and memory: each measurement in a fresh worker process (benchmarks/timing.py says why)

from .timing import SLOW_CALL_MS, SLOW_MIN_RUNS, Budget, time_calls  # noqa: E402,F401  (re-exported)


def worker_command(spec: dict) -> list[str]:
    """How to start a worker for `spec`: ours in this interpreter; a peer with its own venv through its
    script there (spec["worker"] = {"python": ..., "script": ...})."""
    w = spec.get("worker")
    if w:
        return [w["python"], w["script"], "worker"]
    return [sys.executable, "-m", "albert_edge.benchmarks.worker"]


def run_worker(spec: dict, job: dict, timeout_s: float = 1800) -> dict:
    """Run one job in a fresh process and return its JSON answer (RuntimeError with one line on failure)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TOKENIZERS_PARALLELISM="false")
    payload = json.dumps({**job, "spec": spec}, default=str)
    try:
        proc = subprocess.run(worker_command(spec), input=payload, capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{job.get('kind')} worker timed out after {timeout_s:.0f} s") from None
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise RuntimeError(f"{job.get('kind')} worker failed: {tail[:200]}")
    res = json.loads(lines[-1])
    if "error" in res and len(res) == 1:
        raise RuntimeError(res["error"])
    return res


def timing_subprocess(spec: dict, threads: int, configs: list[tuple[int, int]], sentences: tuple[list[str], list[list[int]]] | None,
                      cfg: dict, budget_s: float | None) -> dict:
    """Every (batch, seq_len) of `configs` and the real sentences for one artifact at one thread count,
    in ONE fresh process that runs nothing else (see timing.py)."""
    cfgs = []
    for b, L in configs:
        texts, ids = synthetic_inputs(b, L, spec)
        cfgs.append({"batch": b, "seq_len": L, "texts": texts, "ids": ids})
    sent = {"texts": sentences[0], "ids": sentences[1]} if sentences and sentences[1] else None
    job = {"kind": "timing", "threads": threads, "cfg": cfg, "budget_s": budget_s, "configs": cfgs, "sentences": sent}
    return run_worker(spec, job)


def sentence_rounds(specs: list[dict], threads: int, sentences: tuple[list[str], list[list[int]]], cfg: dict, rounds: int,
                    at_len: dict | None = None) -> dict:
    """Every spec's real-sentence p50 in `rounds` rounds, each artifact in its own fresh timing process,
    the order rotating by one place every round (so each goes first, last and in between alike).

    Why: the same file timed in fresh processes of one run differed by up to 1.6x on the 2-core VM
    (int8 ONNX: 9.5 to 15.5 ms p50, benchmarks/results/2026-12-03-...-executorch-vnni-rounds, no
    other process busy), so one process per artifact cannot decide a goal that compares two of them.
    Goals read the median over rounds of the per-round ratio (analysis.goals); the spread of those
    ratios is reported with it.

    at_len: {"seq_len": L, "artifacts": [names], "budget_s": s}: those artifacts are also timed at L
    tokens, batch 1, in the same process each round (before the sentences), for the efficiency goals
    (analysis.round_len_ms).
    """
    if rounds < 1:
        raise ValueError("sentence_rounds needs at least one round")
    names = [s["name"] for s in specs]
    rows = []
    for i in range(rounds):
        k = i % len(specs)
        order = specs[k:] + specs[:k]
        p50 = {}
        at_ms = {}
        for spec in order:
            timed_len = bool(at_len) and spec["name"] in at_len["artifacts"]
            configs = [(1, int(at_len["seq_len"]))] if timed_len else []
            res = timing_subprocess(spec, threads, configs, sentences, cfg, at_len.get("budget_s") if timed_len else None)
            sres = res.get("sentences") or {}
            if sres.get("error") or not sres.get("samples_ms"):
                raise RuntimeError(f"{spec['name']}: {sres.get('error') or 'no sentence timings came back'}")
            p50[spec["name"]] = st.summarize(sres["samples_ms"])["p50"]
            if timed_len:
                lat = (res.get("latency") or [{}])[0]
                if lat.get("error") or not lat.get("samples_ms"):
                    raise RuntimeError(f"{spec['name']} at {at_len['seq_len']} tokens: {lat.get('error') or 'no timings came back'}")
                at_ms[spec["name"]] = st.summarize(lat["samples_ms"])["p50"]
        row = {"round": i + 1, "order": [s["name"] for s in order], "p50_ms": {n: p50[n] for n in names}}
        if at_len:
            row["p50_ms_at_len"] = {n: at_ms[n] for n in at_len["artifacts"]}
        rows.append(row)
    out = {"threads": int(threads), "count": len(sentences[1]), "artifacts": names, "rounds": rows}
    if at_len:
        out["at_len"] = {"seq_len": int(at_len["seq_len"]), "batch": 1, "artifacts": list(at_len["artifacts"])}
    return out


def memory_inproc(spec: dict, threads: int, variant: str, seq_len: int, weight_cache=None) -> dict:
    """Runs INSIDE a worker process (kept for callers of the old entry point)."""
    from . import timing

    texts, ids = synthetic_inputs(1, min(seq_len, spec["max_len"]), spec)
    job = {"kind": "memory", "spec": spec, "threads": threads, "variant": variant, "texts": texts, "ids": ids, "weight_cache": weight_cache}
    return timing.memory_job(job, runner_for_job, lambda j: import_runtime(j["spec"]))


def import_runtime(spec: dict) -> None:
    """Import the artifact's runtime first so a memory baseline includes the library, not the model."""
    import importlib

    from ..formats import find

    mods = spec.get("runtime_modules")
    if mods is None:
        fmt = find(spec["format"])
        mods = fmt.runtime_modules if fmt else ("torch", "transformers")
    for mod in mods:
        importlib.import_module(mod)
    if spec["format"] == "pytorch":
        from transformers import AlbertForSequenceClassification  # noqa: F401


def runner_for_job(job: dict):
    """The worker's runner factory: the spec's runner at the job's thread count."""
    return make_runner(job["spec"], int(job["threads"]), weight_cache=job.get("weight_cache"))


def memory_subprocess(spec: dict, threads: int, variant: str, seq_len: int, weight_cache=None, timeout_s: float = 600) -> dict:
    """One fresh Python process per measurement: RSS is per process, and a model loaded earlier in
    this process (or its allocator's retained pages) would pollute it."""
    texts, ids = synthetic_inputs(1, min(seq_len, spec["max_len"]), spec)
    job = {"kind": "memory", "threads": threads, "variant": variant, "texts": texts, "ids": ids, "weight_cache": weight_cache}
    try:
        return run_worker(spec, job, timeout_s=timeout_s)
    except RuntimeError as e:
        raise RuntimeError(f"memory worker failed: {e}") from None


def memory_variants(spec: dict, threads: int, seq_len: int) -> tuple[list[dict], list[str]]:
    """default for ONNX/PyTorch; TFLite with and without the XNNPACK weight cache (the cache
    measured on its second use: the first load writes it, later app starts read it). A spec may
    name its own variants (a peer measured as its documentation runs it: "default" only)."""
    notes: list[str] = []
    out: list[dict] = []
    from ..formats import find

    fmt = find(spec["format"])
    variants = spec.get("memory_variants") or (fmt.memory_variants if fmt else ("default",))
    if "weight_cache" not in variants:
        return [memory_subprocess(spec, threads, variants[0], seq_len)], notes
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


def peak_dtype(precision: str) -> str:
    """Which machine limit an artifact is measured against: int8 artifacts run integer GEMMs."""
    return "int8" if precision == "int8" else "fp32"


def latency_record(samples: list[float], warm: int, shape, threads: int, batch: int, seq_len: int, peaks: list[dict], precision: str = "fp32") -> dict:
    from .flops import forward_flops
    from .machine import best_peak

    s = st.summarize(samples)
    flops = forward_flops(shape, seq_len, batch)
    rec = {"seq_len": seq_len, "batch": batch, "threads": threads, "runs": len(samples), "warmup": warm, "ms": s, "flops": flops}
    rec["gflops_per_s"] = flops / (s["p50"] / 1000.0) / 1e9
    kind = peak_dtype(precision)
    pk = best_peak(peaks, threads, kind)
    if pk:
        rec["peak_fraction"] = rec["gflops_per_s"] / pk["gflops"]
        rec["peak_dtype"] = kind
    return rec


def sentences_record(samples: list[float], spec: dict, ids_list: list[list[int]], threads: int) -> dict:
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


def bench_latency(runner, spec: dict, shape, threads: int, batch: int, seq_len: int, cfg: dict, budget: Budget, peaks: list[dict]) -> dict:
    """In-process timing of one configuration (the suite itself times in worker processes)."""
    texts, ids = synthetic_inputs(batch, seq_len, spec)
    samples, warm = time_calls(lambda: runner.call(texts, ids), cfg["runs"], cfg["warmup"], budget.share(), cfg["min_runs"], cfg["max_runs"])
    return latency_record(samples, warm, shape, threads, batch, seq_len, peaks, spec.get("precision", "fp32"))


def bench_sentences(runner, spec: dict, texts: list[str], ids_list: list[list[int]], threads: int, cfg: dict) -> dict:
    """Each sentence alone (batch 1), as an app classifies text; one timed call per sentence."""
    from .timing import time_sentences

    samples, _ = time_sentences(runner.call, texts, ids_list, cfg["warmup"])
    return sentences_record(samples, spec, ids_list, threads)


def _lengths(spec: dict) -> str:
    """How the artifact handles sequence length: "buckets" or "dynamic" (the registry's Format.lengths)."""
    if spec.get("lengths"):
        return spec["lengths"]
    from ..formats import find

    fmt = find(spec["format"])
    return fmt.lengths if fmt else "dynamic"


def fixed_batch(spec: dict) -> bool:
    if spec.get("batch_mode"):
        return spec["batch_mode"] == "one"
    from ..formats import find

    fmt = find(spec["format"])
    return bool(fmt and fmt.batch == "one")
