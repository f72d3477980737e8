"""The `Adb` seam (every device access goes through it; tests replay recorded tool outputs) and
identifying the phone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from ...errors import AlbertEdgeError


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
    from ..machine import RELEVANT_FLAGS

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
