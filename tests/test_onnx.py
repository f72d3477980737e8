"""ONNX export and int8: inspect the graphs (initializer bytes, op counts), not just the outputs."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from albert_edge.checkpoint import load_checkpoint
from albert_edge.errors import AlbertEdgeError
from albert_edge.export.onnx_graph import graph_stats
from albert_edge.tokenizer import pad_batch


def _session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def _torch_logits(ckpt, feeds):
    with torch.inference_mode():
        return ckpt.model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()


def _random_feeds(vocab, batch, length, seed=0):
    rs = np.random.RandomState(seed)
    ids = [[2] + list(rs.randint(5, vocab, n - 2)) + [3] for n in rs.randint(3, length + 1, batch)]
    ids[0] = ids[0][:length - 1] + [3] if len(ids[0]) >= length else ids[0] + [3] * 0
    return pad_batch(ids)


def test_fp32_interface_and_checker(onnx_art):
    m = onnx.load(str(onnx_art / "model.onnx"))
    onnx.checker.check_model(m, full_check=True)
    ins = {i.name: i for i in m.graph.input}
    assert list(ins) == ["input_ids", "attention_mask", "token_type_ids"]
    for i in ins.values():
        assert i.type.tensor_type.elem_type == onnx.TensorProto.INT64
        dims = i.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"], "batch and sequence axes must be dynamic"
    assert [o.name for o in m.graph.output] == ["logits"]


@pytest.mark.parametrize("fixture", ["onnx_art", "grouped_art"])
def test_each_shared_weight_stored_once(request, fixture, tiny_ckpt, grouped_ckpt):
    folder = request.getfixturevalue(fixture)
    ckpt = load_checkpoint(tiny_ckpt if fixture == "onnx_art" else grouped_ckpt, with_tokenizer=False)
    m = onnx.load(str(folder / "model.onnx"))
    stats = graph_stats(m)
    param_bytes = 4 * ckpt.unique_parameters
    # All parameters once, nothing more (a duplicated 32x32 matrix alone would add 4 KB).
    assert param_bytes * 0.98 <= stats["initializer_bytes"] <= param_bytes + 1024, (stats["initializer_bytes"], param_bytes)
    digests = [hashlib.sha256(numpy_helper.to_array(t).tobytes()).hexdigest() for t in m.graph.initializer if len(t.dims) == 2]
    assert len(digests) == len(set(digests)), "a weight matrix is stored twice"
    assert stats["dead_initializers"] == 0
    # Later layer applications read the same initializer: no Identity indirection left for quantizers to trip on.
    assert "Identity" not in stats["ops"]


@pytest.mark.parametrize("fixture, model_fixture", [("onnx_art", "tiny_ckpt"), ("grouped_art", "grouped_ckpt")])
def test_fp32_parity_dynamic_shapes(request, fixture, model_fixture):
    folder, ckpt = request.getfixturevalue(fixture), load_checkpoint(request.getfixturevalue(model_fixture))
    s = _session(folder / "model.onnx")
    for batch, length in [(1, 5), (3, 17), (2, 64)]:
        feeds = _random_feeds(ckpt.config.vocab_size, batch, length, seed=length)
        got = s.run(["logits"], feeds)[0]
        assert got.shape == (batch, ckpt.config.num_labels)
        np.testing.assert_allclose(got, _torch_logits(ckpt, feeds), atol=1e-4, rtol=0)


def _applications(cfg):
    return cfg.num_hidden_layers * cfg.inner_group_num


@pytest.mark.parametrize("fixture, model_fixture", [("onnx_art", "tiny_ckpt"), ("grouped_art", "grouped_ckpt")])
def test_int8_every_application_integer_and_weights_once(request, fixture, model_fixture):
    folder = request.getfixturevalue(fixture)
    ckpt = load_checkpoint(request.getfixturevalue(model_fixture), with_tokenizer=False)
    cfg = ckpt.config
    m = onnx.load(str(folder / "model.int8.onnx"))
    stats = graph_stats(m)
    # Q, K, V, O, FFN-in, FFN-out for every layer application, plus embedding projection, pooler, classifier.
    assert stats["weight_matmuls_float"] == 0
    assert stats["weight_matmuls_integer"] == 6 * _applications(cfg) + 3
    assert stats["dead_initializers"] == 0
    inits = {t.name: t for t in m.graph.initializer}
    int8 = [t for t in inits.values() if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)]
    # The word-embedding table is 8-bit too.
    assert any(tuple(t.dims) == (cfg.vocab_size, cfg.embedding_size) for t in int8)
    # No 2-D fp32 matrix beyond the small position / token-type embedding tables.
    small = cfg.max_position_embeddings * cfg.embedding_size
    big_fp32 = [t.name for t in inits.values() if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2 and np.prod(t.dims) > small]
    assert not big_fp32, big_fp32
    # Each shared matrix quantized once: 8-bit bytes ~= one byte per weight parameter.
    n_matrix_params = sum(p.numel() for n, p in ckpt.model.named_parameters() if p.dim() == 2 and "position" not in n and "token_type" not in n)
    int8_bytes = sum(int(np.prod(t.dims)) for t in int8)
    assert int8_bytes <= n_matrix_params * 1.02 + 64, (int8_bytes, n_matrix_params)
    digests = [hashlib.sha256(numpy_helper.to_array(t).tobytes()).hexdigest() for t in int8 if len(t.dims) == 2]
    assert len(digests) == len(set(digests))
    # The ORT session really runs integer kernels.
    assert {"MatMulInteger", "QAttention"} <= set(stats["ops"])


def test_int8_manifest_records_coverage(onnx_art):
    man = _manifest(onnx_art)
    e = next(a for a in man["artifacts"] if a["file"] == "model.int8.onnx")
    assert e["precision"] == "int8" and e["format"] == "onnx" and e["derived_from"] == "model.onnx"
    assert e["graph"]["weight_matmuls_float"] == 0
    # The first application (its residual is the embedding projection, not a LayerNorm) and the last
    # (its context is sliced to the [CLS] row, export/onnx_cls_row.py) are not ORT's pattern: ours.
    assert e["quantization"]["attention_fused_by_albert_edge"] == 2
    assert e["bytes"] == (onnx_art / "model.int8.onnx").stat().st_size
    assert e["runtime_hints"]["onnxruntime_disabled_optimizers"] == ["SkipLayerNormFusion"]


def test_runner_applies_runtime_hints(onnx_art):
    from albert_edge.runners import OnnxRunner

    r = OnnxRunner(onnx_art / "model.int8.onnx", threads=1)
    assert r.info()["disabled_optimizers"] == ["SkipLayerNormFusion"]
    assert r.logits([[2, 10, 11, 3], [2, 12, 3]]).shape == (2, 2)


def test_int8_close_to_fp32(onnx_art, tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt, with_tokenizer=False)
    feeds = _random_feeds(ckpt.config.vocab_size, 16, 40, seed=3)
    ref = _session(onnx_art / "model.onnx").run(["logits"], feeds)[0]
    got = _session(onnx_art / "model.int8.onnx").run(["logits"], feeds)[0]
    # Random weights are a hard case for int8; the bound catches broken scales/fusions (errors of O(1)).
    assert np.abs(got - ref).max() < 0.25 * np.abs(ref).max() + 0.05


def test_int8_one_layer_model(tmp_path, spiece_dir):
    """num_hidden_layers=1: its only attention is a first application, which ORT's fusion skips, so
    FastGelu is all ORT fuses and it did not declare com.microsoft; quantize_dynamic's shape inference
    then refused the model. Every weight matmul must still be integer and close to fp32."""
    from albert_edge.testing import make_checkpoint

    from conftest import TINY, _export_and_quantize

    folder = make_checkpoint(tmp_path / "model", spiece_dir, trained_looking=True, seed=4, **dict(TINY, num_hidden_layers=1))
    art = _export_and_quantize(tmp_path / "art", folder)
    m = onnx.load(str(art / "model.int8.onnx"))
    assert "com.microsoft" in {o.domain for o in m.opset_import}
    stats = graph_stats(m)
    assert stats["weight_matmuls_float"] == 0 and stats["weight_matmuls_integer"] == 6 + 3
    assert stats["dead_initializers"] == 0
    cfg = load_checkpoint(folder, with_tokenizer=False).config
    feeds = _random_feeds(cfg.vocab_size, 8, 30, seed=5)
    ref = _session(art / "model.onnx").run(["logits"], feeds)[0]
    got = _session(art / "model.int8.onnx").run(["logits"], feeds)[0]
    assert np.abs(got - ref).max() < 0.25 * np.abs(ref).max() + 0.05


def test_declare_node_domains_adds_only_missing_domains():
    from onnx import TensorProto, helper

    from albert_edge.export.onnx_graph import declare_node_domains

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("FastGelu", ["r"], ["y"], domain="com.microsoft")], "g", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert declare_node_domains(m) == ["com.microsoft"]
    assert declare_node_domains(m) == []
    assert sorted(o.domain for o in m.opset_import) == ["", "com.microsoft"]
    onnx.shape_inference.infer_shapes(m, strict_mode=True)


def test_static_qdq_mode(tmp_path, tiny_ckpt):
    from albert_edge.data import SAMPLES_TSV
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.quantize.onnx_quant import quantize_onnx

    folder = tmp_path / "art"
    export_onnx(tiny_ckpt, folder, quiet=True)
    e = quantize_onnx(folder, mode="static", calibration=str(SAMPLES_TSV), calibration_size=32, quiet=True)
    assert e["quantization"]["mode"] == "static" and e["quantization"]["calibration_sentences"] == 32
    cfg = load_checkpoint(tiny_ckpt, with_tokenizer=False).config
    assert e["graph"]["weight_matmuls_float"] == 0
    assert e["graph"]["weight_matmuls_integer"] == 6 * _applications(cfg) + 3
    feeds = _random_feeds(cfg.vocab_size, 4, 20)
    out = _session(folder / "model.int8.onnx").run(["logits"], feeds)[0]
    assert np.isfinite(out).all()


def test_quantize_refuses_to_clobber(onnx_art):
    from albert_edge.quantize.onnx_quant import quantize_onnx

    with pytest.raises(AlbertEdgeError, match="already exists"):
        quantize_onnx(onnx_art, quiet=True)


def test_quantize_needs_fp32_model(tmp_path):
    from albert_edge.quantize.onnx_quant import quantize_onnx

    with pytest.raises(AlbertEdgeError, match="does not exist"):
        quantize_onnx(tmp_path / "nope", quiet=True)


def test_embedding_rows_int8_lookup_matches_table():
    from onnx import TensorProto, helper

    from albert_edge.export.onnx_graph import quantize_embedding_rows

    rs = np.random.RandomState(0)
    # Rows of very different norms: one table-wide scale would flatten the small rows to zero.
    table = (rs.randn(300, 8) * rs.choice([0.01, 1.0, 30.0], size=(300, 1))).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Gather", ["emb", "ids"], ["out"], axis=0)],
        "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", "s"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", "s", 8])],
        [numpy_helper.from_array(table, "emb")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert quantize_embedding_rows(m, min_rows=256) == 1
    onnx.checker.check_model(m)
    kinds = {t.name: t.data_type for t in m.graph.initializer}
    assert TensorProto.FLOAT not in [kinds[n] for n in kinds if n.endswith("_int8_rows")]
    assert "emb" not in kinds, "the fp32 table must be gone"
    ids = rs.randint(0, 300, (2, 7)).astype(np.int64)
    got = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    want = table[ids]
    row_max = np.abs(table).max(axis=1)[ids][..., None]
    assert np.all(np.abs(got - want) <= row_max / 254 + 1e-7)
