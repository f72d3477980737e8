"""`albert-edge pipeline`: every stage end to end, and an exit code that reflects the parity gate."""

from __future__ import annotations

import json

from albert_edge.data import SAMPLES_TSV


def test_pipeline_all_formats(demo_pipeline):
    # The trained demo model under the default gate (conftest.demo_pipeline: SST-2 dev, else the samples).
    r, out = demo_pipeline.result, demo_pipeline.folder
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "pipeline summary" in r.stdout and "parity gate:   PASSED" in r.stdout
    man = json.loads((out / "manifest.json").read_text())
    files = {a["file"] for a in man["artifacts"]}
    assert files == {"model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite", "model.fp16.tflite",
                     # issue 14 (text-in ONNX, ORT Mobile); issues 13 and 15 (MediaPipe, ExecuTorch: extras that make env installs)
                     "model.text.onnx", "model.int8.text.onnx", "model.int8.text.ort", "model.int8.ort", "model.int8.mediapipe.tflite",
                     "model.pte", "model.int8.pte"}
    for f in files:
        assert f in r.stdout
    assert ".stage-" not in r.stdout + r.stderr  # the steps run in the staging folder; messages name the real one
    assert f"wrote {out / 'model.tflite'} " in r.stdout
    assert json.loads((out / "parity.json").read_text())["passed"]
    assert not [p.name for p in out.parent.iterdir() if p.name != out.name]  # no staging folder left beside it


def test_pipeline_passes_its_options_to_every_stage(cli, tiny_ckpt, tmp_path):
    """--max-length, --buckets, --formats and the gate's thresholds reach the stages (the shared demo
    run above uses the defaults)."""
    out = tmp_path / "art"
    r = cli("pipeline", "--model", tiny_ckpt, "--output", out, "--data", SAMPLES_TSV, "--no-bench", "--formats", "onnx,tflite",
            "--max-length", "24", "--buckets", "16", "--int8-min-agreement", "0.9", "--int8-max-accuracy-drop", "0.05")
    assert r.returncode == 0, r.stderr[-3000:]
    man = json.loads((out / "manifest.json").read_text())
    by_file = {a["file"]: a for a in man["artifacts"]}
    assert {"model.onnx", "model.int8.onnx", "model.tflite", "model.int8.tflite"} <= set(by_file)
    assert not any(f.endswith(".pte") or "mediapipe" in f for f in by_file)
    assert man["max_seq_length"] == 24
    assert [s["seq_len"] for s in by_file["model.int8.tflite"]["signatures"]] == [16, 24]  # --max-length is added as the largest
    rep = json.loads((out / "parity.json").read_text())
    assert rep["max_seq_length"] == 24
    assert (rep["thresholds"]["int8_min_agreement"], rep["thresholds"]["int8_max_accuracy_drop"]) == (0.9, 0.05)


def test_pipeline_fails_and_names_the_artifact(cli, fragile_ckpt, tmp_path):
    out = tmp_path / "art"
    # Default gate; the checkpoint's decision does not survive int8 (conftest.fragile_ckpt). A threshold
    # above 1 used to force this and is now refused as a user mistake.
    r = cli("pipeline", "--model", fragile_ckpt, "--output", out, "--data", SAMPLES_TSV, "--no-bench", "--formats", "onnx")
    assert r.returncode == 1
    failed = [ln for ln in r.stderr.splitlines() if "parity gate failed" in ln]
    assert len(failed) == 1 and "parity gate failed: model.int8.onnx" in failed[0], r.stderr[-2000:]
    assert "model.onnx (" not in failed[0]  # only int8 fails: the fixture's fp32 labels do not hang on rounding
    assert "parity gate:   FAILED" in r.stdout
    assert "Traceback" not in r.stderr


def test_pipeline_refuses_existing_output(cli, tiny_ckpt, tmp_path):
    out = tmp_path / "art"
    out.mkdir()
    (out / "x").write_text("keep")
    r = cli("pipeline", "--model", tiny_ckpt, "--output", out, "--no-bench")
    assert r.returncode == 2 and "not empty" in r.stderr
    assert (out / "x").read_text() == "keep"
