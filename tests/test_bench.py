"""`albert-edge bench`: statistics, schema, FLOP formula, plots, a real tiny run through the CLI,
and bad inputs. No timing assertions: speed is what the benchmark reports, not what tests check."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from albert_edge.benchmarks import flops, schema, stats
from albert_edge.cli import main
from albert_edge.errors import AlbertEdgeError

# ---------------------------------------------------------------------------------------------
# statistics


def test_summarize_matches_definitions():
    x = list(range(1, 101))  # 1..100
    s = stats.summarize(x)
    assert s["n"] == 100 and s["min"] == 1 and s["max"] == 100
    assert s["p50"] == pytest.approx(50.5)
    assert s["mean"] == pytest.approx(50.5)
    # numpy linear interpolation: position q/100*(n-1)
    assert s["p10"] == pytest.approx(1 + 0.10 * 99)
    assert s["p90"] == pytest.approx(1 + 0.90 * 99)
    assert s["p99"] == pytest.approx(1 + 0.99 * 99)
    assert s["iqr"] == pytest.approx(0.5 * 99)
    assert stats.relative_spread(s) == pytest.approx((s["p90"] - s["p10"]) / 50.5)


def test_summarize_is_robust_to_one_outlier_where_mean_is_not():
    s = stats.summarize([1.0] * 19 + [1000.0])
    assert s["p50"] == 1.0 and s["mean"] > 50


def test_summarize_rejects_empty_and_nan():
    with pytest.raises(ValueError):
        stats.summarize([])
    with pytest.raises(ValueError):
        stats.summarize([1.0, float("nan")])
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


def test_runs_for_budget_clamps():
    assert stats.runs_for_budget(10.0, 1.0, 5, 200) == 100  # 1 s / 10 ms
    assert stats.runs_for_budget(1000.0, 1.0, 5, 200) == 5  # slow: still min_runs
    assert stats.runs_for_budget(0.01, 10.0, 5, 200) == 200  # fast: capped
    with pytest.raises(ValueError):
        stats.runs_for_budget(1.0, 1.0, 0, 10)
    assert stats.ratio(2.0, 4.0) == 0.5 and stats.ratio(1.0, 0) is None and stats.ratio(None, 1.0) is None


# ---------------------------------------------------------------------------------------------
# FLOPs


def test_flops_hand_count_tiny_config():
    # H=4, E=2, N=1 application, I=8, C=2, L=3, B=1, counted by hand (2 FLOPs per multiply-add):
    # embedding projection 2*3*2*4 = 48; QKV 3*2*3*4*4 = 288; scores 2*3*3*4 = 72; context 72;
    # attention output 2*3*4*4 = 96; FFN 2*3*4*8*2 = 384; pooler 2*4*4 = 32; classifier 2*4*2 = 16
    shape = flops.Shape(hidden_size=4, embedding_size=2, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8, num_labels=2)
    b = flops.breakdown(shape, seq_len=3, batch=1)
    assert b == {"embedding_projection": 48, "qkv": 288, "attention_scores": 72, "attention_context": 72,
                 "attention_output": 96, "ffn": 384, "pooler": 32, "classifier": 16}
    assert flops.forward_flops(shape, 3, 1) == 1008
    # layers scale the per-layer terms only; batch scales everything
    s3 = flops.Shape(4, 2, 3, 2, 8, 2)
    assert flops.forward_flops(s3, 3, 1) == 1008 + 2 * (288 + 72 + 72 + 96 + 384)
    assert flops.forward_flops(shape, 3, 5) == 5 * 1008
    with pytest.raises(ValueError):
        flops.forward_flops(shape, 0, 1)
    # the last application for [CLS] only (1 query row; K and V from all 3): QKV 2*1*4*4 + 2*2*3*4*4 = 224,
    # scores 2*1*3*4 = 24, context 24, output 2*1*4*4 = 32, FFN 2*1*4*8*2 = 128; the rest unchanged
    c = flops.breakdown(shape, seq_len=3, batch=1, cls_only_last=True)
    assert c == {"embedding_projection": 48, "qkv": 224, "attention_scores": 24, "attention_context": 24,
                 "attention_output": 32, "ffn": 128, "pooler": 32, "classifier": 16}
    c3 = flops.breakdown(s3, seq_len=3, batch=1, cls_only_last=True)
    assert c3["ffn"] == 2 * 384 + 128 and c3["qkv"] == 2 * 288 + 224
    assert flops.breakdown(shape, 1, 2, cls_only_last=True) == flops.breakdown(shape, 1, 2)


def test_flops_match_torch_flop_counter():
    """Independent check: PyTorch's FlopCounterMode on a real (tiny) ALBERT forward."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AlbertConfig, AlbertForSequenceClassification

    torch.manual_seed(0)
    cfg = AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                       intermediate_size=24, num_labels=3, max_position_embeddings=64)
    cfg._attn_implementation = "eager"
    model = AlbertForSequenceClassification(cfg).eval()
    ids = torch.randint(5, 50, (2, 10))
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert flops.forward_flops(flops.Shape.from_config(cfg), 10, 2) == fc.get_total_flops()


