"""`make apk`'s script builds a signed, aligned APK offline and the checks hold: apksigner verify,
aapt2 dump badging (package, launchable activity, SDK levels), zipalign -c, no invoke-custom in the
dex, the compile-only LiteRT stub not packaged, the model stored uncompressed, and the assets being
the exported artifacts the app's manifest reader expects."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "android_demo"
CLI = [sys.executable, "-m", "albert_edge.cli"]
TOOLS = ("aapt2", "zipalign", "apksigner", "dexdump", "javac", "keytool", "zip", "unzip", "curl")

pytestmark = pytest.mark.slow


def _tools_or_skip():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing and not (os.geteuid() == 0 and shutil.which("apt-get")):
        pytest.skip(f"Android build tools missing and cannot be installed without root: {', '.join(missing)}")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    _tools_or_skip()
    tmp = tmp_path_factory.mktemp("apk")
    from albert_edge.testing import make_checkpoint, tokenizer_source

    model = make_checkpoint(tmp / "model", tokenizer_source(tmp / "spm", official=False), id2label={0: "negative", 1: "positive"})
    art = tmp / "artifacts"
    # Two small buckets keep the litert-torch conversion short; the app reads whatever the manifest lists.
    for cmd in (["export", "tflite", "--model", str(model), str(art), "--buckets", "16,32", "--quiet"],
                ["quantize", "tflite", str(art), "--mode", "dynamic", "--quiet"]):
        r = subprocess.run(CLI + cmd, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr[-2000:]
    build = tmp / "build"
    apk = tmp / "demo.apk"
    proc = subprocess.run(["bash", str(DEMO / "build_apk.sh"), "--artifacts", str(art), "--build-dir", str(build), "--out", str(apk)],
                          capture_output=True, text=True, timeout=900)
    return {"proc": proc, "apk": apk, "build": build, "artifacts": art}


def test_build_succeeds_and_reports(built):
    proc = built["proc"]
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    report = (built["build"] / "apk-report.txt").read_text()
    assert "package: name='dev.albertedge.demo'" in report
    assert "invoke-custom: none" in report
    assert "entry: assets/model.int8.tflite Stored" in report


def test_apksigner_verifies(built):
    r = subprocess.run(["apksigner", "verify", "--verbose", str(built["apk"])], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Verified using v2 scheme (APK Signature Scheme v2): true" in r.stdout


def test_zipalign_check(built):
    r = subprocess.run(["zipalign", "-c", "-p", "4", str(built["apk"])], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_badging_package_activity_sdk(built):
    out = subprocess.run(["aapt2", "dump", "badging", str(built["apk"])], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^package: name='dev\.albertedge\.demo' versionCode='1' versionName='0\.1\.0'", out, re.M)
    assert "launchable-activity: name='dev.albertedge.demo.MainActivity'" in out
    assert re.search(r"^sdkVersion:'24'$", out, re.M)
    assert re.search(r"^targetSdkVersion:'34'$", out, re.M)
    assert re.search(r"^application-debuggable$", out, re.M)  # run-as needs it (bench --android --tool app)
    # Same levels as the Gradle build.
    gradle = (DEMO / "app" / "build.gradle").read_text()
    assert re.search(r"minSdk 24\b", gradle) and re.search(r"targetSdk 34\b", gradle)


def test_dex_has_app_classes_no_invoke_custom_no_stub(built):
    with zipfile.ZipFile(built["apk"]) as z:
        dex = built["build"] / "check.dex"
        dex.write_bytes(z.read("classes.dex"))
    # errors="replace": string constants are printed in MUTF-8 (NUL as C0 80), not valid UTF-8.
    dump = subprocess.run(["dexdump", "-d", str(dex)], capture_output=True, text=True, errors="replace", check=True).stdout
    classes = set(re.findall(r"Class descriptor\s*:\s*'(L[^']+;)'", dump))
    for c in ("MainActivity", "Classifier", "LiteRtBackend", "Benchmark", "tokenizer/AlbertTokenizer", "tokenizer/CharsMap"):
        assert f"Ldev/albertedge/demo/{c};" in classes
    assert not any(c.startswith("Lorg/tensorflow/") for c in classes), "the compile-only LiteRT stub was packaged"
    assert "invoke-custom" not in dump
    # The backend really calls the LiteRT signature API (resolved at run time from the real library).
    assert "Lorg/tensorflow/lite/Interpreter;.runSignature:" in dump
    assert "Lorg/tensorflow/lite/Interpreter$Options;.setNumThreads:" in dump


def test_assets_are_the_exported_artifacts(built):
    art = built["artifacts"]
    with zipfile.ZipFile(built["apk"]) as z:
        info = {i.filename: i for i in z.infolist()}
        assert info["assets/model.int8.tflite"].compress_type == zipfile.ZIP_STORED
        for name in ("manifest.json", "model.int8.tflite", "spiece.model"):
            assert z.read(f"assets/{name}") == (art / name).read_bytes(), name
        manifest = json.loads(z.read("assets/manifest.json"))
    # What ManifestReader.java reads: the int8 entry's ascending signatures, labels, token ids.
    entry = next(a for a in manifest["artifacts"] if a["file"] == "model.int8.tflite")
    assert entry["precision"] == "int8" and entry["bytes"] == (art / "model.int8.tflite").stat().st_size
    sigs = entry["signatures"]
    assert [s["seq_len"] for s in sigs] == [16, 32] and [s["key"] for s in sigs] == ["seq_16", "seq_32"]
    assert {i["name"] for i in sigs[0]["inputs"]} == {"input_ids", "attention_mask", "token_type_ids"}
    assert sigs[0]["outputs"][0]["name"] == "logits"
    assert manifest["labels"] == ["negative", "positive"] and manifest["max_seq_length"] == 32
    assert (manifest["tokenizer"]["cls_id"], manifest["tokenizer"]["sep_id"], manifest["tokenizer"]["pad_id"]) == (2, 3, 0)
    for k in ("hidden_size", "embedding_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size"):
        assert isinstance(manifest["model"][k], int)


def test_int8_signatures_exist_in_the_model(built):
    """The signature keys the app asks LiteRT for are in the .tflite file itself."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(built["artifacts"] / "model.int8.tflite"))
    assert set(interp.get_signature_list()) == {"seq_16", "seq_32"}


