"""TFLite: litert-torch export with sequence buckets, shared weights stored once, int8/fp16 via
ai-edge-quantizer, the CompiledModel runner (bucket choice, truncation, XNNPACK weight cache).

One tiny ALBERT (2 groups x 2 inner layers, 3 labels) is converted once per module: conversion
costs ~15 s per signature on 2 cores, so the module uses two buckets (8, 24).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from albert_edge.errors import AlbertEdgeError

BUCKETS = (8, 24)
CFG = dict(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2, hidden_size=32, intermediate_size=64, embedding_size=16, max_position_embeddings=64)


@pytest.fixture(scope="module")
def art(tmp_path_factory):
    """(checkpoint, artifacts folder with model.tflite + model.int8.tflite + model.fp16.tflite)."""
    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.export.tflite_export import export_tflite
    from albert_edge.quantize.tflite_quant import quantize_tflite
    from albert_edge.testing import make_checkpoint, tokenizer_source

    root = tmp_path_factory.mktemp("tflite")
    spm = tokenizer_source(root / "spm")
    model_dir = make_checkpoint(root / "ckpt", spm, num_labels=3, id2label={0: "neg", 1: "neu", 2: "pos"}, trained_looking=True, **CFG)
    folder = root / "art"
    entry = export_tflite(model_dir, folder, buckets=BUCKETS, quiet=True)
    quantize_tflite(folder, mode="dynamic", quiet=True)
    quantize_tflite(folder, mode="fp16", quiet=True)
    ckpt = load_checkpoint(model_dir)
    return ckpt, folder, entry


def _manifest(folder):
    return json.loads((Path(folder) / "manifest.json").read_text())


def _entry(folder, file):
    return next(a for a in _manifest(folder)["artifacts"] if a["file"] == file)


def _runner(folder, file, **kw):
    from albert_edge.tflite_runner import TFLiteRunner

    kw.setdefault("weight_cache", False)
    return TFLiteRunner(Path(folder) / file, entry=_entry(folder, file), threads=1, **kw)


def _ids(n_texts=40, max_len=24, seed=0, vocab=300):  # 300: the fallback tokenizer's size when ../shared is absent
    rs = np.random.RandomState(seed)
    lens = rs.randint(0, max_len - 1, size=n_texts)
    return [[2] + rs.randint(5, vocab, size=n).tolist() + [3] for n in lens]


def _torch_logits(ckpt, ids_list):
    from albert_edge.runners import TorchRunner

    r = TorchRunner(ckpt.model, pad_id=0, threads=1)
    return np.concatenate([r.logits([ids]) for ids in ids_list])


def _buffer_users(path):
    """buffer index -> (byte size, set of subgraphs with a tensor reading it)."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(path).read_bytes()
    m = schema.Model.GetRootAs(data, 0)
    users: dict[int, set] = {}
    for s in range(m.SubgraphsLength()):
        g = m.Subgraphs(s)
        for t in range(g.TensorsLength()):
            b = g.Tensors(t).Buffer()
            if b and m.Buffers(b).DataLength():
                users.setdefault(b, set()).add(s)
    return {b: (m.Buffers(b).DataLength(), subs) for b, subs in users.items()}, m.SubgraphsLength()


def _param_bytes(ckpt, bytes_per=4):
    return sum(p.numel() for p in ckpt.model.parameters()) * bytes_per  # parameters() yields shared tensors once


# --- export ------------------------------------------------------------------------------------


