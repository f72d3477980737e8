"""The timing loop and the per-process measurement jobs, with no albert_edge import.

Why standalone (stdlib only): a peer whose pins conflict with ours runs in its own venv (OpenVINO:
benchmarks/peers/openvino_peer.py), and its worker must time and measure memory exactly as ours do. It
loads this file by path (`load_by_path`), so one loop, one run-count policy and one RSS rule serve every
engine. Each job runs in a FRESH process: on 2 cores a second runtime's idle worker threads in the same
process (ORT's spinning pool, XNNPACK's pthreadpool, OpenMP) distort 2-thread timings of the next one
(measured for OpenVINO after ORT in one process), and RSS is per process.

A job is JSON on stdin; the answer one JSON line on stdout:
  {"kind": "timing", "threads", "cfg": {runs, warmup, min_runs, max_runs}, "budget_s",
   "configs": [{"batch", "seq_len", "texts", "ids"}], "sentences": {"texts", "ids"} | null}
    -> {"info", "latency": [{"batch", "seq_len", "samples_ms", "warmup"} | {..., "error"}],
        "sentences": {"samples_ms", "warmup"} | {"error"} | null}
  {"kind": "memory", "threads", "variant", "texts", "ids", "weight_cache"}
    -> {"variant", "threads", "rss_baseline_bytes", ..., "info"}
(the spec, the artifact's description, travels in both; the worker's runner factory reads it).
"""

from __future__ import annotations

import gc
import json
import time

# Configurations slower than this per call get at least SLOW_MIN_RUNS runs instead of min_runs,
# so a full ALBERT-base run stays within tens of minutes; their spread is reported as measured.
SLOW_CALL_MS = 1000.0
SLOW_MIN_RUNS = 3


def runs_for_budget(first_ms: float, budget_s: float, min_runs: int, max_runs: int) -> int:
    """How many timed runs fit in `budget_s` given one run took `first_ms`, clamped to [min_runs, max_runs].

    min_runs keeps p90 meaningful even for slow configurations (they exceed their share of the
    budget instead of reporting a median of two); max_runs caps fast ones, whose medians are
    stable long before.
    """
    if min_runs < 1 or max_runs < min_runs:
        raise ValueError(f"need 1 <= min_runs <= max_runs (got {min_runs}, {max_runs})")
    if first_ms <= 0:
        return max_runs
    fit = int(budget_s * 1000.0 / first_ms)
    return max(min_runs, min(max_runs, fit))