def test_litert_version_matches_gradle():
    gradle = (DEMO / "app" / "build.gradle").read_text()
    m = re.search(r'"com\.google\.ai\.edge\.litert:litert:([^"]+)"', gradle)
    versions = (DEMO / "app/src/main/java/dev/albertedge/demo/Versions.java").read_text()
    assert m and f'LITERT = "{m.group(1)}"' in versions


def test_bad_artifacts_folder_is_one_clear_error(tmp_path):
    _tools_or_skip()
    (tmp_path / "art").mkdir()
    proc = subprocess.run(["bash", str(DEMO / "build_apk.sh"), "--artifacts", str(tmp_path / "art"), "--build-dir", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "has no manifest.json" in proc.stderr
    assert not (tmp_path / "b" / "albert-edge-demo.apk").exists()


def test_a_tokenizer_the_app_cannot_reproduce_is_refused_before_the_build(tmp_path, own_spiece_dir):
    """The app's tokenizer lower-cases and strips accents; a folder whose tokenizer keeps case is one
    clear error (with the cheap files present, so the tokenizer check is what refuses it)."""
    import json
    import shutil

    _tools_or_skip()
    art = tmp_path / "art"
    art.mkdir()
    shutil.copyfile(own_spiece_dir / "spiece.model", art / "spiece.model")
    (art / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "AlbertTokenizer", "do_lower_case": False, "keep_accents": False}))
    (art / "manifest.json").write_text("{}")
    (art / "model.int8.tflite").write_bytes(b"not used")
    proc = subprocess.run(["bash", str(DEMO / "build_apk.sh"), "--artifacts", str(art), "--build-dir", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "keeps case or accents" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "b" / "albert-edge-demo.apk").exists()
    # The same folder lower-casing: past the tokenizer check (it then fails on the dummy manifest).
    (art / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "keep_accents": False}))
    proc = subprocess.run(["bash", str(DEMO / "build_apk.sh"), "--artifacts", str(art), "--build-dir", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "keeps case or accents" not in proc.stderr and "match their manifest" in proc.stderr, proc.stderr[-2000:]
    # Lower-casing but truncating long texts from the left: the app keeps a text's first tokens.
    (art / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "keep_accents": False, "truncation_side": "left"}))
    proc = subprocess.run(["bash", str(DEMO / "build_apk.sh"), "--artifacts", str(art), "--build-dir", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "truncates long texts from the left" in proc.stderr, proc.stderr[-2000:]
