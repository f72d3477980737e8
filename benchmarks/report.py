"""Markdown report of one result, and the short summary table `albert-edge pipeline` prints."""

from __future__ import annotations

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
    md.append(f"{result['created']} · {h['cpu_model']} ({', '.join(h['cpu_flags']) or 'no flags read'}) · "
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

    md += ["## Summary", ""]
    hd, rw = summary_rows(result)
    md += [_tbl(hd, rw), "", "Spread = ±half of (p90 − p10)/p50 at that configuration.", ""]

    md += ["## Ratios measured in this run", "", "value = numerator / denominator; > 1 means the denominator is faster / smaller.", ""]
    rows = []
    for c in result.get("comparisons") or []:
        where = {"latency_p50": f"p50 @{c.get('seq_len')} tokens, b{c.get('batch', 1)}, {c.get('threads')}t",
                 "sentences_p50": f"sentences p50, {c.get('threads')}t", "bytes": "file size", "rss_growth": "RSS growth"}.get(c["metric"], c["metric"])
        rows.append([c["name"], where, c["numerator"], c["denominator"], _x(c["value"])])
    md += [_tbl(["comparison", "metric", "numerator", "denominator", "ratio"], rows) if rows else "(no pairs to compare in this run)", ""]

    md += ["## Machine fp32 GEMM peak (measured in this run)", ""]
    md += [_tbl(["engine", "threads", "n", "GFLOP/s (best of repeats)", "repeats"], [[p["engine"], p["threads"], p["n"], f"{p['gflops']:.1f}", p.get("repeats", "")] for p in result["peak"]]) if result["peak"] else "not measured", ""]

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

    md += ["## Peers", ""]
    for p in result.get("peers") or []:
        md.append(f"- **{p['name']}**: {p['status']} — {p.get('detail', '')}")
        for c in p.get("commands") or []:
            md.append(f"  - `{c}`")
        if p.get("versions"):
            md.append("  - versions: " + ", ".join(f"{k} {v}" for k, v in p["versions"].items()))
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
