"""What machine the numbers come from, and what its fp32 and int8 GEMM peaks are — measured, not looked up.

A peak is the best achieved GFLOP/s (GOP/s for int8) of a large square MatMul (n×n·n×n, 2n³ operations)
in the runtimes the models use, at each thread count: fp32 MatMul (ORT, NumPy, PyTorch) and the integer
GEMM the int8 models run (ORT MatMulInteger uint8×int8, torch._int_mm). "Efficiency" of a model is its
achieved rate divided by the peak of its kind (int8 artifacts: the int8 peak); both come from the same
run on the same (possibly busy) machine.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
import socket
import subprocess
import sys
import time

import numpy as np

# Flags that decide which kernels ORT / XNNPACK / PyTorch pick on x86 and Arm.
RELEVANT_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
    "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
    "asimd", "asimddp", "asimdhp", "i8mm", "sve", "sve2", "bf16",
)
VERSION_PACKAGES = ("albert-edge", "numpy", "torch", "transformers", "onnx", "onnxruntime", "ai-edge-litert", "litert-torch", "ai-edge-quantizer")


# /proc/cpuinfo keys that identify the core itself: x86 vendor/family/model/stepping, Arm implementer/part.
_ID_KEYS = (("vendor_id", ""), ("cpu family", "family "), ("model", "model "), ("stepping", "stepping "),
            ("cpu implementer", "implementer "), ("cpu part", "part "), ("cpu variant", "variant "))


def cpu_id(text: str) -> str:
    """The first processor's identity from /proc/cpuinfo text, e.g. "AuthenticAMD family 25 model 1
    stepping 1". Why: under a hypervisor "model name" is often masked ("AMD EPYC"), while family and
    model tell Zen 2/3/4/5 apart, and this project measured int8 GEMM peaks 1.9x apart between two such
    "AMD EPYC" guests with the same flags (docs/executorch.md)."""
    seen: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, val = line.partition(":")
        key = key.strip().lower()
        if not sep:
            if seen:  # the blank line after the first processor's block
                break
            continue
        if key in dict(_ID_KEYS) and key not in seen and val.strip():
            seen[key] = val.strip()
    return " ".join(f"{label}{seen[k]}" for k, label in _ID_KEYS if k in seen)


def _cpuinfo() -> tuple[str, list[str], str]:
    model, flags, text = platform.processor() or platform.machine(), set(), ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        pass
    for line in text.splitlines():
        key, _, val = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and val.strip():
            model = val.strip()
        elif key in ("flags", "features"):
            flags.update(val.split())
    return model, [f for f in RELEVANT_FLAGS if f in flags], cpu_id(text)


def host_info() -> dict:
    import psutil

    model, flags, ident = _cpuinfo()
    info = {
        "platform": "desktop",
        "hostname": socket.gethostname(),
        "cpu_model": model,
        "cpu_id": ident,
        "cpu_flags": flags,
        "cores_logical": os.cpu_count() or 1,
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_bytes": int(psutil.virtual_memory().total),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "arch": platform.machine(),
    }
    try:
        info["cpus_allowed"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    info["load_avg_start"] = load_avg()
    return info


def load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_busy_seconds() -> float | None:
    """Busy CPU time of the whole machine so far (all cores, /proc/stat), in seconds; None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            parts = f.readline().split()
    except OSError:
        return None
    if not parts or parts[0] != "cpu":
        return None
    v = [int(x) for x in parts[1:]]
    busy = sum(v[:3]) + sum(v[5:8])  # user nice system + irq softirq steal (idle, iowait excluded)
    return busy / float(os.sysconf("SC_CLK_TCK"))


class Interference:
    """How much CPU OTHER processes used while a measurement ran: machine-wide busy time (/proc/stat)
    minus this process and its finished children (getrusage). Reported as average cores taken, next to
    every timing job: on a shared 2-core machine one other busy process turns a 2-thread measurement into
    a 1-thread one, and the 1-minute load average at the start of a run cannot see that."""

    def __enter__(self):
        import resource

        self.t0 = time.perf_counter()
        self.busy0 = cpu_busy_seconds()
        self.self0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
        return self

    def __exit__(self, *exc):
        import resource

        wall = time.perf_counter() - self.t0
        busy1 = cpu_busy_seconds()
        own = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]) - self.self0
        self.cores = None if self.busy0 is None or busy1 is None or wall <= 0 else max(0.0, (busy1 - self.busy0 - own) / wall)
        self.wall_s = wall
        return False