def test_manifest_entry_and_signatures(art):
    ckpt, folder, entry = art
    m = _manifest(folder)
    assert m["max_seq_length"] == max(BUCKETS)
    assert entry["format"] == "tflite" and entry["precision"] == "fp32" and entry["file"] == "model.tflite"
    assert entry["buckets"] == list(BUCKETS)
    assert [s["key"] for s in entry["signatures"]] == [f"seq_{b}" for b in BUCKETS]
    for s in entry["signatures"]:
        assert [i["name"] for i in s["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
        assert all(i["dtype"] == "int32" and i["shape"] == [1, s["seq_len"]] for i in s["inputs"])
        assert s["outputs"][0]["name"] == "logits"
    r = _runner(folder, "model.tflite")
    sigs = r.model.get_signature_list()
    assert set(sigs) == {f"seq_{b}" for b in BUCKETS}
    for key, io in sigs.items():
        assert io["outputs"] == ["logits"]
        L = int(key.split("_")[1])
        det = r.model.get_input_tensor_details(key)
        assert {n: (d["dtype"], list(d["shape"])) for n, d in det.items()} == {n: ("int32", [1, L]) for n in ("input_ids", "attention_mask", "token_type_ids")}
    assert entry["export_check"]["max_abs_diff"] <= 1e-4


def _fc_rows(path):
    """Per signature: how many FULLY_CONNECTED ops run on how many rows (input elements / last dim)."""
    from collections import Counter

    from ai_edge_litert import schema_py_generated as schema

    from albert_edge.export.tflite_buffers import _op_names

    data = Path(path).read_bytes()
    m = schema.Model.GetRootAs(data, 0)
    names = _op_names()
    keys = {m.SignatureDefs(i).SubgraphIndex(): m.SignatureDefs(i).SignatureKey().decode() for i in range(m.SignatureDefsLength())}
    out = {}
    for s in range(m.SubgraphsLength()):
        g = m.Subgraphs(s)
        rows: Counter = Counter()
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = m.OperatorCodes(op.OpcodeIndex())
            if names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode())) == "FULLY_CONNECTED":
                shape = g.Tensors(op.Inputs(0)).ShapeAsNumpy().tolist()
                rows[int(np.prod(shape[:-1]))] += 1
        out[keys.get(s, str(s))] = dict(rows)
    return out


@pytest.mark.parametrize("file", ["model.tflite", "model.int8.tflite", "model.fp16.tflite"])
def test_last_application_runs_on_the_cls_row_only(art, file):
    """The pooler reads [CLS] only, so the last layer application computes its query, attention output
    and FFN for that row and one more (export/cls_only.py, first_two_rows): Q, O, FFN-in, FFN-out of
    the last application on 2 rows, the pooler and classifier on 1; the embedding projection, every
    earlier application's 6 matmuls and the last one's K and V on all L rows."""
    _, folder, _ = art
    apps = CFG["num_hidden_layers"] * CFG["inner_group_num"]
    rows = _fc_rows(folder / file)
    assert set(rows) == {f"seq_{L}" for L in BUCKETS}
    for L in BUCKETS:
        assert rows[f"seq_{L}"] == {1: 2, 2: 4, L: 1 + 6 * (apps - 1) + 2}, (file, L, rows)
    # and the manifest says so (the quantized entries carry their source's)
    assert _entry(folder, file)["rewrites"] == {"cls_only_last_application": True, "last_application_rows": 2}


def test_shared_weights_stored_once_across_signatures_and_layers(art):
    ckpt, folder, entry = art
    from albert_edge.export.tflite_buffers import constant_stats

    stats = constant_stats((folder / "model.tflite").read_bytes())
    params = _param_bytes(ckpt)
    assert stats["duplicate_buffers"] == 0
    # Every weight once: constants ~ the checkpoint's unique parameter bytes, not x buckets or x layer applications.
    assert stats["unique_bytes"] <= 1.05 * params, (stats, params)
    assert stats["bytes"] >= 0.8 * params  # and not lost either (zero biases may be uniqued)
    assert stats["misaligned"] == 0
    # Each large weight buffer is read by BOTH signatures (one copy shared across subgraphs).
    users, n_sub = _buffer_users(folder / "model.tflite")
    big = {b: subs for b, (size, subs) in users.items() if size >= 32 * 32 * 4}
    assert big and all(subs == set(range(n_sub)) for subs in big.values())
    # hidden x hidden matrices: q, k, v, attention-dense per distinct layer + the pooler; the layer
    # applications (4 layers over 2 groups) must not add copies.
    n_square = sum(1 for size, _ in users.values() if size == 32 * 32 * 4)
    assert n_square == 4 * CFG["num_hidden_groups"] * CFG["inner_group_num"] + 1


