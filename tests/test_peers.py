"""Benchmark peers and the per-process measurement machinery: the standard LiteRT recipe for real on a tiny
trained-looking model (it must really duplicate the shared weights: that is the point of the comparison),
the OpenVINO peer in its own venv (built on first use, ~40 s, as `bench` would), the worker protocol,
the fp32/int8 GEMM peaks, the goal table. No timing assertions."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from albert_edge import formats
from albert_edge.benchmarks import analysis, machine, measure, peerset, schema, timing
from albert_edge.paths import cache_dir

# The real OpenVINO venv (benchmarks/peers/openvino.sh builds it), looked up before any test moves the cache.
OPENVINO_VENV = Path(os.environ.get("OPENVINO_VENV") or cache_dir("peers", "openvino-venv"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny trained-looking checkpoint (LayerNorm gamma != 1: what makes the LiteRT converter fold) and its ONNX folder."""
    import torch

    torch.set_num_threads(1)
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.testing import make_checkpoint, tokenizer_source

    root = tmp_path_factory.mktemp("peers")
    ckpt = make_checkpoint(root / "ckpt", tokenizer_source(root / "spm", official=False), trained_looking=True, max_position_embeddings=64)
    folder = root / "art"
    export_onnx(ckpt, folder, max_length=32, quiet=True, text=False)
    return ckpt, folder


@pytest.fixture()
def peer_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_EDGE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "peers"


def _ctx(tiny):
    from albert_edge.manifest import load_manifest

    ckpt, folder = tiny
    return peerset.Context(folder, load_manifest(folder), ckpt, quiet=True)


# ---------------------------------------------------------------------------------------------
# LiteRT standard recipe: real, in our venv


@pytest.fixture(scope="module")
def litert_peer(tiny, tmp_path_factory):
    from albert_edge.benchmarks.peers.litert_stock import build

    out = tmp_path_factory.mktemp("litert")
    return out, build(str(tiny[0]), str(out), seq_len=32)


def _hh_constants(data: bytes, hidden: int) -> int:
    """Constant buffers shaped like a hidden x hidden weight (Q, K, V, attention output, pooler)."""
    from albert_edge.export.tflite_buffers import list_constants

    return sum(1 for c in list_constants(data) if tuple(c.shape) == (hidden, hidden))


def test_litert_stock_duplicates_the_shared_weights_on_a_trained_looking_model(tiny, litert_peer, tmp_path):
    """The standard recipe has no LayerNorm-fold barriers: applications 2..N get private (folded) copies of
    Q/K/V. albert-edge's export of the same checkpoint keeps one copy (its weight guard would refuse more)."""
    from albert_edge.export.tflite_export import export_tflite

    out, peer = litert_peer
    cfg = json.loads((tiny[0] / "config.json").read_text())
    H, N = cfg["hidden_size"], cfg["num_hidden_layers"]
    stock = (out / "model.tflite").read_bytes()
    c = peer["constants"]["fp32"]
    assert c["unique_parameters"] > 0 and c["constant_bytes_over_needed"] > 1.1, c  # > 10% more constant bytes than parameters
    ours_dir = tmp_path / "ours"
    export_tflite(tiny[0], ours_dir, buckets=(32,), quiet=True)
    ours = (ours_dir / "model.tflite").read_bytes()
    # 5 unique H x H weights (query, key, value, attention dense, pooler); the stock file folds one
    # LayerNorm into Q, K and V per later application
    assert _hh_constants(ours, H) == 5
    assert _hh_constants(stock, H) >= 5 + 3 * (N - 1) - 3, (_hh_constants(stock, H), N)
    assert peer["constants"]["int8"]["constant_bytes_over_needed"] > 1.1
    assert peer["bytes"]["fp32"] > len(ours)


def test_litert_stock_runs_like_pytorch_through_the_interpreter_api(tiny, litert_peer):
    import torch
    from transformers import AutoModelForSequenceClassification

    from albert_edge.benchmarks.peers.litert_stock import InterpreterRunner

    out, peer = litert_peer
    ids = [[2, 15, 16, 17, 3], [2, 20, 21, 3]]
    model = AutoModelForSequenceClassification.from_pretrained(tiny[0]).eval()
    ref = []
    for x in ids:  # the stock file always runs padded to its one length
        t = torch.zeros((1, 32), dtype=torch.long)
        t[0, : len(x)] = torch.tensor(x)
        m = (t != 0).long()
        with torch.no_grad():
            ref.append(model(input_ids=t, attention_mask=m, token_type_ids=torch.zeros_like(t)).logits[0].numpy())
    r = InterpreterRunner(out / "model.tflite", threads=1, sep_id=3)
    got = r.call([], ids)
    assert r.seq_len == 32 and r.info()["weight_cache"] is False
    assert np.abs(got - np.stack(ref)).max() < 1e-4
    r8 = InterpreterRunner(out / "model_int8.tflite", threads=1, sep_id=3)
    assert np.abs(r8.call([], ids) - np.stack(ref)).max() < 0.5  # int8 weights: close, not equal