def test_flops_albert_base_order_of_magnitude():
    base = flops.Shape(768, 128, 12, 12, 3072, 2)
    assert 22.0e9 < flops.forward_flops(base, 128) < 22.8e9


# ---------------------------------------------------------------------------------------------
# a real tiny run (module scope: built once, used by the schema, plot and report tests)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.testing import make_checkpoint, tokenizer_source

    root = tmp_path_factory.mktemp("bench")
    ckpt = make_checkpoint(root / "ckpt", tokenizer_source(root / "spm", official=False))
    folder = root / "art"
    export_onnx(ckpt, folder, max_length=16, quiet=True)
    return folder


@pytest.fixture(scope="module")
def cli_run(tiny_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    argv = ["bench", str(tiny_folder), "--quick", "--seq-lens", "8,16,32", "--threads", "1", "--batch", "1,2", "--runs", "3", "--warmup", "1",
            "--sentences", "4", "--optimum", "off", "--out", str(out), "--extra", f"copy-fp32={tiny_folder / 'model.onnx'}"]
    # an empty peer cache: --quick only uses peers already built, and none is for this checkpoint
    err = io.StringIO()  # not a terminal, as in CI or `> log 2>&1`: the bench writes its progress as lines
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err):
        mp.setenv("ALBERT_EDGE_CACHE", str(tmp_path_factory.mktemp("cache")))
        rc = main(argv)
    out.with_name(out.name + ".stderr").write_text(err.getvalue())
    files = sorted(out.iterdir())
    jsons = [f for f in files if f.suffix == ".json"]
    return rc, out, files, json.loads(jsons[0].read_text()) if jsons else None