# A run is "busy" when the 1-min load average exceeds this many runnable tasks per logical core.
BUSY_LOAD_PER_CORE = 0.5


def is_busy(load: list[float] | None, cores: int) -> bool:
    """The one busy-machine rule: the run's notes, the report and `run_all.sh`'s settle wait use it."""
    return bool(load) and load[0] > BUSY_LOAD_PER_CORE * cores


def versions() -> dict[str, str]:
    out = {}
    for n in VERSION_PACKAGES:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------------------------------------
# GEMM peaks: what the machine can do, fp32 and int8, measured in this run
#
# Why so careful: the 2026-12-01 run measured its fp32 peak once per engine (n=1024, best of 10, in the
# benchmark's own process) at 195 GFLOP/s on 2 threads where a quiet process measured 332-390: the model
# then read as 93% "efficient". Now each (engine, dtype, threads) runs in a FRESH process (no other
# runtime's idle threads), warms up, tries several sizes, keeps the best of many repeats, and the whole
# set is measured twice — before and after the model rows — so a burst of load at one moment does not
# become the peak. Every sample's spread is kept (median and p10 next to the best).

PEAK_SIZES = (512, 1024, 2048)
QUICK_PEAK_SIZES = (512, 1024)


def _time_best(fn, repeats: int, budget_s: float) -> tuple[float, list[float]]:
    for _ in range(2):  # warm-up: thread pool start, page faults, kernel selection, prepacking
        fn()
    times, t_end = [], time.perf_counter() + budget_s
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), times


