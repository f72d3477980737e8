"""`albert-edge quantize tflite`: int8 / fp16 variants of model.tflite via ai-edge-quantizer.

Modes (all keep every signature / sequence bucket of the fp32 file):
- dynamic (default) -> model.int8.tflite: recipe `dynamic_wi8_afp32` — int8 channel-wise weights
  for every FULLY_CONNECTED and the EMBEDDING_LOOKUP table, fp32 activations quantized on the fly.
  Measured on ALBERT-base: ~1 byte per parameter, 100 % label agreement on SST-2 dev.
- fp16 -> model.fp16.tflite: ai-edge-quantizer's `float_casting` algorithm (fp16 weights, fp32 math).
- static -> model.int8.tflite: `static_wi8_ai8` (int8 activations too) after calibration. On ALBERT
  it leaves the embedding table fp32 and its error is ~10x larger, so the file is only kept when it
  meets the int8 gate (label agreement >= 99.5 %, accuracy drop <= 0.5 pt vs fp32 on real data);
  otherwise it is refused with the measured numbers.
(litert-torch's own PT2E quantization is not used: its output fails at run time on EMBEDDING_LOOKUP.)
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import AlbertEdgeError
from ..staging import shown
from ..export.tflite_recipes import MODES, RECIPE_NAME, quantized_bytes, recipe_for

HELP = "quantize model.tflite: int8 weights (dynamic, default), fp16 weights, or full int8 (static, gated)"
SOURCE = "model.tflite"
OUTPUT_FILE = {"dynamic": "model.int8.tflite", "fp16": "model.fp16.tflite", "static": "model.int8.tflite"}
PRECISION = {"dynamic": "int8", "fp16": "fp16", "static": "int8"}
CALIBRATION_TEXTS = 200


def _encoder(folder: Path, manifest: dict):
    from ..tokenizer import artifact_encoder

    return artifact_encoder(folder, manifest)


def _calibration_feeds(ids_list, signatures, pad_id: int) -> dict:
    """ai-edge-quantizer wants samples per signature; each text goes to the bucket that fits it,
    and every bucket gets at least a few (cut to fit) so all signatures are calibrated."""
    import numpy as np

    from ..tokenizer import truncate_ids

    buckets = sorted((s["seq_len"], s["key"]) for s in signatures)
    feeds: dict[str, list] = {k: [] for _, k in buckets}

    def feed(ids, L):
        x = np.full((1, L), pad_id, dtype=np.int32)
        x[0, : len(ids)] = ids
        m = np.zeros((1, L), dtype=np.int32)
        m[0, : len(ids)] = 1
        return {"input_ids": x, "attention_mask": m, "token_type_ids": np.zeros((1, L), dtype=np.int32)}

    sep = ids_list[0][-1]
    for ids in ids_list:
        L, key = next(((L, k) for L, k in buckets if L >= len(ids)), buckets[-1])
        feeds[key].append(feed(truncate_ids(ids, L, sep), L))
    longest = sorted(ids_list, key=len, reverse=True)[:8]
    for L, key in buckets:
        if len(feeds[key]) < 4:
            feeds[key] += [feed(truncate_ids(ids, L, sep), L) for ids in longest]
    return feeds


def _static_gate(folder: Path, manifest: dict, fp32_entry: dict, quant_bytes: bytes, tmp: Path, quiet: bool) -> dict:
    """Measure full-int8 against fp32 on real data with the parity gate's int8 thresholds
    (albert_edge.parity.Thresholds); raise with the numbers if it misses them."""
    import numpy as np

    from ..data import default_eval_data, read_labeled_tsv
    from ..parity import Thresholds, compare
    from ..progress import bar
    from ..runners import make_runner, tokenizer_ids

    data_path, desc = default_eval_data()
    texts, ys = read_labeled_tsv(data_path, manifest["labels"])
    ids = _encoder(folder, manifest).encode(texts)
    tmp.write_bytes(quant_bytes)
    logits = {}
    for name, path in (("fp32", folder / fp32_entry["file"]), ("int8", tmp)):
        runner = make_runner("tflite", path, name, tokenizer_ids(manifest), threads=1, entry=fp32_entry if name == "fp32" else None, weight_cache=False)
        with bar(len(ids), f"static int8 gate: {name} on {data_path.name}", lines=not quiet) as pb:
            logits[name] = runner.run_batched(ids, progress=None if quiet else pb)
        del runner
    r = compare(logits["fp32"], logits["int8"], np.asarray(ys))
    result = {"eval_data": desc, "texts": len(ys), "label_agreement": r["agreement"], "accuracy_drop_pt": 100.0 * r["accuracy_drop"], "reference": "fp32 TFLite"}
    failures = Thresholds().check("int8", r)
    if failures:
        raise AlbertEdgeError(
            f"static full-int8 refused: label agreement {r['agreement']:.2%}, accuracy drop {100 * r['accuracy_drop']:.2f} pt "
            f"vs fp32 on {len(ys)} texts of {desc} (gate: {'; '.join(failures)}); use --mode dynamic"
        )
    return result


def quantize_tflite(folder, mode: str = "dynamic", calibration=None, overwrite: bool = False, quiet: bool = False, allow_duplicated_weights: bool = False) -> dict:
    """Write the quantized variant of `folder`/model.tflite; returns its manifest entry."""
    from ..fsutil import atomic_path
    from ..artifacts import update_output
    from ..integrity import verified_path
    from ..manifest import artifact_entry, find_artifact
    from ..progress import step
    from ..export.tflite_buffers import compact
    from ..export.tflite_export import remove_stale_caches, weight_guard
    from ..weight_guard import parameter_shapes_for_folder

    if mode not in MODES:
        raise AlbertEdgeError(f"unknown quantization mode {mode!r} (choose {', '.join(MODES)})")
    if calibration is not None and mode != "static":
        raise AlbertEdgeError("--calibration is only used by --mode static")
    if calibration is not None:  # a bad file is refused before the quantizer runs
        from ..data import read_labeled_tsv

        read_labeled_tsv(calibration, limit=CALIBRATION_TEXTS)
    with update_output(folder) as out:
        manifest = out.manifest
        if not any(a["file"] == SOURCE for a in manifest["artifacts"]):
            raise AlbertEdgeError(f"{folder} has no {SOURCE}; run `albert-edge export tflite` first")
        src_entry = find_artifact(manifest, SOURCE)
        src = verified_path(out.dir, src_entry, what="quantizer source")
        out_file = OUTPUT_FILE[mode]
        out_path = out.dir / out_file
        if out_path.exists() and not overwrite:
            raise AlbertEdgeError(f"{Path(folder) / out_file} already exists (use --overwrite)")
        from ai_edge_quantizer import quantizer

        q = quantizer.Quantizer(src.read_bytes(), recipe_for(mode))
        calib_result = None
        calib_desc = None
        if mode == "static":
            from ..data import SAMPLES_TSV, read_labeled_tsv, sst2_train

            calib_path = Path(calibration) if calibration else (sst2_train() or SAMPLES_TSV)
            texts, _ = read_labeled_tsv(calib_path, manifest["labels"], limit=CALIBRATION_TEXTS)
            ids = _encoder(out.dir, manifest).encode(texts)
            feeds = _calibration_feeds(ids, src_entry["signatures"], manifest.get("tokenizer", {}).get("pad_id") or 0)
            calib_desc = f"{len(texts)} texts of {calib_path.name}"
            with step(f"calibrating on {calib_desc}", quiet):
                try:
                    calib_result = q.calibrate(feeds, num_threads=1)
                except Exception as e:
                    raise AlbertEdgeError(f"calibration failed: {str(e).splitlines()[0][:200]}") from None
        with step(f"quantizing {SOURCE} ({mode}: {RECIPE_NAME[mode]})", quiet):
            quantized = quantized_bytes(q, mode, calib_result)
        with step("merging duplicate constant buffers", quiet):
            data, stats = compact(quantized, shorten_names=False)
        guard = weight_guard(data, out_file, parameter_shapes_for_folder(out.dir, manifest), PRECISION[mode], src_entry["buckets"], allow_duplicated_weights, mode=mode)

        with atomic_path(out_path) as tmp:
            gate = _static_gate(out.dir, manifest, src_entry, data, tmp, quiet) if mode == "static" else None
            tmp.write_bytes(data)
            remove_stale_caches(out.dir, out_file)
        params = manifest.get("model", {}).get("unique_parameters") or 0
        after = stats["after"]
        quant = {"tool": "ai-edge-quantizer", "recipe": RECIPE_NAME[mode], "mode": mode, "source": SOURCE}
        if calib_desc:
            quant["calibration"] = calib_desc
        if gate:
            quant["gate"] = gate
        entry = artifact_entry(
            out.dir,
            out_file,
            "tflite",
            PRECISION[mode],
            inputs=src_entry["inputs"],
            outputs=src_entry["outputs"],
            signatures=src_entry["signatures"],
            buckets=src_entry["buckets"],
            **({"rewrites": src_entry["rewrites"]} if "rewrites" in src_entry else {}),
            quantization=quant,
            constants={
                "buffers": after["buffers"],
                "bytes": after["bytes"],
                "unique_parameters": params,
                "bytes_per_param": round(after["bytes"] / params, 4) if params else None,
                "duplicates_merged": stats["before"]["duplicate_buffers"] - after["duplicate_buffers"],
                "bytes_before_merge": stats["before"]["bytes"],
            },
            weight_guard=guard,
        )
        out.add(entry)
    if not quiet:
        print(
            f"wrote {shown(Path(folder) / out_file)} ({entry['bytes'] / 1e6:.2f} MB, {PRECISION[mode]}; from {src_entry['bytes'] / 1e6:.2f} MB; "
            f"constants {after['bytes'] / 1e6:.2f} MB" + (f" = {entry['constants']['bytes_per_param']:.2f} B/param" if params else "") + ")",
            file=sys.stdout,
        )
    return entry


def add_arguments(p) -> None:
    p.add_argument("output", metavar="OUTPUT_DIR", help="artifacts folder holding model.tflite (from `export tflite`)")
    p.add_argument("--mode", choices=MODES, default="dynamic", help="dynamic: int8 weights (default); fp16: fp16 weights; static: full int8, kept only if it passes the int8 gate")
    p.add_argument("--calibration", metavar="FILE.tsv", default=None, help="labeled TSV for --mode static calibration (default: SST-2 train when present, else the shipped samples)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing quantized file")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--allow-duplicated-weights", action="store_true", help="write the file even if it stores weights more than once (recorded in the manifest)")


def run(args) -> int:
    quantize_tflite(
        args.output, mode=args.mode, calibration=args.calibration, overwrite=args.overwrite, quiet=args.quiet,
        allow_duplicated_weights=getattr(args, "allow_duplicated_weights", False),
    )
    return 0