def test_cli_run_writes_a_valid_result(cli_run, tiny_folder):
    rc, out, files, result = cli_run
    assert rc == 0
    assert result is not None
    schema.validate(result)
    names = {a["name"] for a in result["artifacts"]}
    assert {"onnx-fp32", "pytorch-fp32", "pytorch-int8", "copy-fp32"} <= names
    assert not [a for a in result["artifacts"] if a.get("error")], [a["error"] for a in result["artifacts"] if a.get("error")]
    onnx = next(a for a in result["artifacts"] if a["name"] == "onnx-fp32")
    # every (length <= max_seq_length, batch) pair timed with the requested run count; 32 > 16 skipped and said so
    got = {(r["seq_len"], r["batch"]) for r in onnx["latency"]}
    assert got == {(8, 1), (16, 1), (8, 2), (16, 2)}
    assert all(r["runs"] == 3 and r["ms"]["n"] == 3 for r in onnx["latency"])
    assert any("32" in s["what"] and "max_seq_length" in s["reason"] for s in onnx["skipped"])
    # FLOPs recorded per row agree with the formula for the folder's config
    cfg = json.loads((tiny_folder / "config.json").read_text())
    r = next(r for r in onnx["latency"] if r["seq_len"] == 16 and r["batch"] == 2)
    assert r["flops"] == flops.forward_flops(flops.Shape.from_config(cfg), 16, 2)
    assert r["gflops_per_s"] > 0 and r["peak_fraction"] > 0
    # real sentences: each artifact saw the same 4, dynamic shapes, no more than max_seq_length tokens
    s = onnx["sentences"][0]
    assert s["count"] == 4 and s["shape_handling"] == "dynamic" and 2 < s["mean_tokens"] <= 16
    # memory from a separate process: growth is peak minus baseline, and positive
    m = onnx["memory"][0]
    assert m["variant"] == "default" and m["rss_growth_bytes"] == m["peak_rss_bytes"] - m["rss_baseline_bytes"] > 0
    assert onnx["load_s"] == m["load_s"] > 0
    assert onnx["bytes"] == (tiny_folder / "model.onnx").stat().st_size
    # every number names the bytes it was made on: ours from the verified manifest entry, the --extra
    # copy and the PyTorch weights hashed from their files, the in-memory int8 model none
    import hashlib

    from albert_edge.checkpoint import find_weights
    from albert_edge.manifest import load_manifest

    by_name = {a["name"]: a for a in result["artifacts"]}
    entry = next(e for e in load_manifest(tiny_folder)["artifacts"] if e["file"] == "model.onnx")
    assert onnx["sha256"] == entry["sha256"] == hashlib.sha256((tiny_folder / "model.onnx").read_bytes()).hexdigest()
    assert by_name["copy-fp32"]["sha256"] == onnx["sha256"]
    weights = find_weights(Path(load_manifest(tiny_folder)["source"]["model_dir"]))
    assert by_name["pytorch-fp32"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert by_name["pytorch-int8"]["sha256"] is None
    assert result["peak"] and all(p["gflops"] > 0 for p in result["peak"])
    # fp32 and int8 peaks, each measured before and after the model rows
    assert {(p["dtype"], p["round"]) for p in result["peak"]} >= {("fp32", "start"), ("fp32", "end"), ("int8", "start"), ("int8", "end")}
    assert r["peak_dtype"] == "fp32"
    # timing ran in worker processes: the runner's facts come back from there, with how much CPU the
    # rest of the machine took meanwhile
    assert onnx["info"].get("runtime") == "onnxruntime"
    assert [i["threads"] for i in onnx["interference"]] == [1] and onnx["interference"][0]["other_cores"] >= 0


def test_cli_run_in_a_log_says_how_far_it_got_after_each_artifact(cli_run):
    """tqdm draws nothing where stderr is not a terminal, and an ALBERT-base folder's rows run for half
    an hour: the bench writes a line as each artifact's rows end, and one at the end."""
    rc, out, files, result = cli_run
    lines = out.with_name(out.name + ".stderr").read_text().splitlines()
    (end,) = [ln for ln in lines if ln.startswith("✓ benchmark (")]
    total = int(end.split("(", 1)[1].split(" ", 1)[0])
    counts = [ln for ln in lines if ln.startswith("… benchmark: ")]
    # one line as each artifact's rows end ("after NAME"), or the timed count line at that count ("(NAME)")
    named = [ln.rsplit(" after ", 1)[1] if " after " in ln else ln.rsplit(" (", 1)[1].rstrip(")") for ln in counts]
    measured = [a["name"] for a in result["artifacts"] if not a.get("error")]
    assert list(dict.fromkeys(named)) == measured, lines
    done = [int(ln.split(": ", 1)[1].split("/", 1)[0]) for ln in counts]
    assert done == sorted(done) and done[-1] == total and all(f"/{total} cfg, " in ln for ln in counts), counts
    assert len(set(done)) == len(done), "the same count said twice"


def test_line_progress_names_each_item_as_it_ends_and_the_title_at_the_end(capsys, monkeypatch):
    import itertools

    from albert_edge import progress

    clock = itertools.chain([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], itertools.repeat(6.0))
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with progress.bar(4, "benchmark", "cfg", lines=True) as pb:
        pb.set_description("a")  # nothing measured under the title itself: no line
        pb.update(2)
        pb.set_description("b")
        pb.write("✗ b: broke")  # the caller says an item failed; the next line only counts
        pb.set_description("c")  # b measured nothing: no line for it
        pb.update(2)
    assert capsys.readouterr().err.splitlines() == ["… benchmark: 2/4 cfg, 2 s after a", "✗ b: broke", "… benchmark: 4/4 cfg, 4 s after c", "✓ benchmark (4 cfg, 5.0 s)"]
    clock = itertools.chain([0.0, 11.0], itertools.repeat(12.0))
    with progress.bar(4, "benchmark", "cfg", lines=True) as pb:
        pb.set_description("a")
        pb.update(2)  # 11 s: the timed count line names a
        pb.set_description("b")  # so no second line at the same count
    assert capsys.readouterr().err.splitlines() == ["… benchmark: 2/4 cfg, 11 s (a)", "✓ benchmark (2 cfg, 12.0 s)"]


def test_cli_run_compares_and_reports_goals_honestly(cli_run):
    rc, out, files, result = cli_run
    comps = {(c["name"], c["metric"]) for c in result["comparisons"]}
    assert ("ONNX vs PyTorch eager (fp32)", "bytes") in comps
    # no peer in this run: every peer is reported missing (with why) and its goals unmeasured, not dropped
    peers = {p["name"]: p for p in result["peers"]}
    assert peers["optimum"] == {"name": "optimum", "status": "missing", "detail": "disabled (--optimum off)"}
    for name in ("litert-stock", "executorch-stock", "openvino"):
        assert peers[name]["status"] == "missing" and peers[name]["detail"], peers[name]
    assert "not built for this checkpoint" in peers["litert-stock"]["detail"]
    by = {g["name"]: g for g in result["goals"]}
    assert by["int8 ONNX speed vs Optimum int8"]["met"] is None
    assert by["int8 ONNX size vs Optimum int8"]["met"] is None
    eff = by["fp32 ORT efficiency"]
    assert eff["met"] is None and "128" in eff["note"]  # 128 > max_seq_length 16: not measurable, said so
    assert by["int8 ONNX efficiency"]["met"] is None and "onnx-int8 missing" in by["int8 ONNX efficiency"]["note"]
    # the goal table: every artifact of ours against the best peer; here the only peer is the --extra copy
    # of model.onnx, so the size ratio is exactly 1 and 128 tokens (> max_seq_length) is unmeasured
    rows = {(r["metric"], r["threads"]): r for r in result["goal_table"] if r["artifact"] == "onnx-fp32"}
    assert {m for m, _ in rows} == {"sentences", "latency128", "bytes", "rss_growth"}
    assert rows[("bytes", None)]["best_peer"] == "copy-fp32" and rows[("bytes", None)]["ratio"] == 1.0
    assert rows[("sentences", 1)]["best_peer"] == "copy-fp32" and rows[("sentences", 1)]["ratio"] > 0
    assert rows[("latency128", 1)]["ratio"] is None


def test_cli_run_writes_report_and_plots(cli_run):
    from PIL import Image

    rc, out, files, result = cli_run
    md = [f for f in files if f.suffix == ".md"]
    assert len(md) == 1
    text = md[0].read_text()
    for heading in ("## Goals", "## Our formats vs the best peer", "## Summary", "## Ratios measured in this run", "## Machine GEMM peaks",
                    "## Memory and load time", "## Peers"):
        assert heading in text
    assert "optimum**: missing" in text
    pngs = {f.name.rsplit("-", 1)[-1]: f for f in files if f.suffix == ".png"}
    assert {"latency.png", "size.png", "memory.png", "sentences.png", "efficiency.png", "latency_size.png"} <= set(pngs)
    for f in pngs.values():
        data = f.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        w, h = struct.unpack(">II", data[16:24])
        assert w >= 400 and h >= 300
        img = np.asarray(Image.open(f).convert("L"))
        assert img.std() > 10  # not a blank canvas
        assert f"]({f.name})" in text  # linked from the report


def test_plot_functions_skip_when_nothing_to_plot(cli_run, tmp_path):
    from albert_edge.benchmarks import plots

    result = copy.deepcopy(cli_run[3])
    for a in result["artifacts"]:
        a["memory"] = []
        a["sentences"] = []
    assert plots.memory_bars(result, tmp_path / "m.png") is False
    assert plots.sentence_bars(result, tmp_path / "s.png") is False
    assert not (tmp_path / "m.png").exists()


# ---------------------------------------------------------------------------------------------
# schema


def test_schema_accepts_real_result_and_rejects_broken_ones(cli_run):
    good = cli_run[3]
    assert schema.problems(good) == []

    def broken(mutate):
        r = copy.deepcopy(good)
        mutate(r)
        return schema.problems(r)

    assert any("schema_version" in p for p in broken(lambda r: r.update(schema_version=99)))
    assert any("host.cpu_model" in p for p in broken(lambda r: r["host"].pop("cpu_model")))
    assert good["host"]["cpu_id"] is not None and any("host.cpu_id" in p for p in broken(lambda r: r["host"].update(cpu_id=25)))
    assert any("format" in p for p in broken(lambda r: r["artifacts"][0].update(format="coreml")))
    assert any("duplicate" in p for p in broken(lambda r: r["artifacts"].append(copy.deepcopy(r["artifacts"][0]))))
    assert any("ordered" in p for p in broken(lambda r: r["artifacts"][0]["latency"][0]["ms"].update(p10=1e9)))
    assert any("seq_lens" in p for p in broken(lambda r: r["settings"].update(seq_lens=[0])))
    assert any("variant" in p for p in broken(lambda r: r["artifacts"][0]["memory"][0].update(variant="x")))
    assert any("status" in p for p in broken(lambda r: r["peers"][0].update(status="maybe")))
    assert any("sha256" in p for p in broken(lambda r: r["artifacts"][0].update(sha256="abc")))
    with pytest.raises(schema.SchemaError, match="schema v1"):
        schema.validate({"schema_version": 1})


def test_load_result(tmp_path, cli_run):
    p = tmp_path / "r.json"
    p.write_text(json.dumps(cli_run[3]))
    assert schema.load_result(p)["kind"] == "albert-edge-bench"
    p.write_text("{not json")
    with pytest.raises(AlbertEdgeError, match="not valid JSON"):
        schema.load_result(p)
    with pytest.raises(AlbertEdgeError, match="does not exist"):
        schema.load_result(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------
# API for `albert-edge pipeline`


def test_run_bench_api(tiny_folder, tmp_path, monkeypatch):
    from albert_edge.benchmarks.bench_cli import run_bench
    from albert_edge.benchmarks.report import summary_table

    monkeypatch.setenv("ALBERT_EDGE_CACHE", str(tmp_path / "cache"))
    result, paths = run_bench(tiny_folder, quick=True, out_dir=tmp_path, seq_lens=[8], runs=2, warmup=0, sentences=2,
                              memory=False, pytorch=False, quiet=True)
    assert paths["json"].is_file() and paths["report"].is_file() and paths["json"].parent == tmp_path
    # the folder's artifacts (export onnx also writes the text-in model), no peer: the pipeline never builds one
    assert [a["name"] for a in result["artifacts"]] == ["onnx-fp32", "onnx-text-fp32"]
    assert result["settings"]["quick"] is True and all(p["status"] == "missing" for p in result["peers"])
    assert not (tmp_path / "cache" / "peers").exists() or not any((tmp_path / "cache" / "peers").iterdir())
    table = summary_table(result)
    assert "onnx-fp32" in table.splitlines()[2]
    with pytest.raises(TypeError):
        run_bench(tiny_folder, out_dir=tmp_path, no_such_option=1)


def test_sentence_goals_are_decided_by_interleaved_rounds(tiny_folder, tmp_path, monkeypatch):
    """The artifacts a sentence-speed goal compares are timed again in rounds of fresh processes, the
    order rotating, and the goal reads the median round ratio (here: our int8 file vs a byte copy of it
    given as a peer). The efficiency goals' files are timed at the goal length in the same rounds (the
    goal length set to the 8 tokens this run measures) and those goals read the best of row and rounds."""
    import shutil
    import statistics

    from albert_edge.benchmarks import analysis
    from albert_edge.benchmarks.bench_cli import run_bench
    from albert_edge.quantize.onnx_quant import quantize_onnx

    monkeypatch.setattr(analysis, "GOAL_SEQ_LEN", 8)

    folder = tmp_path / "art"
    shutil.copytree(tiny_folder, folder)
    quantize_onnx(folder, text=False, ort=False, quiet=True)
    shutil.copyfile(folder / "model.int8.onnx", tmp_path / "peer.onnx")
    monkeypatch.setenv("ALBERT_EDGE_CACHE", str(tmp_path / "cache"))
    opts = dict(quick=True, seq_lens=[8], runs=2, warmup=0, sentences=3, memory=False, pytorch=False, quiet=True, extras=[f"copy-int8={tmp_path / 'peer.onnx'}"])
    result, paths = run_bench(folder, out_dir=tmp_path / "out", sentence_rounds=3, **opts)
    schema.validate(result)
    sr = result["sentence_rounds"]
    assert sr["artifacts"] == ["copy-int8", "onnx-int8", "onnx-fp32"] and sr["threads"] == 1 and sr["count"] == 3
    assert [r["order"] for r in sr["rounds"]] == [["copy-int8", "onnx-int8", "onnx-fp32"], ["onnx-int8", "onnx-fp32", "copy-int8"],
                                                  ["onnx-fp32", "copy-int8", "onnx-int8"]]
    ratios = [r["p50_ms"]["copy-int8"] / r["p50_ms"]["onnx-int8"] for r in sr["rounds"]]
    goals = {g["name"]: g for g in result["goals"]}
    g = goals["onnx-int8 vs fastest peer, real sentences"]
    assert g["measured"] == pytest.approx(statistics.median(ratios)) and "median of 3 interleaved rounds" in g["note"]
    # the efficiency goals' files at the goal length, in the same processes: the goals read the median round
    assert sr["at_len"] == {"seq_len": 8, "batch": 1, "artifacts": ["onnx-fp32", "onnx-int8"]}
    rows = {a["name"]: analysis.latency_at(a, 8, 1, 1) for a in result["artifacts"]}
    for name, goal_name in (("onnx-fp32", "fp32 ORT efficiency"), ("onnx-int8", "int8 ONNX efficiency")):
        best = min([r["p50_ms_at_len"][name] for r in sr["rounds"]] + [rows[name]["ms"]["p50"]])
        assert goals[goal_name]["measured"] == pytest.approx(rows[name]["peak_fraction"] * rows[name]["ms"]["p50"] / best)
        assert "best of the row and 3 interleaved rounds" in goals[goal_name]["note"]
    one = {a["name"]: a for a in result["artifacts"]}
    assert f"one-shot rows {one['copy-int8']['sentences'][0]['ms']['p50'] / one['onnx-int8']['sentences'][0]['ms']['p50']:.2f}×" in g["note"]
    assert "Sentence goals: interleaved rounds" in paths["report"].read_text()
    # a broken record is refused
    bad = copy.deepcopy(result)
    bad["sentence_rounds"]["rounds"][0]["order"] = ["copy-int8", "someone-else"]
    assert any("order" in p for p in schema.problems(bad))
    bad = copy.deepcopy(result)
    del bad["sentence_rounds"]["rounds"][1]["p50_ms"]["onnx-int8"]
    assert any("p50_ms" in p for p in schema.problems(bad))
    # --quick's default (0 rounds): the goal reads the one-shot rows and says so
    result0, _ = run_bench(folder, out_dir=tmp_path / "out0", **opts)
    assert "sentence_rounds" not in result0
    assert "interleaved" not in {g["name"]: g for g in result0["goals"]}["onnx-int8 vs fastest peer, real sentences"]["note"]


# ---------------------------------------------------------------------------------------------
# bad inputs: one line, exit 2, nothing written


@pytest.mark.parametrize(
    "extra_args, message",
    [
        (["--seq-lens", "8,x"], "--seq-lens"),
        (["--seq-lens", ""], "--seq-lens"),
        (["--threads", "0"], "--threads"),
        (["--runs", "0"], "--runs"),
        (["--budget-s", "-1"], "--budget-s"),
        (["--sentence-rounds", "-1"], "--sentence-rounds"),
        (["--extra", "noequals"], "NAME=PATH"),
        (["--extra", "x=/nonexistent/model.onnx"], "does not exist"),
        (["--serial", "abc"], "--android"),
    ],
)
def test_bad_arguments(tiny_folder, tmp_path, capsys, extra_args, message):
    rc = main(["bench", str(tiny_folder), "--out", str(tmp_path / "o"), "--optimum", "off"] + extra_args)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert len([ln for ln in err.splitlines() if ln.startswith("albert-edge: error")]) == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_missing_folder_and_folder_without_manifest(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["bench", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_parse_int_list():
    from albert_edge.benchmarks.bench_cli import parse_int_list

    assert parse_int_list("16, 8,16", "--x") == [8, 16]
    for bad in ("", "a", "-1", "0", "1.5"):
        with pytest.raises(AlbertEdgeError):
            parse_int_list(bad, "--x")



def test_busy_machine_rule_is_shared_by_report_and_settle_command(cli_run):
    import copy
    import subprocess
    import sys

    from albert_edge.benchmarks.machine import is_busy
    from albert_edge.benchmarks.report import markdown

    assert is_busy([1.01, 0.0, 0.0], 2) and not is_busy([1.0, 3.0, 3.0], 2)
    assert not is_busy(None, 2) and not is_busy([], 2)
    result = copy.deepcopy(cli_run[3])
    result["host"]["cores_logical"] = 2
    result["host"]["load_avg_start"] = [1.01, 0.0, 0.0]
    assert "The machine was busy" in markdown(result)
    result["host"]["load_avg_start"] = [1.0, 0.0, 0.0]
    assert "The machine was quiet." in markdown(result)
    result["host"]["cpu_id"] = "AuthenticAMD family 25 model 1 stepping 1"
    assert "[AuthenticAMD family 25 model 1 stepping 1]" in markdown(result)
    # benchmarks/run_all.sh waits while `python -m ... busy` exits 0; misuse must not read as busy
    bad = subprocess.run([sys.executable, "-m", "albert_edge.benchmarks.machine", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
    ok = subprocess.run([sys.executable, "-m", "albert_edge.benchmarks.machine", "busy"], capture_output=True)
    assert ok.returncode in (0, 1)


def test_cpu_id_names_the_core_behind_a_masked_model_name():
    from albert_edge.benchmarks.machine import cpu_id, host_info

    x86 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nstepping\t: 1\n"
           "flags\t\t: avx2\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n")
    assert cpu_id(x86) == "AuthenticAMD family 25 model 1 stepping 1"  # the first processor only; "model name" is not "model"
    arm = "processor\t: 0\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\n"
    assert cpu_id(arm) == "implementer 0x41 part 0xd0b variant 0x4"
    assert cpu_id("") == ""
    assert isinstance(host_info()["cpu_id"], str)
