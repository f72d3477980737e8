"""TFLite on the shipped demo checkpoint (models/albert-sst2-demo) and real SST-2 dev data:
fp32 parity with PyTorch <= 1e-4 and int8 label agreement >= 99.5 % / accuracy drop <= 0.5 pt.

Uses the session's one `pipeline` run of the demo model (conftest.demo_pipeline), so it is marked
slow; skipped with a reason when ../shared is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

from albert_edge.data import DEMO_MODEL_DIR, read_labeled_tsv

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
N_TEXTS = 300


@pytest.fixture(scope="module")
def demo(demo_pipeline, demo_artifacts):
    """The TFLite files of the session's demo `pipeline` run (buckets 32,64,128), checked here by an
    independent computation (the pipeline's own gate is verify's)."""
    if not demo_pipeline.real:
        pytest.skip("../shared/data/sst2/dev.tsv is absent")
    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.tokenizer import TextEncoder

    folder = demo_artifacts
    ckpt = load_checkpoint(DEMO_MODEL_DIR)
    texts, ys = read_labeled_tsv(demo_pipeline.data, ckpt.labels, limit=N_TEXTS)
    ids = TextEncoder(ckpt.tokenizer, 128).encode(texts)
    return ckpt, folder, ids, np.asarray(ys)


def _run(folder, file, ids):
    import json

    from albert_edge.tflite_runner import TFLiteRunner

    m = json.loads((folder / "manifest.json").read_text())
    e = next(a for a in m["artifacts"] if a["file"] == file)
    return TFLiteRunner(folder / file, entry=e, threads=1, weight_cache=False).logits(ids)


def test_demo_fp32_parity(demo):
    ckpt, folder, ids, _ = demo
    from albert_edge.runners import TorchRunner

    ref = TorchRunner(ckpt.model, threads=1).run_batched(ids, batch_size=16)
    got = _run(folder, "model.tflite", ids)
    assert np.abs(got - ref).max() <= 1e-4


def test_demo_int8_gate(demo):
    ckpt, folder, ids, ys = demo
    fp32 = _run(folder, "model.tflite", ids).argmax(1)
    int8 = _run(folder, "model.int8.tflite", ids).argmax(1)
    assert (fp32 == int8).mean() >= 0.995
    assert 100 * ((fp32 == ys).mean() - (int8 == ys).mean()) <= 0.5


def test_demo_int8_is_about_one_byte_per_parameter(demo):
    ckpt, folder, _, _ = demo
    from albert_edge.export.tflite_buffers import constant_stats

    stats = constant_stats((folder / "model.int8.tflite").read_bytes())
    params = sum(p.numel() for p in ckpt.model.parameters())
    assert stats["duplicate_buffers"] == 0
    assert stats["bytes"] <= 1.1 * params
