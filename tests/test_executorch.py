"""ExecuTorch format: XNNPACK rewrites keep numerics, the whole encoder is delegated, every weight is
stored once, the runner turns XNNPACK's weight cache on and memory at load stays near the file size.

One trained-looking small ALBERT (E16/H256/FFN1024, one shared layer applied 4 times, 300-token
vocabulary) is exported and quantized once for the module: ExecuTorch's lowering is the slow part
(~20-60 s per program on a busy 2-core machine).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("executorch", reason="ExecuTorch is not installed (pip install executorch==1.5.1)")

import torch  # noqa: E402

from albert_edge.errors import AlbertEdgeError  # noqa: E402

SMALL = dict(embedding_size=16, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024, max_position_embeddings=128)
MAX_LEN = 64


@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory, own_spiece_dir):
    from albert_edge.testing import make_checkpoint

    return make_checkpoint(tmp_path_factory.mktemp("et-small") / "model", own_spiece_dir, id2label={0: "negative", 1: "positive"}, trained_looking=True, seed=3, **SMALL)


@pytest.fixture(scope="module")
def et_art(tmp_path_factory, small_ckpt):
    from albert_edge.export.executorch_export import export_executorch
    from albert_edge.quantize.executorch_quant import quantize_executorch

    folder = tmp_path_factory.mktemp("et-art") / "art"
    fp32 = export_executorch(small_ckpt, folder, max_length=MAX_LEN, quiet=True)
    int8 = quantize_executorch(folder, quiet=True)
    return {"folder": folder, "fp32": fp32, "int8": int8}


def _tiny_model(**over):
    from albert_edge.testing import tiny_classifier

    return tiny_classifier(seed=0, **over)


# ---------------------------------------------------------------------------------------------
# rewrites: each keeps the module's numerics and its parameters


def test_layer_norm_matmul_mean_matches_layer_norm_and_shares_parameters():
    from albert_edge.export.executorch_rewrites import LayerNormMatmulMean, averaging_column, is_averaging_column

    ln = torch.nn.LayerNorm(32, eps=1e-12)
    with torch.no_grad():
        ln.weight.copy_(1 + 0.3 * torch.randn(32))
        ln.bias.copy_(0.2 * torch.randn(32))
    rw = LayerNormMatmulMean(ln)
    assert rw.weight is ln.weight and rw.bias is ln.bias
    assert list(rw.parameters()) == [ln.weight, ln.bias]  # the averaging column and eps are buffers
    for shape in ((1, 7, 32), (2, 5, 32), (1, 2, 32)):
        x = 3 * torch.randn(shape) + 1.5
        torch.testing.assert_close(rw(x), ln(x), atol=2e-6, rtol=1e-5)
    # The column is recognised by its bytes, and only it: a weight vector of the same width is not.
    assert is_averaging_column(averaging_column(32).numpy().tobytes())
    assert not is_averaging_column(ln.weight.detach().numpy().tobytes())
    assert not is_averaging_column(torch.full((32,), 1 / 31).numpy().tobytes())


def test_gelu_new_sigmoid_matches_every_tanh_gelu_of_transformers():
    from transformers.activations import ACT2FN

    from albert_edge.export.executorch_rewrites import GeluNewSigmoid, tanh_gelu_classes

    x = torch.cat([torch.linspace(-12, 12, 8001), 40 * torch.randn(1000)])
    names = ("gelu_new", "gelu_pytorch_tanh", "gelu_python_tanh", "gelu_fast", "gelu_accurate")
    for name in names:
        act = ACT2FN[name]
        assert isinstance(act, tanh_gelu_classes()), name  # each of them is rewritten
        torch.testing.assert_close(GeluNewSigmoid()(x), act(x), atol=1e-6, rtol=1e-6, msg=name)
    # The erf GELU is not a tanh form: XNNPACK's own gelu computes it, it is left alone.
    assert not isinstance(ACT2FN["gelu"], tanh_gelu_classes())


def test_a_gelu_pytorch_tanh_checkpoint_gets_the_sigmoid_form():
    """gelu_pytorch_tanh is F.gelu(approximate="tanh"), which ExecuTorch 1.5.1 lowers to XNNPACK's erf
    gelu (1.9e-4 off on a tiny checkpoint, over the fp32 gate): it must be rewritten like gelu_new."""
    from albert_edge.export.executorch_rewrites import AdditiveMaskLogits, GeluNewSigmoid, apply_rewrites
    from albert_edge.export.wrappers import logits_only

    orig = _tiny_model(hidden_act="gelu_pytorch_tanh")
    model = copy.deepcopy(orig)
    assert apply_rewrites(model)["gelu_new"] == 1
    assert any(isinstance(m, GeluNewSigmoid) for m in model.modules())
    ids = torch.tensor([[2, 17, 45, 99, 3]])
    with torch.no_grad():
        want = logits_only(orig)(ids, torch.ones_like(ids), torch.zeros_like(ids))
        got = AdditiveMaskLogits(model)(ids, torch.ones_like(ids), torch.zeros_like(ids))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_self_check_names_the_final_file_not_the_staged_one(et_art, tmp_path):
    import shutil

    from albert_edge.export.executorch_export import probe_ids, self_check

    staged = tmp_path / ".model.pte.abc123.pte"
    shutil.copyfile(et_art["folder"] / "model.pte", staged)
    probes = probe_ids(300, 16)
    wrong = np.zeros((len(probes), 2), dtype=np.float32) + 100.0
    with pytest.raises(AlbertEdgeError, match=r"^model\.pte: max \|Δlogit\| vs PyTorch") as e:
        self_check(staged, probes, wrong, 1e-4, "model.pte")
    assert "abc123" not in str(e.value)


@pytest.mark.parametrize("batch", [1, 2])
def test_static_batch_attention_matches_eager_attention(batch):
    from albert_edge.export.executorch_rewrites import StaticBatchAttention

    model = _tiny_model()
    attn = model.albert.encoder.albert_layer_groups[0].albert_layers[0].attention
    rw = StaticBatchAttention(attn)
    S = 6
    h = torch.randn(batch, S, 32)
    keep = torch.ones(batch, S)
    keep[-1, -2:] = 0  # padding in the last text
    additive = ((1 - keep) * torch.finfo(torch.float32).min)[:, None, None, :]
    full = additive.expand(batch, 1, S, S)  # transformers' eager mask layout
    for mask in (additive, full, None):
        want, _ = attn(h, mask)
        got, _ = rw(h, mask)
        torch.testing.assert_close(got, want, atol=2e-6, rtol=1e-5)
        # Only the first rows' queries: those rows of the full output (keys and values from all rows).
        for r in (1, 3):
            part, probs = rw(h, mask, query=h[:, :r])
            assert part.shape == (batch, r, 32) and probs.shape[-2] == r
            torch.testing.assert_close(part, want[:, :r], atol=2e-6, rtol=1e-5)


def test_first_row_is_the_slice_bit_for_bit():
    from albert_edge.export.executorch_rewrites import first_row

    for shape in ((1, 2, 8), (1, 37, 768), (2, 5, 8)):
        h = 1e4 * torch.randn(shape)
        assert torch.equal(first_row(h), h[:, :1]), shape


@pytest.mark.parametrize("layout", [{}, {"num_hidden_groups": 3}, {"inner_group_num": 2}, {"num_hidden_layers": 4, "num_hidden_groups": 2, "inner_group_num": 2}])
def test_cls_only_last_application_matches_transformers(layout):
    from albert_edge.export.executorch_rewrites import AdditiveMaskLogits, apply_rewrites, layer_applications
    from albert_edge.export.wrappers import logits_only

    orig = _tiny_model(**layout)
    ids = torch.tensor([[2, 17, 45, 99, 3, 0, 0], [2, 8, 9, 10, 11, 12, 3]])
    mask = (ids != 0).long()
    types = torch.tensor([[0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1, 1]])
    # Our application order is transformers' own (hooks record the order its forward calls layers in).
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(m)) for m in orig.modules() if type(m).__name__ == "AlbertLayer"]
    with torch.no_grad():
        want = logits_only(orig)(ids, mask, types)
    for hk in hooks:
        hk.remove()
    order = layer_applications(orig)
    assert len(seen) == len(order) == orig.config.num_hidden_layers * orig.config.inner_group_num
    assert all(a is b for a, b in zip(seen, order))
    model = copy.deepcopy(orig)
    apply_rewrites(model)
    wrapped = AdditiveMaskLogits(model)
    assert wrapped.layers is not None
    rows = []
    last_ffn = layer_applications(model)[-1].ffn
    hook = last_ffn.register_forward_hook(lambda m, i, o: rows.append((i[0].dim(), i[0].shape[-2])))
    with torch.no_grad():
        for b in range(2):
            torch.testing.assert_close(wrapped(ids[b : b + 1], mask[b : b + 1], types[b : b + 1])[0], want[b], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(wrapped(ids, mask, types), want, atol=1e-5, rtol=1e-5)
    hook.remove()
    # The last application's FFN runs on the [CLS] row only; every earlier call of it on all 7 rows.
    # One text (what the .pte runs) flows as [tokens, hidden] rows (token_rows); a batch stays 3-D.
    calls = sum(1 for x in order if x is order[-1])
    one = [(2, 7)] * (calls - 1) + [(2, 1)]
    assert rows == one + one + [(3, 7)] * (calls - 1) + [(3, 1)], rows
    # Without the rewritten attention (or asked not to), transformers' own forward: same logits.
    assert AdditiveMaskLogits(model, cls_only=False).layers is None
    assert AdditiveMaskLogits(copy.deepcopy(orig)).layers is None


def test_rewritten_classifier_matches_original_and_keeps_each_parameter_once():
    from albert_edge.export.executorch_rewrites import AdditiveMaskLogits, apply_rewrites
    from albert_edge.export.wrappers import logits_only

    orig = _tiny_model()
    model = copy.deepcopy(orig)
    before = {id(p) for p in model.parameters()}
    counts = apply_rewrites(model)
    assert counts == {"attention": 1, "layer_norms": 3, "gelu_new": 1}  # one shared layer: 1 attention, LN x2 + embeddings LN
    assert {id(p) for p in model.parameters()} == before
    ids = torch.tensor([[2, 17, 45, 99, 3, 0, 0], [2, 8, 9, 10, 11, 12, 3]])
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    with torch.no_grad():
        want = logits_only(orig)(ids, mask, types)
        for b in range(2):  # the export is batch 1; the rewrites also hold for batch 2
            got1 = AdditiveMaskLogits(model)(ids[b : b + 1], mask[b : b + 1], types[b : b + 1])
            torch.testing.assert_close(got1[0], want[b], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(AdditiveMaskLogits(model)(ids, mask, types), want, atol=1e-5, rtol=1e-5)


def test_integer_safe_quantizer_leaves_integer_adds():
    from albert_edge.export.executorch_rewrites import _integer_safe_scalars_to_attrs

    class M(torch.nn.Module):
        def forward(self, x, n):
            idx = torch.arange(n.shape[0]) + 1  # integer index arithmetic, as in transformers' mask code
            return (x + 2.0)[idx - 1]

    ep = torch.export.export(M(), (torch.randn(5), torch.zeros(5)))
    gm = _integer_safe_scalars_to_attrs(ep.module())
    adds = [n for n in gm.graph.nodes if n.op == "call_function" and n.target == torch.ops.aten.add.Tensor]
    int_adds = [n for n in adds if not n.meta["val"].dtype.is_floating_point]
    float_adds = [n for n in adds if n.meta["val"].dtype.is_floating_point]
    assert int_adds and float_adds
    assert all(not isinstance(a, torch.fx.Node) for n in int_adds for a in n.args[1:])  # scalar kept
    assert all(isinstance(n.args[1], torch.fx.Node) and n.args[1].op == "get_attr" for n in float_adds)
    x = torch.randn(5)
    torch.testing.assert_close(gm(x, torch.zeros(5)), x + 2.0)


def test_stock_quantizer_fails_on_transformers_mask_and_the_fix_prepares():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    from albert_edge.export.executorch_rewrites import IntegerSafeXNNPACKQuantizer
    from albert_edge.export.wrappers import logits_only

    ex = (torch.full((1, 8), 5), torch.ones((1, 8), dtype=torch.long), torch.zeros((1, 8), dtype=torch.long))
    ep = torch.export.export(logits_only(_tiny_model()), ex, strict=False)  # transformers' own 2-D mask path
    cfg = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    # If this stops raising, ExecuTorch fixed the bug and IntegerSafeXNNPACKQuantizer can go.
    with pytest.raises(IndexError, match="tensors used as indices"):
        prepare_pt2e(ep.module(), XNNPACKQuantizer().set_global(cfg))(*ex)
    gm = prepare_pt2e(ep.module(), IntegerSafeXNNPACKQuantizer().set_global(cfg))
    assert torch.isfinite(gm(*ex)).all()


# ---------------------------------------------------------------------------------------------
# partitions: stock vs rewritten


def test_rewrites_let_xnnpack_take_the_encoder(et_art, own_spiece_dir, tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks", "peers"))
    import executorch_stock

    from albert_edge.export.executorch_export import quiet_native
    from albert_edge.testing import make_checkpoint

    # The stock recipe on a two-application model of its own (lowering its many pieces takes ~1 min at
    # the module's four applications): the split is per application, so two show it.
    stock_layers = 2
    stock_ckpt = make_checkpoint(tmp_path / "stock", own_spiece_dir, trained_looking=True, seed=3, num_hidden_layers=stock_layers)
    with quiet_native():
        module, attn = executorch_stock._stock_module(str(stock_ckpt))
        ep, _ = executorch_stock._export(module, 16)
        _, stock_pieces = executorch_stock._lower(ep)
    # Stock: LayerNorm, pow(x, 3), SDPA's where/any and symbolic reshapes split every application.
    assert stock_pieces >= 3 * stock_layers, stock_pieces
    n = SMALL["num_hidden_layers"]
    # Ours: the embedding gathers and the [CLS] one-hot (arange == 0) stay outside, on the inputs'
    # side; everything else is one piece (a slice or select of the hidden states would cut it in two).
    assert et_art["fp32"]["graph"]["delegate_partitions"] == 1
    assert et_art["int8"]["graph"]["delegate_partitions"] == 1
    outside = et_art["fp32"]["graph"]["non_delegated_ops"]
    assert not any(k for k in outside if "layer_norm" in k or "pow" in k or "where" in k or "view_copy" in k or "bmm" in k or "select" in k), outside
    assert outside.get("aten.slice_copy.Tensor", 0) <= 1, outside  # the position ids' own slice only
    for e in (et_art["fp32"], et_art["int8"]):
        g = e["graph"]
        # LayerNorm means are matmuls by the 1/h column (2 per LayerNorm: embeddings + 2 per application),
        # not global average pooling, whose NCHW/NHWC layout cost 4 transposes per LayerNorm.
        assert g["mean_matmuls"] == 2 * (2 * n + 1), g["mean_matmuls"]
        assert "XNNGlobalAvgPooling2d" not in g["xnnpack_ops"], g["xnnpack_ops"]
        # Transposes left: Q, K (already as K^T), V into heads and the context back: 4 per application.
        assert g["xnnpack_ops"].get("XNNStaticTranspose", 0) <= 4 * n, g["xnnpack_ops"]
        # Reshapes: the same 4 per application plus a few outside them (the embeddings' LayerNorm, the
        # rows view, the mask, the one-hot [CLS] row); with [batch, seq, hidden] hidden states (no
        # token_rows) every LayerNorm and every head fold added its own: 12 per application.
        assert g["xnnpack_ops"].get("XNNStaticReshape", 0) <= 4 * n + 8, g["xnnpack_ops"]
    assert et_art["int8"]["rewrites"]["token_rows"] is True


# ---------------------------------------------------------------------------------------------
# the artifacts


def test_entries_store_every_weight_once_and_quantize_every_matmul(et_art):
    from albert_edge.export.executorch_export import pte_constants

    n_mm = 6 * SMALL["num_hidden_layers"] + 3  # Q K V O FFN-in FFN-out per application + projection, pooler, classifier
    fp32, int8 = et_art["fp32"], et_art["int8"]
    assert (fp32["format"], fp32["precision"], int8["format"], int8["precision"]) == ("executorch", "fp32", "executorch", "int8")
    assert fp32["graph"]["weight_matmuls_float"] == n_mm and fp32["graph"]["weight_matmuls_integer"] == 0
    assert int8["graph"]["weight_matmuls_integer"] == n_mm and int8["graph"]["weight_matmuls_float"] == 0
    # Tables of >= 256 rows (the 300-word table) int8 rows; position (128) and token-type (2) stay fp32.
    assert int8["graph"]["instructions"].get("quantized_decomposed::embedding_byte.out") == 1
    assert int8["graph"]["instructions"].get("aten::embedding.out") == 2
    assert fp32["graph"]["instructions"].get("aten::embedding.out") == 3
    for e in (fp32, int8):
        assert e["weight_guard"]["within_budget"] and e["weight_guard"]["ratio"] <= 1.001, e["weight_guard"]
        assert e["graph"]["constants"]["duplicate_bytes"] == 0
    # The shared layer's weights are referenced by every application but stored once.
    consts = pte_constants(et_art["folder"] / "model.pte")
    big = [c for c in consts if c["shape"] == [SMALL["intermediate_size"], SMALL["hidden_size"]]]
    assert len(big) == 1 and big[0]["references"] == SMALL["num_hidden_layers"], big
    assert len({c["sha256"] for c in consts if c["sha256"]}) == len([c for c in consts if c["sha256"]])
    # ~4 / ~1 byte per parameter (+ int8 scales, + the program and delegate flatbuffers: < 64 KB here)
    params = sum(int(np.prod(s)) for s in _param_shapes(et_art))
    assert fp32["bytes"] < 4.02 * params + 65536, (fp32["bytes"], params)
    assert int8["bytes"] < 1.1 * params + 65536, (int8["bytes"], params)


def test_flatc_json_reads_non_finite_floats():
    from albert_edge.export.executorch_export import flatc_json

    text = '{"a": inf, "b": [-inf, 1.5, nan], "c": {"output_min": 0.0,\n "output_max": inf\n}, "key": "inf", "k2": "x inf"}'
    got = flatc_json(text)
    assert got["a"] == float("inf") and got["b"][0] == float("-inf") and got["b"][1] == 1.5 and got["b"][2] != got["b"][2]
    assert got["c"]["output_max"] == float("inf") and got["key"] == "inf" and got["k2"] == "x inf"


def test_a_relu_classifier_exports_with_its_graph_counted(tmp_path, own_spiece_dir):
    """hidden_act="relu" lowers to fully-connected nodes with a fused clamp to +inf, which flatc writes
    as a bare `inf`: the graph must still be read (op counts, weight guard), not silently taken as empty."""
    from albert_edge.export.executorch_export import export_executorch
    from albert_edge.testing import make_checkpoint

    # fp32 only, two applications (the fewest that share a layer), 16 tokens: lowering takes ~30 s per
    # program here. The int8 program's fully-connected nodes carry the same clamp and go through the same
    # reader (flatc_json, tested above on the bare values).
    ckpt = make_checkpoint(tmp_path / "relu", own_spiece_dir, trained_looking=True, seed=5, hidden_act="relu", num_hidden_layers=2)
    fp32 = export_executorch(ckpt, tmp_path / "art", max_length=16, quiet=True)
    n_mm = 6 * 2 + 3  # 2 applications of the shared layer + projection, pooler, classifier
    assert fp32["graph"]["weight_matmuls_float"] == n_mm and fp32["graph"]["delegate_partitions"] == 1
    assert fp32["weight_guard"]["within_budget"] and fp32["graph"]["constants"]["duplicate_bytes"] == 0, fp32["weight_guard"]
    assert fp32["self_check"]["max_abs_logit_diff"] <= 1e-4


def test_an_undecodable_xnnpack_payload_is_an_error(et_art):
    """A payload with XNNPACK's header whose graph does not decode fails loudly; another backend's is skipped."""
    from executorch.backends.xnnpack.serialization.xnnpack_graph_serialize import XNNHeader

    from albert_edge.export.executorch_export import _read_pte, _xnn_graphs

    program = _read_pte(et_art["folder"] / "model.pte").program
    good = _xnn_graphs(program)
    assert good and all(g.get("xnodes") for g in good)
    d = program.backend_delegate_data[0]
    blob = bytearray(bytes(d.data))
    h = XNNHeader.from_bytes(bytes(blob[: XNNHeader.EXPECTED_LENGTH]))
    blob[h.flatbuffer_offset : h.flatbuffer_offset + h.flatbuffer_size] = b"\xff" * h.flatbuffer_size
    d.data = bytes(blob)
    with pytest.raises(AlbertEdgeError, match="could not decode XNNPACK delegate payload 0"):
        _xnn_graphs(program)
    d.data = b"not an xnnpack payload" * 4
    assert _xnn_graphs(program)[0] == {}


def _param_shapes(et_art):
    from albert_edge.weight_guard import parameter_shapes_from_config

    return [s for _, s in parameter_shapes_from_config(et_art["folder"] / "config.json")]


def test_weight_guard_refuses_a_duplicated_weight(et_art):
    from albert_edge.export.executorch_export import list_constants, weight_budget
    from albert_edge.weight_guard import Constant, check_weights, parameter_shapes_from_config

    consts = list_constants(et_art["folder"] / "model.pte")
    budget = weight_budget(parameter_shapes_from_config(et_art["folder"] / "config.json"), "fp32")
    assert check_weights(consts, budget, "model.pte")["within_budget"]
    extra = Constant("copy", (SMALL["intermediate_size"], SMALL["hidden_size"]), "float32", 4 * SMALL["intermediate_size"] * SMALL["hidden_size"])
    with pytest.raises(AlbertEdgeError, match="--allow-duplicated-weights"):
        check_weights(consts + [extra], budget, "model.pte")


def _texts_ids(folder, n=24):
    from albert_edge.testing import sample_texts
    from albert_edge.tokenizer import TextEncoder, load_tokenizer

    enc = TextEncoder(load_tokenizer(folder), MAX_LEN)
    return enc.encode(sample_texts()[:n])


def test_runner_matches_pytorch_and_reports_the_weight_cache(et_art, small_ckpt):
    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.executorch_runner import ExecuTorchRunner, xnnpack_weight_cache_state
    from albert_edge.runners import Runner, TorchRunner

    ids = _texts_ids(et_art["folder"])
    assert len({len(x) for x in ids}) > 5
    ref = TorchRunner(load_checkpoint(small_ckpt).model).logits(ids)
    r = ExecuTorchRunner(et_art["folder"] / "model.pte", precision="fp32", entry=et_art["fp32"])
    assert isinstance(r, Runner)
    got = r.run_batched(ids, batch_size=8)
    assert got.shape == (len(ids), 2)
    assert np.max(np.abs(got - ref)) <= 1e-4
    info = r.info()
    assert info["weight_cache"] is True and info["weight_cache_reason"] is None and info["runtime"] == "executorch"
    assert xnnpack_weight_cache_state() == (True, None)
    q = ExecuTorchRunner(et_art["folder"] / "model.int8.pte", precision="int8", entry=et_art["int8"])
    qg = q.logits(ids)
    assert np.isfinite(qg).all() and np.max(np.abs(qg - ref)) < 0.5 * np.max(np.abs(ref))
    assert np.max(np.abs(qg - ref)) > 0  # it is a different (int8) program
    with pytest.raises(AlbertEdgeError, match="maximum sequence length"):
        r.logits([[2] + [7] * MAX_LEN + [3]])
    r.close()
    q.close()


def test_cpp_runner_gives_the_python_runners_logits(et_art, tmp_path):
    """arm64/pte_runner.cpp (what the arm64 check runs under qemu, cross-compiled) built natively against
    this wheel gives ExecuTorchRunner's logits bit for bit, fp32 and int8, a 1-token text included (padded
    to the program's minimum of 2): an aarch64-vs-x86 difference is then the ISA's, not the runner's."""
    from albert_edge.arm64 import pte
    from albert_edge.executorch_runner import ExecuTorchRunner

    binary = pte.build_native(tmp_path / "bin")
    assert pte.build_native(tmp_path / "bin") == binary  # cached by content
    ids = _texts_ids(et_art["folder"])[:16] + [[2], [2, 3]]
    pte.write_ids(ids, tmp_path / "ids.txt")
    for file, entry in (("model.pte", et_art["fp32"]), ("model.int8.pte", et_art["int8"])):
        r = ExecuTorchRunner(et_art["folder"] / file, entry=entry)
        want, threads = r.logits(ids), r.info()["threads"]
        r.close()
        got, rec = pte.run([], binary, et_art["folder"] / file, tmp_path / "ids.txt", tmp_path / f"{file}.f32", len(ids), threads=threads)
        assert rec["weight_cache"] is True and rec["threads"] == threads and rec["labels"] == 2
        np.testing.assert_array_equal(got, want)

    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"not a program" * 100)
    with pytest.raises(AlbertEdgeError, match="not an ExecuTorch program"):
        pte.run([], binary, bad, tmp_path / "ids.txt", tmp_path / "bad.f32", len(ids))
    (tmp_path / "bad_ids.txt").write_text("2 7 x 3\n")
    with pytest.raises(AlbertEdgeError, match="not a list of integers"):
        pte.run([], binary, et_art["folder"] / "model.pte", tmp_path / "bad_ids.txt", tmp_path / "bad.f32", 1)
    (tmp_path / "oob.txt").write_text("2 10000 3\n")  # id past the 300-row embedding table
    with pytest.raises(AlbertEdgeError, match="execute on 3 tokens"):
        pte.run([], binary, et_art["folder"] / "model.pte", tmp_path / "oob.txt", tmp_path / "bad.f32", 1)


