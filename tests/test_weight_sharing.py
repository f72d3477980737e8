"""Weights stored once on TRAINED-looking checkpoints, in every format, and the guard that refuses
any file that stores them more than once (albert_edge.weight_guard).

Random initialisation has LayerNorm scale 1, shift 0 and zero biases: LiteRT's fold of a LayerNorm
scale into the next FULLY_CONNECTED then yields byte-identical copies that the buffer merge hides.
Every checkpoint here is perturbed (testing.perturb_like_trained), and the model is shaped so the
shared layer weights dominate the file (300-word vocabulary, hidden 64): one duplicated 64x64 matrix
is ~3 % of the fp32 file, over the guard's 2 %.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from albert_edge.errors import AlbertEdgeError

H = 64
CFG = dict(
    embedding_size=16, hidden_size=H, intermediate_size=128, num_attention_heads=4, max_position_embeddings=64,
    num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
)
BUCKETS = (8, 24)
DISTINCT_LAYERS = CFG["num_hidden_groups"] * CFG["inner_group_num"]
# H x H matrices a correct file stores: Q, K, V, attention output per distinct layer + the pooler.
SQUARE = 4 * DISTINCT_LAYERS + 1


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    from albert_edge.testing import make_checkpoint, tokenizer_source

    root = tmp_path_factory.mktemp("trained-looking")
    spm = tokenizer_source(root / "spm", official=False)  # 300 pieces: the layers dominate the file
    return make_checkpoint(root / "ckpt", spm, trained_looking=True, seed=3, **CFG)


@pytest.fixture(scope="module")
def ckpt(ckpt_dir):
    from albert_edge.checkpoint import load_checkpoint

    return load_checkpoint(ckpt_dir)


@pytest.fixture(scope="module")
def tfl(tmp_path_factory, ckpt_dir):
    """Artifacts folder with model.tflite, model.int8.tflite, model.fp16.tflite of the trained-looking model."""
    from albert_edge.export.tflite_export import export_tflite
    from albert_edge.quantize.tflite_quant import quantize_tflite

    folder = tmp_path_factory.mktemp("tfl") / "art"
    export_tflite(ckpt_dir, folder, buckets=BUCKETS, quiet=True)
    quantize_tflite(folder, mode="dynamic", quiet=True)
    quantize_tflite(folder, mode="fp16", quiet=True)
    return folder


@pytest.fixture(scope="module")
def onx(tmp_path_factory, ckpt_dir):
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.quantize.onnx_quant import quantize_onnx

    folder = tmp_path_factory.mktemp("onnx") / "art"
    export_onnx(ckpt_dir, folder, max_length=64, quiet=True)
    quantize_onnx(folder, quiet=True)
    return folder


@pytest.fixture(scope="module")
def old_conversion(ckpt):
    """The conversion as it was before the fix (no fold barriers), one bucket, merged like the exporter does."""
    from albert_edge.export.tflite_buffers import compact
    from albert_edge.export.tflite_export import convert_buckets

    raw = convert_buckets(ckpt.model, (8,), quiet=True, fold_barriers=False)
    return compact(raw)[0]


def _entry(folder, file):
    return next(a for a in json.loads((Path(folder) / "manifest.json").read_text())["artifacts"] if a["file"] == file)


def _ids(n, max_len, seed, vocab=300):
    rs = np.random.RandomState(seed)
    return [[2] + rs.randint(5, vocab, size=k).tolist() + [3] for k in rs.randint(0, max_len - 1, size=n)]


def _torch_logits(ckpt, ids_list):
    from albert_edge.runners import TorchRunner

    r = TorchRunner(ckpt.model, pad_id=0, threads=1)
    return np.concatenate([r.logits([x]) for x in ids_list])


def _tflite_logits(path, ids, entry):
    from albert_edge.tflite_runner import TFLiteRunner

    return TFLiteRunner(path, entry=entry, threads=1, weight_cache=False).logits(ids)


def _square_matrices(data: bytes) -> int:
    from albert_edge.export.tflite_buffers import list_constants

    return sum(1 for c in list_constants(data) if c.role == "weight" and c.shape == (H, H))


def _tflite_size_violations(data: bytes, ckpt, precision: str, buckets) -> list[str]:
    """The sharing/size test, as a function so it can run on the old conversion too."""
    from albert_edge.export.tflite_buffers import list_constants, weight_budget
    from albert_edge.weight_guard import parameter_shapes

    out = []
    n = _square_matrices(data)
    if n != SQUARE:
        out.append(f"{n} [{H}, {H}] matrices, expected {SQUARE}")
    stored = sum(c.nbytes for c in list_constants(data) if c.role != "graph")
    budget = weight_budget(parameter_shapes(ckpt.model), precision, buckets).total
    if stored > 1.02 * budget:
        out.append(f"{stored} constant bytes > 1.02 x {budget}")
    return out


# --- the fixture really looks trained -----------------------------------------------------------


def test_perturb_like_trained_moves_every_layernorm_and_bias(ckpt):
    import torch

    lns = [m for m in ckpt.model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert lns
    for m in lns:
        assert (m.weight - 1).abs().mean() > 0.05 and m.bias.abs().mean() > 0.02
    biases = [p for n, p in ckpt.model.named_parameters() if n.endswith("bias")]
    assert all(p.abs().max() > 0 for p in biases)


def test_make_checkpoint_default_is_unchanged(tmp_path):
    """trained_looking is opt-in: existing callers keep ALBERT's initialisation (gamma 1, zero biases)."""
    import torch

    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.testing import make_checkpoint, tokenizer_source

    d = make_checkpoint(tmp_path / "c", tokenizer_source(tmp_path / "spm", official=False), embedding_size=8, hidden_size=16, num_attention_heads=2, intermediate_size=32, num_hidden_layers=1)
    m = load_checkpoint(d, with_tokenizer=False).model
    ln = next(x for x in m.modules() if isinstance(x, torch.nn.LayerNorm))
    assert torch.equal(ln.weight, torch.ones_like(ln.weight)) and not ln.bias.any()


