"""Markdown report of one result, and the short summary table `albert-edge pipeline` prints."""

from __future__ import annotations

from pathlib import PurePath

from . import analysis
from .machine import is_busy
from .stats import relative_spread


def _ms(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def _mib(b: int | None) -> str:
    if b is None:
        return "—"
    return f"{b / 2**20:.2f}" if abs(b) < 10 * 2**20 else f"{b / 2**20:.1f}"


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}×"


def _tbl(headers: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(out)


def _mem(a: dict, variant: str) -> dict | None:
    return next((m for m in a.get("memory") or [] if m["variant"] == variant), None)


def summary_rows(result: dict) -> tuple[list[str], list[list[str]]]:
    """One row per artifact: size, load, memory, p50 at 128 (or the longest measured), sentences."""
    t = max(result["settings"]["threads"])
    headers = ["artifact", "role", "MiB", "load s", "RSS growth MiB", f"p50 ms @{analysis.GOAL_SEQ_LEN} (b1,{t}t)", f"sentences p50 ms ({t}t)", "spread p10–p90"]
    rows = []
    for a in result["artifacts"]:
        if a.get("error"):
            rows.append([a["name"], a["role"], _mib(a.get("bytes")), "—", "—", "error: " + a["error"][:60], "—", "—"])
            continue
        lat = analysis.latency_at(a, analysis.GOAL_SEQ_LEN, 1, t)
        sen = analysis.sentences_at(a, t)
        m = _mem(a, "weight_cache") or _mem(a, "default") or _mem(a, "no_weight_cache")
        spread = f"±{relative_spread(lat['ms']) * 50:.0f}%" if lat else "—"
        rows.append([a["name"], a["role"], _mib(a.get("bytes")), "—" if a.get("load_s") is None else f"{a['load_s']:.3f}",
                     _mib(m["rss_growth_bytes"]) if m else "—", _ms(lat["ms"]["p50"]) if lat else "—", _ms(sen["ms"]["p50"]) if sen else "—", spread])
    return headers, rows


def summary_table(result: dict) -> str:
    h, r = summary_rows(result)
    widths = [max(len(str(x)) for x in col) for col in zip(h, *r)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(h), line(["-" * w for w in widths])] + [line(x) for x in r])


