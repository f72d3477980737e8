"""`albert-edge bench --android`: benchmark TFLite artifacts on a phone over adb.

Two tools, one result schema (benchmarks/schema.py) and the same report and plots as the desktop
benchmark, tagged with the phone's model, SoC, Android version and ABI:

- `--tool benchmark_model` (default): LiteRT's official `benchmark_model` binary for the phone's
  ABI (the user supplies it with --benchmark-model-binary; it cannot be downloaded here). Each
  TFLite artifact and each signature bucket is run with `--signature_to_run_for`, XNNPACK, the
  requested threads/runs/warm-ups and `--report_peak_memory_footprint`, and its log is parsed.
- `--tool app`: the demo APK's benchmark mode (android_demo/, docs/android.md): installed, started
  with `am start ... --ei runs N`, waited for through logcat, its JSON pulled, plus
  `dumpsys meminfo` of the app process.

All device access goes through `Adb` (shell/push/pull/install/devices); tests swap in a fake that
replays recorded outputs of the real tools (tests/fixtures/android/).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import AlbertEdgeError
from ..paths import in_checkout

DEVICE_DIR = "/data/local/tmp/albert-edge"
APP_PACKAGE = "dev.albertedge.demo"
APP_ACTIVITY = ".MainActivity"
APP_LOG_TAG = "AlbertEdge"
MIB = 1 << 20
TOOL_NAMES = {"benchmark_model": "albert-edge bench --android (benchmark_model)", "app": "albert-edge bench --android (app)"}
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


# -- transport -------------------------------------------------------------------------------------
class Adb:
    """The few adb verbs the benchmark needs, for one device (serial)."""

    def __init__(self, serial: str | None = None, adb: str | None = None, timeout: float = 600.0):
        self.adb = adb or shutil.which("adb")
        if not self.adb:
            raise AlbertEdgeError("adb not found on PATH; install Android platform-tools (apt-get install adb) and connect a phone")
        self.serial = serial
        self.timeout = timeout

    def _run(self, args: list[str], timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [self.adb] + (["-s", self.serial] if self.serial else []) + args
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            raise AlbertEdgeError(f"`adb {' '.join(args)[:80]}` timed out after {timeout or self.timeout:.0f} s") from None
        if check and r.returncode != 0:
            msg = (r.stderr.strip() or r.stdout.strip()).splitlines()
            raise AlbertEdgeError(f"`adb {' '.join(args)[:80]}` failed: {(msg[-1] if msg else f'exit {r.returncode}')[:200]}")
        return r

    def devices(self) -> list[tuple[str, str]]:
        """(serial, state) of every device adb sees: state is device, unauthorized, offline, ..."""
        return parse_adb_devices(self._run(["devices"], timeout=30).stdout)

    def shell(self, command: str, timeout: float | None = None, check: bool = True) -> str:
        """Run `command` with the device's sh; stdout (adb forwards the remote exit status)."""
        r = self._run(["shell", command], timeout=timeout, check=False)
        if check and r.returncode != 0:
            out = (r.stdout.strip() + "\n" + r.stderr.strip()).strip().splitlines()
            raise AlbertEdgeError(f"on the device `{command[:80]}` failed (exit {r.returncode}): {(out[-1] if out else '')[:200]}")
        return r.stdout

    def push(self, local: str | os.PathLike, remote: str) -> None:
        self._run(["push", str(local), remote])

    def pull(self, remote: str, local: str | os.PathLike) -> None:
        self._run(["pull", remote, str(local)])

    def install(self, apk: str | os.PathLike) -> None:
        self._run(["install", "-r", "-g", str(apk)])


