"""The benchmark result JSON: one file per run, written by `albert-edge bench` (desktop), by
`albert-edge bench --android` and by the Android app's benchmark mode. Everything that reads
results (report, plots, comparisons across machines) goes through `validate()` first.

Schema (SCHEMA_VERSION = 1). Times are milliseconds, sizes and memory bytes, rates GFLOP/s.
Fields marked (opt) may be absent or null; unknown extra fields are allowed everywhere (add, never
rename: bump SCHEMA_VERSION only for incompatible changes).

{
  "schema_version": 1,
  "kind": "albert-edge-bench",
  "created": "2025-11-25T10:00:00+00:00",          # ISO-8601 UTC
  "tool": "albert-edge bench" | "albert-edge bench --android" | "android-app" | ...,
  "host": {
    "platform": "desktop" | "android",
    "hostname": str,
    "cpu_model": str,                                # /proc/cpuinfo "model name" or Android SoC
    "cpu_id": str (opt),                             # "AuthenticAMD family 25 model 1 stepping 1": the core behind a masked model name
    "cpu_flags": [str],                              # relevant ones: avx2, avx512f, avx512_vnni, avx_vnni, fma, f16c, asimddp, i8mm ...
    "cores_logical": int,
    "cores_physical": int (opt),
    "ram_bytes": int (opt),
    "os": str (opt), "python": str (opt), "device_model": str (opt, Android), "abi": str (opt, Android),
    "load_avg_start": [float, float, float] (opt),   # 1/5/15-min load when the run began / ended:
    "load_avg_end": [float, float, float] (opt)      #   the honest signal of a busy machine
  },
  "versions": {package: version},                    # onnxruntime, torch, ai-edge-litert, albert-edge ...
  "model": {
    "name": str,                                     # short name used in file names and the report
    "source": str (opt),                             # the checkpoint folder / artifacts folder
    "hidden_size": int, "embedding_size": int, "num_hidden_layers": int,
    "num_attention_heads": int, "intermediate_size": int, "vocab_size": int,
    "num_labels": int (opt), "unique_parameters": int (opt), "max_seq_length": int (opt)
  },
  "settings": {
    "seq_lens": [int], "threads": [int], "batches": [int],
    "runs": int | null,                              # fixed run count, or null = chosen by budget
    "min_runs": int (opt), "warmup": int (opt), "budget_s": float (opt), "quick": bool (opt),
    "sentences": {"source": str, "count": int} (opt)
  },
  "peak": [                                          # machine GEMM peaks, measured in the same run (twice:
    {"engine": "onnxruntime" | "numpy" | "torch", "threads": int, "n": int,  # round start/end), a fresh process each
     "gflops": float, "repeats": int,                # best of repeats at the best size n (n x n x n MatMul)
     "dtype": "fp32" | "int8" (opt, default fp32),   # int8: ORT MatMulInteger u8 x s8 / torch._int_mm (GOP/s)
     "median_gflops", "p10_gflops": float (opt),     # spread of the repeats at that size
     "sizes": [{"n", "gflops", "median_gflops", "p10_gflops", "repeats"}] (opt), "round": str (opt)}
  ],
  "artifacts": [
    {
      "name": str,                                   # unique: "onnx-fp32", "onnx-int8", "tflite-int8", "pytorch-fp32", "optimum-int8" ...
      "format": str,                                 # a registry format, "pytorch", or a peer format (formats.PEER_FORMATS)
      "precision": "fp32" | "fp16" | "int8",
      "role": "ours" | "reference" | "peer",         # ours = albert-edge artifact; reference = PyTorch eager; peer = peers + --extra
      "file": str | null, "bytes": int | null,       # null for in-memory PyTorch models (bytes = weights file then)
      "sha256": str | null,                          # the measured file's digest (ours: the verified manifest entry); null for in-memory models
      "load_s": float | null,                        # cold load (create session/interpreter), in a fresh process
      "memory": [                                    # each measured in a separate, fresh process
        {"variant": "default" | "weight_cache" | "no_weight_cache",
         "threads": int,
         "rss_baseline_bytes": int,                  # process RSS after importing the runtime, before loading
         "rss_after_load_bytes": int,
         "peak_rss_bytes": int,                      # high-water mark (ru_maxrss) after load + inference
         "rss_growth_bytes": int,                    # peak_rss - rss_baseline: what the model costs
         "load_s": float, "info": {...} (opt)}
      ],
      "latency": [                                   # synthetic inputs of exactly seq_len tokens
        {"seq_len": int, "batch": int, "threads": int,
         "runs": int, "warmup": int,
         "ms": STATS,
         "flops": int (opt),                         # analytic FLOPs for one call (see flops.py)
         "gflops_per_s": float (opt),                # flops / p50
         "peak_fraction": float (opt),               # gflops_per_s / measured GEMM peak of peak_dtype, same thread count
         "peak_dtype": "fp32" | "int8" (opt)}        # int8 artifacts are measured against the int8 peak
      ],
      "sentences": [                                 # real sentences, one at a time, natural shape handling
        {"threads": int, "batch": int, "count": int, "runs": int,
         "shape_handling": "dynamic" | "buckets",
         "mean_tokens": float, "mean_padded_tokens": float (opt),
         "ms": STATS}                                # per-sentence latency distribution
      ],
      "skipped": [{"what": str, "reason": str}],     # lengths beyond max_seq_length, unsupported batch ...
      "error": str | null,                           # set when the artifact could not be benchmarked at all
      "info": {...} (opt)                            # runner facts: providers, XNNPACK weight cache ...
    }
  ],
  "comparisons": [                                   # ratios between artifacts measured in this run
    {"name": str, "metric": "latency_p50" | "sentences_p50" | "bytes" | ...,
     "numerator": str, "denominator": str,           # artifact names
     "seq_len": int (opt), "threads": int (opt), "value": float}
  ],
  "goal_table": [                                    # (opt) each of our artifacts vs the best peer of ANY format
    {"artifact": str, "metric": "sentences" | "latency128" | "bytes" | "rss_growth", "threads": int | null,
     "ours": float | null, "best_peer": str | null, "peer_value": float | null,
     "ratio": float | null}                          # peer_value / ours: > 1 = ours faster / smaller
  ],
  "sentence_rounds": {                               # (opt) the artifacts the sentence goals compare, timed again
    "threads": int, "count": int, "artifacts": [str],
    "rounds": [{"round": int, "order": [str],        # each artifact in its own fresh process, in this order
                "p50_ms": {artifact: float},         # the goals read the median over rounds of the per-round ratio
                "p50_ms_at_len": {artifact: float}}], # (with at_len) p50 at at_len.seq_len tokens, same process
    "at_len": {"seq_len": int, "batch": 1,           # (opt) the efficiency goals' artifacts, also timed at seq_len
               "artifacts": [str]}                   #   tokens each round; those goals read the best of row and rounds
  },
  "sentence_profile": {                              # (opt) the ExecuTorch-vs-ONNX sentence goal's why: per-op profiles
    "seq_len": int, "threads": int, "basis": str,    #   at the median sentence length (profile_onnx.py, profile_executorch.py)
    "profiles": {artifact: {"file": str, "threads": int, "seq_len": int, "wall_ms_p50": float,
                            "sum_node_min_ms": float, "groups": [{"op_type": str, "nodes": int, "ms": float, ...}]}}
  },
  "goals": [
    {"name": str, "target": str, "measured": float | null, "threshold": float,
     "met": bool | null,                             # null = could not be measured (see note)
     "at_most": true (opt),                          # met when measured <= threshold (memory); else >=
     "note": str}
  ],
  "peers": [{"name": str, "status": "ok" | "missing" | "failed", "detail": str,
             "versions": {} (opt), "commands": [str] (opt), "facts": {} (opt)}],  # facts: sizes, constants, build times
  "notes": [str]
}

STATS = {"p10", "p50", "p90", "p99", "mean", "min", "max", "iqr", "n"}  (ms, except n = sample count)
"""

