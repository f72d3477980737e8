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

import shutil  # noqa: F401 - tests patch android.shutil.which
from dataclasses import dataclass
from pathlib import Path

from ...errors import AlbertEdgeError
from ...paths import in_checkout
from .adb import Adb, device_host, getprops, parse_adb_devices, pick_device  # noqa: F401
from .app import _wait_for_app_result, parse_meminfo, run_app  # noqa: F401
from .benchmark_model import _stat_line, benchmark_model_command, parse_benchmark_model, run_benchmark_model, stats_from_benchmark_model, tflite_signatures  # noqa: F401
from .constants import APP_ACTIVITY, APP_LOG_TAG, APP_PACKAGE, DEVICE_DIR, MIB, TOOL_NAMES  # noqa: F401
from .results import benchmark_model_result, merge_app_result  # noqa: F401


def _int_list(text, default: list[int], flag: str) -> list[int]:
    # The Android device's core count is not this machine's: no thread bound here.
    from ...options import int_list

    return int_list(text, flag) if text else default


@dataclass
class Options:
    """What `albert-edge bench --android` was asked for, read once from the bench command's arguments."""

    folder: Path
    tool: str
    serial: str | None
    threads: list[int]
    runs: int
    warmup: int
    seq_lens: list[int] | None
    binary: Path | None
    apk: Path | None
    text: str | None
    app_timeout_s: float
    out: Path
    name: str | None
    quiet: bool

    @classmethod
    def from_args(cls, args) -> "Options":
        a = vars(args)  # the bench parser's Namespace, or a partial one from tests
        quick = bool(a.get("quick"))
        folder = Path(a.get("folder") or ".")
        warmup = a.get("warmup")
        tool = a.get("tool") or "benchmark_model"
        if tool not in ("benchmark_model", "app"):
            raise AlbertEdgeError(f"--tool must be benchmark_model or app (got {tool!r})")
        return cls(
            folder=folder,
            tool=tool,
            serial=a.get("serial"),
            threads=_int_list(a.get("threads"), [1, 4] if not quick else [4], "--threads"),
            runs=int(a.get("runs") or (20 if quick else 50)),
            warmup=int(5 if warmup is None else warmup),
            seq_lens=_int_list(a.get("seq_lens"), [], "--seq-lens") or None,
            binary=Path(a["benchmark_model_binary"]) if a.get("benchmark_model_binary") else None,
            # `make apk` builds it in the source checkout; elsewhere pass --apk or use the installed app.
            apk=Path(a["apk"]) if a.get("apk") else in_checkout("android_demo", "build", "albert-edge-demo.apk"),
            text=a.get("text"),
            app_timeout_s=float(a.get("app_timeout") or 900),
            out=Path(a.get("out") or folder / "bench"),
            name=a.get("name"),
            quiet=bool(a.get("quiet")),
        )


def run(args, adb: Adb | None = None) -> int:
    """Entry point of `albert-edge bench --android` (wired in bench_cli). Writes the result JSON,
    report and plots with the desktop benchmark's writer; returns 0."""
    from ...manifest import load_manifest
    from ..report import summary_table
    from ..schema import validate
    from ..suite import write_outputs

    o = Options.from_args(args)
    if o.tool == "benchmark_model":
        if o.binary is None:
            raise AlbertEdgeError("--tool benchmark_model needs --benchmark-model-binary PATH (LiteRT's android_arm64 benchmark_model; see docs/android-bench.md)")
        manifest = load_manifest(o.folder)
    else:
        manifest = load_manifest(o.folder) if (o.folder / "manifest.json").is_file() else None

    if adb is None:
        adb = Adb()
    serial = pick_device(adb, o.serial)
    adb.serial = serial
    host = device_host(adb, serial)
    if not o.quiet:
        print(f"device: {host['device_model']} ({host['cpu_model']}, {host['os']}, {host.get('abi')}) serial {serial}")
    if o.tool == "benchmark_model":
        arts, notes = run_benchmark_model(adb, o.folder, manifest, o.binary, o.seq_lens, o.threads, o.runs, o.warmup, quiet=o.quiet)
        result = benchmark_model_result(host, manifest, o.folder, arts, notes, o.seq_lens, o.threads, o.runs, o.warmup, name=o.name)
    else:
        app, meminfo = run_app(adb, o.apk, o.runs, o.warmup, o.threads[-1], o.text, timeout_s=o.app_timeout_s, quiet=o.quiet)
        result = merge_app_result(app, host, meminfo, o.apk, o.folder if manifest else None, manifest)
    validate(result)
    o.out.mkdir(parents=True, exist_ok=True)
    paths = write_outputs(result, o.out, quiet=o.quiet)
    print(summary_table(result))
    failed = [a["name"] for a in result["artifacts"] if a.get("error")]
    for a in result["artifacts"]:
        for s in a.get("skipped") or []:
            print(f"skipped {a['name']} {s['what']}: {s['reason']}")
    print(f"results: {paths['json']}\nreport:  {paths['report']}")
    if failed and len(failed) == len(result["artifacts"]):
        raise AlbertEdgeError(f"no artifact could be benchmarked on the device ({'; '.join(a['error'] for a in result['artifacts'])[:200]})")
    return 0
