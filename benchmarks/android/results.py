"""Assembling the desktop schema's result from what the device reported."""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

from .constants import APP_PACKAGE, TOOL_NAMES


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _model_block(manifest: dict, name: str | None, folder: Path) -> dict:
    m = manifest.get("model", {})
    block = {k: m.get(k) for k in ("hidden_size", "embedding_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "unique_parameters")}
    raw = name or Path(manifest.get("source", {}).get("model_dir") or folder.resolve()).name or "model"
    block["name"] = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-") or "model"
    block["source"] = str(folder)
    block["num_labels"] = len(manifest.get("labels") or []) or None
    block["max_seq_length"] = manifest.get("max_seq_length")
    return block


def benchmark_model_result(host: dict, manifest: dict, folder: Path, arts: list[dict], notes: list[str], seq_lens, threads_list, runs, warmup, name=None) -> dict:
    from ..schema import KIND, SCHEMA_VERSION

    lens = sorted({lat["seq_len"] for a in arts for lat in a["latency"]}) or sorted(seq_lens or [manifest.get("max_seq_length") or 128])
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "created": _now(),
        "tool": TOOL_NAMES["benchmark_model"],
        "host": host,
        "versions": _versions(),
        "model": _model_block(manifest, name, folder),
        "settings": {"seq_lens": lens, "threads": list(threads_list), "batches": [1], "runs": runs, "warmup": warmup},
        "peak": [],
        "artifacts": arts,
        "comparisons": _comparisons(arts),
        "goals": [],
        "peers": [],
        "notes": notes,
    }


def _comparisons(arts: list[dict]) -> list[dict]:
    """int8 vs fp32 latency and size, where both were measured at the same length and threads."""
    by = {a["name"]: a for a in arts}
    out = []
    if "tflite-int8" in by and "tflite-fp32" in by:
        q, f = by["tflite-int8"], by["tflite-fp32"]
        if q.get("bytes") and f.get("bytes"):
            out.append({"name": "tflite int8/fp32 size", "metric": "bytes", "numerator": q["name"], "denominator": f["name"], "value": q["bytes"] / f["bytes"]})
        fl = {(x["seq_len"], x["threads"]): x["ms"]["p50"] for x in f["latency"]}
        for x in q["latency"]:
            key = (x["seq_len"], x["threads"])
            if key in fl and fl[key] > 0:
                out.append({"name": "tflite int8/fp32 latency", "metric": "latency_p50", "numerator": q["name"], "denominator": f["name"], "seq_len": key[0], "threads": key[1], "value": x["ms"]["p50"] / fl[key]})
    return out


def _versions() -> dict:
    from ..machine import versions

    return versions()


def merge_app_result(app: dict, host: dict, meminfo: dict, apk: Path | None, folder: Path | None, manifest: dict | None) -> dict:
    """Tag the app's own result (already the bench schema) with adb's device facts and meminfo."""
    res = dict(app)
    app_host = dict(res.get("host") or {})
    # adb's getprop facts win for identity; the app's own fields (e.g. cores it saw) are kept.
    merged = {**app_host, **{k: v for k, v in host.items() if v is not None}}
    merged["platform"] = "android"
    res["host"] = merged
    res["tool"] = TOOL_NAMES["app"]
    res.setdefault("versions", {})
    res["versions"] = {**res["versions"], **{f"host:{k}": v for k, v in _versions().items()}}
    notes = list(res.get("notes") or [])
    notes.append(f"memory from `dumpsys meminfo {APP_PACKAGE}` after the run: TOTAL PSS {meminfo.get('total_pss_kb')} kB"
                 + (f", TOTAL RSS {meminfo['total_rss_kb']} kB" if "total_rss_kb" in meminfo else ""))
    for a in res.get("artifacts") or []:
        a.setdefault("info", {})["dumpsys_meminfo"] = meminfo
        if folder is not None and manifest is not None:
            ours = next((e for e in manifest["artifacts"] if e["file"] == a.get("file")), None)
            sha = (a.get("info") or {}).get("sha256")
            if ours and sha and ours.get("sha256") != sha:
                notes.append(f"the app's {a.get('file')} (sha256 {sha[:12]}) is not {folder}/{a.get('file')} ({ours['sha256'][:12]}): the APK bundles another export")
    if apk is not None:
        notes.append(f"APK: {apk}")
    res["notes"] = notes
    return res
