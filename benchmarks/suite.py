"""The whole desktop benchmark: discover what to measure, measure it, write JSON + report + plots."""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import AlbertEdgeError
from ..progress import bar, step
from . import measure as ms



@dataclass
class Settings:
    seq_lens: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 128, 256])
    threads: list[int] = field(default_factory=lambda: [1, 2])
    batches: list[int] = field(default_factory=lambda: [1, 8])
    runs: int | None = None  # None: as many as the budget allows, within [min_runs, max_runs]
    min_runs: int = 10
    max_runs: int = 200
    warmup: int = 5
    budget_s: float = 240.0
    sentences: int = 200
    peak_sizes: tuple[int, ...] = (512, 1024, 2048)
    peak_repeats: int = 20
    peak_budget_s: float = 6.0  # per (engine, dtype, threads) process, shared by its sizes
    peak_engines: tuple[tuple[str, str], ...] | None = None  # None: machine.PEAK_ENGINES (all)
    memory: bool = True
    pytorch: bool = True
    quick: bool = False
    # rounds of fresh-process sentence timing of the artifacts the sentence-speed goals compare
    # (measure.sentence_rounds; odd: the median is one round); 0 = off
    sentence_rounds: int = 5

    @classmethod
    def quick_defaults(cls) -> "Settings":
        return cls(seq_lens=[32, 128], threads=[1], batches=[1], min_runs=5, max_runs=30, warmup=2, budget_s=45.0, sentences=40, peak_sizes=(512, 1024), peak_repeats=5, peak_budget_s=1.5, quick=True, sentence_rounds=0,
                   peak_engines=(("onnxruntime", "fp32"), ("onnxruntime", "int8")))


# ---------------------------------------------------------------------------------------------
# what to benchmark


def _onnx_precision(path: Path) -> str:
    """Guess an extra ONNX file's precision from its ops/initializers (no external data loaded)."""
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    ops = {n.op_type for n in m.graph.node}
    if ops & {"MatMulInteger", "QLinearMatMul", "DynamicQuantizeLinear", "QuantizeLinear", "DynamicQuantizeMatMul", "MatMulNBits", "QLinearConv"}:
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer):
        return "fp16"
    return "fp32"


def parse_extras(items: list[str] | None) -> list[tuple[str, Path]]:
    out = []
    for item in items or []:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            raise AlbertEdgeError(f"--extra {item!r}: expected NAME=PATH.onnx (e.g. optimum-int8=peer/model_quantized.onnx)")
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
            raise AlbertEdgeError(f"--extra name {name!r}: use letters, digits, '-', '_', '.', '+'")
        p = Path(path)
        if not p.is_file():
            raise AlbertEdgeError(f"--extra {name}: {p} does not exist")
        if p.suffix != ".onnx":
            raise AlbertEdgeError(f"--extra {name}: {p} is not an .onnx file")
        out.append((name, p))
    return out


def artifact_specs(folder: Path, manifest: dict, model_dir: Path | None, extras: list[tuple[str, Path]], pytorch: bool,
                   peers: list[dict] | None = None) -> tuple[list[dict], list[str]]:
    from ..manifest import check_artifact_file

    from ..runners import tokenizer_ids

    base = {
        **tokenizer_ids(manifest),
        "vocab_size": int(manifest["model"]["vocab_size"]),
        "max_len": int(manifest["max_seq_length"]),
    }
    specs, notes, used = [], [], set()
    filler = filler_word(folder, manifest)
    for e in manifest["artifacts"]:
        name = f"{e['format']}-{e['precision']}"
        if name in used:  # e.g. the text-in model's .ort beside its .onnx
            name = f"{name}-{Path(e['file']).suffix.lstrip('.')}"
        if name in used:
            name = f"{name}-{Path(e['file']).stem.replace('.', '-')}"
        used.add(name)
        spec = {**base, "name": name, "format": e["format"], "precision": e["precision"], "role": "ours", "file": e["file"], "bytes": int(e["bytes"]), "entry": e,
                "buckets": e.get("buckets"), "filler": filler, "max_len": int(e.get("max_length") or base["max_len"])}
        try:
            spec["path"] = str(check_artifact_file(folder, e).resolve())
        except AlbertEdgeError as err:
            spec["error"] = str(err)
        specs.append(spec)
    if pytorch:
        if model_dir is None:
            notes.append("PyTorch eager reference skipped: the manifest's source model_dir is missing; pass --model MODEL_DIR")
        else:
            from ..checkpoint import find_weights

            wf = find_weights(model_dir)
            for prec in ("fp32", "int8"):
                specs.append({**base, "name": f"pytorch-{prec}", "format": "pytorch", "precision": prec, "role": "reference", "file": None,
                              "bytes": wf.stat().st_size if prec == "fp32" else None, "model_dir": str(model_dir.resolve()), "quantize": prec == "int8", "entry": None})
    for name, path in extras:
        if name in used or name.startswith("pytorch-"):
            raise AlbertEdgeError(f"--extra name {name!r} clashes with an artifact of the folder")
        used.add(name)
        try:
            prec = _onnx_precision(path)
        except Exception as e:
            raise AlbertEdgeError(f"--extra {name}: {path} is not a readable ONNX model ({str(e)[:120]})") from None
        specs.append({**base, "name": name, "format": "onnx", "precision": prec, "role": "peer", "file": str(path), "path": str(path.resolve()), "bytes": path.stat().st_size, "entry": None})
    for p in peers or []:
        if p["name"] in used:
            raise AlbertEdgeError(f"--extra name {p['name']!r} clashes with a peer of the run (turn that peer off with --peers)")
        used.add(p["name"])
        specs.append({**base, "filler": filler, **p})
    return specs, notes