def test_runner_records_a_missing_weight_cache_symbol(et_art, monkeypatch):
    import albert_edge.executorch_runner as er

    monkeypatch.setattr(er, "_SET_OPTION", "_ZN10executorch7runtime19no_such_set_optionEv")
    r = er.ExecuTorchRunner(et_art["folder"] / "model.pte", entry=et_art["fp32"])
    info = r.info()
    assert info["weight_cache"] is False and "set_option" in info["weight_cache_reason"]
    assert np.isfinite(r.logits([[2, 9, 3]])).all()
    r.close()


def test_runner_errors(tmp_path, et_art):
    from albert_edge.executorch_runner import ExecuTorchRunner

    with pytest.raises(AlbertEdgeError, match="does not exist"):
        ExecuTorchRunner(tmp_path / "none.pte")
    bad = tmp_path / "bad.pte"
    bad.write_bytes(b"not a program" * 100)
    with pytest.raises(AlbertEdgeError, match="cannot load"):
        ExecuTorchRunner(bad)
    r = ExecuTorchRunner(et_art["folder"] / "model.pte", entry=et_art["fp32"])
    with pytest.raises(AlbertEdgeError, match="could not run"):
        r.logits([[2, 10_000, 3]])  # id past the 300-row embedding table
    r.close()


