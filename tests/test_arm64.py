"""ARM64 parity (albert_edge/arm64.py + arm64/runner.py).

Fast tests cover the gate logic, mirror discovery, the export steps of the default run and the error
for missing tools. The slow test runs the trained demo model's artifacts (conftest.demo_pipeline, every
format) on emulated aarch64 (building the cached root in .cache/arm64-root first if needed: ~1 min of
downloads) and checks that a corrupted int8 ONNX, fp32 TFLite and fp32 .pte fail the check while the
intact ones pass.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from albert_edge import arm64, formats
from albert_edge.errors import AlbertEdgeError, ParityError
from albert_edge.parity import Thresholds

# The .pte files take part when the executorch extra is installed (`make env` installs it).
PTE = ("model.pte", "model.int8.pte") if formats.available(formats.get("executorch")) else ()

# ---------------------------------------------------------------------------------------- fast


def test_debian_mirror_from_deb822_and_one_line_sources():
    deb822 = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
"""
    assert arm64.debian_mirror(deb822) == "http://mirror.example.org/debian"
    one_line = "# deb http://commented.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.example.de/debian/ bookworm main\n"
    assert arm64.debian_mirror(one_line) == "http://ftp.example.de/debian"
    assert arm64.debian_mirror("deb https://packages.cloud.google.com/apt cloud-sdk main\n") == arm64.DEFAULT_MIRROR


def _entries(*specs):
    return [{"file": f, "format": f.rsplit(".", 1)[-1], "precision": p} for f, p in specs]


def test_evaluate_gates_fp32_against_pytorch_and_x86():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(40, 2)).astype(np.float32)
    labels = ref.argmax(1)
    good = ref + 5e-6
    off = ref.copy()
    off[3, 0] += 3e-4  # one logit beyond verify's fp32 bound
    res = arm64.evaluate(_entries(("a.onnx", "fp32"), ("b.tflite", "fp32")), ref, {"a.onnx": good, "b.tflite": good}, {"a.onnx": good, "b.tflite": off}, labels, Thresholds())
    assert res[0]["passed"] and not res[0]["failures"]
    assert not res[1]["passed"]
    assert any("vs PyTorch" in f for f in res[1]["failures"]) and any("vs x86" in f for f in res[1]["failures"])
    assert res[1]["arm64_vs_pytorch"]["max_abs_diff"] == pytest.approx(3e-4, rel=1e-3)


def test_evaluate_int8_gates_on_pytorch_labels_not_on_x86_rounding():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(200, 2)).astype(np.float32)
    labels = ref.argmax(1)
    arm_ok = ref + rng.normal(scale=1e-3, size=ref.shape).astype(np.float32)
    arm_ok[np.abs(ref[:, 0] - ref[:, 1]) < 5e-3] = ref[np.abs(ref[:, 0] - ref[:, 1]) < 5e-3]  # no accidental flips
    x86_off = ref.copy()
    x86_off[:5] = x86_off[:5, ::-1]  # x86 kernels flip 5 labels (AVX2 u8s8 saturation, say)
    res = arm64.evaluate(_entries(("m.int8.onnx", "int8")), ref, {"m.int8.onnx": x86_off}, {"m.int8.onnx": arm_ok}, labels, Thresholds())
    assert res[0]["passed"], res[0]["failures"]
    assert res[0]["arm64_vs_x86"]["agreement"] < 0.995  # reported, not gated
    arm_bad = ref.copy()
    arm_bad[:2] = arm_bad[:2, ::-1]  # 2 of 200 flipped: 99.0% agreement < 99.5%
    res = arm64.evaluate(_entries(("m.int8.onnx", "int8")), ref, {"m.int8.onnx": ref}, {"m.int8.onnx": arm_bad}, labels, Thresholds())
    assert not res[0]["passed"]
    assert any("label agreement 99.00%" in f for f in res[0]["failures"])
    table = arm64.format_table({"sentences": 200, "data": "x.tsv", "artifacts": res})
    assert "FAIL" in table and "m.int8.onnx" in table