def parse_adb_devices(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*")):
            continue
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out


def pick_device(adb: Adb, serial: str | None) -> str:
    """The serial to use, or one clear line saying why there is none."""
    devs = adb.devices()
    if serial:
        state = dict(devs).get(serial)
        if state is None:
            seen = ", ".join(s for s, _ in devs) or "none"
            raise AlbertEdgeError(f"no Android device with serial {serial} (adb sees: {seen})")
        ready = [(serial, state)]
    else:
        ready = devs
    if not ready:
        raise AlbertEdgeError("no Android device attached (adb devices lists none); connect a phone with USB debugging enabled")
    usable = [s for s, st in ready if st == "device"]
    if not usable:
        s, st = ready[0]
        hint = "accept the USB debugging prompt on the phone" if st == "unauthorized" else "reconnect it"
        raise AlbertEdgeError(f"Android device {s} is {st}; {hint}")
    if len(usable) > 1:
        raise AlbertEdgeError(f"{len(usable)} Android devices attached ({', '.join(usable)}); choose one with --serial")
    return usable[0]


# -- device facts ----------------------------------------------------------------------------------
def getprops(adb: Adb) -> dict[str, str]:
    """All system properties (`getprop` prints `[key]: [value]` lines)."""
    props = {}
    for m in re.finditer(r"^\[([^\]]+)\]: \[(.*)\]\s*$", adb.shell("getprop"), re.M):
        props[m.group(1)] = m.group(2)
    return props


def device_host(adb: Adb, serial: str) -> dict:
    """The schema's `host` object for a phone (platform "android")."""
    from .machine import RELEVANT_FLAGS

    p = getprops(adb)
    model = " ".join(x for x in (p.get("ro.product.manufacturer", ""), p.get("ro.product.model", "")) if x).strip() or "android device"
    soc_model = p.get("ro.soc.model") or ""
    soc = " ".join(x for x in (p.get("ro.soc.manufacturer", ""), soc_model) if x).strip()
    platform_ = p.get("ro.board.platform") or p.get("ro.hardware") or ""
    cpuinfo = adb.shell("cat /proc/cpuinfo", check=False)
    features: set[str] = set()
    cores = 0
    for line in cpuinfo.splitlines():
        key, _, val = line.partition(":")
        key = key.strip().lower()
        if key == "features":
            features.update(val.split())
        elif key == "processor":
            cores += 1
    try:
        cores = int(adb.shell("nproc", check=False).strip() or 0) or cores
    except ValueError:
        pass
    ram = None
    m = re.search(r"^MemTotal:\s+(\d+) kB", adb.shell("cat /proc/meminfo", check=False), re.M)
    if m:
        ram = int(m.group(1)) * 1024
    host = {
        "platform": "android",
        "hostname": re.sub(r"[^A-Za-z0-9_.-]+", "-", p.get("ro.product.model") or p.get("ro.product.device") or serial).strip("-") or "android",
        "cpu_model": soc or platform_ or "unknown SoC",
        "cpu_flags": [f for f in RELEVANT_FLAGS if f in features],
        "cores_logical": max(1, cores),
        "os": f"Android {p.get('ro.build.version.release', '?')} (API {p.get('ro.build.version.sdk', '?')})",
        "device_model": model,
        "soc": soc or None,
        "board_platform": platform_ or None,
        "android_version": p.get("ro.build.version.release"),
        "sdk": p.get("ro.build.version.sdk"),
        "abi": p.get("ro.product.cpu.abi"),
        "serial": serial,
        "build_fingerprint": p.get("ro.build.fingerprint"),
    }
    if ram:
        host["ram_bytes"] = ram
    return host


# -- benchmark_model ---------------------------------------------------------------------------------
_NUM = r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"


def _stat_line(line: str) -> dict | None:
    """tensorflow/core/util/stats_calculator.h Stat::OutputToStream: `count=N first=.. curr=.. min=..
    max=.. avg=.. std=..` (newer builds append `p5=.. median=.. p95=..`); `count=N curr=X(all same)`
    when every sample was equal."""
    body = line.split("INFO:", 1)[-1].strip()
    if not body.startswith("count="):
        return None
    vals = {k: float(v) for k, v in re.findall(rf"(\w+)=({_NUM})", body)}
    if "count" not in vals:
        return None
    if "(all same)" in body or ("curr" in vals and "min" not in vals):
        c = vals.get("curr", 0.0)
        vals.update({"min": c, "max": c, "avg": c, "std": 0.0, "first": vals.get("first", c)})
    vals["count"] = int(vals["count"])
    return vals


def parse_benchmark_model(text: str) -> dict:
    """Parse benchmark_model's log (its INFO:/WARN:/ERROR: lines, tensorflow/lite/tools/logging.h).

    Returns init/first/warm-up/inference times (us), the warm-up and timed-run statistics, model
    size, memory lines and the signature used. Raises AlbertEdgeError on a failed run.
    """
    errors = [ln.split("ERROR:", 1)[1].strip() for ln in text.splitlines() if ln.startswith("ERROR:")]
    fatal = [ln.split("FATAL:", 1)[1].strip() for ln in text.splitlines() if ln.startswith("FATAL:")]
    m = re.search(rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), Warmup \(avg\): ({_NUM}|nan|-nan), Inference \(avg\): ({_NUM}|nan|-nan)", text)
    if not m:
        # The first ERROR line says what went wrong; the last is benchmark_main's "Benchmarking failed."
        why = (fatal or errors or [ln.strip() for ln in text.strip().splitlines()[-1:]] or ["no output"])[0]
        raise AlbertEdgeError(f"benchmark_model did not finish: {why[:200]}")

    def num(s: str) -> float | None:
        return None if "nan" in s else float(s)

    out: dict = {
        "init_us": float(m.group(1)),
        "first_inference_us": float(m.group(2)),
        "warmup_avg_us": num(m.group(3)),
        "inference_avg_us": num(m.group(4)),
        "errors": errors,
    }
    stats = [s for s in (_stat_line(ln) for ln in text.splitlines()) if s is not None]
    # Run() logs one stat line per phase: warm-up first, then the timed runs.
    if len(stats) >= 2:
        out["warmup"], out["inference"] = stats[-2], stats[-1]
    elif stats:
        out["inference"] = stats[-1]
    for key, pat in (
        ("model_size_mb", rf"The input model file size \(MB\): ({_NUM})"),
        ("init_ms", rf"Initialized session in ({_NUM}) ?ms"),
        ("peak_memory_mb", rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUM})"),
        ("vmrss_mb", rf"- VmRSS\s*: ({_NUM}) MB"),
    ):
        mm = re.search(pat, text)
        if mm:
            out[key] = float(mm.group(1))
    mm = re.search(rf"Memory footprint delta from the start of the tool \(MB\): init=({_NUM}) overall=({_NUM})", text)
    if mm:
        out["memory_delta_init_mb"], out["memory_delta_overall_mb"] = float(mm.group(1)), float(mm.group(2))
    mm = re.search(r"Using signature: (\S+)", text) or re.search(r"Signature to run: \[([^\]]*)\]", text)
    if mm:
        out["signature"] = mm.group(1)
    mm = re.search(r"#threads used for CPU inference: \[(\d+)\]|Num threads: \[(-?\d+)\]", text)
    if mm:
        out["threads"] = int(mm.group(1) or mm.group(2))
    out["tensor_name_warnings"] = re.findall(r"Tensor # ?(\d+) is named (\S+) but flags call it (\S+)", text)
    return out