# --- TFLite: the fold, the fix, the guard -------------------------------------------------------


def test_old_conversion_folds_layernorm_into_copies_and_fails_the_size_test(old_conversion, ckpt):
    """Before the fix (no barriers): on a trained-looking checkpoint the converter stores extra
    W*diag(gamma) copies of Q, K, V — the size test fails and the guard refuses the file."""
    from albert_edge.export.tflite_export import weight_guard
    from albert_edge.weight_guard import parameter_shapes

    violations = _tflite_size_violations(old_conversion, ckpt, "fp32", (8,))
    assert violations and _square_matrices(old_conversion) > SQUARE, violations
    with pytest.raises(AlbertEdgeError, match=rf"model.tflite would store .*% over .* x \[{H}, {H}\] float32 where the checkpoint has {SQUARE}") as e:
        weight_guard(old_conversion, "model.tflite", parameter_shapes(ckpt.model), "fp32", (8,))
    assert "\n" not in str(e.value) and "--allow-duplicated-weights" in str(e.value)


@pytest.mark.parametrize("file, precision", [("model.tflite", "fp32"), ("model.int8.tflite", "int8"), ("model.fp16.tflite", "fp16")])
def test_tflite_stores_each_weight_once_on_a_trained_checkpoint(tfl, ckpt, file, precision):
    data = (tfl / file).read_bytes()
    assert _tflite_size_violations(data, ckpt, precision, BUCKETS) == []
    g = _entry(tfl, file)["weight_guard"]
    assert g["within_budget"] and not g["allow_duplicated_weights"] and g["precision"] == precision
    assert g["stored_bytes"] <= 1.02 * g["budget_bytes"]