def test_missing_tools_give_one_clear_line(monkeypatch):
    monkeypatch.setattr(arm64.shutil, "which", lambda name: None)
    with pytest.raises(AlbertEdgeError, match="apt-get install debootstrap qemu-user-static"):
        arm64.ensure_tools(install=False)


def test_qemu_environment_is_clean_and_pins_the_cpu(tmp_path):
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/python3.11").write_text("")
    cmd, env = arm64.qemu_command(tmp_path, "/usr/bin/qemu-aarch64-static", ["x.py"])
    assert cmd == ["/usr/bin/qemu-aarch64-static", "-L", str(tmp_path), str(tmp_path / "usr/bin/python3.11"), "x.py"]
    assert env["QEMU_CPU"] == "cortex-a76"
    assert env["PYTHONPATH"] == str(tmp_path / arm64.SITE)
    assert "VIRTUAL_ENV" not in env and "LD_LIBRARY_PATH" not in env


def test_native_runner_environment_points_at_the_roots_executorch(tmp_path):
    from albert_edge.arm64.provision import native_command

    prefix, env = native_command(tmp_path, "/usr/bin/qemu-aarch64-static")
    assert prefix == ["/usr/bin/qemu-aarch64-static", "-L", str(tmp_path)]
    assert env["QEMU_CPU"] == "cortex-a76" and env["LD_LIBRARY_PATH"] == str(tmp_path / arm64.SITE / "executorch" / "lib")
    assert "PYTHONPATH" not in env


def test_missing_cross_compiler_gives_one_clear_line(monkeypatch, tmp_path):
    from albert_edge.arm64 import pte
    from albert_edge.arm64.provision import pte_runner

    monkeypatch.setattr(pte.shutil, "which", lambda name: None)
    with pytest.raises(AlbertEdgeError, match="apt-get install g\\+\\+-aarch64-linux-gnu"):
        pte.ensure_cross_compiler(install=False)
    with pytest.raises(AlbertEdgeError, match="no aarch64 executorch wheel"):
        pte_runner(tmp_path, install_tools=False)


def test_apt_installs_run_one_at_a_time_and_wait_for_other_apt(monkeypatch, tmp_path):
    """`make test` runs two workers: on a fresh machine two installers at once would collide on dpkg's lock."""
    import fcntl
    import subprocess

    from albert_edge.arm64 import provision

    assert provision.APT_LOCK == "/tmp/albert-edge-apt.lock"  # the path the shell installers lock, too
    monkeypatch.setattr(provision, "APT_LOCK", str(tmp_path / "apt.lock"))
    monkeypatch.setattr(provision.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(provision.os, "geteuid", lambda: 0)
    calls = []

    def fake_run(cmd, **kw):
        with open(tmp_path / "apt.lock", "a") as other:  # a second installer must not get the lock now
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(provision.subprocess, "run", fake_run)
    provision.apt_install(["zip"], ["zip"], "zip is missing", install=True, quiet=True)
    assert [c[:2] for c in calls] == [["apt-get", "update"], ["apt-get", "install"]]
    assert all("DPkg::Lock::Timeout=600" in c for c in calls)
    with open(tmp_path / "apt.lock", "a") as after:  # released afterwards
        fcntl.flock(after, fcntl.LOCK_EX | fcntl.LOCK_NB)
    for script in ("build_apk.sh", "run_jvm_tests.sh"):  # the shell installers take the same lock
        text = (Path(__file__).resolve().parents[1] / "android_demo" / script).read_text()
        assert "9>/tmp/albert-edge-apt.lock" in text and "flock -w" in text and "DPkg::Lock::Timeout" in text, script


def test_registry_says_how_each_format_runs_on_arm64():
    assert formats.arm64_runner("onnx") == "python" and formats.arm64_runner("tflite") == "python"
    assert formats.arm64_runner("executorch") == "native"
    assert "model.int8.pte" in arm64.DEFAULT_FILES and formats.arm64_runner("mediapipe") == ""


def test_cpuinfo_describes_an_arm_core():
    assert "CPU implementer\t: 0x41" in arm64.CPUINFO and "asimddp" in arm64.CPUINFO
    assert "model name" not in arm64.CPUINFO  # an x86-style file is what crashes onnxruntime


def test_default_run_exports_the_trained_demo_model_in_every_format(tmp_path, monkeypatch):
    from albert_edge import cli
    from albert_edge.data import DEMO_MODEL_DIR

    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(argv) or 0)
    art = arm64.build_artifacts(tmp_path, None, quiet=True)
    assert art == tmp_path / "artifacts"
    steps = [tuple(a[:2]) for a in seen]
    want = [("export", "onnx"), ("quantize", "onnx"), ("export", "tflite"), ("quantize", "tflite")]
    if PTE:
        want += [("export", "executorch"), ("quantize", "executorch")]
    assert steps == want
    for a in seen:
        assert str(art) in a
        if a[0] == "export":
            assert a[a.index("--model") + 1] == str(DEMO_MODEL_DIR)  # trained weights, not a random-init checkpoint

    monkeypatch.setattr(cli, "main", lambda argv: 1 if argv[:2] == ["quantize", "tflite"] else 0)
    with pytest.raises(AlbertEdgeError, match="albert-edge quantize tflite .* failed"):
        arm64.build_artifacts(tmp_path, None, quiet=True)
    monkeypatch.setattr("albert_edge.data.DEMO_MODEL_DIR", tmp_path / "gone")
    with pytest.raises(AlbertEdgeError, match="demo model is missing"):
        arm64.build_artifacts(tmp_path, None, quiet=True)


