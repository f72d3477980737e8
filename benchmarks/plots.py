"""PNG plots of a result (matplotlib, Agg backend: no display needed). Each function returns False
when the result holds nothing to plot (e.g. memory disabled), so no empty figure is written."""

from __future__ import annotations


STYLE = {  # stable colours per artifact family, dashed for references and peers
    "onnx-fp32": "#1f77b4", "onnx-int8": "#0b3d91", "tflite-fp32": "#2ca02c", "tflite-fp16": "#98df8a",
    "tflite-int8": "#006400", "pytorch-fp32": "#d62728", "pytorch-int8": "#8c1b1b",
    "onnx-text-fp32": "#6baed6", "onnx-text-int8": "#08519c", "onnx-text-int8-ort": "#4292c6", "ort-int8": "#2171b5",
    "mediapipe-int8": "#31a354", "executorch-fp32": "#e6550d", "executorch-int8": "#a63603",
    "optimum-fp32": "#ff7f0e", "optimum-int8": "#d95f02", "litert-stock-fp32": "#9467bd", "litert-stock-int8": "#6a3d9a",
    "executorch-stock-fp32": "#8c564b", "executorch-stock-int8": "#5d3a33", "openvino-fp32": "#e377c2", "openvino-int8": "#c51b8a",
}
PEER_COLOURS = ["#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colour(result: dict, name: str) -> str:
    if name in STYLE:
        return STYLE[name]
    peers = [a["name"] for a in result["artifacts"] if a["name"] not in STYLE]
    return PEER_COLOURS[peers.index(name) % len(PEER_COLOURS)] if name in peers else "#333333"


def _ls(art: dict) -> str:
    return {"ours": "-", "reference": ":", "peer": "--"}.get(art["role"], "-")


def _title(result: dict, what: str) -> str:
    h = result["host"]
    return f"{what}\n{result['model']['name']} · {h['cpu_model'][:40]} · {h['cores_logical']} cores"


def _save(fig, path) -> bool:
    fig.tight_layout()
    fig.savefig(str(path), dpi=110, format="png")
    _plt().close(fig)
    return True


def latency_vs_length(result: dict, path) -> bool:
    """p50 latency vs sequence length, batch 1, one panel per thread count, p10–p90 band."""
    arts = [a for a in result["artifacts"] if not a.get("error") and any(r["batch"] == 1 for r in a.get("latency") or [])]
    if not arts:
        return False
    plt = _plt()
    threads = sorted({r["threads"] for a in arts for r in a["latency"]})
    fig, axes = plt.subplots(1, len(threads), figsize=(6.2 * len(threads), 4.6), squeeze=False, sharey=True)
    for ax, t in zip(axes[0], threads):
        for a in arts:
            rows = sorted((r for r in a["latency"] if r["batch"] == 1 and r["threads"] == t), key=lambda r: r["seq_len"])
            if not rows:
                continue
            x = [r["seq_len"] for r in rows]
            c = _colour(result, a["name"])
            ax.plot(x, [r["ms"]["p50"] for r in rows], _ls(a), marker="o", ms=4, color=c, label=a["name"])
            ax.fill_between(x, [r["ms"]["p10"] for r in rows], [r["ms"]["p90"] for r in rows], color=c, alpha=0.07, lw=0)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length (tokens)")
        ax.set_title(f"{t} thread{'s' if t > 1 else ''}, batch 1")
        ax.grid(True, which="both", alpha=0.3)
        xs = sorted({r["seq_len"] for a in arts for r in a["latency"]})
        ax.set_xticks(xs)
        ax.set_xticklabels([str(v) for v in xs])
    axes[0][0].set_ylabel("latency p50 (ms, log); band = p10–p90")
    axes[0][-1].legend(fontsize=8, loc="upper left")
    fig.suptitle(_title(result, "Latency vs sequence length"), fontsize=10)
    return _save(fig, path)


def _bars(result: dict, path, values: list[tuple[str, float, float | None, float | None]], ylabel: str, what: str, fmt) -> bool:
    if not values:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(values) + 2), 4.4))
    names = [v[0] for v in values]
    ys = [v[1] for v in values]
    lo = [v[1] - v[2] if v[2] is not None else 0 for v in values]
    hi = [v[3] - v[1] if v[3] is not None else 0 for v in values]
    err = [lo, hi] if any(v[2] is not None for v in values) else None
    bars = ax.bar(range(len(values)), ys, color=[_colour(result, n) for n in names], yerr=err, capsize=3)
    tops = [max(v[1], v[3] if v[3] is not None else v[1]) for v in values]
    for b, y, top in zip(bars, ys, tops):
        # label above the whisker so the two never overlap
        ax.annotate(fmt(y), (b.get_x() + b.get_width() / 2, top), ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=9)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_ylim(0, max(tops) * 1.15 if max(tops) > 0 else 1)
    fig.suptitle(_title(result, what), fontsize=10)
    return _save(fig, path)


def size_bars(result: dict, path) -> bool:
    vals = [(a["name"], a["bytes"] / 2**20, None, None) for a in result["artifacts"] if a.get("bytes")]
    return _bars(result, path, vals, "file size (MiB)", "Model file size", lambda v: f"{v:.2f}" if v < 10 else f"{v:.0f}")


def memory_bars(result: dict, path) -> bool:
    vals = []
    for a in result["artifacts"]:
        for m in a.get("memory") or []:
            label = a["name"] if m["variant"] == "default" else f"{a['name']} ({'cache' if m['variant'] == 'weight_cache' else 'no cache'})"
            vals.append((label, m["rss_growth_bytes"] / 2**20, None, None))
    if not vals:
        return False
    return _bars_memory(result, path, vals)


