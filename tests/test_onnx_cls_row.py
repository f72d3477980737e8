"""The ONNX [CLS]-row rewrite (export/onnx_cls_row.py): the row selection moves up exactly as far as
the graph is row-wise, the logits do not change, and the int8 graph keeps it with every application's
Q, K and V fused (the shared weights stored once)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from albert_edge.export.onnx_cls_row import ROW_SLICE_PREFIX, cls_row_nodes, has_cls_row_slices, hoist_row_select

H, S = 8, 6


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def _graph(nodes, inits, outputs=(("y", ["b", 4]),)):
    """x [b, s, H] -> nodes -> outputs; a Gather(axis=1, index 0) named 'select' is up to the caller."""
    rng = np.random.default_rng(1)
    inits = [_init(n, rng.normal(size=shape)) for n, shape in inits]
    inits.append(numpy_helper.from_array(np.array(0, np.int64), "zero"))
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", H])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, shape) for o, shape in outputs], inits,
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(model, x):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})


def _rewritten(model):
    before = onnx.ModelProto()
    before.CopyFrom(model)
    stats = hoist_row_select(model)
    onnx.checker.check_model(model, full_check=True)
    x = np.random.default_rng(2).normal(size=(2, S, H)).astype(np.float32)
    for want, got in zip(_run(before, x), _run(model, x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return stats


def _ffn_block(first_input="x"):
    """A post-LN transformer block's tail: projection, bias, residual, LayerNorm, gelu-ish, FFN."""
    return [
        helper.make_node("MatMul", [first_input, "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["h2"]),
        helper.make_node("Add", ["h2", "x"], ["h3"]),
        helper.make_node("LayerNormalization", ["h3", "g", "beta"], ["h4"], axis=-1),
        helper.make_node("Tanh", ["h4"], ["h5"]),
        helper.make_node("MatMul", ["h5", "w2"], ["h6"]),
        helper.make_node("Gather", ["h6", "zero"], ["y"], axis=1, name="select"),
    ]


FFN_INITS = [("w1", (H, H)), ("b1", (H,)), ("g", (H,)), ("beta", (H,)), ("w2", (H, 4))]


def test_row_wise_tail_runs_on_one_row():
    m = _graph(_ffn_block(), FFN_INITS)
    stats = _rewritten(m)
    assert stats == {"rowwise_nodes": 6, "weight_matmuls": 2, "row_slices": 1}
    # the one Slice reads the input, and both of its readers (the projection, the residual) share it
    sl = [n for n in m.graph.node if n.op_type == "Slice"]
    assert len(sl) == 1 and sl[0].input[0] == "x" and sl[0].name.startswith(ROW_SLICE_PREFIX)
    readers = [n.op_type for n in m.graph.node if sl[0].output[0] in n.input]
    assert sorted(readers) == ["Add", "MatMul"]
    assert has_cls_row_slices(m)
    # idempotent: a second pass adds nothing
    assert hoist_row_select(m)["row_slices"] == 0


def test_stops_at_an_op_that_mixes_rows():
    """A softmax over the sequence axis (what attention's scores are) mixes rows: the region ends there."""
    nodes = [helper.make_node("Softmax", ["x"], ["sx"], axis=1)] + _ffn_block("sx")
    stats = _rewritten(_graph(nodes, FFN_INITS))
    assert stats["rowwise_nodes"] == 6 and stats["row_slices"] == 2  # the softmax output and the residual x


def test_constant_that_varies_along_the_sequence_is_not_row_wise():
    """x + a [seq, hidden] table (a position table) needs every row of the table: not crossed."""
    nodes = [helper.make_node("Add", ["x", "table"], ["xt"])] + _ffn_block("xt")
    m = _graph(nodes, FFN_INITS + [("table", (S, H))])
    stats = _rewritten(m)
    assert stats["rowwise_nodes"] == 6
    assert [n.input[0] for n in m.graph.node if n.op_type == "Slice"].count("xt") == 1


def test_tensor_needed_elsewhere_stays_full():
    """A hidden state that is also a graph output keeps every row; only what is past it moves."""
    m = _graph(_ffn_block(), FFN_INITS, outputs=(("y", ["b", 4]), ("h4", ["b", "s", H])))
    stats = _rewritten(m)
    assert stats["rowwise_nodes"] == 2  # Tanh and the last MatMul
    assert [n.input[0] for n in m.graph.node if n.op_type == "Slice"] == ["h4"]


def test_no_row_select_no_change():
    nodes = _ffn_block()[:-1] + [helper.make_node("Gather", ["h6", "zero"], ["y"], axis=2)]
    m = _graph(nodes, FFN_INITS, outputs=(("y", ["b", "s"]),))
    assert hoist_row_select(m) == {"rowwise_nodes": 0, "weight_matmuls": 0, "row_slices": 0}
    assert not has_cls_row_slices(m)


def _applications(folder):
    cfg = json.loads((folder / "manifest.json").read_text())["model"]
    return cfg["num_hidden_layers"] * cfg.get("inner_group_num", 1)


def _weight_matmuls_after_row_slices(model):
    """Weight matmuls among the nodes that run on the [CLS] row only."""
    inits = {t.name for t in model.graph.initializer}
    names = cls_row_nodes(model)
    return [n.name for n in model.graph.node if n.name in names and n.op_type in ("MatMul", "MatMulInteger", "DynamicQuantizeMatMul")
            and len(n.input) > 1 and n.input[1] in inits]


@pytest.mark.parametrize("fixture", ["onnx_art", "grouped_art"])
def test_exported_models_compute_the_last_application_tail_for_cls_only(request, fixture):
    folder = request.getfixturevalue(fixture)
    man = json.loads((folder / "manifest.json").read_text())
    entries = {a["file"]: a for a in man["artifacts"]}
    for name in ("model.onnx", "model.int8.onnx"):
        assert entries[name]["rewrites"]["cls_row_after_last_attention"] is True, name
        assert entries[name]["rewrites"]["weight_matmuls_on_cls_row"] == 3, name
    fp32, int8 = (onnx.load(str(folder / f)) for f in ("model.onnx", "model.int8.onnx"))
    # O, FFN-in and FFN-out of the last application (the pooler and classifier follow the Gather)
    assert len(_weight_matmuls_after_row_slices(fp32)) == 3
    assert len(_weight_matmuls_after_row_slices(int8)) == 3
    # Every application's Q, K, V are one QAttention over the shared concatenated weight, the last
    # (its context sliced afterwards, which ORT's own fusion does not match) included: otherwise the
    # quantizer stores separate Q/K/V matrices beside the concatenated one.
    ops = [n.op_type for n in int8.graph.node]
    assert ops.count("QAttention") == _applications(folder)


def test_exporter_refuses_a_rewrite_that_changes_the_logits(tmp_path, tiny_ckpt, monkeypatch):
    """The exporter proves the rewrite on the spot (cls_row_rewrite): a pass that selected row 1 instead
    of row 0 must stop the export with an error, and leave no model.onnx behind."""
    from albert_edge.errors import AlbertEdgeError
    from albert_edge.export import onnx_cls_row
    from albert_edge.export.onnx_export import export_onnx

    real = onnx_cls_row.hoist_row_select

    def wrong_row(model):
        stats = real(model)
        for t in model.graph.initializer:
            if t.name == f"{ROW_SLICE_PREFIX}starts":
                t.CopyFrom(numpy_helper.from_array(np.array([1], np.int64), t.name))
        for t in model.graph.initializer:
            if t.name == f"{ROW_SLICE_PREFIX}ends":
                t.CopyFrom(numpy_helper.from_array(np.array([2], np.int64), t.name))
        return stats

    monkeypatch.setattr(onnx_cls_row, "hoist_row_select", wrong_row)
    with pytest.raises(AlbertEdgeError, match="changed the logits"):
        export_onnx(tiny_ckpt, tmp_path / "art", quiet=True, text=False)
    assert not (tmp_path / "art" / "model.onnx").exists()


def test_side_by_side_benchmark_script(tmp_path, tiny_ckpt):
    """`python -m albert_edge.benchmarks.onnx_cls_row` (the measurement behind the README's numbers) on
    the tiny model: both variants exported, timed and compared, the result files written."""
    from albert_edge.benchmarks import onnx_cls_row

    assert onnx_cls_row.main([str(tiny_ckpt), "--sentences", "3", "--rounds", "1", "--threads", "1", "--name", "tiny", "--out", str(tmp_path)]) == 0
    result = json.loads(next(tmp_path.glob("*-tiny-cls-row.json")).read_text())
    assert result["rewrites"]["every-row"] == {"cls_row_after_last_attention": False}
    assert result["rewrites"]["cls-only"]["weight_matmuls_on_cls_row"] == 3
    rows = {r["precision"]: r for r in result["rows"]}
    assert set(rows) == {"fp32", "int8"} and result["sentences"] == 3
    assert rows["fp32"]["max_abs_between_variants"] < 1e-4 and rows["fp32"]["sha256"]["every-row"] != rows["fp32"]["sha256"]["cls-only"]
    assert all(r["speedup_median_of_ratios"] > 0 and r["speedup_by_group"] for r in rows.values())
    md = next(tmp_path.glob("*-tiny-cls-row.md")).read_text()
    assert "| fp32 |" in md and "| int8 |" in md and "by token count" in md
