"""`--tool app`: the demo APK's benchmark mode, its JSON and the app process's meminfo."""

from __future__ import annotations

import json
import re
import shlex
import tempfile
import time
from pathlib import Path

from ...errors import AlbertEdgeError
from .adb import Adb
from .constants import APP_PACKAGE, APP_ACTIVITY, APP_LOG_TAG


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
    from ...progress import step

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
