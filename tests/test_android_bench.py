"""`albert-edge bench --android` (benchmarks/android.py) against a fake adb that replays recorded
outputs of the real tools (tests/fixtures/android/, formats documented in its README.md)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest

from albert_edge.benchmarks import android
from albert_edge.benchmarks.schema import problems
from albert_edge.errors import AlbertEdgeError

FIX = Path(__file__).parent / "fixtures" / "android"


def fixture(name: str) -> str:
    """A recorded output without its leading `# ` provenance lines."""
    lines = (FIX / name).read_text(encoding="utf-8").splitlines(keepends=True)
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "".join(lines)


class FakeAdb:
    """Stands in for `android.Adb`: shell commands are answered by the first matching rule
    (regex -> text or callable(command) -> text); push/pull/install are recorded."""

    def __init__(self, rules: list[tuple[str, object]], devices: str = "adb_devices_one.txt", files: dict[str, str] | None = None):
        self.rules = rules
        self.devices_text = fixture(devices)
        self.files = files or {}
        self.serial = None
        self.calls: list[tuple] = []

    def devices(self):
        return android.parse_adb_devices(self.devices_text)

    def shell(self, command: str, timeout=None, check: bool = True) -> str:
        self.calls.append(("shell", command))
        for pat, answer in self.rules:
            if re.search(pat, command):
                return answer(command) if callable(answer) else answer
        raise AssertionError(f"unexpected adb shell command: {command}")

    def push(self, local, remote):
        assert Path(local).is_file(), local
        self.calls.append(("push", str(local), remote))

    def pull(self, remote, local):
        self.calls.append(("pull", remote, str(local)))
        Path(local).write_text(self.files[remote], encoding="utf-8")

    def install(self, apk):
        self.calls.append(("install", str(apk)))

    def shells(self, pattern: str) -> list[str]:
        return [c[1] for c in self.calls if c[0] == "shell" and re.search(pattern, c[1])]


DEVICE_RULES = [
    (r"^getprop$", fixture("getprop_pixel7.txt")),
    (r"^cat /proc/cpuinfo$", fixture("cpuinfo_tensor_g2.txt")),
    (r"^cat /proc/meminfo$", fixture("proc_meminfo.txt")),
    (r"^nproc$", "8\n"),
]


# ------------------------------------------------------------------------------------- parsing


def test_parse_benchmark_model_with_percentiles_and_memory():
    p = android.parse_benchmark_model(fixture("benchmark_model_int8_seq32.txt"))
    assert p["init_us"] == 61418 and p["first_inference_us"] == 41873
    assert p["warmup_avg_us"] == pytest.approx(21986.2) and p["inference_avg_us"] == pytest.approx(17198.3)
    assert p["warmup"]["count"] == 5 and p["inference"]["count"] == 50
    assert p["inference"]["median"] == 17061 and p["inference"]["p95"] == 18233
    assert p["model_size_mb"] == pytest.approx(13.4732) and p["init_ms"] == pytest.approx(61.418)
    assert p["memory_delta_init_mb"] == pytest.approx(31.7305) and p["memory_delta_overall_mb"] == pytest.approx(36.9883)
    assert p["peak_memory_mb"] == pytest.approx(41.2109) and p["vmrss_mb"] == 41
    assert p["signature"] == "seq_32" and p["threads"] == 4
    stats, how = android.stats_from_benchmark_model(p["inference"])
    assert stats == {"p10": 16.748, "p50": 17.061, "p90": 18.233, "p99": 19.876, "mean": pytest.approx(17.1983), "min": 16.702,
                     "max": 19.876, "iqr": pytest.approx(1.349 * 0.512), "n": 50}
    assert "median" in how


def test_parse_older_benchmark_model_without_percentiles_or_peak_memory():
    p = android.parse_benchmark_model(fixture("benchmark_model_fp32_seq32_older.txt"))
    assert p["inference"]["count"] == 50 and "median" not in p["inference"]
    assert "peak_memory_mb" not in p and "memory_delta_overall_mb" not in p
    stats, how = android.stats_from_benchmark_model(p["inference"])
    # No percentiles printed: p50 is the mean and p10/p90 widen to min/max rather than being invented.
    assert stats["p50"] == pytest.approx(61.4027) and stats["p10"] == 60.512 and stats["p90"] == 66.94
    assert "p50=mean" in how


def test_parse_benchmark_model_failure_names_the_first_error():
    with pytest.raises(AlbertEdgeError, match="Signature not specified or incorrect"):
        android.parse_benchmark_model(fixture("benchmark_model_error_signature.txt"))
    with pytest.raises(AlbertEdgeError, match="did not finish"):
        android.parse_benchmark_model("")


def test_stat_line_all_same():
    s = android._stat_line("INFO: count=3 curr=1500(all same)")
    assert s["count"] == 3 and s["min"] == s["max"] == s["avg"] == 1500 and s["std"] == 0


def test_parse_dumpsys_meminfo():
    m = android.parse_meminfo(fixture("dumpsys_meminfo_app.txt"))
    assert m == {"pid": 23871, "process": "dev.albertedge.demo", "total_pss_kb": 59271, "total_rss_kb": 146556,
                 "native_heap_pss_kb": 31220, "java_heap_pss_kb": 4592, "graphics_pss_kb": 0}
    old = "** MEMINFO in pid 77 [dev.albertedge.demo] **\n                 Pss\n        TOTAL    41000    30000\n"
    assert android.parse_meminfo(old)["total_pss_kb"] == 41000
    with pytest.raises(AlbertEdgeError, match="no running app process"):
        android.parse_meminfo("No process found for: dev.albertedge.demo\n")


# ------------------------------------------------------------------------------------- devices


@pytest.mark.parametrize(
    "devices,serial,message",
    [
        ("adb_devices_none.txt", None, "no Android device attached"),
        ("adb_devices_unauthorized.txt", None, "unauthorized; accept the USB debugging prompt"),
        ("adb_devices_two.txt", None, "choose one with --serial"),
        ("adb_devices_one.txt", "ZX1G22", "no Android device with serial ZX1G22"),
    ],
)
def test_device_selection_errors(devices, serial, message):
    with pytest.raises(AlbertEdgeError, match=message):
        android.pick_device(FakeAdb([], devices=devices), serial)


def test_device_selection_picks_the_usable_device():
    assert android.pick_device(FakeAdb([]), None) == "28031FDH2006R3"
    assert android.pick_device(FakeAdb([], devices="adb_devices_two.txt"), "emulator-5554") == "emulator-5554"


def test_no_adb_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(android.shutil, "which", lambda name: None)
    with pytest.raises(AlbertEdgeError, match="adb not found"):
        android.Adb()


def test_device_host_from_getprop():
    host = android.device_host(FakeAdb(DEVICE_RULES), "28031FDH2006R3")
    assert host["platform"] == "android" and host["device_model"] == "Google Pixel 7"
    assert host["cpu_model"] == "Google GS201" and host["board_platform"] == "gs201"
    assert host["os"] == "Android 14 (API 34)" and host["abi"] == "arm64-v8a"
    assert host["cores_logical"] == 8 and host["ram_bytes"] == 7755196 * 1024
    assert "asimddp" in host["cpu_flags"] and "avx2" not in host["cpu_flags"]
    assert host["hostname"] == "Pixel-7"


# ------------------------------------------------------------------------------------- benchmark_model


@pytest.fixture(scope="module")
def tflite_folder(tmp_path_factory):
    """An artifacts folder whose .tflite files have the real signature layout (two buckets,
    inputs input_ids/attention_mask/token_type_ids); a trivial graph keeps conversion quick."""
    import litert_torch
    import torch

    class M(torch.nn.Module):
        def forward(self, input_ids, attention_mask, token_type_ids):
            return (input_ids + attention_mask + token_type_ids).float().sum(-1, keepdim=True)

    def kw(L):
        return {n: torch.zeros((1, L), dtype=torch.int32) for n in ("input_ids", "attention_mask", "token_type_ids")}

    folder = tmp_path_factory.mktemp("android-art")
    m = M().eval()
    litert_torch.signature("seq_16", m, sample_kwargs=kw(16)).signature("seq_32", m, sample_kwargs=kw(32)).convert().export(str(folder / "model.tflite"))
    shutil.copyfile(folder / "model.tflite", folder / "model.int8.tflite")
    from albert_edge.fsutil import sha256_file

    def entry(file, precision):
        p = folder / file
        return {"file": file, "format": "tflite", "precision": precision, "bytes": p.stat().st_size, "sha256": sha256_file(p), "inputs": [], "outputs": []}

    manifest = {
        "format_version": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "source": {"model_dir": str(folder / "albert-tiny"), "weights_file": "model.safetensors", "weights_sha256": "c" * 64},
        "model": {"model_type": "albert", "hidden_size": 32, "embedding_size": 16, "num_hidden_layers": 3, "num_hidden_groups": 1, "inner_group_num": 1,
                  "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu_new", "vocab_size": 30000, "unique_parameters": 492322},
        "labels": ["negative", "positive"],
        "max_seq_length": 32,
        "tokenizer": {"files": [], "do_lower_case": True, "cls_id": 2, "sep_id": 3, "pad_id": 0, "unk_id": 1},
        "tools": {},
        "files": {},
        "artifacts": [entry("model.tflite", "fp32"), entry("model.int8.tflite", "int8")],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def fake_arm64_binary(path: Path, machine: int = 183) -> Path:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5] = 2, 1  # 64-bit, little-endian
    header[18] = machine  # EM_AARCH64 = 183, EM_X86_64 = 62
    path.write_bytes(bytes(header))
    return path


def bm_answer(int8_text: str = "benchmark_model_int8_seq32.txt", fp32_text: str = "benchmark_model_fp32_seq32_older.txt"):
    def answer(command: str) -> str:
        sig = re.search(r"--signature_to_run_for=(\S+)", command).group(1)
        text = fixture(int8_text if "model.int8.tflite" in command else fp32_text)
        return text.replace("seq_32", sig)

    return answer


def bench_args(folder, out, **kw):
    base = dict(folder=str(folder), android=True, serial=None, tool="benchmark_model", benchmark_model_binary=None, seq_lens=None,
                threads="4", runs=50, warmup=5, quick=False, out=str(out), name=None, quiet=True)
    base.update(kw)
    return argparse.Namespace(**base)


def test_benchmark_model_path_end_to_end(tflite_folder, tmp_path):
    binary = fake_arm64_binary(tmp_path / "benchmark_model")
    adb = FakeAdb(DEVICE_RULES + [(r"^mkdir -p|^chmod 755|^rm -f", ""), (r"/benchmark_model ", bm_answer())])
    args = bench_args(tflite_folder, tmp_path / "results", benchmark_model_binary=str(binary), seq_lens="16")
    assert android.run(args, adb=adb) == 0

    pushes = [c for c in adb.calls if c[0] == "push"]
    assert ("push", str(binary), "/data/local/tmp/albert-edge/benchmark_model") in pushes
    assert {c[2] for c in pushes} >= {"/data/local/tmp/albert-edge/model.tflite", "/data/local/tmp/albert-edge/model.int8.tflite"}
    runs = adb.shells(r"/benchmark_model ")
    assert len(runs) == 2  # one signature (seq_lens=16) x one thread count x two artifacts
    cmd = runs[0]
    for flag in ("--signature_to_run_for=seq_16", "--num_threads=4", "--use_xnnpack=true", "--num_runs=50", "--warmup_runs=5",
                 "--report_peak_memory_footprint=true", "--input_layer=input_ids,attention_mask,token_type_ids",
                 "--input_layer_shape=1,16:1,16:1,16", "--input_layer_value_range=input_ids,5,29999:attention_mask,1,1:token_type_ids,0,0"):
        assert flag in cmd, flag

    files = sorted((tmp_path / "results").glob("*.json"))
    assert len(files) == 1
    result = json.loads(files[0].read_text())
    assert problems(result) == []
    assert result["host"]["platform"] == "android" and result["host"]["device_model"] == "Google Pixel 7"
    assert result["tool"] == "albert-edge bench --android (benchmark_model)"
    arts = {a["name"]: a for a in result["artifacts"]}
    q, f = arts["tflite-int8"], arts["tflite-fp32"]
    assert q["latency"][0]["seq_len"] == 16 and q["latency"][0]["ms"]["p50"] == pytest.approx(17.061)
    assert f["latency"][0]["ms"]["p50"] == pytest.approx(61.4027)
    from albert_edge.benchmarks.flops import Shape, forward_flops

    flops = forward_flops(Shape(32, 16, 3, 4, 64, 2), 16)
    assert q["latency"][0]["flops"] == flops and q["latency"][0]["gflops_per_s"] == pytest.approx(flops / 0.017061 / 1e9)
    assert q["load_s"] == pytest.approx(0.061418)
    assert q["memory"][0]["peak_rss_bytes"] == int(41.2109 * android.MIB)
    assert q["memory"][0]["rss_growth_bytes"] == int(36.9883 * android.MIB)
    assert f["memory"] == []  # the older binary printed no memory lines: nothing is made up
    assert q["skipped"] == [] and f["skipped"] == []
    ratio = next(c for c in result["comparisons"] if c["metric"] == "latency_p50")
    assert ratio["value"] == pytest.approx(17.061 / 61.4027)
    assert (tmp_path / "results" / files[0].name.replace(".json", ".md")).is_file()


def test_benchmark_model_failures_are_reported_not_hidden(tflite_folder, tmp_path):
    binary = fake_arm64_binary(tmp_path / "benchmark_model")
    swapped = fixture("benchmark_model_int8_seq32.txt").replace("named seq_32_input_ids:0", "named seq_32_attention_mask:0")
    answer = lambda cmd: swapped if "model.int8.tflite" in cmd else fixture("benchmark_model_error_signature.txt")  # noqa: E731
    adb = FakeAdb(DEVICE_RULES + [(r"^mkdir -p|^chmod 755|^rm -f", ""), (r"/benchmark_model ", answer)])
    with pytest.raises(AlbertEdgeError, match="no artifact could be benchmarked"):
        android.run(bench_args(tflite_folder, tmp_path / "results", benchmark_model_binary=str(binary), seq_lens="32"), adb=adb)
    result = json.loads(next((tmp_path / "results").glob("*.json")).read_text())
    arts = {a["name"]: a for a in result["artifacts"]}
    assert "input order mismatch" in arts["tflite-int8"]["error"]
    assert "Signature not specified" in arts["tflite-fp32"]["error"]


def test_benchmark_model_binary_is_checked(tflite_folder, tmp_path):
    adb = FakeAdb(DEVICE_RULES)
    with pytest.raises(AlbertEdgeError, match="needs --benchmark-model-binary"):
        android.run(bench_args(tflite_folder, tmp_path), adb=adb)
    x86 = fake_arm64_binary(tmp_path / "bm_x86", machine=62)
    with pytest.raises(AlbertEdgeError, match="not an arm64"):
        android.run(bench_args(tflite_folder, tmp_path, benchmark_model_binary=str(x86)), adb=adb)
    (tmp_path / "script").write_text("#!/bin/sh\n")
    with pytest.raises(AlbertEdgeError, match="not an ELF"):
        android.run(bench_args(tflite_folder, tmp_path, benchmark_model_binary=str(tmp_path / "script")), adb=adb)


# ------------------------------------------------------------------------------------- the app


def app_rules(logcat: str = "logcat_app_result.txt"):
    return DEVICE_RULES + [
        (r"^pm path", "package:/data/app/~~x/dev.albertedge.demo-1/base.apk\n"),
        (r"^am force-stop|^logcat -c", ""),
        (r"^am start", fixture("am_start_ok.txt")),
        (r"^logcat -d", fixture(logcat)),
        (r"^run-as dev\.albertedge\.demo cat files/bench/bench-1764067260\.json$", (FIX / "app_result.json").read_text()),
        (r"^dumpsys meminfo dev\.albertedge\.demo$", fixture("dumpsys_meminfo_app.txt")),
    ]


def test_app_path_end_to_end(tmp_path, monkeypatch):
    apk = tmp_path / "albert-edge-demo.apk"
    apk.write_bytes(b"PK\x03\x04")
    adb = FakeAdb(app_rules())
    args = bench_args(tmp_path / "no-artifacts", tmp_path / "results", tool="app", runs=20, apk=str(apk), text="a gripping film")
    assert android.run(args, adb=adb) == 0
    assert ("install", str(apk)) in adb.calls
    start = adb.shells(r"^am start")[0]
    assert "-n dev.albertedge.demo/.MainActivity" in start and "--ei runs 20" in start and "--ei warmup 5" in start
    assert "--es text 'a gripping film'" in start
    result = json.loads(next((tmp_path / "results").glob("*.json")).read_text())
    assert problems(result) == []
    assert result["tool"] == "albert-edge bench --android (app)"
    assert result["host"]["device_model"] == "Google Pixel 7" and result["host"]["android_version"] == "14"
    assert result["host"]["soc"] == "Google GS201"
    art = result["artifacts"][0]
    assert art["latency"][0]["ms"]["p50"] == 17.2  # the app's own numbers pass through untouched
    assert art["info"]["dumpsys_meminfo"]["total_pss_kb"] == 59271
    assert any("TOTAL PSS 59271 kB" in n for n in result["notes"])


def test_app_failure_and_missing_app(tmp_path):
    adb = FakeAdb(app_rules("logcat_app_error.txt"))
    with pytest.raises(AlbertEdgeError, match="app's benchmark failed: model.int8.tflite: no signature"):
        android.run_app(adb, None, runs=5, warmup=1, threads=4, text=None, timeout_s=5, quiet=True)
    missing = FakeAdb([(r"^pm path", "")])
    with pytest.raises(AlbertEdgeError, match="not installed"):
        android.run_app(missing, None, runs=5, warmup=1, threads=4, text=None, timeout_s=5, quiet=True)


def test_app_timeout(tmp_path):
    adb = FakeAdb([(r"^logcat -d", "--------- beginning of main\n")])
    with pytest.raises(AlbertEdgeError, match="no benchmark result within 0 s"):
        android._wait_for_app_result(adb, timeout_s=0, poll_s=0)


def test_cli_without_adb_exits_with_one_line(tmp_path, monkeypatch, capsys):
    from albert_edge import cli

    monkeypatch.setattr(android.shutil, "which", lambda name: None)
    code = cli.main(["bench", "--android", "--tool", "app", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "adb not found" in err[0]


def test_adb_transport_runs_the_adb_executable(tmp_path):
    """The real Adb class against a stand-in `adb` executable: argument layout, output, exit codes."""
    log = tmp_path / "argv.log"
    exe = tmp_path / "adb"
    exe.write_text(
        "#!/bin/sh\n"
        f'printf "%s|" "$@" >> "{log}"; echo >> "{log}"\n'
        'if [ "$1" = devices ]; then printf "List of devices attached\\nABC123\\tdevice\\n\\n"; exit 0; fi\n'
        'if [ "$3" = shell ] && [ "$4" = "false" ]; then echo "boom" >&2; exit 3; fi\n'
        'if [ "$3" = shell ]; then echo "ran: $4"; exit 0; fi\n'
        'if [ "$3" = push ] || [ "$3" = pull ] || [ "$3" = install ]; then exit 0; fi\n'
        "exit 1\n"
    )
    exe.chmod(0o755)
    adb = android.Adb(adb=str(exe))
    assert adb.devices() == [("ABC123", "device")]
    adb.serial = "ABC123"
    assert adb.shell("getprop ro.product.model").strip() == "ran: getprop ro.product.model"
    with pytest.raises(AlbertEdgeError, match=r"failed \(exit 3\): boom"):
        adb.shell("false")
    assert adb.shell("false", check=False) == ""
    adb.push(exe, "/data/local/tmp/x")
    adb.install(exe)
    calls = log.read_text().splitlines()
    assert calls[0] == "devices|"
    assert calls[1] == "-s|ABC123|shell|getprop ro.product.model|"
    assert calls[-2] == f"-s|ABC123|push|{exe}|/data/local/tmp/x|"
    assert calls[-1] == f"-s|ABC123|install|-r|-g|{exe}|"