def resolve_model_dir(manifest: dict, model: str | None) -> Path | None:
    if model:
        p = Path(model)
        if not (p / "config.json").is_file():
            raise AlbertEdgeError(f"--model {p} is not a Hugging Face model folder (no config.json)")
        return p
    src = manifest.get("source", {}).get("model_dir")
    if src and (Path(src) / "config.json").is_file():
        return Path(src)
    return None


# ---------------------------------------------------------------------------------------------
# sentences


def sentence_ids(folder: Path, manifest: dict, max_len: int, count: int) -> tuple[list[str], list[list[int]], dict]:
    import numpy as np

    from ..data import default_eval_data, read_labeled_tsv
    from ..tokenizer import artifact_encoder

    path, desc = default_eval_data()
    texts, _ = read_labeled_tsv(path)
    rng = np.random.default_rng(0)
    if count < len(texts):
        # a fixed random sample, the same for every artifact, so their distributions compare
        texts = [texts[i] for i in sorted(rng.choice(len(texts), size=count, replace=False))]
    ids = artifact_encoder(folder, manifest, max_len).encode(texts)
    return texts, ids, {"source": desc, "count": len(ids)}


def filler_word(folder: Path, manifest: dict) -> str | None:
    """A word the tokenizer keeps as one piece, to build texts of an exact token count for text-in artifacts."""
    from ..tokenizer import artifact_encoder

    enc = artifact_encoder(folder, manifest)
    for w in ("the", "a", "good", "film", "movie", "and", "it"):
        if len(enc.encode([" ".join([w] * 6)])[0]) == 8:
            return w
    return None


# ---------------------------------------------------------------------------------------------
# running


def _spec_buckets(spec: dict) -> list[int]:
    """The signature lengths of a fixed-shape file, from its spec / manifest entry (no runner needed)."""
    if spec.get("buckets"):
        return sorted(int(b) for b in spec["buckets"])
    e = spec.get("entry") or {}
    if e.get("signatures"):
        return sorted(int(x["seq_len"]) for x in e["signatures"])
    if e.get("max_length"):
        return [int(e["max_length"])]
    return [int(spec["max_len"])]


def _lengths_for(spec: dict, settings: Settings, runner=None) -> tuple[list[int], list[dict]]:
    skipped = []
    if ms._lengths(spec) == "buckets":
        buckets = sorted(spec.get("buckets") or getattr(runner, "buckets", None) or _spec_buckets(spec))
        lo, hi = min(settings.seq_lens), max(settings.seq_lens)
        lens = [b for b in buckets if lo <= b <= hi] or [b for b in buckets if b <= hi][-1:]
        others = [L for L in settings.seq_lens if L not in lens]
        if others:
            skipped.append({"what": f"seq_len {','.join(map(str, others))}", "reason": f"not one of the file's signature buckets {buckets} (a shorter text runs padded in the next bucket)"})
        return lens, skipped
    lens = [L for L in settings.seq_lens if L <= spec["max_len"]]
    over = [L for L in settings.seq_lens if L > spec["max_len"]]
    if over:
        skipped.append({"what": f"seq_len {','.join(map(str, over))}", "reason": f"beyond the folder's max_seq_length {spec['max_len']}"})
    return lens, skipped


