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

    return make_checkpoint(tmp_path_factory.mktemp("tiny") / "model", spiece_dir, id2label={0: "negative", 1: "positive"}, **TINY)


@pytest.fixture(scope="session")
def grouped_ckpt(tmp_path_factory, spiece_dir):
    """num_hidden_groups=2, inner_group_num=2, three named labels, legacy pytorch_model.bin."""
    from albert_edge.testing import make_checkpoint

    return make_checkpoint(
        tmp_path_factory.mktemp("grouped") / "model", spiece_dir, num_labels=3, id2label={0: "sad", 1: "meh", 2: "glad"}, legacy_bin=True, seed=1, **GROUPED
    )


def _export_and_quantize(folder, ckpt):
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.quantize.onnx_quant import quantize_onnx

    export_onnx(ckpt, folder, quiet=True)
    quantize_onnx(folder, quiet=True)
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