def test_fp32_parity_with_pytorch_in_every_bucket(art):
    ckpt, folder, _ = art
    ids = _ids(40, max_len=24)
    r = _runner(folder, "model.tflite")
    used = {r.bucket_for(len(x)) for x in ids}
    assert used == set(BUCKETS)
    diff = np.abs(r.logits(ids) - _torch_logits(ckpt, ids)).max()
    assert diff <= 1e-4


def test_bucket_selection(art):
    _, folder, _ = art
    r = _runner(folder, "model.tflite")
    assert [r.bucket_for(n) for n in (1, 8, 9, 24, 25, 200)] == [8, 8, 24, 24, 24, 24]
    assert r.info()["buckets"] == list(BUCKETS)
    # Padding does not leak: the same text gives the same logits whatever else is in the batch.
    ids = _ids(6, max_len=24, seed=3)
    one_by_one = np.concatenate([r.logits([x]) for x in ids])
    np.testing.assert_allclose(r.logits(ids), one_by_one, atol=1e-6)
    assert r.logits([]).shape == (0, 3)


def test_longer_than_largest_bucket_is_truncated_with_one_warning(art):
    ckpt, folder, _ = art
    from albert_edge.tokenizer import truncate_ids

    r = _runner(folder, "model.tflite")
    long_ids = [2] + list(range(10, 50)) + [3]  # 42 tokens > 24
    with pytest.warns(UserWarning, match="longer than the largest bucket"):
        got = r.logits([long_ids])
    want = _torch_logits(ckpt, [truncate_ids(long_ids, 24, 3)])
    assert np.abs(got - want).max() <= 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # second time: no new warning
        r.logits([long_ids])


# --- buffer merging ----------------------------------------------------------------------------


def test_compact_merges_byte_identical_buffers(art, tmp_path):
    _, folder, _ = art
    from ai_edge_litert.schema_py_generated import BufferT
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    from albert_edge.export.tflite_buffers import compact, constant_stats

    src = (folder / "model.tflite").read_bytes()
    model = fbu.read_model_from_bytearray(bytearray(src))
    # Give one signature its own copy of the largest weight, as a converter that loses sharing would.
    big = max(range(len(model.buffers)), key=lambda i: len(model.buffers[i].data) if model.buffers[i].data is not None else 0)
    copy = BufferT()
    copy.data = np.array(model.buffers[big].data, dtype=np.uint8).copy()
    model.buffers.append(copy)
    t = next(t for t in model.subgraphs[1].tensors if t.buffer == big)
    t.buffer = len(model.buffers) - 1
    dup = bytes(fbu.convert_object_to_bytearray(model))
    before = constant_stats(dup)
    assert before["duplicate_buffers"] == 1 and before["bytes"] == before["unique_bytes"] + len(copy.data)

    out, stats = compact(dup)
    after = constant_stats(out)
    assert after["duplicate_buffers"] == 0
    assert after["bytes"] == before["unique_bytes"]
    assert len(out) <= len(dup) - len(copy.data) + 1024  # + alignment padding
    # Same function after merging.
    from albert_edge.tflite_runner import TFLiteRunner

    p1, p2 = tmp_path / "dup.tflite", tmp_path / "merged.tflite"
    p1.write_bytes(dup)
    p2.write_bytes(out)
    ids = _ids(8, max_len=24, seed=5)
    a = TFLiteRunner(p1, weight_cache=False).logits(ids)
    b = TFLiteRunner(p2, weight_cache=False).logits(ids)
    np.testing.assert_array_equal(a, b)


# --- quantization ------------------------------------------------------------------------------