def _batches_for(spec: dict, settings: Settings) -> tuple[list[int], list[dict]]:
    if ms.fixed_batch(spec):
        more = [b for b in settings.batches if b != 1]
        return [1], ([{"what": f"batch {','.join(map(str, more))}", "reason": f"{spec['format']} files have a fixed batch of 1"}] if more else [])
    return list(settings.batches), []


def _count_configs(specs: list[dict], settings: Settings) -> int:
    n = 0
    for s in specs:
        if s.get("error"):
            continue
        nb = 1 if ms.fixed_batch(s) else len(settings.batches)
        nl = len(settings.seq_lens)
        n += len(settings.threads) * (nb * nl + (1 if settings.sentences else 0))
    return n


def _spec_digest(spec: dict) -> str | None:
    """The sha256 of the bytes this row measures, so every number names the file it was made on: ours
    from the manifest entry (check_artifact_file verified the file against it), a peer's or the
    reference's weights from the file itself; None for in-memory models and unreadable paths."""
    if spec.get("error"):
        return None
    entry = spec.get("entry") or {}
    if entry.get("sha256") and spec.get("path"):
        return entry["sha256"]
    from ..checkpoint import find_weights
    from ..integrity import file_digest

    try:
        path = spec.get("path")
        if spec["format"] == "pytorch":
            if spec.get("quantize") or not spec.get("model_dir"):
                return None
            path = find_weights(Path(spec["model_dir"]))
        return file_digest(path) if path and Path(path).is_file() else None
    except AlbertEdgeError:
        return None


def _short_error(e: Exception) -> str:
    s = str(e).strip()
    return (s.splitlines()[0][:300] if s else type(e).__name__)