from __future__ import annotations

from .. import formats as _formats
from ..errors import AlbertEdgeError

SCHEMA_VERSION = 1
KIND = "albert-edge-bench"
FORMATS = (*_formats.names(), *_formats.REFERENCE_FORMATS, *_formats.PEER_FORMATS)
PRECISIONS = _formats.PRECISIONS
ROLES = ("ours", "reference", "peer")
PLATFORMS = ("desktop", "android")
MEMORY_VARIANTS = ("default", "weight_cache", "no_weight_cache")
PEAK_DTYPES = ("fp32", "int8")
STAT_KEYS = ("p10", "p50", "p90", "p99", "mean", "min", "max", "iqr", "n")


class SchemaError(AlbertEdgeError):
    """A result file that does not follow the schema; the message names the first bad field."""


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class _Checker:
    def __init__(self):
        self.problems: list[str] = []

    def fail(self, path: str, msg: str) -> None:
        self.problems.append(f"{path}: {msg}")

    def obj(self, d, path: str) -> bool:
        if not isinstance(d, dict):
            self.fail(path, "must be an object")
            return False
        return True

    def field(self, d: dict, key: str, path: str, test, what: str, optional: bool = False) -> None:
        if key not in d or (optional and d[key] is None):
            if not optional:
                self.fail(f"{path}.{key}", "is missing")
            return
        if not test(d[key]):
            self.fail(f"{path}.{key}", f"must be {what} (got {d[key]!r:.60})")

    def stats(self, s, path: str) -> None:
        if not self.obj(s, path):
            return
        for k in STAT_KEYS:
            self.field(s, k, path, _num, "a number")
        if all(_num(s.get(k)) for k in ("p10", "p50", "p90", "p99")):
            if not s["p10"] <= s["p50"] <= s["p90"] <= s["p99"]:
                self.fail(path, "percentiles must be ordered p10 <= p50 <= p90 <= p99")
            if s["p10"] < 0:
                self.fail(path, "times must be non-negative")


