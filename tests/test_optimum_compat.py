"""Optimum compatibility: Hugging Face Optimum loads an albert-edge artifacts folder and computes what
albert-edge's runner computes.

Runs benchmarks/peers/optimum_compat.py with the Optimum peer's interpreter (optimum-onnx 0.1.0 and
transformers 4.57 conflict with albert-edge's transformers 5, so the peer has its own venv). The venv is
the one benchmarks/peers/optimum.sh builds and caches in .cache/peers/optimum-venv (or $OPTIMUM_VENV);
when it is missing, this test builds it by running optimum.sh once on the tiny checkpoint (needs PyPI,
a few minutes the first time; later runs take ~1 min).

Checked for model.onnx and model.int8.onnx of a tiny trained-looking ALBERT: Optimum's tokenizer ids equal
ours, its logits equal OnnxRunner's (<= 1e-5, batch 1), `pipeline("text-classification")` labels equal
our argmax, and the runtime hint passed through `session_options` as a config entry reached Optimum's
session (0 SkipLayerNormalization with it; the int8 model has some without it).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
PEER_SH = REPO / "benchmarks" / "peers" / "optimum.sh"
COMPAT = REPO / "benchmarks" / "peers" / "optimum_compat.py"
FILES = ("model.onnx", "model.int8.onnx")


def _venv() -> Path:
    return Path(os.environ.get("OPTIMUM_VENV") or REPO / ".cache" / "peers" / "optimum-venv")


def _ensure_venv(ckpt: Path, tmp: Path) -> Path:
    venv = _venv()
    if not (venv / "bin" / "optimum-cli").is_file():
        # optimum.sh creates the venv (pinned torch CPU wheel first, then optimum-onnx + the project's
        # onnxruntime) before exporting; exporting the tiny checkpoint is the cheap part.
        r = subprocess.run(["bash", str(PEER_SH), str(ckpt), str(tmp / "peer")], check=False, capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, "building the Optimum peer venv failed:\n" + r.stderr[-3000:]
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def tiny_trained(tmp_path_factory, spiece_dir):
    from conftest import TINY  # pytest puts tests/ on sys.path

    from albert_edge.testing import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("optimum-ckpt") / "model", spiece_dir, id2label={0: "negative", 1: "positive"}, trained_looking=True, seed=5, **TINY)


@pytest.mark.slow
def test_optimum_loads_artifacts_and_matches_our_runner(tiny_trained, tmp_path):
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.quantize.onnx_quant import quantize_onnx

    from albert_edge.runners import OnnxRunner
    from albert_edge.testing import sample_texts
    from albert_edge.tokenizer import TextEncoder, load_tokenizer

    python = _ensure_venv(tiny_trained, tmp_path)
    art = tmp_path / "art"
    export_onnx(tiny_trained, art, quiet=True)
    quantize_onnx(art, quiet=True)
    texts = sample_texts()[:40] + ["", "café naïve ``quoted'' 1,000 !!", " ".join(sample_texts()[:20])]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    out = tmp_path / "optimum.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1")
    r = subprocess.run([str(python), str(COMPAT), str(art), str(tmp_path / "texts.json"), str(out)], check=False, capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["versions"]["optimum-onnx"] == "0.1.0" and res["versions"]["transformers"].startswith("4.")

    man = json.loads((art / "manifest.json").read_text())
    ids = TextEncoder(load_tokenizer(art), man["max_seq_length"]).encode(texts)
    assert max(len(x) for x in ids) == man["max_seq_length"]  # the long text is truncated on both sides
    for f in FILES:
        rec = res["files"][f]
        assert rec["ids"] == ids, f"{f}: Optimum's tokenizer (transformers 4.57) gave other ids"
        ours = np.concatenate([OnnxRunner(art / f, threads=1).logits([x]) for x in ids])
        theirs = np.asarray(rec["logits"], dtype=np.float32)
        assert np.abs(ours - theirs).max() <= 1e-5, f
        assert rec["pipeline_labels"] == [man["labels"][i] for i in ours.argmax(1)]
        assert rec["session_config"] == {"optimization.disable_specified_optimizers": "SkipLayerNormFusion"}
        assert rec["skip_layer_norms"] == 0
    assert res["files"]["model.int8.onnx"]["skip_layer_norms_without_hint"] > 0  # the check above can fail