def stats_from_benchmark_model(s: dict) -> tuple[dict, str]:
    """The schema's STATS (ms) from benchmark_model's summary, and how each field was filled.

    benchmark_model does not print its samples: it reports count/min/max/avg/std and, in newer
    builds, p5/median/p95. So p50 is its median (else its mean), p10/p90 its p5/p95 (else min/max:
    a wider, not a made-up, spread), p99 its max, iqr 1.349·std (the normal-distribution IQR).
    """
    ms = lambda us: us / 1000.0  # noqa: E731
    has_pct = "median" in s
    p50 = s["median"] if has_pct else s["avg"]
    p10 = s["p5"] if "p5" in s else s["min"]
    p90 = s["p95"] if "p95" in s else s["max"]
    p10, p90 = min(p10, p50), max(p90, p50)  # keep the schema's ordering if a summary rounds oddly
    p99 = max(s["max"], p90)
    stats = {
        "p10": ms(p10), "p50": ms(p50), "p90": ms(p90), "p99": ms(p99),
        "mean": ms(s["avg"]), "min": ms(s["min"]), "max": ms(s["max"]),
        "iqr": ms(1.349 * s.get("std", 0.0)), "n": int(s["count"]),
    }
    how = "p50=median, p10/p90=p5/p95" if has_pct else "p50=mean, p10/p90=min/max"
    return stats, f"from benchmark_model's summary ({how}, p99=max, iqr=1.349*std)"