def test_barrier_adds_no_op(old_conversion, ckpt):
    """The fix costs no kernels: the barrier leaves no op behind and no op type gains instances."""
    from collections import Counter

    from ai_edge_litert import schema_py_generated as schema

    from albert_edge.export.tflite_buffers import compact
    from albert_edge.export.tflite_export import convert_buckets

    def ops(data):
        m = schema.Model.GetRootAs(data, 0)
        g = m.Subgraphs(0)
        c = Counter()
        for k in range(g.OperatorsLength()):
            code = m.OperatorCodes(g.Operators(k).OpcodeIndex())
            c[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())] += 1
        return c

    new = compact(convert_buckets(ckpt.model, (8,), quiet=True))[0]
    before, after = ops(old_conversion), ops(new)
    assert set(after) <= set(before)
    assert all(after[k] <= before[k] for k in after), (before, after)
    assert _square_matrices(new) == SQUARE


def test_tflite_parity_on_a_trained_checkpoint(tfl, ckpt):
    ids = _ids(40, max_len=24, seed=1)
    ref = _torch_logits(ckpt, ids)
    fp32 = _tflite_logits(tfl / "model.tflite", ids, _entry(tfl, "model.tflite"))
    assert np.abs(fp32 - ref).max() <= 1e-4
    fp16 = _tflite_logits(tfl / "model.fp16.tflite", ids, _entry(tfl, "model.fp16.tflite"))
    assert np.abs(fp16 - ref).max() <= 1e-2
    int8 = _tflite_logits(tfl / "model.int8.tflite", ids, _entry(tfl, "model.int8.tflite"))
    assert (int8.argmax(1) == ref.argmax(1)).mean() >= 0.9
    assert np.corrcoef(int8.ravel(), ref.ravel())[0, 1] >= 0.98


def _with_tflite_duplicate(data: bytes) -> bytes:
    """Give the second signature its own, slightly different copy of the largest weight (what a
    value-dependent fold does); byte-different so no merge can hide it."""
    from ai_edge_litert.schema_py_generated import BufferT
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    model = fbu.read_model_from_bytearray(bytearray(data))
    used = {t.buffer for t in model.subgraphs[1].tensors if t.buffer}
    big = max(used, key=lambda i: len(model.buffers[i].data) if model.buffers[i].data is not None else 0)
    copy = BufferT()
    copy.data = np.array(model.buffers[big].data, dtype=np.uint8) ^ np.uint8(1)  # flip the lowest bit
    model.buffers.append(copy)
    for t in model.subgraphs[1].tensors:
        if t.buffer == big:
            t.buffer = len(model.buffers) - 1
    return bytes(fbu.convert_object_to_bytearray(model))


def test_tflite_exporter_refuses_a_duplicated_weight_and_writes_nothing(tfl, ckpt_dir, tmp_path, monkeypatch):
    from albert_edge.export import tflite_export

    # ONE signature converted with a duplicated weight; the real converter output of the fixture is reused.
    real = (tfl / "model.tflite").read_bytes()
    monkeypatch.setattr(tflite_export, "convert_buckets", lambda *a, **k: _with_tflite_duplicate(real))
    out = tmp_path / "art"
    with pytest.raises(AlbertEdgeError, match=r"model.tflite would store .* refusing to write it"):
        tflite_export.export_tflite(ckpt_dir, out, buckets=BUCKETS, quiet=True)
    assert not (out / "model.tflite").exists()
    # The escape hatch writes it and says so in the manifest.
    e = tflite_export.export_tflite(ckpt_dir, out, buckets=BUCKETS, quiet=True, allow_duplicated_weights=True)
    g = e["weight_guard"]
    assert g["allow_duplicated_weights"] and not g["within_budget"] and "written anyway" in g["warning"]
    assert _entry(out, "model.tflite")["weight_guard"] == g


@pytest.mark.parametrize("mode, file", [("dynamic", "model.int8.tflite"), ("fp16", "model.fp16.tflite")])
def test_tflite_quantizer_refuses_a_duplicated_weight(tfl, tmp_path, monkeypatch, mode, file):
    import shutil

    from albert_edge.export import tflite_buffers
    from albert_edge.quantize.tflite_quant import quantize_tflite

    work = tmp_path / "art"
    shutil.copytree(tfl, work)
    before = (work / file).read_bytes()
    real = tflite_buffers.compact

    def compact_then_duplicate(data, **kw):
        out, stats = real(data, **kw)
        return _with_tflite_duplicate(out), stats

    monkeypatch.setattr(tflite_buffers, "compact", compact_then_duplicate)
    with pytest.raises(AlbertEdgeError, match=rf"{file} would store .*% over .* as {'int8' if mode == 'dynamic' else 'fp16'}"):
        quantize_tflite(work, mode=mode, overwrite=True, quiet=True)
    assert (work / file).read_bytes() == before
    e = quantize_tflite(work, mode=mode, overwrite=True, quiet=True, allow_duplicated_weights=True)
    assert e["weight_guard"]["allow_duplicated_weights"] and not e["weight_guard"]["within_budget"]


