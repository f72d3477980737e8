"""Two conversions of one checkpoint, timed in one process and interleaved sentence by sentence: the
measurement behind the [CLS]-only rewrites (tflite_cls_only.py for TFLite, onnx_cls_row.py for ONNX).

Why not `albert-edge bench`: it times artifacts of one folder, each in its own process; a rewrite is
judged against the same checkpoint converted without it, and interleaving every sentence across the
files makes load on the machine hit all of them alike (the ratio is the robust number).
"""

from __future__ import annotations

import hashlib
import time

VARIANTS = ("every-row", "cls-only")


def interleaved_times(runners: dict, ids: list, rounds: int, quiet: bool = False) -> tuple[dict, dict]:
    """({key: [rounds, sentences] seconds}, {key: [sentences, labels] logits}): every sentence run by
    every runner in turn, `rounds` times, one sentence per call. The logits are those batch-1 calls'
    (of the first round): with dynamic int8 activations a batch's scale covers all its rows, padding
    included, so a batched call's logits depend on the other sentences in it."""
    import numpy as np

    times = {k: np.zeros((rounds, len(ids))) for k in runners}
    logits: dict = {k: [] for k in runners}
    for rnd in range(rounds):
        for i, x in enumerate(ids):
            for k, r in runners.items():
                t = time.perf_counter()
                out = r.logits([x])
                times[k][rnd, i] = time.perf_counter() - t
                if rnd == 0:
                    logits[k].append(out[0])
        if not quiet:
            print(f"round {rnd + 1}/{rounds}", flush=True)
    return times, {k: np.stack(v) for k, v in logits.items()}


def compare_rows(files: dict, logits: dict, times: dict, ref, groups=None, precisions=("fp32", "int8")) -> list[dict]:
    """One row per precision: sizes, digests, median ms (best of the rounds per sentence), the median of
    per-sentence speed-ups (also per group label, e.g. the TFLite bucket a sentence ran in), agreement
    with PyTorch (`ref`) and between the two variants. Keys of files/logits/times: (variant, precision)."""
    import numpy as np

    rows = []
    for precision in precisions:
        full, cls = (times[(v, precision)].min(axis=0) for v in VARIANTS)
        a, b = logits[("every-row", precision)], logits[("cls-only", precision)]
        row = {
            "precision": precision,
            "bytes": {v: len(files[(v, precision)]) for v in VARIANTS},
            "sha256": {v: hashlib.sha256(files[(v, precision)]).hexdigest() for v in VARIANTS},
            "median_ms": {"every-row": round(1e3 * float(np.median(full)), 3), "cls-only": round(1e3 * float(np.median(cls)), 3)},
            "speedup_median_of_ratios": round(float(np.median(full / cls)), 3),
            "max_abs_vs_torch": {v: float(np.abs(logits[(v, precision)] - ref).max()) for v in VARIANTS},
            "label_agreement_with_torch": {v: float((logits[(v, precision)].argmax(1) == ref.argmax(1)).mean()) for v in VARIANTS},
            "max_abs_between_variants": float(np.abs(a - b).max()),
        }
        if groups is not None:
            g = np.asarray(groups)
            row["speedup_by_group"] = {str(k): round(float(np.median((full / cls)[g == k])), 3) for k in dict.fromkeys(groups)}
        rows.append(row)
    return rows


def markdown_rows(rows: list[dict], group_header: str) -> list[str]:
    """The report table of compare_rows' rows."""
    lines = [f"| precision | every row ms | cls-only ms | speed-up (median of per-sentence ratios) | {group_header} | size every row / cls-only "
             "| max \\|Δlogit\\| vs PyTorch (every row / cls-only) | label agreement with PyTorch (every row / cls-only) | between the two | sha256 (cls-only) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        agree = r["label_agreement_with_torch"]
        lines.append(
            f"| {r['precision']} | {r['median_ms']['every-row']:.2f} | {r['median_ms']['cls-only']:.2f} | {r['speedup_median_of_ratios']:.3f}× | "
            + ", ".join(f"{k}: {v:.3f}×" for k, v in (r.get("speedup_by_group") or {}).items())
            + f" | {r['bytes']['every-row'] / 1e6:.2f} / {r['bytes']['cls-only'] / 1e6:.2f} MB | {r['max_abs_vs_torch']['every-row']:.1e} / {r['max_abs_vs_torch']['cls-only']:.1e} | "
            f"{agree['every-row'] * 100:.2f} % / {agree['cls-only'] * 100:.2f} % | {r['max_abs_between_variants']:.1e} | `{r['sha256']['cls-only'][:12]}` |"
        )
    return lines


def arguments(doc: str, default_out):
    """The command line both scripts share: MODEL_DIR, --sentences, --rounds, --threads, --name, --out."""
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("model", type=Path, metavar="MODEL_DIR")
    ap.add_argument("--sentences", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default=None, help="name in the result file (default: the model folder's name)")
    ap.add_argument("--out", type=Path, default=default_out)
    return ap


def checked(ap, argv):
    a = ap.parse_args(argv)
    if a.sentences < 1 or a.rounds < 1 or a.threads < 1:
        ap.error("--sentences, --rounds and --threads must be >= 1")
    return a


def header(versions: dict) -> dict:
    """The result's first fields: creation time, the runtimes' versions, the host (CPU id and flags)."""
    import datetime as _dt

    from .machine import host_info

    return {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **versions, "host": host_info()}


def write(result: dict, out, suffix: str, title: str, settings: str, group_header: str) -> None:
    """OUT/<date>-<name>-<suffix>.json and .md (title, settings line with the host, the rows); prints the table."""
    import datetime as _dt
    import json

    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{_dt.date.today().isoformat()}-{result['name']}-{suffix}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    h = result["host"]
    lines = [f"# {title}, {result['name']} ({result['created']})", "",
             f"{settings}; {h['cpu_model']} (`{h['cpu_id']}`; {', '.join(h.get('cpu_flags') or [])}), {h['cores_logical']} cores.", "",
             *markdown_rows(result["rows"], group_header)]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[4:]))
    print(f"wrote {stem}.json and .md")