def test_litert_peer_specs_and_a_timing_job_in_a_worker_process(tiny, litert_peer, peer_cache):
    """peerset finds the built peer (cache keyed by the checkpoint), and the spec's overrides reach a real
    worker process: fixed length 32 only, batch 1, the Interpreter runner, samples back as JSON."""
    import shutil

    ctx = _ctx(tiny)
    out, _ = litert_peer
    d = peer_cache / f"litert-stock-{ctx.sha}-L32"
    d.parent.mkdir(parents=True)
    shutil.copytree(out, d)
    specs, rec = peerset.litert_stock("cached", ctx)
    assert rec["status"] == "ok" and rec["versions"]["litert-torch"] and any("dynamic_wi8_afp32" in c for c in rec["commands"])
    assert [s["name"] for s in specs] == ["litert-stock-fp32", "litert-stock-int8"]
    s = {**{"pad_id": 0, "cls_id": 2, "sep_id": 3, "vocab_size": 100, "max_len": 32, "filler": None}, **specs[1]}
    assert measure._lengths(s) == "buckets" and measure.fixed_batch(s)
    res = measure.timing_subprocess(s, 1, [(1, 32)], ([], [[2, 5, 6, 3], [2, 7, 3]]), {"runs": 3, "warmup": 1, "min_runs": 1, "max_runs": 3}, None)
    assert len(res["latency"]) == 1 and len(res["latency"][0]["samples_ms"]) == 3
    assert len(res["sentences"]["samples_ms"]) == 2
    assert res["info"]["runtime"].startswith("ai-edge-litert Interpreter")
    mem = measure.memory_variants(s, 1, 32)[0]
    assert [m["variant"] for m in mem] == ["default"] and mem[0]["rss_growth_bytes"] > 0


def test_cached_mode_never_builds_and_says_how(tiny, peer_cache):
    ctx = _ctx(tiny)
    for fn in (peerset.litert_stock, peerset.executorch_stock, peerset.openvino):
        specs, rec = fn("cached", ctx)
        assert specs == [] and rec["status"] == "missing" and "not built" in rec["detail"], rec
    assert not peer_cache.exists() or not any(peer_cache.iterdir())


def test_executorch_stock_spec_runs_with_default_runtime_options(tiny, peer_cache):
    """The ExecuTorch peer's files come from benchmarks/peers/executorch_stock.py (tested with ExecuTorch);
    here: its recorded folder becomes specs that run ExecuTorchRunner WITHOUT the weight cache."""
    ctx = _ctx(tiny)
    d = peer_cache / f"executorch-stock-{ctx.sha}-L{ctx.max_len}"
    d.mkdir(parents=True)
    (d / "model.pte").write_bytes(b"x" * 10)
    (d / "model_int8.pte").write_bytes(b"y" * 7)
    (d / "peer.json").write_text(json.dumps({"files": {"fp32": "model.pte", "int8": "model_int8.pte"}, "versions": {"executorch": "1"}, "commands": ["c"],
                                             "stock_quantizer_error": "IndexError: ..."}))
    specs, rec = peerset.executorch_stock("cached", ctx)
    if rec["status"] == "missing" and "not installed" in rec["detail"]:
        pytest.skip("executorch is not installed here: " + rec["detail"])
    assert rec["status"] == "ok" and rec["facts"]["stock_quantizer_error"].startswith("IndexError")
    assert [(s["name"], s["bytes"]) for s in specs] == [("executorch-stock-fp32", 10), ("executorch-stock-int8", 7)]
    assert all(s["runner_kwargs"] == {"weight_cache": False} and s["memory_variants"] == ["default"] and measure.fixed_batch(s) for s in specs)


# ---------------------------------------------------------------------------------------------
# OpenVINO: its own venv