# ---------------------------------------------------------------------------------------- slow


@pytest.fixture(scope="module")
def arm_root():
    try:
        arm64.ensure_tools(install=True, quiet=True)
    except AlbertEdgeError as e:
        pytest.skip(f"arm64 parity cannot run here: {e}")
    root = Path(os.environ.get("ALBERT_EDGE_ARM64_ROOT", arm64.DEFAULT_ROOT))
    if arm64.read_stamp(root) is None and os.geteuid() != 0:
        pytest.skip("no cached arm64 root and building one needs root")
    # The root is a git-ignored cache shared with `make arm64-parity` (a first build downloads ~200 MB).
    return arm64.ensure_root(root, quiet=True)


def _reseal(folder: Path, file: str) -> None:
    """Rewrite the manifest's size/sha for a modified file: the check must catch the numbers, not the checksum."""
    from albert_edge.fsutil import sha256_file

    m = json.loads((folder / "manifest.json").read_text())
    for a in m["artifacts"]:
        if a["file"] == file:
            a["sha256"] = sha256_file(folder / file)
            a["bytes"] = (folder / file).stat().st_size
    (folder / "manifest.json").write_text(json.dumps(m))


def _negate_int8_classifier(path: Path) -> None:
    """Negate the int8 weight of the MatMulInteger that feeds `logits`: every label flips."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    producer = {o: n for n in m.graph.node for o in n.output}
    inits = {i.name: i for i in m.graph.initializer}
    name, node = "logits", None
    for _ in range(10):
        node = producer[name]
        if node.op_type == "MatMulInteger":
            break
        name = next(i for i in node.input if i in producer)
    assert node is not None and node.op_type == "MatMulInteger", "int8 classifier not found"
    w = inits[node.input[1]]
    q = numpy_helper.to_array(w)
    assert q.dtype == np.int8
    w.CopyFrom(numpy_helper.from_array(np.clip(-q.astype(np.int16), -127, 127).astype(np.int8), w.name))
    onnx.save(m, str(path))


def _scale_fp32_tensor_bytes(path: Path, weights: np.ndarray, factor: float) -> None:
    """Scale one fp32 weight where its exact bytes sit in the flatbuffer (found by content)."""
    data = path.read_bytes()
    raw = weights.astype("<f4").tobytes()
    assert data.count(raw) == 1, "weight bytes not found exactly once"
    path.write_bytes(data.replace(raw, (weights * factor).astype("<f4").tobytes()))


@pytest.mark.slow
def test_arm64_parity_passes_and_a_corrupted_artifact_fails(arm_root, demo_artifacts, tmp_path):
    # The trained demo model's artifacts, every format (conftest.demo_pipeline; read-only here): trained
    # weights, not random init, since a guarantee shown on random weights is not kept.
    report = arm64.check_folder(demo_artifacts, arm_root, limit=24, work=tmp_path / "clean", quiet=True)
    by_file = {a["file"]: a for a in report["artifacts"]}
    # `make env` installs the executorch extra, so the .pte files are part of the check (CI included).
    assert set(by_file) == {"model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite", "model.fp16.tflite", *PTE}
    assert report["arm64_environment"]["machine"] == "aarch64"
    assert report["arm64_environment"]["qemu_cpu"] == "cortex-a76"
    for a in report["artifacts"]:
        assert a["passed"], (a["file"], a["failures"])
    assert by_file["model.onnx"]["arm64_vs_pytorch"]["max_abs_diff"] <= 1e-4
    assert by_file["model.tflite"]["arm64_vs_x86"]["max_abs_diff"] <= 1e-4
    # int8 really is quantized (differs from fp32) yet keeps the labels.
    assert by_file["model.int8.tflite"]["arm64_vs_pytorch"]["max_abs_diff"] > 1e-4
    if PTE:
        assert by_file["model.pte"]["arm64_vs_x86"]["max_abs_diff"] <= 1e-4
        assert by_file["model.int8.pte"]["arm64_vs_pytorch"]["max_abs_diff"] > 1e-4
        native = [r for r in report["arm64_runs"] if r.get("runner", "").startswith("pte_runner")]
        assert {r["file"] for r in native} == set(PTE) and all(r["weight_cache"] and r["machine"] == "aarch64" for r in native)
        assert report["arm64_environment"]["executorch"]

    bad = tmp_path / "corrupted"
    shutil.copytree(demo_artifacts, bad)
    _negate_int8_classifier(bad / "model.int8.onnx")
    _reseal(bad, "model.int8.onnx")
    from safetensors.numpy import load_file

    src = json.loads((bad / "manifest.json").read_text())["source"]
    pooler = load_file(str(Path(src["model_dir"]) / src["weights_file"]))["albert.pooler.weight"]
    _scale_fp32_tensor_bytes(bad / "model.tflite", pooler, 1.05)
    _reseal(bad, "model.tflite")
    if PTE:  # the XNNPACK constants of a .pte are the checkpoint's bytes (stored once): scale the pooler there too
        _scale_fp32_tensor_bytes(bad / "model.pte", pooler, 1.05)
        _reseal(bad, "model.pte")

    class Args:
        artifacts = str(bad)
        model = None
        files = "model.onnx,model.int8.onnx,model.tflite" + (",model.pte,model.int8.pte" if PTE else "")
        data = None
        limit = 8  # a negated classifier flips every label, a scaled pooler moves every logit: 8 texts show both
        root = str(arm_root)
        work = str(tmp_path / "work")
        rebuild_root = False
        no_install = True
        json = str(tmp_path / "report.json")
        quiet = True

    with pytest.raises(ParityError, match="arm64 parity failed") as exc:
        arm64.run(Args)
    assert "model.int8.onnx" in str(exc.value) and "model.tflite" in str(exc.value)
    saved = {a["file"]: a for a in json.loads((tmp_path / "report.json").read_text())["artifacts"]}
    assert saved["model.onnx"]["passed"]
    if PTE:
        assert saved["model.int8.pte"]["passed"]
        assert not saved["model.pte"]["passed"] and saved["model.pte"]["arm64_vs_pytorch"]["max_abs_diff"] > 1e-4
    assert not saved["model.int8.onnx"]["passed"] and saved["model.int8.onnx"]["arm64_vs_pytorch"]["agreement"] < 0.5
    assert not saved["model.tflite"]["passed"] and saved["model.tflite"]["arm64_vs_pytorch"]["max_abs_diff"] > 1e-4