def problems(result) -> list[str]:
    """Every schema violation found (empty list = valid)."""
    c = _Checker()
    if not c.obj(result, "result"):
        return c.problems
    c.field(result, "schema_version", "result", lambda v: v == SCHEMA_VERSION, f"{SCHEMA_VERSION}")
    c.field(result, "kind", "result", lambda v: v == KIND, repr(KIND))
    c.field(result, "created", "result", lambda v: isinstance(v, str) and len(v) >= 10, "an ISO date string")
    c.field(result, "tool", "result", lambda v: isinstance(v, str), "a string")

    host = result.get("host")
    if c.obj(host, "host"):
        c.field(host, "platform", "host", lambda v: v in PLATFORMS, f"one of {PLATFORMS}")
        c.field(host, "hostname", "host", lambda v: isinstance(v, str), "a string")
        c.field(host, "cpu_model", "host", lambda v: isinstance(v, str), "a string")
        c.field(host, "cpu_id", "host", lambda v: isinstance(v, str), "a string", optional=True)
        c.field(host, "cpu_flags", "host", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings")
        c.field(host, "cores_logical", "host", lambda v: _int(v) and v > 0, "a positive integer")
        for k in ("load_avg_start", "load_avg_end"):
            c.field(host, k, "host", lambda v: isinstance(v, list) and len(v) == 3 and all(_num(x) for x in v), "3 numbers", optional=True)
    c.field(result, "versions", "result", lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()), "an object of version strings")

    model = result.get("model")
    if c.obj(model, "model"):
        c.field(model, "name", "model", lambda v: isinstance(v, str) and v, "a non-empty string")
        for k in ("hidden_size", "embedding_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"):
            c.field(model, k, "model", lambda v: _int(v) and v > 0, "a positive integer")

    settings = result.get("settings")
    if c.obj(settings, "settings"):
        for k in ("seq_lens", "threads", "batches"):
            c.field(settings, k, "settings", lambda v: isinstance(v, list) and v and all(_int(x) and x > 0 for x in v), "a non-empty list of positive integers")
        c.field(settings, "runs", "settings", lambda v: _int(v) and v > 0, "a positive integer or null", optional=True)

    peak = result.get("peak")
    if not isinstance(peak, list):
        c.fail("peak", "must be a list")
    else:
        for i, p in enumerate(peak):
            path = f"peak[{i}]"
            if c.obj(p, path):
                c.field(p, "engine", path, lambda v: isinstance(v, str), "a string")
                c.field(p, "threads", path, lambda v: _int(v) and v > 0, "a positive integer")
                c.field(p, "n", path, lambda v: _int(v) and v > 0, "a positive integer")
                c.field(p, "gflops", path, lambda v: _num(v) and v > 0, "a positive number")
                c.field(p, "dtype", path, lambda v: v in PEAK_DTYPES, f"one of {PEAK_DTYPES}", optional=True)

    arts = result.get("artifacts")
    if not isinstance(arts, list):
        c.fail("artifacts", "must be a list")
        arts = []
    names = set()
    for i, a in enumerate(arts):
        path = f"artifacts[{i}]"
        if not c.obj(a, path):
            continue
        c.field(a, "name", path, lambda v: isinstance(v, str) and v, "a non-empty string")
        if a.get("name") in names:
            c.fail(f"{path}.name", f"duplicate artifact name {a.get('name')!r}")
        names.add(a.get("name"))
        path = f"artifacts[{a.get('name', i)}]"
        c.field(a, "format", path, lambda v: v in FORMATS, f"one of {FORMATS}")
        c.field(a, "precision", path, lambda v: v in PRECISIONS, f"one of {PRECISIONS}")
        c.field(a, "role", path, lambda v: v in ROLES, f"one of {ROLES}")
        c.field(a, "file", path, lambda v: isinstance(v, str), "a string or null", optional=True)
        c.field(a, "bytes", path, lambda v: _int(v) and v >= 0, "a non-negative integer or null", optional=True)
        c.field(a, "sha256", path, lambda v: isinstance(v, str) and len(v) == 64 and all(ch in "0123456789abcdef" for ch in v), "64 lowercase hex digits or null", optional=True)
        c.field(a, "load_s", path, lambda v: _num(v) and v >= 0, "a non-negative number or null", optional=True)
        c.field(a, "error", path, lambda v: isinstance(v, str), "a string or null", optional=True)
        for j, m in enumerate(a.get("memory") or []):
            mp = f"{path}.memory[{j}]"
            if c.obj(m, mp):
                c.field(m, "variant", mp, lambda v: v in MEMORY_VARIANTS, f"one of {MEMORY_VARIANTS}")
                c.field(m, "threads", mp, lambda v: _int(v) and v > 0, "a positive integer")
                for k in ("rss_baseline_bytes", "rss_after_load_bytes", "peak_rss_bytes"):
                    c.field(m, k, mp, lambda v: _int(v) and v > 0, "a positive integer")
                c.field(m, "rss_growth_bytes", mp, _int, "an integer")
                c.field(m, "load_s", mp, lambda v: _num(v) and v >= 0, "a non-negative number")
        for j, lat in enumerate(a.get("latency") or []):
            lp = f"{path}.latency[{j}]"
            if c.obj(lat, lp):
                for k in ("seq_len", "batch", "threads", "runs"):
                    c.field(lat, k, lp, lambda v: _int(v) and v > 0, "a positive integer")
                c.field(lat, "warmup", lp, lambda v: _int(v) and v >= 0, "a non-negative integer")
                c.stats(lat.get("ms"), f"{lp}.ms")
                for k in ("gflops_per_s", "peak_fraction"):
                    c.field(lat, k, lp, lambda v: _num(v) and v >= 0, "a non-negative number", optional=True)
                c.field(lat, "flops", lp, lambda v: _int(v) and v > 0, "a positive integer", optional=True)
        for j, s in enumerate(a.get("sentences") or []):
            sp = f"{path}.sentences[{j}]"
            if c.obj(s, sp):
                for k in ("threads", "batch", "count", "runs"):
                    c.field(s, k, sp, lambda v: _int(v) and v > 0, "a positive integer")
                c.field(s, "shape_handling", sp, lambda v: v in ("dynamic", "buckets"), "'dynamic' or 'buckets'")
                c.field(s, "mean_tokens", sp, lambda v: _num(v) and v > 0, "a positive number")
                c.stats(s.get("ms"), f"{sp}.ms")
        for j, s in enumerate(a.get("skipped") or []):
            sp = f"{path}.skipped[{j}]"
            if c.obj(s, sp):
                c.field(s, "what", sp, lambda v: isinstance(v, str), "a string")
                c.field(s, "reason", sp, lambda v: isinstance(v, str), "a string")

    for j, cmp in enumerate(result.get("comparisons") or []):
        cp = f"comparisons[{j}]"
        if c.obj(cmp, cp):
            for k in ("name", "metric", "numerator", "denominator"):
                c.field(cmp, k, cp, lambda v: isinstance(v, str), "a string")
            c.field(cmp, "value", cp, lambda v: _num(v) and v >= 0, "a non-negative number")
    sr = result.get("sentence_rounds")
    if sr is not None and c.obj(sr, "sentence_rounds"):
        for k in ("threads", "count"):
            c.field(sr, k, "sentence_rounds", lambda v: _int(v) and v > 0, "a positive integer")
        names = sr.get("artifacts")
        if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)):
            c.fail("sentence_rounds.artifacts", "must list two or more distinct artifact names")
        elif not (isinstance(sr.get("rounds"), list) and sr["rounds"]):
            c.fail("sentence_rounds.rounds", "must be a non-empty list")
        else:
            for i, r in enumerate(sr["rounds"]):
                rp = f"sentence_rounds.rounds[{i}]"
                if c.obj(r, rp):
                    c.field(r, "order", rp, lambda v: isinstance(v, list) and sorted(v) == sorted(names), "a permutation of the artifacts")
                    c.field(r, "p50_ms", rp, lambda v: isinstance(v, dict) and set(v) == set(names) and all(_num(x) and x > 0 for x in v.values()),
                            "a positive p50 for every artifact")
            at = sr.get("at_len")
            if at is not None and c.obj(at, "sentence_rounds.at_len"):
                c.field(at, "seq_len", "sentence_rounds.at_len", lambda v: _int(v) and v > 0, "a positive integer")
                c.field(at, "batch", "sentence_rounds.at_len", lambda v: v == 1, "1")
                at_names = at.get("artifacts")
                if not (isinstance(at_names, list) and at_names and all(isinstance(n, str) and n in names for n in at_names)):
                    c.fail("sentence_rounds.at_len.artifacts", "must list one or more of the rounds' artifacts")
                else:
                    for i, r in enumerate(sr["rounds"]):
                        if isinstance(r, dict):
                            c.field(r, "p50_ms_at_len", f"sentence_rounds.rounds[{i}]",
                                    lambda v: isinstance(v, dict) and set(v) == set(at_names) and all(_num(x) and x > 0 for x in v.values()),
                                    "a positive p50 for every artifact of at_len")
    spf = result.get("sentence_profile")
    if spf is not None and c.obj(spf, "sentence_profile"):
        for k in ("seq_len", "threads"):
            c.field(spf, k, "sentence_profile", lambda v: _int(v) and v > 0, "a positive integer")
        profs = spf.get("profiles")
        if not (isinstance(profs, dict) and profs):
            c.fail("sentence_profile.profiles", "must map artifact names to profiles")
        else:
            for name, prof in profs.items():
                pp = f"sentence_profile.profiles.{name}"
                if c.obj(prof, pp):
                    c.field(prof, "wall_ms_p50", pp, lambda v: _num(v) and v > 0, "a positive number")
                    c.field(prof, "sum_node_min_ms", pp, lambda v: _num(v) and v >= 0, "a non-negative number")
                    c.field(prof, "groups", pp, lambda v: isinstance(v, list) and v and all(
                        isinstance(g, dict) and isinstance(g.get("op_type"), str) and _num(g.get("ms")) and _int(g.get("nodes")) for g in v),
                        "a non-empty list of {op_type, nodes, ms}")
    for j, g in enumerate(result.get("goals") or []):
        gp = f"goals[{j}]"
        if c.obj(g, gp):
            c.field(g, "name", gp, lambda v: isinstance(v, str), "a string")
            c.field(g, "target", gp, lambda v: isinstance(v, str), "a string")
            c.field(g, "met", gp, lambda v: isinstance(v, bool), "true, false or null", optional=True)
            c.field(g, "measured", gp, _num, "a number or null", optional=True)
            if "at_most" in g:
                c.field(g, "at_most", gp, lambda v: v is True, "true (or absent)")
    for j, row in enumerate(result.get("goal_table") or []):
        gp = f"goal_table[{j}]"
        if c.obj(row, gp):
            for k in ("artifact", "metric"):
                c.field(row, k, gp, lambda v: isinstance(v, str), "a string")
            c.field(row, "ratio", gp, lambda v: _num(v) and v > 0, "a positive number or null", optional=True)
    for j, p in enumerate(result.get("peers") or []):
        pp = f"peers[{j}]"
        if c.obj(p, pp):
            c.field(p, "name", pp, lambda v: isinstance(v, str), "a string")
            c.field(p, "status", pp, lambda v: v in ("ok", "missing", "failed"), "'ok', 'missing' or 'failed'")
    if "notes" in result and not (isinstance(result["notes"], list) and all(isinstance(n, str) for n in result["notes"])):
        c.fail("notes", "must be a list of strings")
    return c.problems


def validate(result) -> dict:
    """Return `result` unchanged if it follows the schema, else raise SchemaError naming the first problem."""
    found = problems(result)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise SchemaError(f"benchmark result does not follow schema v{SCHEMA_VERSION}: {found[0]}{more}")
    return result


def load_result(path) -> dict:
    """Read and validate a result file."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise AlbertEdgeError(f"benchmark result {p} does not exist")
    from ..fsutil import read_json

    return validate(read_json(p))