# --- ONNX ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["model.onnx", "model.int8.onnx"])
def test_onnx_stores_each_weight_once_on_a_trained_checkpoint(onx, ckpt, file):
    from albert_edge.export.onnx_graph import list_constants

    m = onnx.load(str(onx / file))
    g = _entry(onx, file)["weight_guard"]
    assert g["within_budget"] and not g["allow_duplicated_weights"]
    assert g["stored_bytes"] <= 1.02 * g["budget_bytes"]
    # Every H x H weight once (a fused [H, 3H] QKV counts as its three parts).
    square = [c for c in list_constants(m) if c.role == "weight" and c.shape == (H, H)]
    assert len(square) == SQUARE, [c.name for c in square]
    if file == "model.onnx":
        # No value-dependent fold: fp32 initializers are exactly the checkpoint's parameters.
        params = {p.detach().numpy().tobytes() for p in ckpt.model.parameters()}
        params |= {p.detach().numpy().T.copy().tobytes() for p in ckpt.model.parameters() if p.dim() == 2}
        arrays = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
        unknown = [n for n, a in arrays.items() if a.size > 1 and a.tobytes() not in params]
        assert not unknown, unknown


def _duplicate_onnx_weight(model, int8: bool) -> None:
    """Give one consumer of the most-used large weight its own, slightly different copy."""
    from collections import Counter

    inits = {t.name: t for t in model.graph.initializer}
    want = onnx.TensorProto.INT8 if int8 else onnx.TensorProto.FLOAT
    uses = Counter(x for n in model.graph.node for x in n.input if x in inits and inits[x].data_type == want and len(inits[x].dims) == 2)
    name = max(uses, key=lambda x: (uses[x] > 1, int(np.prod(inits[x].dims))))
    arr = numpy_helper.to_array(inits[name])
    copy = (arr ^ 1).astype(arr.dtype) if int8 else arr * np.float32(1.01)
    model.graph.initializer.append(numpy_helper.from_array(copy, name + "_folded_copy"))
    node = next(n for n in reversed(model.graph.node) if name in n.input)
    node.input[list(node.input).index(name)] = name + "_folded_copy"


def test_onnx_exporter_refuses_a_duplicated_weight(ckpt_dir, tmp_path, monkeypatch):
    from albert_edge.export.onnx_export import export_onnx
    from albert_edge.export import onnx_graph

    real = onnx_graph.resolve_initializer_aliases

    def resolve_then_duplicate(model):
        n = real(model)
        _duplicate_onnx_weight(model, int8=False)
        return n

    monkeypatch.setattr(onnx_graph, "resolve_initializer_aliases", resolve_then_duplicate)
    with pytest.raises(AlbertEdgeError, match=rf"model.onnx would store .*{H}.*refusing to write it"):
        export_onnx(ckpt_dir, tmp_path / "art", max_length=64, quiet=True)
    assert not (tmp_path / "art" / "model.onnx").exists()
    e = export_onnx(ckpt_dir, tmp_path / "art2", max_length=64, quiet=True, allow_duplicated_weights=True)
    assert e["weight_guard"]["allow_duplicated_weights"] and not e["weight_guard"]["within_budget"]