def test_export_and_quantize_refuse_user_mistakes(et_art, tmp_path, small_ckpt, spiece_dir):
    from albert_edge.export.executorch_export import export_executorch
    from albert_edge.quantize.executorch_quant import quantize_executorch
    from albert_edge.testing import make_checkpoint

    with pytest.raises(AlbertEdgeError, match="already exists"):
        export_executorch(small_ckpt, et_art["folder"], max_length=MAX_LEN, quiet=True)
    with pytest.raises(AlbertEdgeError, match="already exists"):
        quantize_executorch(et_art["folder"], quiet=True)
    other = make_checkpoint(tmp_path / "other", spiece_dir, seed=5, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    with pytest.raises(AlbertEdgeError, match="not the checkpoint"):
        quantize_executorch(et_art["folder"], model_dir=other, overwrite=True, quiet=True)
    for n in (1, 2):  # 2: torch.export's dynamic length would have min == max
        with pytest.raises(AlbertEdgeError, match="at least 3"):
            export_executorch(small_ckpt, tmp_path / "x", max_length=n, quiet=True)


# ---------------------------------------------------------------------------------------------
# threads and memory: process-wide state, so each check runs in a fresh process

_PROBE = textwrap.dedent(
    """
    import gc, json, os, sys
    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    path, cache = sys.argv[1], sys.argv[2] == "1"
    from albert_edge.executorch_runner import ExecuTorchRunner, _bindings
    _bindings()
    from executorch.runtime import Runtime
    Runtime.get()
    gc.collect()
    base = rss()
    r = ExecuTorchRunner(path, weight_cache=cache, threads=1)
    grown = rss() - base
    r.logits([[2, 5, 6, 7, 3]])
    print(json.dumps({"growth": grown, "bytes": os.path.getsize(path), "info": r.info()}))
    """
)


def _probe(path, cache: bool) -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    p = subprocess.run([sys.executable, "-c", _PROBE, str(path), "1" if cache else "0"], capture_output=True, text=True, timeout=300, env=env)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert p.returncode == 0 and lines, p.stderr[-2000:]
    return json.loads(lines[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize("file,bytes_per_param", [("model.pte", 4), ("model.int8.pte", 1)])
def test_memory_at_load_stays_near_the_file_size_only_with_the_weight_cache(et_art, file, bytes_per_param):
    """With the cache each shared weight is packed once: growth ~ file size + fixed runtime overhead.
    Without it XNNPACK packs the shared layer once per application (4 here). The bound sits halfway:
    file + 1 MiB + half of the 3 extra copies of the layer; with the cache off it must fail."""
    H, I = SMALL["hidden_size"], SMALL["intermediate_size"]
    layer = (4 * H * H + 2 * H * I) * bytes_per_param
    path = et_art["folder"] / file
    on = _probe(path, cache=True)
    off = _probe(path, cache=False)
    bound = on["bytes"] + (1 << 20) + 0.5 * (SMALL["num_hidden_layers"] - 1) * layer
    assert on["info"]["weight_cache"] is True and off["info"]["weight_cache"] is False
    assert on["growth"] <= bound, (on["growth"], bound)
    assert off["growth"] > bound, (off["growth"], bound)


def test_threads_are_set_and_a_conflicting_count_is_refused(et_art):
    code = textwrap.dedent(
        """
        import json, sys
        from albert_edge.errors import AlbertEdgeError
        from albert_edge.executorch_runner import ExecuTorchRunner
        a = ExecuTorchRunner(sys.argv[1], threads=1)
        out = {"first": a.info()["threads"]}
        try:
            ExecuTorchRunner(sys.argv[1], threads=2)
            out["conflict"] = None
        except AlbertEdgeError as e:
            out["conflict"] = str(e)
        same = ExecuTorchRunner(sys.argv[1], threads=1)
        out["same"] = same.info()["threads"]
        a.close(); same.close()
        b = ExecuTorchRunner(sys.argv[1], threads=2)
        out["after_close"] = b.info()["threads"]
        print(json.dumps(out))
        """
    )
    p = subprocess.run([sys.executable, "-c", code, str(et_art["folder"] / "model.pte")], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert p.returncode == 0 and lines, p.stderr[-2000:]
    out = json.loads(lines[-1])
    assert out["first"] == 1 and out["same"] == 1 and out["after_close"] == 2
    assert out["conflict"] and "process-wide" in out["conflict"]


def test_stock_peer_refuses_a_folder_without_config(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "peers", "executorch_stock.py")
    p = subprocess.run([sys.executable, script, str(tmp_path), str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "config.json" in p.stderr


# ---------------------------------------------------------------------------------------------
# the benchmark's per-op profiles at a sentence's length: ExecuTorch's ETDump beside ORT's profiler


def test_sentence_profile_sets_both_runtimes_side_by_side(et_art, small_ckpt, tmp_path):
    """`albert-edge bench` profiles onnx-int8 and executorch-int8 at the median sentence length, each with
    its runtime's own profiler in a fresh process: every int8 weight matmul of the program is one XNNPACK
    int8 fully-connected event, their analytic operations follow the [CLS]-only rewrite, and the report
    and the schema carry both."""
    from albert_edge.benchmarks import profile_executorch, report, schema, suite
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.quantize.onnx_quant import quantize_onnx

    onnx_folder = tmp_path / "onnx"
    export_onnx(small_ckpt, onnx_folder, max_length=MAX_LEN, quiet=True, text=False)
    quantize_onnx(onnx_folder, text=False, ort=False, quiet=True)
    specs = [{"name": "onnx-int8", "format": "onnx", "path": str(onnx_folder / "model.int8.onnx")},
             {"name": "executorch-int8", "format": "executorch", "path": str(et_art["folder"] / "model.int8.pte")}]
    arts = [{"name": s["name"], "error": None, "sha256": "ab" * 32} for s in specs]
    sent_ids = [[2] + [7] * n + [3] for n in (5, 9, 11, 20, 30)]  # median 11 + 2 = 13 tokens
    notes: list[str] = []
    sp = suite._sentence_profile(specs, arts, suite.Settings(threads=[1], quick=True), sent_ids, notes, quiet=True)
    assert notes == [] and sp["seq_len"] == 13 and sp["threads"] == 1 and set(sp["profiles"]) == {"onnx-int8", "executorch-int8"}
    assert profile_executorch.is_int8_fc("Fully Connected (NC, QD8, F32, QC8W) GEMM")
    assert profile_executorch.is_int8_fc("Fully Connected (NC, QDU8, F32, QC8W) GEMM")
    assert not profile_executorch.is_int8_fc("Fully Connected (NC, F32) GEMM")

    et = {g["op_type"]: g for g in sp["profiles"]["executorch-int8"]["groups"]}
    # "QD8" on AVX2/Arm, "QDU8" with AVX-512 VNNI: the test must not depend on the CPU
    int8_fc = [k for k in et if profile_executorch.is_int8_fc(k)]
    assert len(int8_fc) == 1, sorted(et)
    fc = et[int8_fc[0]]
    assert fc["nodes"] == et_art["int8"]["graph"]["weight_matmuls_integer"]
    # weight-matmul operations at L = 13 by hand, the last of the 4 applications for 1 query row
    H, I, E, N, L = SMALL["hidden_size"], SMALL["intermediate_size"], SMALL["embedding_size"], SMALL["num_hidden_layers"], 13
    per = lambda q: 2 * q * H * H + 2 * 2 * L * H * H + 2 * q * H * H + 2 * 2 * q * H * I  # noqa: E731  Q, K+V, O, FFN
    assert fc["gemm_ops"] == 2 * L * E * H + (N - 1) * per(L) + per(1) + 2 * H * H + 2 * H * 2
    assert fc["ms"] > 0 and 0 < fc["share"] <= 1 and "Method::execute" not in et and "OPERATOR_CALL" not in et
    assert any(k.startswith("portable ") for k in et)  # the embeddings stay outside the delegate
    prof = sp["profiles"]["executorch-int8"]
    assert prof["weight_cache"] is True and 0 < prof["sum_node_min_ms"] <= prof["wall_ms_p50"] * 1.5
    ort_groups = {g["op_type"] for g in sp["profiles"]["onnx-int8"]["groups"]}
    assert ort_groups & {"DynamicQuantizeMatMul", "MatMulInteger", "QAttention"}

    # the report's section and the schema (on a real result file of this repo, with the profile added)
    md = "\n".join(report.sentence_profile_md({"sentence_profile": sp, "peak": []}))
    assert "at a real sentence's length (13 tokens, 1 thread(s))" in md and "**executorch-int8**" in md and "**onnx-int8**" in md
    results = sorted((Path(__file__).parent.parent / "benchmarks" / "results").glob("*-executorch-*.json"))
    base = json.loads(results[-1].read_text())
    schema.validate({**base, "sentence_profile": sp})
    broken = {**base, "sentence_profile": {**sp, "profiles": {"executorch-int8": {**prof, "groups": []}}}}
    assert any("sentence_profile.profiles.executorch-int8" in p for p in schema.problems(broken))