class Budget:
    """Shares a wall-clock budget among the configurations still to run."""

    def __init__(self, seconds: float | None, n_configs: int):
        self.deadline = None if seconds is None else time.perf_counter() + float(seconds)
        self.left = max(1, n_configs)

    def share(self) -> float | None:
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.perf_counter()) / self.left

    def remaining(self) -> float | None:
        return None if self.deadline is None else max(0.0, self.deadline - time.perf_counter())

    def done(self) -> None:
        self.left = max(1, self.left - 1)

    def exhausted(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline


def time_calls(fn, runs: int | None, warmup: int, budget_s: float | None, min_runs: int, max_runs: int) -> tuple[list[float], int]:
    """Call fn `warmup` times untimed, then time it; returns (samples_ms, warmup).

    With runs=None the count comes from the budget (runs_for_budget) after the first timed
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
        target = max_runs if remaining_s is None else runs_for_budget(samples[0], remaining_s, min_runs, max_runs)
    else:
        target = runs
    while len(samples) < target:
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples, warmup


def time_sentences(call, texts: list[str], ids_list: list[list[int]], warmup: int) -> tuple[list[float], int]:
    """Each sentence alone (batch 1), as an app classifies text; one timed call per sentence."""
    pairs = list(zip(texts or [""] * len(ids_list), ids_list))
    for t, ids in pairs[:warmup]:
        call([t], [ids])
    samples = []
    for t, ids in pairs:
        t0 = time.perf_counter()
        call([t], [ids])
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples, min(warmup, len(pairs))


# ---------------------------------------------------------------------------------------------
# process memory (Linux /proc; fallbacks elsewhere)


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    import psutil

    return int(psutil.Process().memory_info().rss)


def reset_peak() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM, so the peak excludes import-time spikes."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# ---------------------------------------------------------------------------------------------
# jobs


def _jsonable(x):
    return json.loads(json.dumps(x, default=str))


def _short(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:300] if s else type(e).__name__


def memory_job(job: dict, make_runner, import_runtime) -> dict:
    """Baseline after the runtime's imports (import_runtime(job)), load, two inferences, peak (VmHWM reset
    after imports)."""
    import_runtime(job)
    gc.collect()
    baseline = rss_bytes()
    peak_reset = reset_peak()
    t0 = time.perf_counter()
    runner = make_runner(job)
    load_s = time.perf_counter() - t0
    after_load = rss_bytes()
    texts, ids = job.get("texts") or [], job["ids"]
    t1 = time.perf_counter()
    runner.call(texts, ids)
    first_ms = (time.perf_counter() - t1) * 1000.0
    runner.call(texts, ids)
    peak = peak_bytes()
    if not peak_reset:
        peak = max(peak, after_load)
    out = {
        "variant": job["variant"],
        "threads": int(job["threads"]),
        "rss_baseline_bytes": baseline,
        "rss_after_load_bytes": after_load,
        "rss_after_run_bytes": rss_bytes(),
        "peak_rss_bytes": peak,
        "rss_growth_bytes": peak - baseline,
        "load_s": round(load_s, 4),
        "first_run_ms": round(first_ms, 3),
        "seq_len": len(ids[0]) if ids else 0,
        "peak_excludes_imports": peak_reset,
    }
    try:
        out["info"] = _jsonable(runner.info())
    except Exception:
        pass
    return out


def timing_job(job: dict, make_runner) -> dict:
    """Every latency configuration of one artifact at one thread count, then the real sentences."""
    cfg = job["cfg"]
    t0 = time.perf_counter()
    runner = make_runner(job)
    out: dict = {"load_s": round(time.perf_counter() - t0, 4), "latency": [], "sentences": None}
    try:
        out["info"] = _jsonable(runner.info())
    except Exception:
        out["info"] = {}
    configs = job.get("configs") or []
    budget = Budget(job.get("budget_s"), len(configs) + (1 if job.get("sentences") else 0))
    for c in configs:
        texts, ids = c.get("texts") or [], c["ids"]
        rec = {"batch": c["batch"], "seq_len": c["seq_len"]}
        try:
            samples, warm = time_calls(lambda: runner.call(texts, ids), cfg.get("runs"), cfg["warmup"], budget.share(), cfg["min_runs"], cfg["max_runs"])
            rec.update(samples_ms=samples, warmup=warm)
        except Exception as e:  # one failing shape is reported; the others still run
            rec["error"] = _short(e)
        out["latency"].append(rec)
        budget.done()
    sent = job.get("sentences")
    if sent:
        try:
            samples, warm = time_sentences(runner.call, sent.get("texts") or [], sent["ids"], cfg["warmup"])
            out["sentences"] = {"samples_ms": samples, "warmup": warm}
        except Exception as e:
            out["sentences"] = {"error": _short(e)}
    return out


def run_job(job: dict, make_runner, import_runtime=lambda job: None) -> dict:
    """Dispatch one job; any failure becomes {"error": one line} (the parent reports it on the artifact)."""
    try:
        if job.get("kind", "memory") == "memory":
            return memory_job(job, make_runner, import_runtime)
        return timing_job(job, make_runner)
    except Exception as e:
        return {"error": _short(e)}


def main_with(make_runner, import_runtime=lambda job: None) -> int:
    """Worker entry point: one job on stdin, one JSON line on stdout (after anything native libs print)."""
    import sys

    job = json.loads(sys.stdin.read())
    res = run_job(job, make_runner, import_runtime)
    sys.stdout.flush()
    print("\n" + json.dumps(res, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    return 0

