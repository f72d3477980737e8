"""Shared fixtures: tiny ALBERT checkpoints built locally (no hub), exported once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "albert-edge"

# Shapes small enough for seconds-long tests, still ALBERT: embedding < hidden, shared layers.
TINY = dict(embedding_size=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, max_position_embeddings=128)
GROUPED = dict(TINY, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2)


@pytest.fixture(scope="session")
def spiece_dir(tmp_path_factory):
    """The official 30k SentencePiece folder when ../shared has it, else a small model trained here."""
    from albert_edge.testing import tokenizer_source

    return tokenizer_source(tmp_path_factory.mktemp("spm"))


@pytest.fixture(scope="session")
def own_spiece_dir(tmp_path_factory):
    """A SentencePiece model trained in the test session (always available)."""
    from albert_edge.testing import tokenizer_source

    return tokenizer_source(tmp_path_factory.mktemp("own-spm"), official=False)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, spiece_dir):
    from albert_edge.testing import make_checkpoint

    # Trained-looking (LayerNorm scales/shifts and biases perturbed): random init hides value-dependent
    # converter behaviour (docs/tflite.md, the LayerNorm fold).
    return make_checkpoint(tmp_path_factory.mktemp("tiny") / "model", spiece_dir, id2label={0: "negative", 1: "positive"}, trained_looking=True, **TINY)


@pytest.fixture(scope="session")
def grouped_ckpt(tmp_path_factory, spiece_dir):
    """num_hidden_groups=2, inner_group_num=2, three named labels, legacy pytorch_model.bin."""
    from albert_edge.testing import make_checkpoint

    return make_checkpoint(
        tmp_path_factory.mktemp("grouped") / "model", spiece_dir, num_labels=3, id2label={0: "sad", 1: "meh", 2: "glad"}, legacy_bin=True, seed=1,
        trained_looking=True, **GROUPED
    )


def _export_and_quantize(folder, ckpt):
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.quantize.onnx_quant import quantize_onnx

    # id-input models only: the text-in / ORT files (written by default) have their own tests and cost
    # seconds per fixture (test_onnx_text.py, test_cli.py, test_pipeline.py, test_realdata.py cover the default).
    export_onnx(ckpt, folder, quiet=True, text=False)
    quantize_onnx(folder, quiet=True, text=False, ort=False)
    return folder


@pytest.fixture(scope="session")
def onnx_art(tmp_path_factory, tiny_ckpt):
    """Artifacts folder of the tiny model with model.onnx and model.int8.onnx."""
    return _export_and_quantize(tmp_path_factory.mktemp("onnx-art") / "art", tiny_ckpt)


@pytest.fixture(scope="session")
def grouped_art(tmp_path_factory, grouped_ckpt):
    return _export_and_quantize(tmp_path_factory.mktemp("grouped-art") / "art", grouped_ckpt)


def run_cli(*args, input: str | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the installed console script, as a user would."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, input=input, timeout=timeout, env=env)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def demo_pipeline(tmp_path_factory):
    """`albert-edge pipeline` on the embedded (trained) demo model, every format, default gate, run once.

    Data: SST-2 dev when ../shared has it (CI does; the real-data gate), else the shipped samples.
    Shared by test_realdata.py, test_pipeline.py, test_arm64.py, test_tflite_demo.py and
    test_mediapipe.py (which copy before modifying): one ~2.5 min run instead of exports of their own.
    Under `make test`'s two pytest-xdist workers the first worker to ask runs it, the other waits for
    it (a lock in the run's shared temp folder) and reads the same folder and recorded output.
    """
    import json
    from types import SimpleNamespace

    from filelock import FileLock

    from albert_edge.data import DEMO_MODEL_DIR, SAMPLES_TSV, sst2_dev

    assert (DEMO_MODEL_DIR / "config.json").is_file(), "the embedded demo model is missing from the repository"
    dev = sst2_dev()
    data = dev or SAMPLES_TSV
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: one basetemp per worker under the run's
    out = shared / "demo-pipeline" / "demo"
    record = shared / "demo-pipeline.json"
    with FileLock(str(shared / "demo-pipeline.lock")):
        if not record.is_file():
            r = run_cli("pipeline", "--output", out, "--data", data, "--no-bench", timeout=1800)
            record.write_text(json.dumps({"returncode": r.returncode, "stdout": r.stdout, "stderr": r.stderr}))
    result = SimpleNamespace(**json.loads(record.read_text()))
    return SimpleNamespace(folder=out, result=result, data=data, real=dev is not None)


@pytest.fixture(scope="session")
def demo_artifacts(demo_pipeline):
    """The demo pipeline's artifacts folder, for tests that read its files: the run must have passed."""
    r = demo_pipeline.result
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return demo_pipeline.folder


@pytest.fixture(scope="session")
def fragile_ckpt(tmp_path_factory, tiny_ckpt):
    """A checkpoint whose decision int8 cannot keep: the classifier reads one pooler unit whose values
    span less than one step of the dynamic uint8 activation grid (measured: fp32 max |Δ| 1e-6, int8
    label agreement 55% on the shipped samples). It fails the int8 gate with valid thresholds, on any CPU."""
    import torch

    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.data import SAMPLES_TSV, read_labeled_tsv

    ckpt = load_checkpoint(tiny_ckpt)
    m = ckpt.model
    texts, _ = read_labeled_tsv(SAMPLES_TSV)
    with torch.no_grad():
        m.albert.pooler.weight[1] *= 3e-3
        m.albert.pooler.bias[1] = 0
        pooled = m.albert(**ckpt.tokenizer(texts, padding=True, return_tensors="pt")).pooler_output[:, 1]
        m.classifier.weight.zero_()
        m.classifier.bias.zero_()
        m.classifier.weight[1, 1] = 300.0
        # About half the texts on each side of the boundary, which sits in the widest gap between two
        # texts of the middle third: at the median itself, that text's logits are 0 ± rounding and its
        # fp32 label flipped with the CPU's kernels (99.33% fp32 agreement on an AMX Xeon).
        v = pooled.sort().values
        n = len(v)
        lo, hi = n // 3, max(n // 3 + 1, 2 * n // 3)
        i = lo + int(torch.argmax(v[lo + 1:hi + 1] - v[lo:hi]))
        m.classifier.bias[1] = -300.0 * (v[i] + v[i + 1]) / 2
    out = tmp_path_factory.mktemp("fragile") / "model"
    import shutil

    shutil.copytree(tiny_ckpt, out)
    m.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def fragile_art(tmp_path_factory, fragile_ckpt):
    return _export_and_quantize(tmp_path_factory.mktemp("fragile-art") / "art", fragile_ckpt)