# Run in OpenVINO's venv: our model.onnx itself and the peer's IR files, at OpenVINO's f32 inference precision
# (the CPU plugin's default is bf16 on CPUs with AMX: the check must not depend on the CPU kind).
# The feeds are the peer worker's own (openvino_peer._feeds, loaded by path as the worker is).
_OV_LOGITS = """
import json, sys
import numpy as np
import openvino as ov
sys.path.insert(0, sys.argv[3])
from openvino_peer import _feeds
files, ids = json.loads(sys.argv[1]), json.loads(sys.argv[2])
core, out = ov.Core(), {}
for f in files:
    c = core.compile_model(f, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    r, names = c.create_infer_request(), [i.get_any_name() for i in c.inputs]
    out[f] = [np.asarray(next(iter(r.infer(_feeds([x], 0, names)).values())), dtype=np.float64)[0].tolist() for x in ids]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_openvino_peer_builds_in_its_venv_and_times_in_its_worker(tiny, peer_cache, monkeypatch):
    """The peer's venv is built here when absent (benchmarks/peers/openvino.sh through peerset, as `bench`
    does): OpenVINO is a heavy client in a venv of its own, and what proves our artifact in it runs in CI."""
    import subprocess

    from albert_edge.runners import OnnxRunner

    monkeypatch.setenv("OPENVINO_VENV", str(OPENVINO_VENV))
    ctx = _ctx(tiny)
    specs, rec = peerset.openvino("auto", ctx)
    assert rec["status"] == "ok", rec
    # Our model.onnx loads in OpenVINO as it is and computes our logits; the peer's IR files come close.
    folder = tiny[1]
    ids = [[2, 15, 16, 17, 3], [2, 20, 21, 3], [2] + list(range(30, 60)) + [3]]
    ours = OnnxRunner(folder / "model.onnx").logits(ids)
    xml = {s["precision"]: s["path"] for s in specs}
    files = [str(folder / "model.onnx"), xml["fp32"], xml["int8"]]
    from albert_edge.paths import package_file

    peers_dir = str(package_file("benchmarks.peers", "openvino_peer.py").parent)
    p = subprocess.run([str(OPENVINO_VENV / "bin" / "python"), "-c", _OV_LOGITS, json.dumps(files), json.dumps(ids), peers_dir], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    got = {f: np.asarray(v) for f, v in json.loads(p.stdout.strip().splitlines()[-1]).items()}
    assert np.abs(got[files[0]] - ours).max() <= 1e-4, np.abs(got[files[0]] - ours).max()
    # The peer's "fp32" IR: ov.save_model's default stores float constants as fp16 (docs/benchmarks.md says so).
    assert 1e-6 < np.abs(got[files[1]] - ours).max() <= 1e-2, np.abs(got[files[1]] - ours).max()
    assert 0 < np.abs(got[files[2]] - ours).max() < 0.5  # NNCF int8: really quantized, still close
    assert rec["versions"]["openvino"] == "2026.4.1" and rec["versions"]["nncf"] == "3.4.0"
    assert any("ModelType.TRANSFORMER" in c for c in rec["commands"]) and "sentences" in rec["facts"]["calibration"]
    assert rec["facts"]["ir"]["int8"]["ops"].get("FakeQuantize", 0) > 0  # NNCF really quantized it
    by = {s["name"]: s for s in specs}
    assert set(by) == {"openvino-fp32", "openvino-int8"} and all(s["format"] == "openvino" for s in specs)
    s = {**{"pad_id": 0, "cls_id": 2, "sep_id": 3, "vocab_size": 100, "max_len": 32, "filler": None}, **by["openvino-fp32"]}
    res = measure.timing_subprocess(s, 1, [(1, 8), (2, 16)], ([], [[2, 5, 6, 3]]), {"runs": 2, "warmup": 1, "min_runs": 1, "max_runs": 2}, None)
    assert [len(r["samples_ms"]) for r in res["latency"]] == [2, 2] and res["info"]["performance_hint"] == "LATENCY"
    mem = measure.memory_variants(s, 1, 16)[0][0]
    assert mem["variant"] == "default" and mem["rss_growth_bytes"] > 0


def test_openvino_worker_refuses_a_bad_job_in_one_line(tmp_path):
    """Runs without OpenVINO installed: the worker script's usage path needs only numpy."""
    import subprocess
    import sys

    from albert_edge.paths import package_file

    script = package_file("benchmarks.peers", "openvino_peer.py")
    p = subprocess.run([sys.executable, str(script), "nonsense"], capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr


# ---------------------------------------------------------------------------------------------
# the worker protocol (timing.py) with a stand-in runner


class _Fake:
    def __init__(self, fail_batch=None):
        self.calls = 0
        self.fail_batch = fail_batch

    def call(self, texts, ids):
        if self.fail_batch and len(ids) == self.fail_batch:
            raise ValueError("batch not supported\nsecond line")
        self.calls += 1
        return np.zeros((len(ids), 2))

    def info(self):
        return {"runtime": "fake"}


def test_timing_job_runs_every_config_and_reports_failures_per_config():
    job = {"kind": "timing", "threads": 1, "cfg": {"runs": 4, "warmup": 2, "min_runs": 1, "max_runs": 9}, "budget_s": None,
           "configs": [{"batch": 1, "seq_len": 4, "ids": [[2, 5, 6, 3]]}, {"batch": 2, "seq_len": 4, "ids": [[2, 5, 6, 3]] * 2}],
           "sentences": {"texts": ["a", "b", "c"], "ids": [[2, 3], [2, 5, 3], [2, 6, 3]]}}
    fake = _Fake(fail_batch=2)
    res = timing.run_job(job, lambda j: fake)
    assert res["info"] == {"runtime": "fake"}
    ok, bad = res["latency"]
    assert len(ok["samples_ms"]) == 4 and ok["warmup"] == 2
    assert bad["error"] == "batch not supported" and "samples_ms" not in bad
    assert len(res["sentences"]["samples_ms"]) == 3 and res["sentences"]["warmup"] == 2
    assert fake.calls == 2 + 4 + 2 + 3


def test_memory_job_and_a_failing_runner():
    imported = []
    job = {"kind": "memory", "threads": 1, "variant": "default", "ids": [[2, 5, 3]], "texts": []}
    res = timing.run_job(job, lambda j: _Fake(), lambda j: imported.append(True))
    assert imported == [True] and res["variant"] == "default"
    assert res["rss_growth_bytes"] == res["peak_rss_bytes"] - res["rss_baseline_bytes"]

    def boom(j):
        raise RuntimeError("cannot load model.xyz")

    assert timing.run_job(job, boom) == {"error": "cannot load model.xyz"}


def test_budget_run_count_policy():
    assert timing.runs_for_budget(10.0, 1.0, 5, 200) == 100
    b = timing.Budget(10.0, 4)
    assert 2.4 < b.share() <= 2.5
    b.done()
    assert 3.2 < b.share() <= 3.34
    samples, warm = timing.time_calls(lambda: None, None, 1, 0.0, 3, 50)
    assert len(samples) == 3 and warm == 1  # no budget left: min_runs


# ---------------------------------------------------------------------------------------------
# GEMM peaks


def test_peak_inproc_fp32_and_int8_small_sizes():
    for dtype in ("fp32", "int8"):
        p = machine.peak_inproc("onnxruntime", dtype, 1, (32, 64), repeats=3, budget_s=0.5)
        assert p["dtype"] == dtype and [r["n"] for r in p["sizes"]] == [32, 64]
        assert p["gflops"] == max(r["gflops"] for r in p["sizes"]) and p["n"] in (32, 64)
        assert all(r["p10_gflops"] <= r["median_gflops"] <= r["gflops"] for r in p["sizes"])
    with pytest.raises(ValueError):
        machine.peak_inproc("numpy", "int8", 1, (32,), 2, 0.1)


def test_gemm_int8_model_computes_the_integer_product():
    import onnxruntime as ort

    sess = ort.InferenceSession(machine._gemm_model(16, "int8"), providers=["CPUExecutionProvider"])
    from onnx import numpy_helper, load_from_string

    b = numpy_helper.to_array(load_from_string(machine._gemm_model(16, "int8")).graph.initializer[0]).astype(np.int32)
    a = np.random.default_rng(0).integers(0, 255, (16, 16), dtype=np.uint8)
    assert np.array_equal(sess.run(None, {"A": a})[0], a.astype(np.int32) @ b)


def test_best_peak_keeps_dtypes_apart_and_spread_names_rounds():
    peaks = [{"engine": "onnxruntime", "dtype": "fp32", "threads": 2, "n": 512, "gflops": 200.0, "round": "start"},
             {"engine": "onnxruntime", "dtype": "fp32", "threads": 2, "n": 512, "gflops": 400.0, "round": "end"},
             {"engine": "torch", "dtype": "int8", "threads": 2, "n": 1024, "gflops": 1500.0, "round": "start"},
             {"engine": "numpy", "threads": 1, "n": 512, "gflops": 100.0}]  # old results: no dtype = fp32
    assert machine.best_peak(peaks, 2)["gflops"] == 400.0
    assert machine.best_peak(peaks, 2, "int8")["engine"] == "torch"
    assert machine.best_peak(peaks, 1)["gflops"] == 100.0 and machine.best_peak(peaks, 1, "int8") is None
    sp = machine.peak_spread(peaks, 2, "fp32")
    assert sp["rounds"] == {"start": 200.0, "end": 400.0} and sp["min_round_fraction"] == 0.5


# ---------------------------------------------------------------------------------------------
# goal table, goals, schema


def _art(name, role, prec, sent, lat, size, rss, fmt="onnx"):
    st = lambda v: {"p10": v, "p50": v, "p90": v, "p99": v, "mean": v, "min": v, "max": v, "iqr": 0.0, "n": 3}  # noqa: E731
    return {"name": name, "format": fmt, "precision": prec, "role": role, "file": None, "bytes": size, "load_s": 0.1, "error": None,
            "memory": [{"variant": "default", "threads": 1, "rss_baseline_bytes": 10, "rss_after_load_bytes": 10 + rss, "peak_rss_bytes": 10 + rss, "rss_growth_bytes": rss, "load_s": 0.1}],
            "latency": [{"seq_len": 128, "batch": 1, "threads": 2, "runs": 3, "warmup": 1, "ms": st(lat), "gflops_per_s": 22.4 / lat * 1000, "peak_fraction": 22.4 / lat * 1000 / 1600, "peak_dtype": "int8" if prec == "int8" else "fp32"}],
            "sentences": [{"threads": 2, "batch": 1, "count": 3, "runs": 1, "shape_handling": "dynamic", "mean_tokens": 20.0, "ms": st(sent)}], "skipped": []}


def _result(arts):
    return {"schema_version": 1, "kind": "albert-edge-bench", "created": "2026-12-02T00:00:00+00:00", "tool": "t",
            "host": {"platform": "desktop", "hostname": "h", "cpu_model": "c", "cpu_flags": [], "cores_logical": 2}, "versions": {},
            "model": {"name": "m", "hidden_size": 768, "embedding_size": 128, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "vocab_size": 30000},
            "settings": {"seq_lens": [128], "threads": [2], "batches": [1], "runs": None},
            "peak": [{"engine": "onnxruntime", "dtype": "int8", "threads": 2, "n": 1024, "gflops": 1600.0, "repeats": 5}],
            "artifacts": arts, "peers": [], "notes": []}


def test_goal_table_picks_the_best_peer_of_any_format_and_names_where_a_peer_wins():
    ours = _art("onnx-int8", "ours", "int8", sent=7.0, lat=28.0, size=12_000_000, rss=30)
    ov = {**_art("openvino-int8", "peer", "int8", sent=10.3, lat=21.0, size=90_000_000, rss=275), "format": "openvino", "peer": "openvino"}
    opt = {**_art("optimum-int8", "peer", "int8", sent=19.0, lat=63.0, size=40_000_000, rss=70), "peer": "optimum"}
    r = _result([ours, ov, opt])
    rows = {(x["metric"], x["threads"]): x for x in analysis.goal_table(r)}
    assert rows[("sentences", 2)]["best_peer"] == "openvino-int8" and rows[("sentences", 2)]["ratio"] == pytest.approx(10.3 / 7.0)
    assert rows[("latency128", 2)]["best_peer"] == "openvino-int8" and rows[("latency128", 2)]["ratio"] == pytest.approx(0.75)
    assert rows[("bytes", None)]["best_peer"] == "optimum-int8" and rows[("rss_growth", None)]["best_peer"] == "optimum-int8"
    r["goal_table"] = analysis.goal_table(r)
    wins = analysis.peer_wins(r)
    assert [(w["artifact"], w["metric"]) for w in wins] == [("onnx-int8", "latency128")]
    goals = {g["name"]: g for g in analysis.goals(r)}
    assert goals["int8 ONNX speed vs Optimum int8"]["measured"] == pytest.approx(63.0 / 28.0)  # Optimum, not the faster OpenVINO
    assert goals["onnx-int8 vs fastest peer, real sentences"]["met"] is True
    assert goals["int8 ONNX efficiency"]["measured"] == pytest.approx(0.5) and goals["int8 ONNX efficiency"]["met"] is False  # 800 of 1600 GOP/s
    from albert_edge.benchmarks.report import goal_table_md

    md = "\n".join(goal_table_md(r))
    assert "**0.75× vs openvino-int8**" in md and "Where a peer wins" in md
    schema.validate({**r, "goals": analysis.goals(r), "comparisons": analysis.comparisons(r)})


def test_peer_formats_are_benchmark_only():
    assert "openvino" in schema.FORMATS and "openvino" in formats.PEER_FORMATS
    assert "openvino" not in formats.names()  # never a manifest format
    assert not set(formats.PEER_FORMATS) & set(formats.names())
    r = _result([_art("x", "peer", "int8", 1, 1, 1, 1, fmt="openvino")])
    assert schema.problems(r) == []
    r["peak"][0]["dtype"] = "int4"
    assert any("dtype" in p for p in schema.problems(r))


def test_interference_counts_other_processes_but_not_our_own_children():
    import subprocess
    import sys

    from albert_edge.benchmarks.machine import Interference, cpu_busy_seconds

    if cpu_busy_seconds() is None:
        pytest.skip("no /proc/stat on this platform")
    burn = "import time\nt=time.time()\nwhile time.time()-t<0.6: pass"
    seen = []
    # Up to 3 tries: `make test` runs two pytest workers, and the other one's bursts land in both
    # windows at random. Counting our own child as foreign (the bug this catches) fails every try.
    for _ in range(3):
        with Interference() as own:  # a child we wait for is ours
            subprocess.run([sys.executable, "-c", burn], check=True)
        other = subprocess.Popen([sys.executable, "-c", burn.replace("0.6", "1.5")])
        try:
            time.sleep(0.2)
            with Interference() as foreign:  # a process we do not wait for inside the block is someone else
                time.sleep(0.8)
        finally:
            other.wait()
        assert own.cores is not None and foreign.cores is not None
        seen.append((round(own.cores, 2), round(foreign.cores, 2)))
        if foreign.cores > 0.5 and foreign.cores > own.cores + 0.3:
            break
    else:
        pytest.fail(f"(own, foreign) cores per try: {seen}")


def test_executorch_int8_is_compared_with_our_int8_onnx_on_real_sentences():
    onnx8 = _art("onnx-int8", "ours", "int8", sent=5.5, lat=19.0, size=12_000_000, rss=47)
    et8 = _art("executorch-int8", "ours", "int8", sent=9.7, lat=33.0, size=12_100_000, rss=24, fmt="executorch")
    r = _result([onnx8, et8])
    goals = {g["name"]: g for g in analysis.goals(r)}
    g = goals["executorch-int8 vs onnx-int8, real sentences"]
    assert g["measured"] == pytest.approx(5.5 / 9.7) and g["met"] is False and "-43% vs target" in g["note"]
    faster = _result([onnx8, {**et8, "sentences": [{**et8["sentences"][0], "ms": {**et8["sentences"][0]["ms"], "p50": 5.0}}]}])
    assert {g["name"]: g for g in analysis.goals(faster)}["executorch-int8 vs onnx-int8, real sentences"]["met"] is True
    ratios = {(c["metric"], c.get("threads")): c["value"] for c in analysis.comparisons(r) if c["name"] == "ours ExecuTorch int8 vs ours int8 ONNX"}
    assert ratios[("sentences_p50", 2)] == pytest.approx(5.5 / 9.7) and ratios[("latency_p50", 2)] == pytest.approx(19.0 / 33.0)
    assert "executorch-int8 vs onnx-int8, real sentences" not in {g["name"] for g in analysis.goals(_result([onnx8]))}
    schema.validate({**r, "goals": analysis.goals(r), "comparisons": analysis.comparisons(r)})
    # the other speed goal: ≥ 1.5× the stock ExecuTorch recipe's int8 on the same sentences
    name = "executorch-int8 vs the stock ExecuTorch recipe, real sentences"
    assert name not in {g["name"] for g in analysis.goals(r)}  # no stock peer in the run: no row
    stock = _art("executorch-stock-int8", "peer", "int8", sent=13.9, lat=60.0, size=23_700_000, rss=110, fmt="executorch")
    for sent, met in ((13.9, False), (14.6, True)):
        rs = _result([onnx8, et8, {**stock, "sentences": [{**stock["sentences"][0], "ms": {**stock["sentences"][0]["ms"], "p50": sent}}]}])
        g = {g["name"]: g for g in analysis.goals(rs)}[name]
        assert g["measured"] == pytest.approx(sent / 9.7) and g["met"] is met and "≥ 1.5×" in g["target"]
    assert "executorch-stock-int8" in analysis.round_artifacts(rs)


def test_each_pte_of_ours_has_a_goal_on_rss_at_load_vs_its_file_size():
    """Issue 15: RSS growth at load with our runner (weight cache on) at most 1.3x the file. Read from the
    weight-cache memory row right after load, not the peak (which adds two inferences' activations)."""
    from albert_edge.benchmarks import report

    def pte(name, after_load_mib, peak_mib, size):
        a = _art(name, "ours", "int8", sent=9.7, lat=33.0, size=size, rss=0, fmt="executorch")
        row = lambda v, grown, peak: {"variant": v, "threads": 2, "rss_baseline_bytes": 400 << 20, "rss_after_load_bytes": (400 << 20) + int(grown * 2**20),  # noqa: E731
                                      "peak_rss_bytes": (400 << 20) + int(peak * 2**20), "rss_growth_bytes": int(peak * 2**20), "load_s": 0.02}
        return {**a, "memory": [row("no_weight_cache", 90.0, 100.0), row("weight_cache", after_load_mib, peak_mib)]}

    onnx8 = _art("onnx-int8", "ours", "int8", sent=9.9, lat=33.0, size=12_000_000, rss=47)
    stock = _art("executorch-stock-int8", "peer", "int8", sent=30.0, lat=60.0, size=23_700_000, rss=110, fmt="executorch")
    size = 12_080_000
    r = _result([onnx8, pte("executorch-int8", 14.0, 25.0, size), pte("executorch-fp32", 60.0, 70.0, 46_830_000), stock])
    goals = {g["name"]: g for g in analysis.goals(r)}
    g = goals["executorch-int8 RSS at load vs file size"]
    # 14 MiB at load over a 11.5 MiB file: met, although the peak (25 MiB) would be 2.2x
    assert g["measured"] == pytest.approx(14.0 * 2**20 / size) and g["met"] is True and g["at_most"] is True
    assert "under the limit" in g["note"] and "≤ 1.3×" in g["target"]
    bad = goals["executorch-fp32 RSS at load vs file size"]  # 60 MiB for 44.7 MiB: 1.34x, over
    assert bad["met"] is False and "over the limit" in bad["note"]
    assert "executorch-stock-int8 RSS at load vs file size" not in goals  # peers have no such goal
    assert not any("RSS at load" in n for n in {g["name"] for g in analysis.goals(_result([onnx8]))})
    no_mem = {**pte("executorch-int8", 14.0, 25.0, size), "memory": []}
    g = {g["name"]: g for g in analysis.goals(_result([onnx8, no_mem]))}["executorch-int8 RSS at load vs file size"]
    assert g["met"] is None and g["measured"] is None and "--no-memory" in g["note"]
    r["goals"] = analysis.goals(r)
    schema.validate({**r, "comparisons": analysis.comparisons(r)})
    md = report.markdown(r)
    assert "| executorch-int8 RSS at load vs file size | ≤ 1.3× the file" in md and "| 1.34× | **missed** |" in md


def test_sentence_goals_read_the_median_round_not_the_one_shot_rows():
    onnx8 = _art("onnx-int8", "ours", "int8", sent=15.25, lat=19.0, size=12_000_000, rss=47)  # one slow process
    et8 = _art("executorch-int8", "ours", "int8", sent=10.49, lat=20.0, size=12_100_000, rss=24, fmt="executorch")
    peer = _art("openvino-int8", "peer", "int8", sent=16.7, lat=60.0, size=90_000_000, rss=270)
    r = _result([onnx8, et8, peer])
    # what the rounds time: the fastest peer and every int8 artifact of ours, once each
    assert analysis.round_artifacts(r) == ["openvino-int8", "onnx-int8", "executorch-int8"]
    # an artifact whose own sentence row is missing is not timed again (its goal says "not measured")
    assert analysis.round_artifacts(_result([onnx8, {**et8, "sentences": []}])) == []
    goal = lambda res, name="executorch-int8 vs onnx-int8, real sentences": {g["name"]: g for g in analysis.goals(res)}[name]  # noqa: E731
    assert goal(r)["met"] is True and goal(r)["measured"] == pytest.approx(15.25 / 10.49)  # one-shot rows
    p50 = [(16.9, 9.6, 9.5), (17.2, 15.5, 9.9), (16.5, 9.4, 9.6), (16.8, 9.8, 9.5), (17.0, 9.5, 10.6)]
    names = ["openvino-int8", "onnx-int8", "executorch-int8"]
    sr = {"threads": 2, "count": 3, "artifacts": names,
          "rounds": [{"round": i + 1, "order": names[i % 3:] + names[:i % 3], "p50_ms": dict(zip(names, v))} for i, v in enumerate(p50)]}
    rr = {**r, "sentence_rounds": sr}
    g = goal(rr)
    ratios = sorted(b / c for _, b, c in p50)
    assert g["measured"] == pytest.approx(ratios[2]) and g["met"] is (ratios[2] >= 1.0)
    assert "median of 5 interleaved rounds" in g["note"] and "one-shot rows 1.45×" in g["note"] and f"rounds {ratios[0]:.2f}–{ratios[-1]:.2f}" in g["note"]
    assert goal(rr, "onnx-int8 vs fastest peer, real sentences")["measured"] == pytest.approx(sorted(a / b for a, b, _ in p50)[2])
    # rounds at another thread count, or without one of the pair, are not this goal's
    assert goal({**r, "sentence_rounds": {**sr, "threads": 1}})["measured"] == pytest.approx(15.25 / 10.49)
    schema.validate({**rr, "goals": analysis.goals(rr)})


def test_efficiency_goals_read_the_best_round_at_128_tokens():
    """The efficiency goals' 128-token rows flip between the VM's fast and slow modes (one process's row
    read 47-52 % or 65-75 % of the int8 peak); the rounds time them again and the goals read the best
    of the row and the rounds, as the peak they are divided by is the best of its measurements."""
    from albert_edge.benchmarks import report

    fp32 = _art("onnx-fp32", "ours", "fp32", sent=30.0, lat=140.0, size=47_000_000, rss=60)
    int8 = _art("onnx-int8", "ours", "int8", sent=8.0, lat=60.0, size=12_000_000, rss=30)  # a slow-mode row
    peer = _art("openvino-int8", "peer", "int8", sent=16.7, lat=60.0, size=90_000_000, rss=270)
    r = _result([fp32, int8, peer])
    assert analysis.efficiency_round_artifacts(r) == ["onnx-fp32", "onnx-int8"]
    assert analysis.efficiency_round_artifacts(_result([{**int8, "latency": []}, peer])) == []  # no 128-token row: nothing to time again
    goal = lambda res, name: {g["name"]: g for g in analysis.goals(res)}[name]  # noqa: E731
    one8, one32 = 22.4 / 60.0 * 1000 / 1600, 22.4 / 140.0 * 1000 / 1600
    assert goal(r, "int8 ONNX efficiency")["measured"] == pytest.approx(one8) and "interleaved" not in goal(r, "int8 ONNX efficiency")["note"]
    names = ["openvino-int8", "onnx-int8", "onnx-fp32"]
    at = [(140.0, 42.0), (150.0, 44.0), (139.0, 61.0), (141.0, 43.0), (145.0, 62.0)]  # (fp32, int8) ms at 128 tokens per round
    sr = {"threads": 2, "count": 3, "artifacts": names,
          "rounds": [{"round": i + 1, "order": names[i % 3:] + names[:i % 3], "p50_ms": dict(zip(names, (16.7, 8.0, 30.0))),
                      "p50_ms_at_len": {"onnx-fp32": a, "onnx-int8": b}} for i, (a, b) in enumerate(at)],
          "at_len": {"seq_len": 128, "batch": 1, "artifacts": ["onnx-fp32", "onnx-int8"]}}
    rr = {**r, "sentence_rounds": sr}
    g8, g32 = goal(rr, "int8 ONNX efficiency"), goal(rr, "fp32 ORT efficiency")
    assert g8["measured"] == pytest.approx(one8 * 60.0 / 42.0)  # the best round
    assert g32["measured"] == pytest.approx(one32 * 140.0 / 139.0)  # round 3 (139 ms) beats the row (140 ms)
    assert g8["met"] is (g8["measured"] >= analysis.GOALS["int8_peak_fraction"])
    assert "best of the row and 5 interleaved rounds" in g8["note"] and f"one-shot row {one8 * 100:.1f}%" in g8["note"]
    assert f"rounds {one8 * 60 / 62 * 100:.0f}–{one8 * 60 / 42 * 100:.0f}%, median {one8 * 60 / 44 * 100:.1f}%" in g8["note"]
    # rounds all slower than the row: the row stands
    slower = copy.deepcopy(rr)
    for r_ in slower["sentence_rounds"]["rounds"]:
        r_["p50_ms_at_len"]["onnx-fp32"] += 20.0
    assert goal(slower, "fp32 ORT efficiency")["measured"] == pytest.approx(one32)
    # rounds at another thread count or length are not these goals'
    assert goal({**r, "sentence_rounds": {**sr, "threads": 1}}, "int8 ONNX efficiency")["measured"] == pytest.approx(one8)
    assert goal({**r, "sentence_rounds": {**sr, "at_len": {**sr["at_len"], "seq_len": 64}}}, "int8 ONNX efficiency")["measured"] == pytest.approx(one8)
    schema.validate({**rr, "goals": analysis.goals(rr)})
    assert "onnx-int8 @128 tok" in report.markdown({**rr, "goals": analysis.goals(rr)})
    bad = copy.deepcopy(rr)
    del bad["sentence_rounds"]["rounds"][2]["p50_ms_at_len"]["onnx-int8"]
    assert any("p50_ms_at_len" in p for p in schema.problems(bad))
    bad = copy.deepcopy(rr)
    bad["sentence_rounds"]["at_len"]["artifacts"] = ["someone-else"]
    assert any("at_len.artifacts" in p for p in schema.problems(bad))