def tflite_signatures(path: Path) -> list[dict]:
    """[{key, seq_len, inputs: names in subgraph order}] read from the model file itself.

    benchmark_model matches --input_layer entries to the signature subgraph's inputs by position,
    so the order must be the subgraph's (tensor index order), not the signature map's (sorted).
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    sigs = []
    for key in interp.get_signature_list():
        details = interp.get_signature_runner(key).get_input_details()
        names = sorted(details, key=lambda n: int(details[n]["index"]))
        if not set(INPUT_NAMES) <= set(names):
            continue
        sigs.append({"key": key, "seq_len": int(details["input_ids"]["shape"][1]), "inputs": names})
    if not sigs:
        raise AlbertEdgeError(f"{path} has no signature with inputs {', '.join(INPUT_NAMES)}")
    return sorted(sigs, key=lambda s: s["seq_len"])


def benchmark_model_command(binary: str, graph: str, sig: dict, threads: int, runs: int, warmup: int, vocab_size: int) -> str:
    """The device command line. Inputs are given explicitly: by default benchmark_model fills int32
    inputs with random values in [0, 99], which puts token_type_ids outside ALBERT's 2 types."""
    L = sig["seq_len"]
    ranges = {"input_ids": f"5,{max(5, vocab_size - 1)}", "attention_mask": "1,1", "token_type_ids": "0,0"}
    flags = [
        f"--graph={graph}",
        f"--signature_to_run_for={sig['key']}",
        f"--num_threads={threads}",
        "--use_xnnpack=true",
        f"--num_runs={runs}",
        f"--warmup_runs={warmup}",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--report_peak_memory_footprint=true",
        "--input_layer=" + ",".join(sig["inputs"]),
        "--input_layer_shape=" + ":".join(f"1,{L}" for _ in sig["inputs"]),
        "--input_layer_value_range=" + ":".join(f"{n},{ranges[n]}" for n in sig["inputs"]),
    ]
    return " ".join(shlex.quote(x) for x in [binary, *flags])


def _check_input_order(parsed: dict, sig: dict) -> None:
    """benchmark_model warns when a flag's input name differs from the tensor at that position;
    our tensors are named like `seq_32_input_ids`, so each flag name must end the tensor's name."""
    for _, tensor, flag in parsed.get("tensor_name_warnings", []):
        if not re.sub(r":\d+$", "", tensor).endswith(flag):
            raise AlbertEdgeError(f"benchmark_model bound input {flag!r} to tensor {tensor!r} in signature {sig['key']}: input order mismatch")


def run_benchmark_model(adb: Adb, folder: Path, manifest: dict, binary: Path, seq_lens: list[int] | None, threads_list: list[int], runs: int, warmup: int, files: list[str] | None = None, quiet: bool = False) -> tuple[list[dict], list[str]]:
    """Push the binary and each TFLite artifact, run every (signature, threads), parse -> artifacts[]."""
    from ..progress import step

    binary = Path(binary)
    if not binary.is_file():
        raise AlbertEdgeError(f"benchmark_model binary {binary} does not exist (build or download LiteRT's android_arm64 benchmark_model)")
    head = binary.read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        raise AlbertEdgeError(f"{binary} is not an ELF executable (expected LiteRT's benchmark_model for Android)")
    if head[18] != 183:  # e_machine EM_AARCH64, little-endian low byte
        raise AlbertEdgeError(f"{binary} is not an arm64 (aarch64) executable; use the android_arm64 benchmark_model")
    entries = [a for a in manifest["artifacts"] if a["format"] == "tflite" and (not files or a["file"] in files)]
    if not entries:
        raise AlbertEdgeError(f"{folder} has no TFLite artifacts (run `albert-edge export tflite` first)")
    vocab = int(manifest.get("model", {}).get("vocab_size") or 30000)
    try:
        from .flops import Shape

        shape = Shape.from_config({**manifest["model"], "num_labels": len(manifest.get("labels") or []) or 2})
    except (KeyError, TypeError, ValueError):
        shape = None  # GFLOP/s is a nicety; a manifest without the model block still benchmarks
    dev_bin = f"{DEVICE_DIR}/benchmark_model"
    adb.shell(f"mkdir -p {DEVICE_DIR}")
    with step(f"pushing {binary.name} to {DEVICE_DIR}", quiet):
        adb.push(binary, dev_bin)
        adb.shell(f"chmod 755 {dev_bin}")
    notes: list[str] = []
    arts = []
    for e in entries:
        from ..integrity import verified_path

        local = verified_path(folder, e)  # the bytes pushed to the phone are the ones the manifest describes
        sigs = tflite_signatures(local)
        chosen = [s for s in sigs if not seq_lens or s["seq_len"] in seq_lens]
        art = {
            "name": f"tflite-{e['precision']}",
            "format": "tflite",
            "precision": e["precision"],
            "role": "ours",
            "file": e["file"],
            "bytes": local.stat().st_size,
            "load_s": None,
            "memory": [],
            "latency": [],
            "sentences": [],
            "skipped": [{"what": f"seq_len {L}", "reason": "no signature bucket of that length"} for L in (seq_lens or []) if L not in {s["seq_len"] for s in sigs}],
            "error": None,
            "info": {"tool": "benchmark_model", "use_xnnpack": True, "sha256": e.get("sha256"), "runs": []},
        }
        remote = f"{DEVICE_DIR}/{e['file']}"
        with step(f"pushing {e['file']}", quiet):
            adb.push(local, remote)
        for sig in chosen:
            for t in threads_list:
                cmd = benchmark_model_command(dev_bin, remote, sig, t, runs, warmup, vocab)
                with step(f"benchmark_model {e['file']} {sig['key']} threads={t}", quiet):
                    text = adb.shell(cmd + " 2>&1", check=False, timeout=max(600.0, runs * 5.0))
                try:
                    parsed = parse_benchmark_model(text)
                    _check_input_order(parsed, sig)
                except AlbertEdgeError as err:
                    art["skipped"].append({"what": f"{sig['key']} threads={t}", "reason": str(err)})
                    continue
                _add_benchmark_model_run(art, parsed, sig, t, warmup, shape)
        if not art["latency"]:
            art["error"] = "; ".join(s["reason"] for s in art["skipped"]) or "nothing was run"
        arts.append(art)
    adb.shell(f"rm -f {DEVICE_DIR}/*.tflite", check=False)
    notes.append("Android latency from LiteRT benchmark_model (random token ids, attention mask all ones); "
                 "its log gives count/min/max/avg/std (p5/median/p95 in newer builds), not raw samples, see each entry's stats_source")
    return arts, notes