def _gemm_model(n: int, dtype: str) -> bytes:
    """One n x n x n MatMul (fp32) or MatMulInteger (uint8 x int8 -> int32, what dynamic int8 models
    run) with B as a constant initializer, as the models' weights are (ORT pre-packs it at load)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if dtype == "int8":
        b = numpy_helper.from_array(rng.integers(-64, 64, (n, n), dtype=np.int8), "B")
        node = helper.make_node("MatMulInteger", ["A", "B"], ["C"])
        a_t, c_t = TensorProto.UINT8, TensorProto.INT32
    else:
        b = numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), "B")
        node = helper.make_node("MatMul", ["A", "B"], ["C"])
        a_t, c_t = TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph([node], "gemm_peak", [helper.make_tensor_value_info("A", a_t, [n, n])], [helper.make_tensor_value_info("C", c_t, [n, n])], initializer=[b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    return model.SerializeToString()


def _gemm_fn(engine: str, dtype: str, n: int, threads: int):
    rng = np.random.default_rng(1)
    if engine == "onnxruntime":
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(_gemm_model(n, dtype), so, providers=["CPUExecutionProvider"])
        a = rng.integers(0, 255, (n, n), dtype=np.uint8) if dtype == "int8" else rng.standard_normal((n, n), dtype=np.float32)
        return lambda: sess.run(None, {"A": a})
    if engine == "torch":
        import torch

        torch.set_num_threads(threads)
        g = torch.Generator().manual_seed(0)
        if dtype == "int8":
            a = torch.randint(-128, 127, (n, n), dtype=torch.int8, generator=g)
            b = torch.randint(-64, 64, (n, n), dtype=torch.int8, generator=g)
            return lambda: torch._int_mm(a, b)
        a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
        return lambda: torch.mm(a, b)
    if engine == "numpy" and dtype == "fp32":
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        return lambda: a @ b
    raise ValueError(f"no {dtype} GEMM for engine {engine}")


def peak_inproc(engine: str, dtype: str, threads: int, sizes, repeats: int, budget_s: float) -> dict:
    """Runs INSIDE a fresh process: best/median/p10 GFLOP/s (GOP/s for int8) per size, best size kept."""
    rows = []
    for n in sizes:
        fn = _gemm_fn(engine, dtype, n, threads)
        best, times = _time_best(fn, repeats, budget_s / max(1, len(sizes)))
        rates = sorted(2.0 * n**3 / t / 1e9 for t in times)
        rows.append({"n": n, "gflops": round(rates[-1], 2), "median_gflops": round(float(np.median(rates)), 2),
                     "p10_gflops": round(float(np.percentile(rates, 10)), 2), "repeats": len(times)})
        del fn
    top = max(rows, key=lambda r: r["gflops"])
    return {"engine": engine, "dtype": dtype, "threads": threads, "n": top["n"], "gflops": top["gflops"], "repeats": top["repeats"],
            "median_gflops": top["median_gflops"], "p10_gflops": top["p10_gflops"], "sizes": rows}


def peak_subprocess(engine: str, dtype: str, threads: int, sizes, repeats: int, budget_s: float) -> dict:
    env = dict(os.environ)
    # NumPy's BLAS reads its thread count at import: set for every engine's fresh process alike.
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        env[k] = str(threads)
    job = json.dumps({"engine": engine, "dtype": dtype, "threads": threads, "sizes": list(sizes), "repeats": repeats, "budget_s": budget_s})
    out = subprocess.run([sys.executable, "-m", "albert_edge.benchmarks.machine", "peak", job], env=env, capture_output=True, text=True, timeout=180 + 4 * budget_s)
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    return json.loads(lines[-1])


# (engine, dtype) pairs measured; int8 = the integer GEMMs the int8 models run (ORT MatMulInteger u8 x s8,
# torch._int_mm s8 x s8).
PEAK_ENGINES = (("onnxruntime", "fp32"), ("numpy", "fp32"), ("torch", "fp32"), ("onnxruntime", "int8"), ("torch", "int8"))


def gemm_peaks(threads_list: list[int], sizes=PEAK_SIZES, repeats: int = 20, budget_s: float = 6.0, engines=PEAK_ENGINES,
               label: str = "start") -> tuple[list[dict], list[str]]:
    """Peak per (engine, dtype, thread count), each in a fresh process; failures become notes, not crashes."""
    if isinstance(sizes, int):
        sizes = (sizes,)
    peaks, notes = [], []
    for t in threads_list:
        for eng, dtype in engines:
            try:
                p = peak_subprocess(eng, dtype, t, sizes, repeats, budget_s)
                p["round"] = label
                peaks.append(p)
            except Exception as e:  # a missing/broken BLAS must not sink the whole benchmark
                notes.append(f"{dtype} GEMM peak with {eng} at {t} thread(s) failed: {str(e)[:160]}")
    return peaks, notes


def best_peak(peaks: list[dict], threads: int, dtype: str = "fp32") -> dict | None:
    """The machine's peak at a thread count = the best engine and round there (dtype fp32 or int8)."""
    cands = [p for p in peaks if p["threads"] == threads and p.get("dtype", "fp32") == dtype]
    return max(cands, key=lambda p: p["gflops"]) if cands else None


def peak_spread(peaks: list[dict], threads: int, dtype: str) -> dict | None:
    """How far apart the measurements of one limit were: best, and the best of each round."""
    cands = [p for p in peaks if p["threads"] == threads and p.get("dtype", "fp32") == dtype]
    if not cands:
        return None
    rounds: dict[str, float] = {}
    for p in cands:
        rounds[p.get("round", "start")] = max(rounds.get(p.get("round", "start"), 0.0), p["gflops"])
    best = max(rounds.values())
    return {"best": best, "rounds": rounds, "min_round_fraction": min(rounds.values()) / best if best else None}


if __name__ == "__main__":  # `python -m albert_edge.benchmarks.machine busy` (exit 0 when busy now) | `peak JOB`
    if sys.argv[1:] == ["busy"]:
        sys.exit(0 if is_busy(load_avg(), os.cpu_count() or 1) else 1)
    if len(sys.argv) == 3 and sys.argv[1] == "peak":
        j = json.loads(sys.argv[2])
        print(json.dumps(peak_inproc(j["engine"], j["dtype"], int(j["threads"]), j["sizes"], int(j["repeats"]), float(j["budget_s"]))))
        sys.exit(0)
    print("usage: python -m albert_edge.benchmarks.machine busy | peak JOB", file=sys.stderr)
    sys.exit(2)