def _bars_memory(result, path, vals):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(vals) + 2), 4.4))
    ys = [v[1] for v in vals]
    colours = [_colour(result, v[0].split(" (")[0]) for v in vals]
    bars = ax.bar(range(len(vals)), ys, color=colours)
    for b, v in zip(bars, vals):
        if "no cache" in v[0]:
            b.set_hatch("//")
        ax.annotate(f"{v[1]:.0f}" if v[1] >= 10 else f"{v[1]:.1f}", (b.get_x() + b.get_width() / 2, max(b.get_height(), 0)), ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(vals)))
    ax.set_xticklabels([v[0] for v in vals], rotation=30, ha="right", fontsize=9)
    ax.set_ylabel("peak RSS growth over runtime baseline (MiB)")
    ax.grid(True, axis="y", alpha=0.3)
    top = max(ys) if ys else 1
    ax.set_ylim(min(0, min(ys)) * 1.1, top * 1.18 if top > 0 else 1)
    fig.suptitle(_title(result, "Memory: load + one inference, fresh process each"), fontsize=10)
    return _save(fig, path)


def sentence_bars(result: dict, path) -> bool:
    """Per-sentence latency on real text: median bar with p10–p90 whiskers, at the largest thread count measured."""
    rows = []
    for a in result["artifacts"]:
        s = sorted(a.get("sentences") or [], key=lambda r: r["threads"])
        if s and not a.get("error"):
            r = s[-1]
            rows.append((a["name"], r["ms"]["p50"], r["ms"]["p10"], r["ms"]["p90"]))
    if not rows:
        return False
    t = max(r["threads"] for a in result["artifacts"] for r in (a.get("sentences") or []))
    src = (result["settings"].get("sentences") or {}).get("source", "sentences")
    return _bars(result, path, rows, "latency per sentence, p50 (ms); whiskers p10–p90",
                 f"Real sentences, batch 1, {t} thread(s): {src}", lambda v: f"{v:.2f}" if v < 10 else f"{v:.1f}")


def efficiency_plot(result: dict, path) -> bool:
    """Achieved GFLOP/s vs length (batch 1, largest thread count) against the measured GEMM peak."""
    arts = [a for a in result["artifacts"] if not a.get("error") and a["precision"] == "fp32" and a.get("latency")]
    if not arts or not result.get("peak"):
        return False
    plt = _plt()
    t = max(result["settings"]["threads"])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for a in arts:
        rows = sorted((r for r in a["latency"] if r["threads"] == t and r["batch"] == 1 and r.get("gflops_per_s")), key=lambda r: r["seq_len"])
        if rows:
            ax.plot([r["seq_len"] for r in rows], [r["gflops_per_s"] for r in rows], _ls(a), marker="o", ms=4, color=_colour(result, a["name"]), label=a["name"])
    for p in result["peak"]:
        if p["threads"] == t:
            ax.axhline(p["gflops"], color="#555555", lw=0.8, ls="-." if p["engine"] != "onnxruntime" else "-")
            ax.annotate(f"{p['engine']} GEMM peak {p['gflops']:.0f}", (1, p["gflops"]), xycoords=("axes fraction", "data"), xytext=(-4, 2), textcoords="offset points", ha="right", fontsize=7)
    ax.set_xscale("log", base=2)
    xs = sorted({r["seq_len"] for a in arts for r in a["latency"] if r["threads"] == t and r["batch"] == 1})
    ax.set_xticks(xs)
    ax.set_xticklabels([str(v) for v in xs])
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel("achieved GFLOP/s (analytic FLOPs / p50)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(_title(result, f"fp32 efficiency vs measured GEMM peak ({t} thread(s), batch 1)"), fontsize=10)
    return _save(fig, path)


def latency_vs_size(result: dict, path) -> bool:
    """Every artifact and peer as one point: file size (x) vs latency (y), real sentences and 128 tokens,
    at the largest thread count. Down and left is better; ours filled, peers hollow, references grey."""
    from .analysis import GOAL_SEQ_LEN, latency_at, sentences_at

    t = max(result["settings"]["threads"])
    panels = [("real sentences p50 (ms)", lambda a: (sentences_at(a, t) or {}).get("ms", {}).get("p50")),
              (f"{GOAL_SEQ_LEN} tokens p50 (ms), batch 1", lambda a: ((latency_at(a, GOAL_SEQ_LEN, 1, t) or {}).get("ms") or {}).get("p50"))]
    pts = [[(a, a["bytes"] / 2**20, f(a)) for a in result["artifacts"] if not a.get("error") and a.get("bytes") and f(a)] for _, f in panels]
    if not any(pts):
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(13.0, 5.4), squeeze=False)
    for ax, (ylabel, _), rows in zip(axes[0], panels, pts):
        for a, x, y in rows:
            c = _colour(result, a["name"])
            face = c if a["role"] == "ours" else "none"
            mk = {"ours": "o", "peer": "s", "reference": "^"}.get(a["role"], "o")
            ax.scatter([x], [y], s=46, marker=mk, facecolors=face, edgecolors=c, linewidths=1.4, zorder=3)
            ax.annotate(a["name"], (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7, color=c)
        ax.set_xscale("log")
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter

        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
        ax.set_xlabel("file size (MiB, log)")
        ax.set_ylabel(ylabel + ", log")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(f"{t} thread{'s' if t > 1 else ''}; ● ours  □ peers  △ PyTorch", fontsize=9)
    fig.suptitle(_title(result, "Latency vs size: every artifact and peer (down-left is better)"), fontsize=10)
    return _save(fig, path)


PLOTS = {
    "latency": latency_vs_length,
    "size": size_bars,
    "memory": memory_bars,
    "sentences": sentence_bars,
    "efficiency": efficiency_plot,
    "latency_size": latency_vs_size,
}
