"""`quantize tflite` wall time with and without albert-edge's ai-edge-quantizer comparison patch
(export/tflite_recipes.py, `fast_array_compare`), side by side in one process on the same model.tflite,
for each mode. Also checks that both give the same bytes. Writes JSON + Markdown under
benchmarks/results/tflite/.

    python -m albert_edge.benchmarks.tflite_quantize_time ARTIFACTS_DIR [--modes fp16,dynamic] [--rounds 2] [--name NAME] [--out DIR]

ARTIFACTS_DIR holds a model.tflite (from `albert-edge export tflite`), verified against its manifest.
The rounds alternate patched / stock so that load on the machine hits both alike.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import importlib.metadata as md
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quantize(data: bytes, mode: str, patched: bool) -> tuple[float, bytes]:
    from ai_edge_quantizer import quantizer

    from albert_edge.export.tflite_recipes import fast_array_compare, quiet_quantizer, recipe_for

    q = quantizer.Quantizer(data, recipe_for(mode))
    t = time.perf_counter()
    with quiet_quantizer(), (fast_array_compare() if patched else contextlib.nullcontext()):
        result = q.quantize(None, enable_progress_bar=False, enable_progress_report=False)
    return time.perf_counter() - t, bytes(result.quantized_model)


def measure(data: bytes, modes: list[str], rounds: int) -> list[dict]:
    rows = []
    for mode in modes:
        times: dict[str, list[float]] = {"patched": [], "stock": []}
        digests: dict[str, set[str]] = {"patched": set(), "stock": set()}
        for _ in range(rounds):
            for variant in ("patched", "stock"):
                s, out = _quantize(data, mode, variant == "patched")
                times[variant].append(round(s, 2))
                digests[variant].add(hashlib.sha256(out).hexdigest())
                print(f"{mode:8s} {variant:8s} {s:7.2f} s", flush=True)
        best = {k: min(v) for k, v in times.items()}
        rows.append({"mode": mode, "seconds": times, "best_s": best, "stock_over_patched": round(best["stock"] / best["patched"], 1),
                     "same_bytes": digests["patched"] == digests["stock"] and len(digests["patched"]) == 1, "sha256": sorted(digests["patched"])})
    return rows


def main(argv=None) -> int:
    from albert_edge.integrity import verified_path
    from albert_edge.manifest import find_artifact, load_manifest

    from .machine import host_info

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", type=Path)
    ap.add_argument("--modes", default="fp16,dynamic")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--name", default=None, help="name in the result file (default: the folder's name)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tflite")
    a = ap.parse_args(argv)
    modes = [m for m in a.modes.split(",") if m]
    if any(m not in ("fp16", "dynamic") for m in modes) or a.rounds < 1:
        ap.error("--modes takes fp16 and/or dynamic (static needs calibration), --rounds >= 1")
    manifest = load_manifest(a.artifacts)
    src = verified_path(a.artifacts, find_artifact(manifest, "model.tflite"), what="quantizer source")
    data = src.read_bytes()
    name = a.name or a.artifacts.resolve().name
    rows = measure(data, modes, a.rounds)
    result = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "name": name,
              "source": {"file": str(src), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                         "unique_parameters": manifest.get("model", {}).get("unique_parameters")},
              "ai_edge_quantizer": md.version("ai-edge-quantizer"), "host": host_info(), "rows": rows}
    a.out.mkdir(parents=True, exist_ok=True)
    stem = a.out / f"{_dt.date.today().isoformat()}-{name}-quantize-time"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [f"# `quantize tflite` time, {name} ({result['created']})", "",
             f"model.tflite: {len(data) / 1e6:.2f} MB, sha256 `{result['source']['sha256'][:12]}`; ai-edge-quantizer {result['ai_edge_quantizer']}; "
             f"{result['host']['cpu_model']} (`{result['host']['cpu_id']}`), {result['host']['cores_logical']} cores.",
             "Best of the alternating rounds; patched = `fast_array_compare` (export/tflite_recipes.py).", "",
             "| mode | patched s | stock s | stock / patched | same bytes |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['best_s']['patched']:.2f} | {r['best_s']['stock']:.2f} | {r['stock_over_patched']}× | {'yes' if r['same_bytes'] else 'NO'} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {stem}.json and .md")
    return 0 if all(r["same_bytes"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
