"""The parity gate must catch broken artifacts, not only pass good ones."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from albert_edge.cli import main
from albert_edge.data import SAMPLES_TSV
from albert_edge.errors import AlbertEdgeError
from albert_edge.manifest import artifact_entry, load_manifest, save_manifest, upsert_artifact
from albert_edge.parity import Thresholds, compare, verify


def test_compare_metrics():
    ref = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    got = np.array([[1.0, 0.5], [0.0, 1.0], [0.0, 2.0]])
    r = compare(ref, got, np.array([0, 1, 1]))
    assert r["max_abs_diff"] == 2.0
    assert r["agreement"] == pytest.approx(2 / 3) and r["disagreements"] == 1
    assert r["accuracy"] == 1.0 and r["accuracy_drop"] == pytest.approx(-1 / 3)


def test_thresholds_per_precision():
    t = Thresholds()
    assert t.check("fp32", {"max_abs_diff": 5e-5}) == []
    assert t.check("fp32", {"max_abs_diff": 2e-4})
    assert t.check("fp16", {"max_abs_diff": 5e-3}) == []
    assert t.check("int8", {"agreement": 0.996, "accuracy_drop": 0.004}) == []
    assert len(t.check("int8", {"agreement": 0.99, "accuracy_drop": 0.01})) == 2
    assert t.check("fp32", {"max_abs_diff": float("nan")}), "NaN must fail"


def _tamper(folder, scale):
    """Scale the largest weight of model.onnx and re-register it, as a buggy exporter would."""
    m = onnx.load(str(folder / "model.onnx"))
    t = max(m.graph.initializer, key=lambda t: np.prod(t.dims) if len(t.dims) == 2 and t.dims[0] != 30000 else 0)
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * scale, t.name))
    onnx.save(m, str(folder / "model.onnx"))
    man = load_manifest(folder)
    old = next(a for a in man["artifacts"] if a["file"] == "model.onnx")
    upsert_artifact(man, artifact_entry(folder, "model.onnx", "onnx", "fp32", old["inputs"], old["outputs"]))
    save_manifest(folder, man)


def test_gate_passes_good_and_fails_tampered(onnx_art, tmp_path, capsys):
    folder = tmp_path / "art"
    shutil.copytree(onnx_art, folder)
    rep = verify(folder, data=SAMPLES_TSV, files=["model.onnx"], quiet=True)
    assert rep["passed"] and rep["artifacts"][0]["max_abs_diff"] < 1e-4
    _tamper(folder, 1.01)
    rc = main(["verify", str(folder), "--data", str(SAMPLES_TSV), "--artifacts", "model.onnx"])
    err = capsys.readouterr().err
    assert rc == 1 and "parity failed: model.onnx" in err and "max |Δlogit|" in err


def test_int8_thresholds_are_enforced(fragile_art, capsys):
    rc = main(["verify", str(fragile_art), "--data", str(SAMPLES_TSV), "--artifacts", "model.int8.onnx"])
    out = capsys.readouterr()
    assert rc == 1 and "label agreement" in out.err
    # The fragile model's decisions sit within int8's error: the table says so under the row.
    assert "model.int8.onnx: the reference's margins" in out.out and "as large as this model's typical margin" in out.out, out.out
    assert "If the fp32 file passes" in out.out  # model.onnx was not checked in this run
    rep = verify(fragile_art, data=SAMPLES_TSV, files=["model.onnx", "model.int8.onnx"], quiet=True)
    assert "model.onnx passed: the model's decisions hinge on differences below int8 noise" in rep["artifacts"][1]["diagnosis"]


def _diagnosed(ref, got, probabilities=False):
    from albert_edge.parity import diagnose, softmax

    scores = softmax(got) if probabilities else got
    r = compare(ref, scores, np.zeros(len(ref), int), probabilities=probabilities)
    r["precision"] = "int8"
    r["failures"] = Thresholds().check("int8", r)
    return r, diagnose(r)


def test_a_failed_agreement_is_explained_by_the_margins():
    ref = np.array([[2.0, 0.0], [0.0, 0.1], [3.0, 0.0], [0.0, 2.0]] * 25)
    near = ref.copy()
    near[1::4] = [0.2, 0.0]  # only the sentences decided by 0.1 flip
    r, d = _diagnosed(ref, near)
    assert r["margins"]["flipped_max"] == pytest.approx(0.1) and r["margins"]["flipped_max_sentence"] == 2
    assert "sit within this file's error" in d
    confident = ref.copy()
    confident[[2, 6]] = [0.0, 5.0]  # two decisions made by 3.0 flip, nothing else moves
    r, d = _diagnosed(ref, confident)
    assert r["margins"]["flipped_max"] == pytest.approx(3.0) and "more room than 95% of the error flipped" in d
    noisy = ref + np.random.default_rng(0).normal(0, 3.0, ref.shape)
    r, d = _diagnosed(ref, noisy)
    assert r["margins"]["error_p95"] >= r["margins"]["median"] and "as large as this model's typical margin" in d and "ship fp32" in d
    assert _diagnosed(ref, ref)[1] is None and "flipped_max" not in compare(ref, ref, np.zeros(len(ref), int))["margins"]


def test_margins_of_probabilities_are_logit_margins():
    """A file that outputs probabilities (MediaPipe) is judged on log p1 - log p2, the same quantity."""
    ref = np.array([[2.0, 0.0, -1.0], [0.0, 0.5, 0.1], [1.0, 3.0, 0.0]] * 10)
    got = ref + np.array([0.3, -0.2, 0.0])
    a = compare(ref, got, np.zeros(len(ref), int))["margins"]
    b = compare(ref, np.exp(got) / np.exp(got).sum(-1, keepdims=True), np.zeros(len(ref), int), probabilities=True)["margins"]
    assert a == pytest.approx(b) and a["error_p95"] == pytest.approx(0.5)


def test_artifact_changed_behind_manifest_is_refused(onnx_art, tmp_path):
    folder = tmp_path / "art"
    shutil.copytree(onnx_art, folder)
    with open(folder / "model.int8.onnx", "ab") as f:
        f.write(b"junk")
    with pytest.raises(AlbertEdgeError, match="does not match its manifest"):
        verify(folder, data=SAMPLES_TSV, files=["model.int8.onnx"], quiet=True)


def test_reference_must_be_the_exported_checkpoint(onnx_art, grouped_ckpt):
    with pytest.raises(AlbertEdgeError, match="not the checkpoint"):
        verify(onnx_art, data=SAMPLES_TSV, model_dir=grouped_ckpt, quiet=True)


def test_full_run_writes_parity_json(onnx_art, tmp_path):
    folder = tmp_path / "art"
    shutil.copytree(onnx_art, folder)
    verify(folder, data=SAMPLES_TSV, thresholds=Thresholds(int8_min_agreement=0.0, int8_max_accuracy_drop=1.0), quiet=True)
    rep = json.loads((folder / "parity.json").read_text())
    assert {a["file"] for a in rep["artifacts"]} == {"model.onnx", "model.int8.onnx"}
    assert all(a["sha256"] for a in rep["artifacts"])


def test_verify_in_a_log_prints_a_line_per_artifact_and_progress_on_long_ones(onnx_art, capsys, monkeypatch):
    """Where stderr is not a terminal (CI, `> log 2>&1`) tqdm draws nothing: verify writes plain lines
    instead, one per artifact, with the count after 10 s and once a minute on long ones."""
    import itertools

    from albert_edge import progress

    rep = verify(onnx_art, data=SAMPLES_TSV, files=["model.onnx", "model.int8.onnx"])
    err = capsys.readouterr().err
    n = rep["sentences"]
    for f in ("pytorch reference", "model.onnx", "model.int8.onnx"):
        assert sum(1 for ln in err.splitlines() if ln.startswith(f"✓ {f}") and f"({n} sent, " in ln) == 1, err
    verify(onnx_art, data=SAMPLES_TSV, files=["model.onnx"], quiet=True)
    assert "sent" not in capsys.readouterr().err

    clock = itertools.chain([0.0, 3.0, 11.0, 12.0, 70.0, 75.0, 76.0, 80.0], itertools.repeat(90.0))  # start, 6 updates, end
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    with progress.bar(6, "slow.tflite", "sent", lines=True) as pb:  # capsys' stderr is not a terminal
        assert isinstance(pb, progress.LineProgress)
        for _ in range(5):
            pb.update(1)
        pb.update(1)  # the last one: the end line says it
    assert capsys.readouterr().err.splitlines() == ["… slow.tflite: 2/6 sent, 11 s", "… slow.tflite: 5/6 sent, 75 s", "✓ slow.tflite (6 sent, 80.0 s)"]
    with pytest.raises(ValueError):
        with progress.bar(3, "broken", "sent", lines=True):
            raise ValueError("x")
    assert capsys.readouterr().err == ""
    assert not isinstance(progress.bar(3, "t", lines=False), progress.LineProgress)


def test_dynamic_int8_onnx_is_scored_one_text_per_call(onnx_art):
    """ONNX Runtime's dynamic int8 takes one activation scale over the whole batch (padding included), so
    a text's logits depend on its batch mates; verify/predict score such a file one text per call."""
    from albert_edge.runners import dynamic_activation_scales, open_runner
    from albert_edge.data import read_labeled_tsv
    from albert_edge.tokenizer import artifact_encoder

    manifest = load_manifest(onnx_art)
    entries = {a["file"]: a for a in manifest["artifacts"]}
    assert dynamic_activation_scales(entries["model.int8.onnx"], manifest)
    assert not dynamic_activation_scales(entries["model.onnx"], manifest)
    texts, _ = read_labeled_tsv(SAMPLES_TSV, limit=12)
    ids = artifact_encoder(onnx_art, manifest, manifest["max_seq_length"]).encode(texts)
    assert len({len(x) for x in ids}) > 3  # padding in a batch
    r = open_runner(onnx_art, entries["model.int8.onnx"], manifest, threads=1)
    assert not r.batch_invariant
    one = np.stack([r.logits([x])[0] for x in ids])
    # The dependence is real on this trained-looking model: one padded batch gives other logits.
    assert np.abs(r.logits(ids) - one).max() > 1e-4
    np.testing.assert_array_equal(r.scores(texts, ids), one)
    fp = open_runner(onnx_art, entries["model.onnx"], manifest, threads=1)
    assert fp.batch_invariant
    report = verify(onnx_art, data=SAMPLES_TSV, limit=12, quiet=True)
    batch = {a["file"]: a["batch"] for a in report["artifacts"]}
    assert batch == {"model.onnx": 32, "model.int8.onnx": 1}


def test_files_made_from_a_dynamic_int8_onnx_inherit_its_batching(demo_artifacts):
    from albert_edge.runners import dynamic_activation_scales

    manifest = load_manifest(demo_artifacts)
    flagged = {a["file"] for a in manifest["artifacts"] if dynamic_activation_scales(a, manifest)}
    want = {"model.int8.onnx", "model.int8.ort", "model.int8.text.onnx", "model.int8.text.ort"}
    assert flagged == want & {a["file"] for a in manifest["artifacts"]} and "model.int8.onnx" in flagged
    # A static (calibrated) int8 file has fixed scales: batch-invariant.
    static = dict(next(a for a in manifest["artifacts"] if a["file"] == "model.int8.onnx"))
    static["quantization"] = {**static["quantization"], "mode": "static"}
    assert not dynamic_activation_scales(static, manifest)