def _add_benchmark_model_run(art: dict, parsed: dict, sig: dict, threads: int, warmup: int, shape=None) -> None:
    inf = parsed.get("inference")
    if inf is None:
        raise AlbertEdgeError("benchmark_model printed no statistics line for the timed runs")
    stats, how = stats_from_benchmark_model(inf)
    lat = {"seq_len": sig["seq_len"], "batch": 1, "threads": threads, "runs": int(inf["count"]), "warmup": warmup,
           "ms": stats, "stats_source": how, "signature": sig["key"], "first_inference_ms": parsed["first_inference_us"] / 1000.0}
    if shape is not None and stats["p50"] > 0:
        from .flops import forward_flops

        lat["flops"] = int(forward_flops(shape, sig["seq_len"]))
        lat["gflops_per_s"] = lat["flops"] / (stats["p50"] / 1000.0) / 1e9
    art["latency"].append(lat)
    load_s = parsed["init_us"] / 1e6
    art["load_s"] = load_s if art["load_s"] is None else min(art["load_s"], load_s)
    peak_mb = parsed.get("peak_memory_mb") or parsed.get("vmrss_mb")
    if peak_mb and "memory_delta_overall_mb" in parsed:
        growth = int(parsed["memory_delta_overall_mb"] * MIB)
        peak = int(peak_mb * MIB)
        base = max(1, peak - growth)
        art["memory"].append(
            {"variant": "default", "threads": threads, "rss_baseline_bytes": base,
             "rss_after_load_bytes": max(1, base + int(parsed.get("memory_delta_init_mb", 0.0) * MIB)),
             "peak_rss_bytes": peak, "rss_growth_bytes": growth, "load_s": load_s, "seq_len": sig["seq_len"],
             "info": {"source": "benchmark_model --report_peak_memory_footprint (approximate, says the tool)",
                      "delta_init_mb": parsed.get("memory_delta_init_mb"), "delta_overall_mb": parsed["memory_delta_overall_mb"],
                      "peak_mb": parsed.get("peak_memory_mb"), "vmrss_end_mb": parsed.get("vmrss_mb")}}
        )
    art["info"]["runs"].append({k: parsed.get(k) for k in ("signature", "init_us", "first_inference_us", "warmup_avg_us", "inference_avg_us", "model_size_mb")} | {"threads": threads})


