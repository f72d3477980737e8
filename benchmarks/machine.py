"""What machine the numbers come from, and what its fp32 GEMM peak is — measured, not looked up.

The peak is the best achieved GFLOP/s of a large square fp32 MatMul (n×n·n×n, 2n³ FLOPs) in the
runtimes the models use, at each thread count, best of several repeats. "Efficiency" of a model is
its achieved GFLOP/s divided by that peak; both come from the same run on the same (possibly busy)
machine, so a busy machine lowers both.
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


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and val.strip():
                    model = val.strip()
                elif key in ("flags", "features"):
                    flags.update(val.split())
    except OSError:
        pass
    return model, [f for f in RELEVANT_FLAGS if f in flags]


def host_info() -> dict:
    import psutil

    model, flags = _cpuinfo()
    info = {
        "platform": "desktop",
        "hostname": socket.gethostname(),
        "cpu_model": model,
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


# A run is "busy" when the 1-min load average exceeds this many runnable tasks per logical core.
BUSY_LOAD_PER_CORE = 0.5


def is_busy(load: list[float] | None, cores: int) -> bool:
    """The one busy-machine rule: the run's notes, the report and `run_all.sh`'s settle wait use it."""
    return bool(load) and load[0] > BUSY_LOAD_PER_CORE * cores


if __name__ == "__main__":  # `python -m albert_edge.benchmarks.machine busy`: exit 0 when busy now
    if sys.argv[1:] == ["busy"]:
        sys.exit(0 if is_busy(load_avg(), os.cpu_count() or 1) else 1)
    print("usage: python -m albert_edge.benchmarks.machine busy", file=sys.stderr)
    sys.exit(2)


def versions() -> dict[str, str]:
    out = {}
    for n in VERSION_PACKAGES:
        try:
            out[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    return out


def _best_gflops(fn, n: int, repeats: int, budget_s: float) -> tuple[float, int]:
    fn()  # warm-up: thread pool start, page faults, kernel selection
    best, done, t_end = float("inf"), 0, time.perf_counter() + budget_s
    while done < repeats and (done < 2 or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        done += 1
    return 2.0 * n**3 / best / 1e9, done


def ort_gemm_peak(n: int, threads: int, repeats: int = 10, budget_s: float = 5.0) -> dict:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["A", "B"], ["C"])],
        "gemm_peak",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n]), helper.make_tensor_value_info("B", TensorProto.FLOAT, [n, n])],
        [helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    gf, done = _best_gflops(lambda: sess.run(None, {"A": a, "B": b}), n, repeats, budget_s)
    return {"engine": "onnxruntime", "threads": threads, "n": n, "gflops": round(gf, 2), "repeats": done}


def torch_gemm_peak(n: int, threads: int, repeats: int = 10, budget_s: float = 5.0) -> dict:
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=g)
        b = torch.randn(n, n, generator=g)
        gf, done = _best_gflops(lambda: torch.mm(a, b), n, repeats, budget_s)
    finally:
        torch.set_num_threads(old)
    return {"engine": "torch", "threads": threads, "n": n, "gflops": round(gf, 2), "repeats": done}


def numpy_gemm_peak(n: int, threads: int, repeats: int = 10, budget_s: float = 5.0) -> dict:
    """NumPy's BLAS reads its thread count at import, so this runs in a fresh process."""
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        env[k] = str(threads)
    code = (
        "import json,sys; from albert_edge.benchmarks.machine import _numpy_inproc; "
        f"print(json.dumps(_numpy_inproc({n},{repeats},{budget_s})))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120 + budget_s)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return {"engine": "numpy", "threads": threads, "n": n, "gflops": res["gflops"], "repeats": res["repeats"]}


def _numpy_inproc(n: int, repeats: int, budget_s: float) -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    gf, done = _best_gflops(lambda: a @ b, n, repeats, budget_s)
    return {"gflops": round(gf, 2), "repeats": done}


PEAK_ENGINES = {"onnxruntime": ort_gemm_peak, "numpy": numpy_gemm_peak, "torch": torch_gemm_peak}


def gemm_peaks(threads_list: list[int], n: int, repeats: int, budget_s: float, engines=("onnxruntime", "numpy", "torch")) -> tuple[list[dict], list[str]]:
    """Peak per (engine, thread count); failures become notes, not crashes."""
    peaks, notes = [], []
    for t in threads_list:
        for eng in engines:
            try:
                peaks.append(PEAK_ENGINES[eng](n, t, repeats=repeats, budget_s=budget_s))
            except Exception as e:  # a missing/broken BLAS must not sink the whole benchmark
                notes.append(f"GEMM peak with {eng} at {t} thread(s) failed: {str(e)[:160]}")
    return peaks, notes


def best_peak(peaks: list[dict], threads: int) -> dict | None:
    """The machine's peak at a thread count = the best engine there."""
    cands = [p for p in peaks if p["threads"] == threads]
    return max(cands, key=lambda p: p["gflops"]) if cands else None