def test_int8_size_and_parity(art):
    ckpt, folder, _ = art
    from albert_edge.export.tflite_buffers import constant_stats

    e = _entry(folder, "model.int8.tflite")
    assert e["precision"] == "int8" and e["quantization"]["recipe"] == "dynamic_wi8_afp32"
    assert e["signatures"] == _entry(folder, "model.tflite")["signatures"]
    stats = constant_stats((folder / "model.int8.tflite").read_bytes())
    n_params = _param_bytes(ckpt, 1)
    assert stats["duplicate_buffers"] == 0
    # ~1 byte per parameter: the 30k x 16 embedding table (most of this model) is int8 too.
    assert stats["bytes"] <= 1.15 * n_params, (stats, n_params)
    # Per-channel scales are stored once too: every signature's tensor for a quantized weight
    # points at the same quantization table.
    from ai_edge_litert import schema_py_generated as schema

    data = (folder / "model.int8.tflite").read_bytes()
    m = schema.Model.GetRootAs(data, 0)
    tables: dict[int, set] = {}
    for s in range(m.SubgraphsLength()):
        g = m.Subgraphs(s)
        for t in range(g.TensorsLength()):
            tensor = g.Tensors(t)
            q = tensor.Quantization()
            if tensor.Buffer() and m.Buffers(tensor.Buffer()).DataLength() and q is not None and q.ScaleLength() > 1:
                tables.setdefault(tensor.Buffer(), set()).add(q._tab.Pos)
    assert tables and all(len(p) == 1 for p in tables.values())
    ids = _ids(60, max_len=24, seed=1)
    ref = _torch_logits(ckpt, ids)
    got = _runner(folder, "model.int8.tflite").logits(ids)
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.9
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] >= 0.98


def test_fp16_size_and_parity(art):
    ckpt, folder, _ = art
    from albert_edge.export.tflite_buffers import constant_stats

    stats = constant_stats((folder / "model.fp16.tflite").read_bytes())
    assert stats["bytes"] <= 1.05 * _param_bytes(ckpt, 2)
    ids = _ids(30, max_len=24, seed=2)
    diff = np.abs(_runner(folder, "model.fp16.tflite").logits(ids) - _torch_logits(ckpt, ids)).max()
    assert diff <= 1e-2


def test_shared_buffer_rewrite_warnings_are_not_shown(art, tmp_path, caplog):
    """The quantizer's per-application "overriding previously quantized data" warnings (benign for
    shared weights) are filtered; other warnings still reach the log."""
    import logging

    _, folder, _ = art
    from albert_edge.quantize.tflite_quant import quantize_tflite

    work = tmp_path / "art"
    shutil.copytree(folder, work)
    with caplog.at_level(logging.WARNING):
        quantize_tflite(work, mode="fp16", overwrite=True, quiet=True)
        logging.getLogger().warning("an unrelated warning")
    assert "overriding other previously quantized data" not in caplog.text
    assert "an unrelated warning" in caplog.text


def test_quantizer_progress_bar_stays_off():
    """ai-edge-quantizer 0.10 drops enable_progress_bar=False on its way to the model-modifying step,
    whose bar is on by default for models of 100+ tensors (the demo model): quiet_quantizer turns it off."""
    from ai_edge_quantizer.utils import progress_utils

    from albert_edge.export.tflite_recipes import quiet_quantizer

    with quiet_quantizer():
        with progress_utils.ProgressBar(total_steps=500, description="x") as bar:
            assert bar._progress_bar.disable
        with progress_utils.ProgressBar(total_steps=500, description="x", enable=True) as bar:
            assert not bar._progress_bar.disable  # an explicit request still wins
    with progress_utils.ProgressBar(total_steps=500, description="x", disappear_on_finish=True) as bar:
        assert not bar._progress_bar.disable  # restored afterwards: the upstream default is on