# -- the demo app --------------------------------------------------------------------------------------
def parse_meminfo(text: str) -> dict:
    """`dumpsys meminfo PKG` -> {pid, total_pss_kb, total_rss_kb, native_heap_pss_kb, java_heap_pss_kb}."""
    if re.search(r"No process found for", text):
        raise AlbertEdgeError("dumpsys meminfo found no running app process (the app exited before memory was read)")
    out: dict = {}
    m = re.search(r"\*\* MEMINFO in pid (\d+) \[([^\]]+)\] \*\*", text)
    if m:
        out["pid"], out["process"] = int(m.group(1)), m.group(2)
    for key, pat in (
        ("total_pss_kb", r"TOTAL PSS:\s+(\d+)"),
        ("total_rss_kb", r"TOTAL RSS:\s+(\d+)"),
        ("native_heap_pss_kb", r"^\s*Native Heap:\s+(\d+)"),
        ("java_heap_pss_kb", r"^\s*Java Heap:\s+(\d+)"),
        ("graphics_pss_kb", r"^\s*Graphics:\s+(\d+)"),
    ):
        mm = re.search(pat, text, re.M)
        if mm:
            out[key] = int(mm.group(1))
    if "total_pss_kb" not in out:
        # Older Android versions have no App Summary: the TOTAL row's first column is the PSS.
        mm = re.search(r"^\s*TOTAL\s+(\d+)", text, re.M)
        if not mm:
            raise AlbertEdgeError("could not read TOTAL PSS from dumpsys meminfo")
        out["total_pss_kb"] = int(mm.group(1))
    return out


def _wait_for_app_result(adb: Adb, timeout_s: float, poll_s: float = 2.0) -> str:
    """Poll logcat for the app's result/error line; returns the device path of the JSON."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = adb.shell(f"logcat -d -s {APP_LOG_TAG}:*", check=False)
        m = re.search(r"ALBERT_EDGE_BENCH_ERROR\s*(.*)", log)
        if m:
            raise AlbertEdgeError(f"the app's benchmark failed: {m.group(1).strip()[:200] or 'no message'}")
        m = re.search(r"ALBERT_EDGE_BENCH_RESULT\s+(\S+)", log)
        if m:
            return m.group(1)
        if time.monotonic() >= deadline:
            raise AlbertEdgeError(f"the app wrote no benchmark result within {timeout_s:.0f} s (see `adb logcat -s {APP_LOG_TAG}`)")
        time.sleep(poll_s)


def _read_app_file(adb: Adb, path: str) -> str:
    """App-private files (files/…) are readable with run-as on debuggable builds; others are pulled."""
    m = re.match(rf"^/data/(?:user/\d+|data)/{re.escape(APP_PACKAGE)}/(.+)$", path)
    if m:
        text = adb.shell(f"run-as {APP_PACKAGE} cat {shlex.quote(m.group(1))}", check=False)
        if text.lstrip().startswith("{"):
            return text
        raise AlbertEdgeError(f"cannot read {path} from the app's private storage ({text.strip()[:120] or 'run-as failed'}); install a debuggable build of the demo APK")
    with tempfile.TemporaryDirectory() as d:
        local = Path(d) / "result.json"
        adb.pull(path, local)
        return local.read_text(encoding="utf-8")


def run_app(adb: Adb, apk: Path | None, runs: int, warmup: int, threads: int, text: str | None, timeout_s: float, quiet: bool = False) -> tuple[dict, dict]:
    """Install (if given) and start the demo app's benchmark mode; -> (app result, meminfo)."""
    from ..progress import step

    if apk is not None:
        if not Path(apk).is_file():
            raise AlbertEdgeError(f"demo APK {apk} does not exist (build it with android_demo/build_apk.sh)")
        with step(f"installing {Path(apk).name}", quiet):
            adb.install(apk)
    elif APP_PACKAGE not in adb.shell(f"pm path {APP_PACKAGE}", check=False):
        raise AlbertEdgeError(f"the demo app ({APP_PACKAGE}) is not installed and no APK was found; build it with android_demo/build_apk.sh")
    out_name = f"bench-{int(time.time())}.json"
    adb.shell(f"am force-stop {APP_PACKAGE}", check=False)
    adb.shell("logcat -c", check=False)
    start = ["am", "start", "-W", "-n", f"{APP_PACKAGE}/{APP_ACTIVITY}", "--ei", "runs", str(runs), "--ei", "warmup", str(warmup), "--ei", "threads", str(threads), "--es", "out", out_name]
    if text:
        start += ["--es", "text", text]
    with step(f"app benchmark mode ({runs} runs per bucket, {threads} threads)", quiet):
        res = adb.shell(" ".join(shlex.quote(x) for x in start), check=False)
        if re.search(r"^Error", res, re.M):
            raise AlbertEdgeError(f"`am start` failed: {[ln for ln in res.splitlines() if ln.startswith('Error')][0][:200]}")
        path = _wait_for_app_result(adb, timeout_s)
    result = json.loads(_read_app_file(adb, path))
    meminfo = parse_meminfo(adb.shell(f"dumpsys meminfo {APP_PACKAGE}", check=False))
    return result, meminfo