def run_suite(folder, settings: Settings, out_dir=None, model: str | None = None, extras: list[str] | None = None,
              optimum: str = "auto", model_name: str | None = None, quiet: bool = False, source_label: str | None = None,
              peers: str | None = None) -> tuple[dict, dict]:
    """Benchmark an artifacts folder; returns (result, paths) with paths = {json, report, plots...}.

    peers: auto | cached | off | a comma list of peerset.PEERS (default: auto, quick: cached);
    optimum: the Optimum peer's own mode (auto | cached | off | a folder with its files), kept for
    scripts that pass --optimum. Results go to out_dir, by default the artifacts folder's bench/
    (never next to the installed code)."""
    from ..manifest import load_manifest
    from . import analysis, machine, peerset
    from .flops import Shape
    from .schema import KIND, SCHEMA_VERSION, validate

    t_start = time.perf_counter()
    folder = Path(folder)
    manifest = load_manifest(folder)
    if not manifest["artifacts"]:
        raise AlbertEdgeError(f"{folder} lists no artifacts; run `albert-edge export onnx {folder}` first")
    _check_settings(settings)
    peer_mode, peer_names = peerset.parse_peers(peers, settings.quick)
    out_dir = Path(out_dir) if out_dir else folder / "bench"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AlbertEdgeError(f"cannot create output folder {out_dir} ({e.strerror})") from None

    model_dir = resolve_model_dir(manifest, model)
    extra_list = parse_extras(extras)
    notes: list[str] = []
    ctx = peerset.Context(folder, manifest, model_dir, quiet)
    optimum_dir = None
    if optimum not in ("auto", "cached", "off"):
        optimum_dir = optimum
    if "optimum" in peer_names and (optimum == "off" or any("optimum" in n for n, _ in extra_list)):
        peer_names = [n for n in peer_names if n != "optimum"]
    peer_spec_list, peer_records = [], []
    for pn in peer_names:  # --optimum cached keeps the Optimum peer cached-only whatever --peers says
        sp, rc = peerset.peer_specs([pn], "cached" if pn == "optimum" and optimum == "cached" else peer_mode, ctx, optimum_dir)
        peer_spec_list += sp
        peer_records += rc
    if optimum == "off":
        peer_records.insert(0, {"name": "optimum", "status": "missing", "detail": "disabled (--optimum off)"})
    elif any("optimum" in n for n, _ in extra_list):
        peer_records.insert(0, {"name": "optimum", "status": "ok", "detail": "given with --extra"})
    for name in peerset.PEERS:
        if not any(r["name"] == name for r in peer_records):
            peer_records.append({"name": name, "status": "missing", "detail": "not requested (--peers)" if peer_mode != "off" else "disabled (--peers off)"})
    specs, spec_notes = artifact_specs(folder, manifest, model_dir, extra_list, settings.pytorch, peer_spec_list)
    notes += spec_notes
    cfg_model = manifest["model"]
    shape = Shape.from_config({**cfg_model, "num_labels": len(manifest.get("labels") or []) or 2})
    name = model_name or _model_name(folder, manifest)

    host = machine.host_info()
    if max(settings.threads) > host["cores_logical"]:
        notes.append(f"thread counts {settings.threads} exceed the {host['cores_logical']} logical cores: the larger ones oversubscribe")
    load = host.get("load_avg_start")
    if machine.is_busy(load, host["cores_logical"]):
        notes.append(f"the machine was busy when the run began (1-min load {load[0]} on {host['cores_logical']} cores): absolute numbers are pessimistic; ratios within this run are the meaningful part")

    sizes = tuple(settings.peak_sizes)
    with step(f"measuring the fp32 and int8 GEMM peaks (n={','.join(map(str, sizes))}, threads {settings.threads}, a fresh process each)", quiet):
        peaks, peak_notes = machine.gemm_peaks(settings.threads, sizes, settings.peak_repeats, settings.peak_budget_s,
                                               engines=settings.peak_engines or machine.PEAK_ENGINES, label="start")
    notes += peak_notes

    sent_texts, sent_ids, sent_info = ([], [], None)
    if settings.sentences:
        sent_texts, sent_ids, sent_info = sentence_ids(folder, manifest, int(manifest["max_seq_length"]), settings.sentences)

    budget = ms.Budget(settings.budget_s, _count_configs(specs, settings))
    cfg = {"runs": settings.runs, "warmup": settings.warmup, "min_runs": settings.min_runs, "max_runs": settings.max_runs}
    artifacts = []
    mem_seq = 128 if 128 <= int(manifest["max_seq_length"]) else int(manifest["max_seq_length"])
    pbar = bar(total=_count_configs(specs, settings), desc="benchmark", unit="cfg", lines=True) if not quiet else None
    try:
        for spec in specs:
            rec = {"name": spec["name"], "format": spec["format"], "precision": spec["precision"], "role": spec["role"], "file": spec.get("file"),
                   "bytes": spec.get("bytes"), "sha256": _spec_digest(spec), "load_s": None, "memory": [], "latency": [], "sentences": [], "skipped": [], "error": spec.get("error"), "info": {}}
            if spec.get("peer"):
                rec["peer"] = spec["peer"]
            artifacts.append(rec)
            if rec["error"]:
                continue
            if pbar is not None:
                pbar.set_description(spec["name"])
            try:
                _bench_one(spec, rec, settings, shape, (sent_texts, sent_ids), budget, cfg, pbar, mem_seq)
            except Exception as e:  # one broken artifact is reported, the rest still measured
                rec["error"] = _short_error(e)
                if pbar is not None:
                    pbar.write(f"✗ {spec['name']}: {rec['error']}", file=sys.stderr)
            if spec["name"] == PROFILED and not rec["error"] and PROFILE_SEQ_LEN <= spec["max_len"]:
                _profile(spec, rec, settings, quiet)
    finally:
        if pbar is not None:
            pbar.close()

    rounds = _sentence_rounds(specs, artifacts, settings, (sent_texts, sent_ids), cfg, notes, quiet)
    sentence_profile = _sentence_profile(specs, artifacts, settings, sent_ids, notes, quiet)

    disturbed = [f"{a['name']} ({i['threads']}t: {i['other_cores']:.2f})" for a in artifacts for i in a.get("interference") or [] if i["other_cores"] > DISTURBED_CORES]
    if disturbed:
        notes.append(f"other processes used more than {DISTURBED_CORES} of a core on average while these were timed (cores taken): {', '.join(disturbed)}; "
                     "their rows are pessimistic, most at the largest thread count")

    # The peaks again after the model rows: the machine's limit is the best of both rounds, and the gap
    # between the rounds is the run's own measure of how much the shared machine moved meanwhile.
    with step("measuring the GEMM peaks again (after the model rows)", quiet):
        peaks_end, peak_notes = machine.gemm_peaks(settings.threads, sizes, settings.peak_repeats, settings.peak_budget_s,
                                                   engines=settings.peak_engines or machine.PEAK_ENGINES, label="end")
    peaks += peaks_end
    notes += peak_notes
    _apply_peaks(artifacts, shape, peaks)

    result = {
        "schema_version": SCHEMA_VERSION,
        "kind": KIND,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tool": "albert-edge bench",
        "host": host,
        "versions": machine.versions(),
        "model": {
            "name": name,
            "source": source_label or str(folder.resolve()),
            "model_dir": str(model_dir) if model_dir else None,
            **{k: cfg_model[k] for k in ("hidden_size", "embedding_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")},
            "num_hidden_groups": cfg_model.get("num_hidden_groups"),
            "num_labels": shape.num_labels,
            "unique_parameters": cfg_model.get("unique_parameters"),
            "max_seq_length": int(manifest["max_seq_length"]),
        },
        "settings": {**{k: (json.loads(json.dumps(v)) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()}, "sentences": sent_info, "peers": peer_mode,
                     "timing": "one fresh worker process per (artifact, thread count); memory: one per measurement"},
        "peak": peaks,
        "artifacts": artifacts,
        "peers": peer_records,
        "notes": notes,
    }
    if rounds:
        result["sentence_rounds"] = rounds
    if sentence_profile:
        result["sentence_profile"] = sentence_profile
    result["host"]["load_avg_end"] = machine.load_avg()
    for t in settings.threads:
        for d in ("fp32", "int8"):
            sp = machine.peak_spread(peaks, t, d)
            if sp and sp["min_round_fraction"] is not None and sp["min_round_fraction"] < 0.85:
                notes.append(f"the {d} GEMM peak at {t} thread(s) moved between rounds ({', '.join(f'{k} {v:.0f}' for k, v in sp['rounds'].items())}): the machine's load changed during the run; the best round is used")
    result["comparisons"] = analysis.comparisons(result)
    result["goals"] = analysis.goals(result)
    result["goal_table"] = analysis.goal_table(result)
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    validate(result)
    paths = write_outputs(result, out_dir, quiet=quiet)
    return result, paths


def _sentence_rounds(specs, artifacts, settings, sentences, cfg, notes, quiet) -> dict | None:
    """The artifacts the sentence-speed goals compare (analysis.round_artifacts) and those of the efficiency
    goals (analysis.efficiency_round_artifacts, also timed at GOAL_SEQ_LEN tokens), timed again in
    settings.sentence_rounds interleaved rounds at the largest thread count; those goals then read the
    median round (analysis.goals). None when off, without sentences, or when a round failed (noted)."""
    from . import analysis

    if not settings.sentence_rounds or not sentences[1]:
        return None
    res = {"artifacts": artifacts, "settings": {"threads": settings.threads}}
    eff = analysis.efficiency_round_artifacts(res)
    names = list(dict.fromkeys(analysis.round_artifacts(res) + eff))
    if len(names) < 2:
        return None
    by_spec = {s["name"]: s for s in specs}
    t = max(settings.threads)
    # A few seconds per process at GOAL_SEQ_LEN: enough for min_runs of a 128-token fp32 ALBERT-base call.
    at_len = {"seq_len": analysis.GOAL_SEQ_LEN, "artifacts": eff, "budget_s": 3.0} if eff else None
    also = f" (and {', '.join(eff)} at {analysis.GOAL_SEQ_LEN} tokens)" if eff else ""
    what = (f"timing {', '.join(names)} again on {len(sentences[1])} real sentences{also}: {settings.sentence_rounds} rounds at {t} thread(s), "
            "a fresh process each, the order rotating")
    with step(what, quiet):
        try:
            return ms.sentence_rounds([by_spec[n] for n in names], t, sentences, cfg, settings.sentence_rounds, at_len=at_len)
        except Exception as e:
            notes.append(f"{what} failed: {_short_error(e)}; the sentence and efficiency goals use the one-shot rows")
            return None


# A timing job during which other processes took more than this many cores on average is named in the notes.
DISTURBED_CORES = 0.15

# The int8 efficiency goal's "why": ORT's per-node profile of our int8 ONNX at 128 tokens, per thread count.
PROFILED = "onnx-int8"
PROFILE_SEQ_LEN = 128


def _profile(spec: dict, rec: dict, settings: Settings, quiet: bool) -> None:
    from .profile_onnx import profile_subprocess

    out = []
    with step(f"profiling {spec['name']} at {PROFILE_SEQ_LEN} tokens (ONNX Runtime's per-node profiler, a fresh process per thread count)", quiet):
        for t in settings.threads:
            try:
                out.append(profile_subprocess(spec["path"], t, PROFILE_SEQ_LEN, 8 if settings.quick else 30, None))
            except Exception as e:
                rec["skipped"].append({"what": f"ORT profile at {t} thread(s)", "reason": _short_error(e)})
    if out:
        rec["profile"] = out


# The "executorch-int8 vs onnx-int8, real sentences" goal's "why": each runtime's own per-op profiler on
# its file at the median length of the timed sentences, at the goal's thread count, a fresh process each.
SENTENCE_PROFILED = ("onnx-int8", "executorch-int8")


def _sentence_profile(specs, artifacts, settings: Settings, sent_ids, notes: list, quiet: bool) -> dict | None:
    import statistics

    from . import profile_executorch, profile_onnx

    by_name = {a["name"]: a for a in artifacts}
    spec_of = {s["name"]: s for s in specs}
    if not sent_ids or not all(n in by_name and not by_name[n]["error"] for n in SENTENCE_PROFILED):
        return None
    seq_len = max(2, int(statistics.median(len(ids) for ids in sent_ids)))
    t = max(settings.threads)
    runs = 8 if settings.quick else 30
    profilers = {"onnx": profile_onnx.profile_subprocess, "executorch": profile_executorch.profile_subprocess}
    out = {"seq_len": seq_len, "threads": t, "basis": f"median token count of the {len(sent_ids)} timed sentences", "profiles": {}}
    with step(f"profiling {' and '.join(SENTENCE_PROFILED)} at {seq_len} tokens (the median sentence; each runtime's own per-op profiler, a fresh process each)", quiet):
        for name in SENTENCE_PROFILED:
            spec = spec_of[name]
            try:
                prof = profilers[spec["format"]](spec["path"], t, seq_len, runs, None)
            except Exception as e:
                notes.append(f"per-op profile of {name} at {seq_len} tokens failed: {_short_error(e)}")
                continue
            prof["sha256"] = by_name[name]["sha256"]
            out["profiles"][name] = prof
    return out if out["profiles"] else None


def _apply_peaks(artifacts: list[dict], shape, peaks: list[dict]) -> None:
    """Achieved rate / the machine's peak of the artifact's kind (int8 artifacts: the int8 GEMM peak),
    computed once both peak rounds are in."""
    from .machine import best_peak

    for a in artifacts:
        kind = ms.peak_dtype(a["precision"])
        for r in a.get("latency") or []:
            pk = best_peak(peaks, r["threads"], kind)
            if pk and r.get("gflops_per_s"):
                r["peak_fraction"] = r["gflops_per_s"] / pk["gflops"]
                r["peak_dtype"] = kind
            else:
                r.pop("peak_fraction", None)


def _bench_one(spec, rec, settings, shape, sentences, budget, cfg, pbar, mem_seq):
    sent_texts, sent_ids = sentences
    if settings.memory:
        for t in [min(settings.threads)]:
            try:
                mem, _ = ms.memory_variants(spec, t, mem_seq)
                rec["memory"] += mem
            except Exception as e:
                rec["skipped"].append({"what": f"memory at {t} thread(s)", "reason": _short_error(e)})
        default = next((m for m in rec["memory"] if m["variant"] in ("default", "weight_cache")), None)
        if default:
            rec["load_s"] = default["load_s"]
            rec["info"] = default.get("info") or {}
    if spec["format"] == "pytorch":
        if spec.get("quantize"):
            rec["bytes"] = ms.torch_int8_bytes(ms.load_torch_model(spec))
            rec["info"]["bytes_note"] = "torch.save(state_dict) of the dynamically quantized model"
        else:
            rec["info"]["bytes_note"] = "the checkpoint's weights file"
    batches, skipped_b = _batches_for(spec, settings)
    rec["skipped"] += skipped_b
    lens, skipped_l = _lengths_for(spec, settings)
    rec["skipped"] += skipped_l
    n_lat = len(settings.seq_lens) * (1 if ms.fixed_batch(spec) else len(settings.batches))
    for t in settings.threads:
        configs = [(b, L) for b in batches for L in lens]
        n_job = len(configs) + (1 if sent_ids else 0)
        share = budget.share()
        job_budget = None if share is None else share * n_job
        from .machine import Interference

        try:
            with Interference() as other:
                res = ms.timing_subprocess(spec, t, configs, (sent_texts, sent_ids) if sent_ids else None, cfg, job_budget)
        except Exception as e:
            rec["skipped"].append({"what": f"timing at {t} thread(s)", "reason": _short_error(e)})
            res = None
        else:
            if other.cores is not None:
                rec.setdefault("interference", []).append({"threads": t, "other_cores": round(other.cores, 3), "wall_s": round(other.wall_s, 1)})
        if res is not None:
            if not rec["info"]:
                rec["info"] = res.get("info") or {}
            if rec["load_s"] is None and res.get("load_s") is not None:
                rec["load_s"] = res["load_s"]
            for r in res.get("latency") or []:
                if r.get("error"):
                    rec["skipped"].append({"what": f"batch {r['batch']}, seq_len {r['seq_len']}, {t} thread(s)", "reason": r["error"]})
                    continue
                rec["latency"].append(ms.latency_record(r["samples_ms"], r["warmup"], shape, t, r["batch"], r["seq_len"], [], spec["precision"]))
            sres = res.get("sentences")
            if sres and sres.get("error"):
                rec["skipped"].append({"what": f"real sentences at {t} thread(s)", "reason": sres["error"]})
            elif sres:
                rec["sentences"].append(ms.sentences_record(sres["samples_ms"], spec, sent_ids, t))
        for _ in range(n_lat + (1 if sent_ids else 0)):
            budget.done()
        if pbar is not None:
            pbar.update(n_lat + (1 if sent_ids else 0))
    if len(rec["latency"]) == 0 and len(rec["sentences"]) == 0 and not rec["memory"]:
        reasons = [s["reason"] for s in rec["skipped"] if s["what"].startswith("timing") or s["what"].startswith("memory")]
        if reasons:
            raise RuntimeError(reasons[0])


def _check_settings(s: Settings) -> None:
    for label, vals in (("--seq-lens", s.seq_lens), ("--threads", s.threads), ("--batch", s.batches)):
        if not vals or any(v < 1 for v in vals):
            raise AlbertEdgeError(f"{label} needs positive integers")
    if any(L < 2 for L in s.seq_lens):
        raise AlbertEdgeError("--seq-lens: every length must be >= 2 (room for [CLS] and [SEP])")
    if s.runs is not None and s.runs < 1:
        raise AlbertEdgeError("--runs must be >= 1")
    if s.budget_s is not None and s.budget_s <= 0:
        raise AlbertEdgeError("--budget-s must be > 0")


def _model_name(folder: Path, manifest: dict) -> str:
    raw = Path(manifest.get("source", {}).get("model_dir") or folder.resolve()).name or folder.resolve().name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-") or "model"


def result_stem(result: dict) -> str:
    date = result["created"][:10]
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", result["host"]["hostname"]) or "host"
    return f"{date}-{host}-{result['model']['name']}"


def write_outputs(result: dict, out_dir: Path, quiet: bool = False) -> dict:
    from ..fsutil import atomic_path, write_text_atomic
    from . import plots, report

    stem = result_stem(result)
    paths = {"json": out_dir / f"{stem}.json", "report": out_dir / f"{stem}.md"}
    with step("writing plots", quiet):
        for key, fn in plots.PLOTS.items():
            target = out_dir / f"{stem}-{key}.png"
            try:
                with atomic_path(target, suffix=".png") as tmp:
                    if not fn(result, tmp):
                        raise _Skip
                paths[f"plot_{key}"] = target
            except _Skip:
                pass
    write_text_atomic(paths["json"], json.dumps(result, indent=1, default=_json_default) + "\n")
    write_text_atomic(paths["report"], report.markdown(result, {k: Path(v).name for k, v in paths.items()}))
    return {k: Path(v) for k, v in paths.items()}


class _Skip(Exception):
    pass


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)