def test_quantizer_compares_arrays_with_numpy_and_the_same_answers(art, tmp_path, monkeypatch):
    """ai-edge-quantizer 0.10 compares fp16 arrays through memoryview equality, element by element in
    Python (107 s instead of 3.6 s for `quantize tflite --mode fp16` on ALBERT-base; benchmarks/results/tflite/).
    quantize_tflite swaps in numpy's comparison for the call: same answers, restored afterwards."""
    from ai_edge_quantizer import qtyping

    import albert_edge.export.tflite_recipes as recipes
    from albert_edge.quantize.tflite_quant import quantize_tflite

    stock = qtyping._compare_array_or_none
    a = np.linspace(-2, 2, 96, dtype=np.float32).astype(np.float16).reshape(8, 12)
    nan = a.copy()
    nan[0, 0] = np.nan
    zeros, negzeros = np.zeros(4, np.float16), -np.zeros(4, np.float16)
    cases = [(None, None), (a, None), (None, a), (a, a), (a, a.copy()), (a, a + np.float16(1)), (a, a.reshape(12, 8)), (nan, nan.copy()),
             (zeros, negzeros), (a.astype(np.int8), a.astype(np.int8)), (a, a.astype(np.float32))]
    assert [recipes._equal_arrays_or_none(x, y) for x, y in cases] == [stock(x, y) for x, y in cases]

    calls, real = [], recipes._equal_arrays_or_none

    def counting(x, y):
        calls.append(1)
        return real(x, y)

    monkeypatch.setattr(recipes, "_equal_arrays_or_none", counting)
    work = tmp_path / "art"
    shutil.copytree(art[1], work)
    quantize_tflite(work, mode="fp16", overwrite=True, quiet=True)
    assert calls, "the fp16 quantizer did not compare through fast_array_compare"
    assert qtyping._compare_array_or_none is stock
    assert (work / "model.fp16.tflite").read_bytes() == (art[1] / "model.fp16.tflite").read_bytes()


def test_quantize_refuses_existing_output(art):
    _, folder, _ = art
    from albert_edge.quantize.tflite_quant import quantize_tflite

    with pytest.raises(AlbertEdgeError, match="already exists"):
        quantize_tflite(folder, mode="dynamic", quiet=True)


def test_static_int8_refused_when_it_misses_the_gate(fragile_ckpt, tmp_path, monkeypatch):
    """A model whose decision int8 activations cannot keep (conftest.fragile_ckpt) loses its labels
    with full int8; it must be refused with the measured numbers, and nothing written."""
    from albert_edge import data
    from albert_edge.export.tflite_export import export_tflite
    from albert_edge.quantize import tflite_quant

    work = tmp_path / "art"
    export_tflite(fragile_ckpt, work, buckets=(32,), max_length=32, quiet=True)
    tflite_quant.quantize_tflite(work, mode="dynamic", quiet=True)
    before = (work / "model.int8.tflite").read_bytes()
    monkeypatch.setattr(data, "default_eval_data", lambda: (data.SAMPLES_TSV, "shipped samples"))
    with pytest.raises(AlbertEdgeError, match=r"static full-int8 refused: label agreement [\d.]+%.*accuracy drop"):
        tflite_quant.quantize_tflite(work, mode="static", calibration=data.SAMPLES_TSV, overwrite=True, quiet=True)
    assert (work / "model.int8.tflite").read_bytes() == before
    assert not list(work.glob(".model.int8.tflite.*"))


# --- runner: weight cache, open_runner, errors --------------------------------------------------


def test_weight_cache_file_path_is_honoured(art, tmp_path):
    _, folder, _ = art
    cache = tmp_path / "xnn.cache"
    r = _runner(folder, "model.int8.tflite", weight_cache=str(cache))
    r.logits(_ids(2))
    info = r.info()
    assert info["weight_cache"] is True and info["weight_cache_path"] == str(cache)
    assert cache.is_file() and cache.stat().st_size > 0
    # Off: no path, nothing written.
    r2 = _runner(folder, "model.int8.tflite", weight_cache=False)
    assert r2.info()["weight_cache"] is False and r2.info()["weight_cache_path"] is None
    # A folder would be silently ignored by LiteRT: refuse it.
    with pytest.raises(AlbertEdgeError, match="is a folder"):
        _runner(folder, "model.int8.tflite", weight_cache=str(tmp_path))


def test_default_weight_cache_lives_next_to_the_artifact_and_names_its_hash(art, tmp_path):
    _, folder, _ = art
    work = tmp_path / "art"
    shutil.copytree(folder, work)
    e = _entry(work, "model.tflite")
    from albert_edge.tflite_runner import TFLiteRunner

    r = TFLiteRunner(work / "model.tflite", entry=e, threads=1)  # weight_cache=True by default
    r.logits(_ids(2))
    path = Path(r.info()["weight_cache_path"])
    assert path.parent == work and e["sha256"][:16] in path.name and path.is_file()