# -- assembling ----------------------------------------------------------------------------------------
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
    from .schema import KIND, SCHEMA_VERSION

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
    from .machine import versions

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


def _int_list(text, default: list[int], flag: str) -> list[int]:
    # The Android device's core count is not this machine's: no thread bound here.
    from ..options import int_list

    return int_list(text, flag) if text else default


def run(args, adb: Adb | None = None) -> int:
    """Entry point of `albert-edge bench --android` (wired in bench_cli). Writes the result JSON,
    report and plots with the desktop benchmark's writer; returns 0."""
    from ..manifest import load_manifest
    from .report import summary_table
    from .schema import validate
    from .suite import write_outputs

    tool = getattr(args, "tool", None) or "benchmark_model"
    quiet = bool(getattr(args, "quiet", False))
    quick = bool(getattr(args, "quick", False))
    threads_list = _int_list(getattr(args, "threads", None), [1, 4] if not quick else [4], "--threads")
    runs = int(getattr(args, "runs", None) or (20 if quick else 50))
    warmup = getattr(args, "warmup", None)
    warmup = int(5 if warmup is None else warmup)
    seq_lens = _int_list(getattr(args, "seq_lens", None), [], "--seq-lens") or None
    folder = Path(getattr(args, "folder", None) or ".")
    binary = getattr(args, "benchmark_model_binary", None)
    if tool == "benchmark_model":
        if not binary:
            raise AlbertEdgeError("--tool benchmark_model needs --benchmark-model-binary PATH (LiteRT's android_arm64 benchmark_model; see docs/android-bench.md)")
        manifest = load_manifest(folder)
    elif tool == "app":
        manifest = load_manifest(folder) if (folder / "manifest.json").is_file() else None
    else:
        raise AlbertEdgeError(f"--tool must be benchmark_model or app (got {tool!r})")

    if adb is None:
        adb = Adb()
    serial = pick_device(adb, getattr(args, "serial", None))
    adb.serial = serial
    host = device_host(adb, serial)
    if not quiet:
        print(f"device: {host['device_model']} ({host['cpu_model']}, {host['os']}, {host.get('abi')}) serial {serial}")
    if tool == "benchmark_model":
        arts, notes = run_benchmark_model(adb, folder, manifest, Path(binary), seq_lens, threads_list, runs, warmup, quiet=quiet)
        result = benchmark_model_result(host, manifest, folder, arts, notes, seq_lens, threads_list, runs, warmup, name=getattr(args, "name", None))
    else:
        apk = getattr(args, "apk", None)
        # `make apk` builds it in the source checkout; elsewhere pass --apk or use the installed app.
        apk = Path(apk) if apk else in_checkout("android_demo", "build", "albert-edge-demo.apk")
        app, meminfo = run_app(adb, apk, runs, warmup, threads_list[-1], getattr(args, "text", None), timeout_s=float(getattr(args, "app_timeout", None) or 900), quiet=quiet)
        result = merge_app_result(app, host, meminfo, apk, folder if manifest else None, manifest)
    validate(result)
    out_dir = Path(getattr(args, "out", None) or folder / "bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = write_outputs(result, out_dir, quiet=quiet)
    print(summary_table(result))
    failed = [a["name"] for a in result["artifacts"] if a.get("error")]
    for a in result["artifacts"]:
        for s in a.get("skipped") or []:
            print(f"skipped {a['name']} {s['what']}: {s['reason']}")
    print(f"results: {paths['json']}\nreport:  {paths['report']}")
    if failed and len(failed) == len(result["artifacts"]):
        raise AlbertEdgeError(f"no artifact could be benchmarked on the device ({'; '.join(a['error'] for a in result['artifacts'])[:200]})")
    return 0