def test_onnx_quantizer_refuses_a_duplicated_weight(onx, tmp_path, monkeypatch):
    import shutil

    from albert_edge.export import onnx_graph
    from albert_edge.quantize.onnx_quant import quantize_onnx

    work = tmp_path / "art"
    shutil.copytree(onx, work)
    before = (work / "model.int8.onnx").read_bytes()
    real = onnx_graph.dedupe_initializers

    def dedupe_then_duplicate(model, *a, **k):
        n = real(model, *a, **k)
        if any(t.data_type == onnx.TensorProto.INT8 for t in model.graph.initializer):  # the call after quantization
            _duplicate_onnx_weight(model, int8=True)
        return n

    monkeypatch.setattr(onnx_graph, "dedupe_initializers", dedupe_then_duplicate)
    with pytest.raises(AlbertEdgeError, match=r"model.int8.onnx would store .*% over .* as int8"):
        quantize_onnx(work, overwrite=True, quiet=True)
    assert (work / "model.int8.onnx").read_bytes() == before


# --- the guard itself ---------------------------------------------------------------------------


def _budget():
    from albert_edge.weight_guard import Budget, Expected

    return Budget("fp32", 3 * 100 * 100 + 100, [Expected(f"w{i}", (100, 100), 40000) for i in range(3)] + [Expected("b", (100,), 400)])


def test_guard_accepts_a_file_within_budget_and_ignores_graph_constants():
    from albert_edge.weight_guard import Constant, check_weights

    cs = [Constant(f"w{i}", (100, 100), "float32", 40000) for i in range(3)] + [Constant("b", (100,), "float32", 400)]
    cs += [Constant("shape", (4,), "int32", 16, "graph"), Constant("indices", (1, 1, 1, 500, 2), "int32", 4000, "graph")]
    r = check_weights(cs, _budget(), "x.tflite")
    assert r["within_budget"] and r["stored_bytes"] == 120400 and r["graph_constant_bytes"] == 4016 and r["ratio"] == 1.0


def test_guard_names_the_duplicated_shape_and_tensors():
    from albert_edge.weight_guard import Constant, check_weights

    cs = [Constant(f"w{i}", (100, 100), "float32", 40000) for i in range(3)]
    cs += [Constant("w0_folded", (100, 100), "float32", 40000), Constant("b", (100,), "float32", 400)]
    with pytest.raises(AlbertEdgeError) as e:
        check_weights(cs, _budget(), "x.tflite")
    msg = str(e.value)
    assert "\n" not in msg
    assert "4 x [100, 100] float32 where the checkpoint has 3" in msg and "w0_folded" in msg and "33.2% over" in msg
    # Transposed storage is the same parameter, not a duplicate.
    cs_t = [Constant(f"w{i}", (100, 100), "float32", 40000) for i in range(3)] + [Constant("b", (1, 100), "float32", 400)]
    assert check_weights(cs_t, _budget(), "x.onnx")["within_budget"]


def test_guard_tolerance_and_escape_hatch():
    from albert_edge.weight_guard import Constant, check_weights

    base = [Constant(f"w{i}", (100, 100), "float32", 40000) for i in range(3)] + [Constant("b", (100,), "float32", 400)]
    small = base + [Constant("b_copy", (100,), "float32", 400)]  # +0.3 %: below the 2 % line
    assert check_weights(small, _budget(), "x")["within_budget"]
    big = base + [Constant("w_copy", (100, 100), "float32", 40000)]
    r = check_weights(big, _budget(), "x", allow=True)
    assert not r["within_budget"] and r["allow_duplicated_weights"] and r["excess"][0]["names"] == ["w0", "w1", "w2", "w_copy"]


def test_fold_barriers_can_be_switched_off_by_environment(monkeypatch):
    from albert_edge.export.tflite_sharing import ENV_DISABLE, barriers_enabled

    monkeypatch.delenv(ENV_DISABLE, raising=False)
    assert barriers_enabled()
    monkeypatch.setenv(ENV_DISABLE, "0")
    assert not barriers_enabled()
    monkeypatch.setenv(ENV_DISABLE, "1")
    assert barriers_enabled()


def test_parameter_shapes_from_config_match_the_checkpoint(ckpt_dir, ckpt):
    from albert_edge.weight_guard import parameter_shapes, parameter_shapes_from_config

    assert parameter_shapes_from_config(Path(ckpt_dir) / "config.json") == parameter_shapes(ckpt.model)