def test_open_runner_dispatches_to_tflite(art):
    _, folder, _ = art
    from albert_edge.runners import open_runner
    from albert_edge.tflite_runner import TFLiteRunner

    m = _manifest(folder)
    for file in ("model.tflite", "model.int8.tflite", "model.fp16.tflite"):
        e = _entry(folder, file)
        r = open_runner(folder, e, m, threads=1, weight_cache=False)
        assert isinstance(r, TFLiteRunner) and r.precision == e["precision"]
        assert r.logits(_ids(3)).shape == (3, 3)


def test_releasing_a_runner_keeps_litert_teardown_logs_out_of_the_terminal(art):
    """LiteRT logs its accelerator teardown to fd 2 with no log-level switch; a released runner must not
    leak those lines into the user's terminal (a fresh process: fd 2 is what a user would see)."""
    import subprocess
    import sys

    _, folder, _ = art
    code = (
        "import os, sys\n"
        "from albert_edge.tflite_runner import TFLiteRunner\n"
        "r = TFLiteRunner(sys.argv[1], threads=1, weight_cache=False)\n"
        "r.logits([[2, 10, 11, 3]])\n"
        "del r\n"
        "os.write(2, b'released\\n')\n"
        "os._exit(0)\n"  # skip C++ static destructors: only what releasing the runner printed counts
    )
    proc = subprocess.run([sys.executable, "-c", code, str(Path(folder) / "model.int8.tflite")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "released" in proc.stderr
    assert "DestroyAccelerator" not in proc.stderr and "INFO:" not in proc.stderr, proc.stderr[-2000:]


def test_cli_on_a_tflite_artifact_prints_no_litert_logs(art):
    """The CLI end to end in a fresh process, static destructors included: a user's terminal shows
    the prediction and none of LiteRT's native INFO lines."""
    import subprocess
    import sys

    _, folder, _ = art
    proc = subprocess.run(
        [sys.executable, "-m", "albert_edge.cli", "predict", str(folder), "--artifact", "model.int8.tflite", "--threads", "1", "a fine film"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "a fine film" in proc.stdout
    assert "INFO:" not in proc.stderr and "DestroyAccelerator" not in proc.stderr, proc.stderr[-2000:]


def test_missing_artifact_errors(art, tmp_path):
    _, folder, _ = art
    from albert_edge.quantize.tflite_quant import quantize_tflite
    from albert_edge.runners import open_runner
    from albert_edge.tflite_runner import TFLiteRunner

    work = tmp_path / "art"
    shutil.copytree(folder, work)
    (work / "model.int8.tflite").unlink()
    m = _manifest(work)
    with pytest.raises(AlbertEdgeError, match="missing"):
        open_runner(work, _entry(work, "model.int8.tflite"), m)
    with pytest.raises(AlbertEdgeError, match="does not exist"):
        TFLiteRunner(work / "nope.tflite")
    # A folder whose manifest has no TFLite model cannot be quantized.
    m["artifacts"] = [a for a in m["artifacts"] if a["format"] != "tflite"]
    (work / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(AlbertEdgeError, match="export tflite"):
        quantize_tflite(work, quiet=True)
    # A corrupt file is a one-line error, not a crash.
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(AlbertEdgeError, match="cannot load"):
        TFLiteRunner(bad, weight_cache=False)


@pytest.mark.parametrize("buckets", ["0,abc", "16,x", "", "1"])
def test_bad_buckets_is_a_one_line_cli_error(buckets, tmp_path, capsys):
    from albert_edge.cli import main

    rc = main(["export", "tflite", "--model", str(tmp_path / "no-model"), str(tmp_path / "out"), "--buckets", buckets])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--buckets" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bucket_resolution_rules():
    from albert_edge.export.tflite_export import parse_buckets, resolve_buckets

    assert parse_buckets("64, 32,32") == (32, 64)
    assert resolve_buckets((32, 64), None, 512) == ((32, 64), 64)
    assert resolve_buckets((32, 64), 128, 512) == ((32, 64, 128), 128)  # --max-length becomes the top bucket
    with pytest.raises(AlbertEdgeError, match="exceeds --max-length"):
        resolve_buckets((32, 256), 128, 512)
    with pytest.raises(AlbertEdgeError, match="max_position_embeddings"):
        resolve_buckets((32, 1024), None, 512)
