"""Real-data parity: the embedded demo model on SST-2 dev, every format, default thresholds.

This is the CI parity gate on real data. It needs ../shared (SST-2 dev); without it the test says so.
"""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
@pytest.mark.realdata
def test_demo_model_all_formats_pass_default_gate(demo_pipeline):
    if not demo_pipeline.real:
        pytest.skip("../shared/data/sst2/dev.tsv is missing: real-data parity not run (CI has it)")
    r, out = demo_pipeline.result, demo_pipeline.folder
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rep = json.loads((out / "parity.json").read_text())
    assert rep["sentences"] == 872
    by_file = {a["file"]: a for a in rep["artifacts"]}
    assert set(by_file) == {"model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite", "model.fp16.tflite",
                           "model.text.onnx", "model.int8.text.onnx", "model.int8.text.ort", "model.int8.ort", "model.int8.mediapipe.tflite",
                           "model.pte", "model.int8.pte"}
    # Formats that tokenize by themselves give Hugging Face's ids on every sentence; re-packagings equal their source.
    assert by_file["model.text.onnx"]["token_id_mismatches"] == 0 and by_file["model.int8.text.onnx"]["token_id_mismatches"] == 0
    for f in ("model.text.onnx", "model.int8.text.onnx", "model.int8.text.ort", "model.int8.ort"):
        assert by_file[f]["vs_derived_from"]["max_abs_diff"] <= 1e-5, f
    mp = [a for a in rep["artifacts"] if a["file"] == "model.int8.mediapipe.tflite"]
    assert len(mp) == 2 and all(a["max_sum_error"] <= 1e-4 for a in mp)  # MediaPipe itself + the LiteRT runner
    assert all(a["passed"] for a in by_file.values())
    assert rep["reference"]["accuracy"] >= 0.80
    man = json.loads((out / "manifest.json").read_text())
    sizes = {a["file"]: a["bytes"] for a in man["artifacts"]}
    assert sizes["model.int8.onnx"] < 0.35 * sizes["model.onnx"]