def markdown(result: dict, files: dict[str, str] | None = None) -> str:
    files = files or {}
    h = result["host"]
    m = result["model"]
    s = result["settings"]
    md = [f"# albert-edge benchmark: {m['name']} on {h['hostname']}", ""]
    ident = f" [{h['cpu_id']}]" if h.get("cpu_id") else ""
    md.append(f"{result['created']} · {h['cpu_model']}{ident} ({', '.join(h['cpu_flags']) or 'no flags read'}) · "
              f"{h['cores_logical']} logical cores · {_mib(h.get('ram_bytes'))} MiB RAM · {h.get('os', '')} · Python {h.get('python', '')}")
    md.append("")
    la, lb = h.get("load_avg_start"), h.get("load_avg_end")
    if la:
        md.append(f"Load average (1/5/15 min) at start {la}, at end {lb}. "
                  + ("**The machine was busy: treat absolute numbers as pessimistic; ratios measured in this same run are the robust part.**" if is_busy(la, h["cores_logical"]) else "The machine was quiet."))
        md.append("")
    md.append("Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()))
    md.append("")
    md.append(f"Model: hidden {m['hidden_size']}, embedding {m['embedding_size']}, {m['num_hidden_layers']} layer applications, "
              f"{m['num_attention_heads']} heads, FFN {m['intermediate_size']}, vocab {m['vocab_size']}, max_seq_length {m.get('max_seq_length')}"
              + (f", {m['unique_parameters']:,} unique parameters" if m.get("unique_parameters") else "") + ".")
    md.append("")
    md.append(f"Settings: lengths {s['seq_lens']}, threads {s['threads']}, batches {s['batches']}, "
              + (f"{s['runs']} runs each" if s.get("runs") else f"runs per configuration chosen by a {s.get('budget_s')} s budget within [{s.get('min_runs')}, {s.get('max_runs')}]")
              + f", {s.get('warmup')} warm-up calls; " + (f"{s['sentences']['count']} sentences from {s['sentences']['source']}" if s.get("sentences") else "no real sentences")
              + (" · **quick mode**" if s.get("quick") else "") + f". Wall time {result.get('wall_s', '?')} s.")
    md.append("")

    md += ["## Goals", ""]
    rows = []
    for g in result.get("goals") or []:
        verdict = "not measured" if g["met"] is None else ("**met**" if g["met"] else "**missed**")
        meas = "—" if g["measured"] is None else (f"{g['measured'] * 100:.1f}%" if "efficiency" in g["name"] else f"{g['measured']:.2f}×")
        rows.append([g["name"], g["target"], meas, verdict, g.get("note", "")])
    md += [_tbl(["goal", "target", "measured", "verdict", "note"], rows), ""]
    md += sentence_rounds_md(result)

    md += goal_table_md(result)

    md += ["## Summary", ""]
    hd, rw = summary_rows(result)
    md += [_tbl(hd, rw), "", "Spread = ±half of (p90 − p10)/p50 at that configuration.", ""]
    inter = [(a["name"], i) for a in result["artifacts"] for i in a.get("interference") or []]
    if inter:
        md += ["Other processes' CPU use while each artifact was timed (average cores taken by the rest of the machine, "
               "/proc/stat minus the benchmark's own processes; 2 cores in all):", "",
               ", ".join(f"{n} {i['threads']}t {i['other_cores']:.2f}" for n, i in inter), ""]

    md += ["## Ratios measured in this run", "", "value = numerator / denominator; > 1 means the denominator is faster / smaller.", ""]
    rows = []
    for c in result.get("comparisons") or []:
        where = {"latency_p50": f"p50 @{c.get('seq_len')} tokens, b{c.get('batch', 1)}, {c.get('threads')}t",
                 "sentences_p50": f"sentences p50, {c.get('threads')}t", "bytes": "file size", "rss_growth": "RSS growth"}.get(c["metric"], c["metric"])
        rows.append([c["name"], where, c["numerator"], c["denominator"], _x(c["value"])])
    md += [_tbl(["comparison", "metric", "numerator", "denominator", "ratio"], rows) if rows else "(no pairs to compare in this run)", ""]

    md += peaks_md(result)
    md += int8_share_md(result)
    md += profile_md(result)
    md += sentence_profile_md(result)

    md += ["## Latency by sequence length", "", "p50 ms (p10–p90) · achieved GFLOP/s · % of the GEMM peak at that thread count.", ""]
    for a in result["artifacts"]:
        if a.get("error") or not a.get("latency"):
            continue
        md += [f"### {a['name']} ({a['format']} {a['precision']}, {a['role']})", ""]
        rows = [[r["threads"], r["batch"], r["seq_len"], f"{_ms(r['ms']['p50'])} ({_ms(r['ms']['p10'])}–{_ms(r['ms']['p90'])})", _ms(r["ms"]["p99"]), r["runs"],
                 f"{r.get('gflops_per_s', 0):.1f}", f"{r['peak_fraction'] * 100:.0f}%" if r.get("peak_fraction") is not None else "—"] for r in a["latency"]]
        md += [_tbl(["threads", "batch", "tokens", "p50 (p10–p90) ms", "p99 ms", "runs", "GFLOP/s", "of peak"], rows), ""]
        for sk in a.get("skipped") or []:
            md.append(f"- skipped {sk['what']}: {sk['reason']}")
        if a.get("skipped"):
            md.append("")

    md += ["## Real sentences", ""]
    rows = []
    for a in result["artifacts"]:
        for r in a.get("sentences") or []:
            rows.append([a["name"], r["threads"], r["shape_handling"], f"{r['mean_tokens']:.1f}", f"{r.get('mean_padded_tokens', r['mean_tokens']):.1f}",
                         f"{_ms(r['ms']['p50'])} ({_ms(r['ms']['p10'])}–{_ms(r['ms']['p90'])})", _ms(r["ms"]["p99"]), _ms(r["ms"]["mean"]), r["count"]])
    md += [_tbl(["artifact", "threads", "shapes", "mean tokens", "mean tokens run", "p50 (p10–p90) ms", "p99 ms", "mean ms", "sentences"], rows) if rows else "not measured", ""]

    md += ["## Memory and load time", "", "Each row is a fresh process: baseline = RSS after importing the runtime; growth = peak RSS (VmHWM, reset after imports) − baseline, over load + two inferences.", ""]
    rows = []
    for a in result["artifacts"]:
        for mm in a.get("memory") or []:
            rows.append([a["name"], mm["variant"], mm["threads"], _mib(mm["rss_baseline_bytes"]), _mib(mm["rss_after_load_bytes"]), _mib(mm["peak_rss_bytes"]), _mib(mm["rss_growth_bytes"]), f"{mm['load_s']:.3f}"])
    md += [_tbl(["artifact", "variant", "threads", "baseline MiB", "after load MiB", "peak MiB", "growth MiB", "load s"], rows) if rows else "not measured", ""]

    md += ["## Files measured", "", "The sha256 of the bytes behind every row (ours: the manifest entry the file was verified against before timing).", ""]
    rows = [[a["name"], f"`{PurePath(a['file']).name}`" if a.get("file") else "—", a["bytes"] if a.get("bytes") is not None else "—",
             f"`{a['sha256']}`" if a.get("sha256") else ("— (not recorded)" if a.get("file") else "— (in memory)")] for a in result["artifacts"]]
    md += [_tbl(["artifact", "file", "bytes", "sha256"], rows), ""]

    md += ["## Peers", "", "Each peer is built by its own documented recipe (exact commands below) and timed with its own runtime's "
           "documented API and default options, each engine in its own fresh process.", ""]
    for p in result.get("peers") or []:
        md.append(f"- **{p['name']}**: {p['status']} — {p.get('detail', '')}")
        for c in p.get("commands") or []:
            md.append(f"  - `{c}`")
        if p.get("versions"):
            md.append("  - versions: " + ", ".join(f"{k} {v}" for k, v in p["versions"].items()))
        for line in _peer_facts(p.get("facts") or {}):
            md.append(f"  - {line}")
    md.append("")
    errs = [a for a in result["artifacts"] if a.get("error")]
    if errs or result.get("notes"):
        md += ["## Notes", ""]
        md += [f"- {n}" for n in result.get("notes") or []]
        md += [f"- {a['name']} not benchmarked: {a['error']}" for a in errs]
        md.append("")
    pl = [(k, v) for k, v in files.items() if k.startswith("plot_")]
    if pl:
        md += ["## Plots", ""]
        md += [f"![{k[5:]}]({v})" for k, v in pl]
        md.append("")
    md.append("FLOPs: analytic matmul count from the config (see `benchmarks/flops.py`); GFLOP/s = FLOPs / p50.")
    return "\n".join(md) + "\n"


def _peer_facts(f: dict) -> list[str]:
    out = []
    if f.get("bytes"):
        out.append("files: " + ", ".join(f"{k} {_mib(v)} MiB" for k, v in f["bytes"].items()))
    for prec, c in (f.get("constants") or {}).items():
        if c.get("constant_bytes_over_needed"):
            out.append(f"{prec} constants: {_mib(c['constant_bytes'])} MiB = {c['constant_bytes_over_needed']:.2f}× what the {c['unique_parameters']:,} unique parameters need")
    if f.get("stock_quantizer_error"):
        out.append(f"stock quantizer failed first: {f['stock_quantizer_error']} (fix used: {f.get('quantizer', '?')})")
    if f.get("partitions"):
        out.append("XNNPACK partitions: " + ", ".join(f"{k} {v}" for k, v in f["partitions"].items()))
    for prec, ir in (f.get("ir") or {}).items():
        if ir.get("ops"):
            out.append(f"{prec} IR ops: " + ", ".join(f"{k} {v}" for k, v in ir["ops"].items()))
    if f.get("calibration"):
        out.append(f"calibration: {f['calibration']}")
    rt = f.get("runtime")
    if isinstance(rt, dict) and rt.get("note"):
        out.append(f"runtime: {rt['note']}")
    return out


def _ratio_cell(r: dict | None) -> str:
    if r is None or r.get("ratio") is None:
        return "—"
    v = r["ratio"]
    txt = f"{v:.2f}× vs {r['best_peer']}"
    return f"**{txt}**" if v < 1 else txt


def sentence_rounds_md(result: dict) -> list[str]:
    """The interleaved rounds the sentence-speed goals read."""
    sr = result.get("sentence_rounds")
    if not sr:
        return []
    names = sr["artifacts"]
    at = sr.get("at_len") or {}
    at_names = at.get("artifacts") or []
    rows = [[str(r["round"]), " → ".join(r["order"])] + [_ms(r["p50_ms"][n]) for n in names] + [_ms(r["p50_ms_at_len"][n]) for n in at_names]
            for r in sr["rounds"]]
    rows.append(["median", ""] + [_ms(analysis.round_median_ms(sr, n)) for n in names]
                + [_ms(analysis.round_median_ms(sr, n, "p50_ms_at_len")) for n in at_names])
    also = (f" The efficiency goals' artifacts ({', '.join(at_names)}) were also timed at {at['seq_len']} tokens, batch 1, in the same "
            "processes (the last columns); those goals read the best of their one-shot row and these rounds, as their GEMM peak is a best-of too.") if at_names else ""
    return ["### Sentence goals: interleaved rounds", "",
            f"The artifacts the sentence-speed goals compare, timed again on the same {sr['count']} sentences at {sr['threads']} thread(s): "
            f"{len(sr['rounds'])} rounds, each artifact in its own fresh process, the order rotating. Those goals read the median over rounds "
            "of the per-round ratio (their notes give the range); one process per artifact is not enough on a shared machine, where the "
            f"same file can time 1.6× apart in two processes.{also} p50 ms per round:", "",
            _tbl(["round", "order"] + names + [f"{n} @{at.get('seq_len')} tok" for n in at_names], rows), ""]


def goal_table_md(result: dict) -> list[str]:
    """Each of our artifacts vs the best peer of any format (value = best peer / ours: > 1 ours wins)."""
    rows = result.get("goal_table") or analysis.goal_table(result)
    if not rows:
        return []
    threads = result["settings"]["threads"]
    cols = [(m, t) for m, _, per in analysis.GOAL_TABLE_METRICS for t in (threads if per else [None])]
    titles = {m: tt for m, tt, _ in analysis.GOAL_TABLE_METRICS}
    head = ["artifact"] + [f"{titles[m]}{f' {t}t' if t else ''}" for m, t in cols]
    by = {(r["artifact"], r["metric"], r["threads"]): r for r in rows}
    body = []
    for name in dict.fromkeys(r["artifact"] for r in rows):
        body.append([name] + [_ratio_cell(by.get((name, m, t))) for m, t in cols])
    md = ["## Our formats vs the best peer", "",
          "Ratio = the best peer's value / ours, the best peer being the fastest (smallest) of ANY format and precision at that "
          "metric: > 1 means ours is faster or smaller. **Bold** = a peer wins there. Latency p50 at batch 1.", "",
          _tbl(head, body), ""]
    wins = analysis.peer_wins(result)
    prec = {a["name"]: a["precision"] for a in result["artifacts"]}
    wins.sort(key=lambda w: (prec.get(w["artifact"]) != "int8", w["artifact"], w["metric"], w.get("threads") or 0))
    if wins:
        md += ["Where a peer wins (our int8 artifacts first: fp32/fp16 files are compared with the best peer of any precision too, "
               "so their rows mostly restate int8 vs fp32):", ""]
        for w in wins:
            t = f", {w['threads']} thread(s)" if w.get("threads") else ""
            unit = {"bytes": "MiB", "rss_growth": "MiB"}.get(w["metric"], "ms")
            conv = (lambda v: _mib(int(v))) if unit == "MiB" else _ms
            md.append(f"- {w['artifact']}, {w['title']}{t}: {w['best_peer']} {conv(w['peer_value'])} {unit} vs ours {conv(w['ours'])} {unit} ({w['ratio']:.2f}×)")
        md.append("")
    else:
        md += ["No peer beats any of our artifacts on any of these metrics in this run.", ""]
    return md


def peaks_md(result: dict) -> list[str]:
    peaks = result.get("peak") or []
    md = ["## Machine GEMM peaks (measured in this run)", "",
          "Square n×n·n×n MatMul, 2n³ operations; fp32 = ORT MatMul / NumPy / PyTorch, int8 = ORT MatMulInteger (uint8×int8, what "
          "dynamic int8 models run) / torch._int_mm. Each (engine, dtype, threads) in a fresh process, warm-up, best size of "
          "several, best of the repeats (median and p10 beside it), measured before (start) and after (end) the model rows. "
          "The machine's peak at a thread count = the best of all of them.", ""]
    if not peaks:
        return md + ["not measured", ""]
    rows = []
    for p in peaks:
        sizes = " · ".join(f"{r['n']}: {r['gflops']:.0f}" for r in p.get("sizes") or [])
        rows.append([p.get("dtype", "fp32"), p["engine"], p["threads"], p.get("round", ""), p["n"], f"{p['gflops']:.1f}",
                     f"{p['median_gflops']:.1f}" if p.get("median_gflops") is not None else "—", f"{p['p10_gflops']:.1f}" if p.get("p10_gflops") is not None else "—",
                     p.get("repeats", ""), sizes])
    md += [_tbl(["dtype", "engine", "threads", "round", "best n", "best G(FL)OP/s", "median", "p10", "repeats", "best per size"], rows), ""]
    from .machine import best_peak

    summ = []
    for t in result["settings"]["threads"]:
        for d in ("fp32", "int8"):
            b = best_peak(peaks, t, d)
            if b:
                summ.append(f"{d} {t} thread(s): {b['gflops']:.0f} ({b['engine']}, n={b['n']}, {b.get('round', '')})")
    md += ["Peaks used: " + "; ".join(summ) + ".", ""]
    return md


def int8_share_md(result: dict) -> list[str]:
    rows = []
    for a in result["artifacts"]:
        if a.get("error") or a["precision"] != "int8":
            continue
        for t in result["settings"]["threads"]:
            r = analysis.latency_at(a, analysis.GOAL_SEQ_LEN, 1, t)
            if r and r.get("peak_fraction") is not None and r.get("peak_dtype") == "int8":
                rows.append([a["name"], a["role"], t, _ms(r["ms"]["p50"]), f"{r['gflops_per_s']:.0f}", f"{r['peak_fraction'] * 100:.0f}%"])
    if not rows:
        return []
    return ["## int8 artifacts vs the machine's int8 GEMM peak", "",
            f"Analytic operations at {analysis.GOAL_SEQ_LEN} tokens, batch 1 (benchmarks/flops.py; attention score/context matmuls "
            "included even where they run in fp32) / p50, as a share of the int8 peak at the same thread count.", "",
            _tbl(["artifact", "role", "threads", "p50 ms", "GOP/s", "of int8 peak"], rows), ""]


WEIGHT_GEMM_GROUPS = ("DynamicQuantizeMatMul", "MatMulInteger", "MatMulIntegerToFloat", "QAttention")


def _is_weight_gemm(op: str) -> bool:
    """ORT's integer weight-matmul ops, or XNNPACK's int8 fully-connected GEMM (QD8 or QDU8 by CPU)."""
    from .profile_executorch import is_int8_fc

    return op in WEIGHT_GEMM_GROUPS or is_int8_fc(op)


def sentence_profile_md(result: dict) -> list[str]:
    """The "executorch-int8 vs onnx-int8, real sentences" goal's why: each runtime's own per-op profile of
    its int8 file at the median sentence length (benchmarks/profile_onnx.py, profile_executorch.py)."""
    from .machine import best_peak
    from .profile_onnx import HEADERS, apply_peak, table

    sp = result.get("sentence_profile")
    if not sp or not sp.get("profiles"):
        return []
    pk = best_peak(result.get("peak") or [], sp["threads"], "int8")
    md = [f"## Where the time goes at a real sentence's length ({sp['seq_len']} tokens, {sp['threads']} thread(s))", "",
          f"{sp['seq_len']} tokens = the {sp['basis']}. Each runtime's own per-op profiler (ONNX Runtime's; ExecuTorch's ETDump), "
          "one fresh process per file, per op the minimum over the runs, summed per op type. 'int8 weight matmuls' = ORT's "
          "DynamicQuantizeMatMul / MatMulInteger and QAttention (which also holds its fp32 attention) against XNNPACK's int8 "
          "fully-connected ops. G-ops: analytic operations (ORT: from the graph's weights; the `.pte`: from the manifest's "
          "shape and rewrites, the last application for [CLS] only where the export did that).", ""]
    rows = []
    for name, prof in sp["profiles"].items():
        gemm = [g for g in prof["groups"] if _is_weight_gemm(g["op_type"])]
        g_ms = sum(g["ms"] for g in gemm)
        g_ops = sum(g["gemm_ops"] for g in gemm)
        rows.append([name, (prof.get("sha256") or "")[:12] or "—", f"{prof['wall_ms_p50']:.2f}", f"{prof['sum_node_min_ms']:.2f}",
                     f"{g_ms:.2f} ({g_ms / prof['sum_node_min_ms'] * 100:.0f}%)" if prof["sum_node_min_ms"] else "—",
                     f"{g_ops / 1e9:.2f}" if g_ops else "—", f"{g_ops / (g_ms / 1000.0) / 1e9:.0f}" if g_ops and g_ms else "—",
                     f"{prof['sum_node_min_ms'] - g_ms:.2f}"])
    md += [_tbl(["artifact", "sha256", "wall p50 ms", "sum of per-op minima ms", "int8 weight matmuls ms (share)", "their G-ops",
                 "their G-ops/s", "everything else ms"], rows), ""]
    for name, prof in sp["profiles"].items():
        if pk:
            apply_peak(prof["groups"], pk["gflops"])
        md += [f"**{name}** ({prof['file']}, {prof.get('profiler', 'ONNX Runtime profiler')}):", "", _tbl(HEADERS, table(prof)), ""]
    return md


def profile_md(result: dict) -> list[str]:
    """ORT's per-node profile of the int8 ONNX model at 128 tokens: time per op type against what its
    analytic operations would cost at the measured int8 peak (benchmarks/profile_onnx.py)."""
    from .machine import best_peak
    from .profile_onnx import HEADERS, apply_peak, table

    art = next((a for a in result["artifacts"] if a.get("profile")), None)
    if art is None:
        return []
    md = [f"## Where the {art['name']} time goes (ONNX Runtime profiler, {art['profile'][0]['seq_len']} tokens)", "",
          "Per node: the minimum over the profiled runs (its least disturbed sample), summed per op type. G-ops: analytic "
          "operations of those nodes (GEMM weights × tokens; QAttention also its fp32 score/context matmuls). 'ms at int8 peak' = "
          "those operations at the machine's measured int8 GEMM peak; 'excess' = the time above that: activation quantization and "
          "dequantization inside DynamicQuantizeMatMul, GEMM efficiency at 128 rows, QAttention's fp32 attention, and every "
          "elementwise op (counted as free in the analytic model).", ""]
    for prof in art["profile"]:
        pk = best_peak(result.get("peak") or [], prof["threads"], "int8")
        if pk:
            apply_peak(prof["groups"], pk["gflops"])
        total_ops = sum(g["gemm_ops"] + g["attention_ops"] for g in prof["groups"])
        ideal = total_ops / (pk["gflops"] * 1e9) * 1000.0 if pk else None
        md.append(f"**{prof['threads']} thread(s)**: wall p50 {prof['wall_ms_p50']:.2f} ms (min {prof['wall_ms_min']:.2f}), sum of per-node minima "
                  f"{prof['sum_node_min_ms']:.2f} ms" + (f"; all analytic operations at the int8 peak ({pk['gflops']:.0f} GOP/s): {ideal:.2f} ms" if ideal else "") + ".")
        md += ["", _tbl(HEADERS, table(prof)), ""]
    return md
