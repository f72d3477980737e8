"""`export mediapipe`: the file MediaPipe Tasks' TextClassifier loads, checked by MediaPipe itself.

Every check that matters runs the real client (mediapipe's TextClassifier, its own tokenizer read
from the file's metadata) on raw text: labels agree with PyTorch, scores are probabilities, one
subgraph, metadata bound to the right tensors, every weight stored once. mediapipe is an optional
extra; `make env` installs it (pip install -e '.[dev,mediapipe]'), so these tests fail, not skip,
when it is missing: a skipped client check would look like a passing one.

Fixture: a trained-looking tiny checkpoint (perturbed LayerNorm scales/shifts and biases: on random
init LiteRT's value-dependent folds are invisible), 3 labels so the class-id order of MediaPipe's
categories is checked, and a 300-piece vocabulary so the shared layers dominate the file and one
duplicated matrix is well over the weight guard's 2 %.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from albert_edge.errors import AlbertEdgeError

CFG = dict(
    embedding_size=16, hidden_size=64, intermediate_size=128, num_attention_heads=4, max_position_embeddings=64,
    num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2,
)
LABELS = {0: "sad", 1: "meh", 2: "glad"}
L = 32  # the file's one sequence length: some sample texts are longer, so truncation is exercised


def _require_mediapipe():
    from albert_edge.export.mediapipe_metadata import INSTALL_HINT

    try:
        import mediapipe  # noqa: F401
    except ImportError as e:
        pytest.fail(f"mediapipe is not installed ({e}); `make env` installs it, or: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    from albert_edge.testing import make_checkpoint, tokenizer_source

    _require_mediapipe()
    root = tmp_path_factory.mktemp("mp-trained-looking")
    spm = tokenizer_source(root / "spm", official=False)
    return make_checkpoint(root / "ckpt", spm, num_labels=3, id2label=LABELS, trained_looking=True, seed=5, **CFG)


@pytest.fixture(scope="module")
def ckpt(ckpt_dir):
    from albert_edge.checkpoint import load_checkpoint

    return load_checkpoint(ckpt_dir)


@pytest.fixture(scope="module")
def art(tmp_path_factory, ckpt_dir):
    """Artifacts folder with model.int8.mediapipe.tflite and model.mediapipe.tflite (fp32)."""
    from albert_edge.export.mediapipe_export import export_mediapipe

    folder = tmp_path_factory.mktemp("mp-art") / "art"
    export_mediapipe(ckpt_dir, folder, max_length=L, quiet=True)
    export_mediapipe(ckpt_dir, folder, max_length=L, precision="fp32", quiet=True)
    return folder


@pytest.fixture(scope="module")
def texts():
    from albert_edge.testing import sample_texts

    return sample_texts()


def _entry(folder, file):
    m = json.loads((folder / "manifest.json").read_text())
    return next(a for a in m["artifacts"] if a["file"] == file)


def _reference(ckpt, texts, length):
    """PyTorch logits on HF ids truncated like MediaPipe truncates ([CLS] … [SEP] at `length`)."""
    from albert_edge.runners import TorchRunner
    from albert_edge.tokenizer import TextEncoder

    ids = TextEncoder(ckpt.tokenizer, length).encode(texts)
    return ids, TorchRunner(ckpt.model, pad_id=ckpt.tokenizer.pad_token_id or 0).run_batched(ids)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _mediapipe(path, entry, texts):
    from albert_edge.mediapipe_runner import MediaPipeRunner

    r = MediaPipeRunner(path, entry=entry)
    try:
        return r.logits_text(texts)
    finally:
        r.close()


# --- MediaPipe itself on raw text -------------------------------------------------------------


@pytest.mark.parametrize("file, min_agreement, max_dp", [("model.mediapipe.tflite", 1.0, 1e-4), ("model.int8.mediapipe.tflite", 0.9, 0.2)])
def test_mediapipe_loads_the_file_and_agrees_with_pytorch(art, ckpt, texts, file, min_agreement, max_dp):
    ids, ref = _reference(ckpt, texts, L)
    assert sum(len(x) == L for x in ids) > 0  # some texts were truncated: MediaPipe must cut them the same way
    probs = _mediapipe(art / file, _entry(art, file), texts)
    assert probs.shape == (len(texts), len(LABELS))
    assert (probs.argmax(1) == ref.argmax(1)).mean() >= min_agreement
    assert np.abs(probs - _softmax(ref)).max() <= max_dp


@pytest.mark.parametrize("file", ["model.mediapipe.tflite", "model.int8.mediapipe.tflite"])
def test_scores_are_probabilities(art, texts, file):
    probs = _mediapipe(art / file, _entry(art, file), texts)
    assert (probs >= 0).all() and (probs <= 1).all()
    assert np.abs(probs.sum(1) - 1).max() <= 1e-4
    assert _entry(art, file)["scores"] == "probabilities"


def test_mediapipe_tokenizes_like_hugging_face(art, ckpt, texts):
    """MediaPipe (its tokenizer from the metadata) and LiteRT fed HF ids give the same numbers: the
    packed SentencePiece model is the HF-exact one and the metadata binds the right tensors."""
    from albert_edge.tflite_runner import TFLiteRunner

    file = "model.mediapipe.tflite"
    ids, _ = _reference(ckpt, texts, L)
    lite = TFLiteRunner(art / file, entry=_entry(art, file), weight_cache=False)
    try:
        via_hf_ids = lite.logits(ids)
    finally:
        lite.close()
    assert np.abs(_mediapipe(art / file, _entry(art, file), texts) - via_hf_ids).max() <= 1e-6


def test_mediapipe_stops_at_a_nul_and_u_e000_gives_hugging_faces_ids(art, ckpt):
    """What docs/mediapipe.md tells apps: MediaPipe reads "a<NUL>b good film" as "a", where HF reads
    on with <unk>; the same text with U+E000 in place of the NUL scores as HF's ids do."""
    from albert_edge.tflite_runner import TFLiteRunner

    file = "model.mediapipe.tflite"
    text = "a\x00b good film"
    ids, _ = _reference(ckpt, [text, "a"], L)
    assert ids[0] != ids[1]
    lite = TFLiteRunner(art / file, entry=_entry(art, file), weight_cache=False)
    try:
        via_hf_ids = lite.logits(ids)
    finally:
        lite.close()
    cut, swapped, alone = _mediapipe(art / file, _entry(art, file), [text, text.replace("\x00", "\ue000"), "a"])
    assert np.array_equal(cut, alone)
    assert np.abs(swapped - via_hf_ids[0]).max() <= 1e-6 < np.abs(cut - via_hf_ids[0]).max()


def test_our_litert_runner_runs_the_file(art, ckpt, texts):
    """TFLiteRunner needs no change: one signature, and it reads the one output ("probabilities")."""
    from albert_edge.tflite_runner import TFLiteRunner

    file = "model.mediapipe.tflite"
    ids, ref = _reference(ckpt, texts[:40], L)
    lite = TFLiteRunner(art / file, entry=_entry(art, file), weight_cache=False)
    try:
        assert lite.buckets == [L]
        got = lite.logits(ids)
    finally:
        lite.close()
    assert np.abs(got - _softmax(ref)).max() <= 1e-4


def test_labels_come_out_in_class_id_order(art):
    from albert_edge.mediapipe_runner import MediaPipeRunner

    r = MediaPipeRunner(art / "model.mediapipe.tflite")
    try:
        rows = r.predict_text(["a fine film", "dull"])
        probs = r.logits_text(["a fine film", "dull"])
    finally:
        r.close()
    for row, p in zip(rows, probs):
        assert list(row["probabilities"]) == [LABELS[i] for i in range(len(LABELS))]
        assert row["label"] == LABELS[int(p.argmax())]


# --- the file ---------------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["model.mediapipe.tflite", "model.int8.mediapipe.tflite"])
def test_one_subgraph_one_signature_and_metadata_bound_to_the_flatbuffer_tensor_names(art, file):
    from ai_edge_litert import schema_py_generated as schema

    from albert_edge.export.mediapipe_metadata import packed_file, read_metadata

    data = (art / file).read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    assert model.SubgraphsLength() == 1 and model.SignatureDefsLength() == 1
    g, sd = model.Subgraphs(0), model.SignatureDefs(0)
    tensor_of = {sd.Inputs(i).Name().decode(): g.Tensors(sd.Inputs(i).TensorIndex()).Name().decode() for i in range(sd.InputsLength())}
    md = read_metadata(data)
    bound = {(t["tensor"], t["metadata"]) for t in md["input_tensors"]}
    assert bound == {(tensor_of["input_ids"], "ids"), (tensor_of["attention_mask"], "mask"), (tensor_of["token_type_ids"], "segment_ids")}
    assert tensor_of["input_ids"] != "input_ids"  # the flatbuffer name, not the signature name
    assert md["input_process_units"] == ["SentencePieceTokenizerOptions"]
    assert md["labels"] == [LABELS[i] for i in range(len(LABELS))]
    assert md["min_parser_version"] == "1.1.0"
    # The tokenizer packed into the file is the folder's HF-exact model, byte for byte.
    assert packed_file(data, md["tokenizer_files"][0]) == (art / "spiece.hf.model").read_bytes()
    e = _entry(art, file)
    assert e["client"] == "mediapipe" and e["buckets"] == [L] and e["max_length"] == L
    assert [s["key"] for s in e["signatures"]] == [sd.SignatureKey().decode()]


@pytest.mark.parametrize("file, precision", [("model.mediapipe.tflite", "fp32"), ("model.int8.mediapipe.tflite", "int8")])
def test_every_weight_stored_once(art, ckpt, file, precision):
    """Measured from the final bytes (after the metadata step re-packed the flatbuffer), not from
    the manifest: constant bytes within the guard's budget for one bucket, buffers 16-byte aligned."""
    from albert_edge.export.tflite_buffers import constant_stats, list_constants, weight_budget
    from albert_edge.weight_guard import check_weights, parameter_shapes

    data = (art / file).read_bytes()
    budget = weight_budget(parameter_shapes(ckpt.model), precision, [L])
    report = check_weights(list_constants(data), budget, file)
    assert report["within_budget"] and report["stored_bytes"] <= 1.02 * report["budget_bytes"]
    st = constant_stats(data)
    assert st["duplicate_buffers"] == 0 and st["misaligned"] == 0
    assert _entry(art, file)["weight_guard"]["within_budget"]


def test_int8_word_embeddings_are_int8_rows_with_fp32_row_scales(art, ckpt):
    """No 12-byte-per-row quantization table (fp32 scale + int64 zero point) for the vocabulary:
    the table is int8 [V, E] and its scales one fp32 per row, and the PyTorch model is unchanged."""
    from albert_edge.export.tflite_buffers import list_constants

    V, E = ckpt.model.albert.embeddings.word_embeddings.weight.shape
    consts = list_constants((art / "model.int8.mediapipe.tflite").read_bytes())
    assert any(c.shape == (V, E) and c.dtype == "int8" for c in consts)
    assert any(c.shape == (V, 1) and c.dtype == "float32" for c in consts)
    assert not any(c.role == "quantization" and c.shape == (V,) for c in consts)
    assert type(ckpt.model.albert.embeddings.word_embeddings).__name__ == "Embedding"


def test_row_scaled_embedding_matches_per_row_int8_rounding():
    import torch

    from albert_edge.export.mediapipe_export import row_scaled_int8_embedding

    w = torch.randn(50, 8) * torch.linspace(0.01, 3, 50)[:, None]  # rows of very different norms
    w[7] = 0
    m = row_scaled_int8_embedding(w)
    ids = torch.arange(50)[None]
    got = m(ids)[0]
    step = w.abs().amax(1, keepdim=True) / 127
    assert torch.all((got - w).abs() <= step / 2 + 1e-7)  # within half a step of its own row's scale
    assert torch.equal(got[7], torch.zeros(8)) and m.rows.dtype == torch.int8


def test_export_refuses_duplicated_weights_and_writes_nothing(ckpt_dir, tmp_path, monkeypatch):
    """Without the optimization barriers LiteRT folds LayerNorm scales into per-application copies
    of the shared Q/K/V weights (on trained-looking weights): the guard must refuse that file."""
    from albert_edge.export.mediapipe_export import export_mediapipe
    from albert_edge.export.tflite_sharing import ENV_DISABLE

    monkeypatch.setenv(ENV_DISABLE, "0")
    out = tmp_path / "art"
    with pytest.raises(AlbertEdgeError, match=r"model.int8.mediapipe.tflite would store .* refusing to write it"):
        export_mediapipe(ckpt_dir, out, max_length=L, quiet=True)
    assert not (out / "model.int8.mediapipe.tflite").exists()


def test_metadata_must_name_flatbuffer_tensors(art):
    """Signature names (input_ids, …) are not what MediaPipe's writer matches: one-line refusal."""
    from albert_edge.export.mediapipe_metadata import write_metadata

    data = (art / "model.mediapipe.tflite").read_bytes()
    with pytest.raises(AlbertEdgeError, match="metadata writer refused") as e:
        write_metadata(data, art / "spiece.hf.model", ["a", "b", "c"], {n: n for n in ("input_ids", "attention_mask", "token_type_ids")})
    assert "\n" not in str(e.value)


def test_export_check_recorded(art):
    x = _entry(art, "model.int8.mediapipe.tflite")["export_check"]
    assert x["texts"] > 0 and x["max_sum_error"] <= 1e-4 and x["mediapipe_vs_litert_max_abs_diff"] <= 1e-6


# --- errors and the parser-version port ------------------------------------------------------


def test_missing_mediapipe_is_one_line_naming_the_install_command(ckpt_dir, tmp_path, monkeypatch):
    from albert_edge.export.mediapipe_export import export_mediapipe
    from albert_edge.export.mediapipe_metadata import INSTALL_HINT

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(AlbertEdgeError) as e:
        export_mediapipe(ckpt_dir, tmp_path / "art", quiet=True)
    assert INSTALL_HINT in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "art").exists()


@pytest.mark.parametrize("bad, match", [({"precision": "int4"}, "unknown precision"), ({"max_length": 1}, "too small"), ({"max_length": 65}, "max_position_embeddings")])
def test_bad_arguments_are_one_line(ckpt_dir, tmp_path, bad, match):
    from albert_edge.export.mediapipe_export import export_mediapipe

    with pytest.raises(AlbertEdgeError, match=match):
        export_mediapipe(ckpt_dir, tmp_path / "art", quiet=True, **bad)


def test_length_beyond_the_folders_max_seq_length_is_refused(art, ckpt_dir):
    """The folder serves texts up to its max_seq_length (L here); a longer MediaPipe file would
    disagree with every other artifact of the folder on long texts."""
    from albert_edge.export.mediapipe_export import export_mediapipe

    before = (art / "manifest.json").read_bytes()
    with pytest.raises(AlbertEdgeError, match=rf"exceeds the folder's max_seq_length {L}"):
        export_mediapipe(ckpt_dir, art, max_length=L + 8, quiet=True)
    assert (art / "manifest.json").read_bytes() == before


def _metadata_buffer(**fields) -> bytes:
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    sg = fb.SubGraphMetadataT()
    for k, v in fields.items():
        setattr(sg, k, v)
    md = fb.ModelMetadataT()
    md.subgraphMetadata = [sg]
    b = flatbuffers.Builder(0)
    b.Finish(md.Pack(b), b"M001")
    return bytes(b.Output())


def test_parser_version_port_follows_mediapipes_rules():
    """The port of GetMinimumMetadataParserVersion: each member raises the minimum to its version."""
    _require_mediapipe()
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    from albert_edge.export.mediapipe_metadata import minimum_parser_version

    def unit(kind):
        u = fb.ProcessUnitT()
        u.optionsType = kind
        return u

    def afile(**kw):
        f = fb.AssociatedFileT()
        f.name = "x"
        for k, v in kw.items():
            setattr(f, k, v)
        return f

    tensor = fb.TensorMetadataT()
    tensor.associatedFiles = [afile(type=fb.AssociatedFileType.VOCABULARY)]
    versioned = fb.TensorMetadataT()
    versioned.associatedFiles = [afile(version="2")]
    assert minimum_parser_version(_metadata_buffer()) == "1.0.0"
    assert minimum_parser_version(_metadata_buffer(inputTensorMetadata=[tensor])) == "1.0.1"
    assert minimum_parser_version(_metadata_buffer(inputProcessUnits=[])) == "1.1.0"  # present, even empty
    assert minimum_parser_version(_metadata_buffer(inputProcessUnits=[unit(fb.ProcessUnitOptions.SentencePieceTokenizerOptions)])) == "1.1.0"
    assert minimum_parser_version(_metadata_buffer(inputProcessUnits=[unit(fb.ProcessUnitOptions.RegexTokenizerOptions)])) == "1.2.1"
    assert minimum_parser_version(_metadata_buffer(outputTensorGroups=[])) == "1.2.0"
    assert minimum_parser_version(_metadata_buffer(outputTensorMetadata=[versioned])) == "1.4.1"
    assert minimum_parser_version(_metadata_buffer(customMetadata=[])) == "1.5.0"


# --- the demo model on real data (SST-2 dev) ---------------------------------------------------


@pytest.fixture(scope="module")
def sst2_dev():
    from albert_edge.data import shared_dir

    d = shared_dir()
    path = d / "data" / "sst2" / "dev.tsv" if d else None
    if path is None or not path.is_file():
        pytest.fail("SST-2 dev (../shared/data/sst2/dev.tsv) is missing: the MediaPipe real-data gate needs it", pytrace=False)
    return path


@pytest.mark.slow
@pytest.mark.realdata
def test_demo_model_through_mediapipe_on_sst2_dev(tmp_path_factory, sst2_dev, demo_artifacts):
    """The gate of the issue, through MediaPipe's TextClassifier on raw SST-2 dev sentences:
    int8 label agreement >= 99.5 % and accuracy drop <= 0.5 pt, fp32 agreement >= 99.9 %,
    every row of scores sums to 1 within 1e-4. The int8 file is the session's demo `pipeline` run's
    (conftest.demo_pipeline), the fp32 one is exported here (the pipeline does not write it)."""
    from albert_edge.checkpoint import load_checkpoint
    from albert_edge.data import DEMO_MODEL_DIR, read_labeled_tsv
    from albert_edge.export.mediapipe_export import export_mediapipe

    _require_mediapipe()
    ckpt = load_checkpoint(DEMO_MODEL_DIR)
    texts, ys = read_labeled_tsv(sst2_dev, list(ckpt.labels))
    ys = np.asarray(ys)
    _, ref = _reference(ckpt, texts, 128)
    ref_acc = (ref.argmax(1) == ys).mean()
    folder = tmp_path_factory.mktemp("mp-demo") / "art"
    for precision, min_agree in (("int8", 0.995), ("fp32", 0.999)):
        if precision == "int8":
            e = _entry(demo_artifacts, "model.int8.mediapipe.tflite")
            path = demo_artifacts / e["file"]
        else:
            e = export_mediapipe(DEMO_MODEL_DIR, folder, precision=precision, quiet=True)
            path = folder / e["file"]
        assert e["precision"] == precision
        probs = _mediapipe(path, e, texts)
        pred = probs.argmax(1)
        assert np.abs(probs.sum(1) - 1).max() <= 1e-4, precision
        assert (pred == ref.argmax(1)).mean() >= min_agree, precision
        assert ref_acc - (pred == ys).mean() <= 0.005, precision
    # Tied segmentations (docs/tokenizer-hf-exact.md): with review-style runs appended, MediaPipe's
    # SentencePiece must still take HF's ids. Without spiece.hf.model's score grid and normal-typed
    # user-defined pieces, the fp32 file's scores differed from PyTorch's by 6.5e-4 here (measured).
    runs = ["!!!!", "wow!!!!", "!!!!!!!", "sooooo", "nonono", "(!!!!)", "- hahahaha -", "!!!!!!!!!!"]
    tied = [f"{t} {runs[i % len(runs)]}" for i, t in enumerate(texts[:160])]
    _, ref_tied = _reference(ckpt, tied, 128)
    assert np.abs(_mediapipe(path, e, tied) - _softmax(ref_tied)).max() <= 1e-4


def test_runner_left_open_exits_without_traceback(art):
    """MediaPipe's TextClassifier.__del__ during interpreter teardown printed a TypeError traceback
    per classifier; runners still open at exit are closed by an atexit hook first."""
    import subprocess

    code = (
        "from albert_edge.mediapipe_runner import MediaPipeRunner\n"
        f"r = [MediaPipeRunner({str(art / 'model.mediapipe.tflite')!r}) for _ in range(2)]\n"
        "print(r[0].logits_text(['fine'])[0].sum())\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert abs(float(p.stdout.split()[-1]) - 1) <= 1e-4
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr[-2000:]


def test_probability_gate_catches_logits_and_disagreement():
    """The gate verify applies to these files (parity.compare(probabilities=True) + Thresholds.check):
    logits passed off as scores fail the sum check, an fp32 file that flips labels fails the agreement
    check, a faithful file passes."""
    from albert_edge.parity import Thresholds, compare, softmax

    t = Thresholds()
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(400, 3)) * 3
    labels = ref.argmax(1)
    good = compare(ref, softmax(ref), labels, probabilities=True)
    assert good["max_abs_diff"] <= 1e-6 and good["agreement"] == 1.0 and t.check("fp32", good) == []
    as_logits = compare(ref, ref.astype(np.float32), labels, probabilities=True)
    assert any("not probabilities" in f for f in t.check("int8", as_logits))
    flipped = softmax(ref)
    flipped[:2] = flipped[:2, ::-1]  # 2 of 400 labels change: 99.5 % < 99.9 %
    bad = compare(ref, flipped, labels, probabilities=True)
    assert bad["disagreements"] >= 1 and any("agreement" in f for f in t.check("fp32", bad))
    assert not any("agreement" in f for f in t.check("int8", bad))  # 99.5 % meets the int8 gate




# ---------------------------------------------------------------------------------------------
# cased tokenizers: MediaPipe lower-cases every text before its tokenizer


@pytest.fixture(scope="module")
def cased_ckpt(tmp_path_factory, own_spiece_dir):
    from albert_edge.testing import make_checkpoint

    folder = make_checkpoint(tmp_path_factory.mktemp("cased") / "model", own_spiece_dir, trained_looking=True, seed=2, **{**CFG, "num_hidden_groups": 1, "inner_group_num": 1})
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["do_lower_case"] = False
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    (folder / "tokenizer.json").unlink(missing_ok=True)
    return folder


def test_mediapipe_lower_cases_text_so_a_cased_model_is_refused(cased_ckpt, tmp_path, monkeypatch):
    """The premise, measured with MediaPipe itself: a file built anyway scores "A Good Film" exactly as
    "a good film", which a cased tokenizer gives other ids. So export refuses a cased tokenizer."""
    _require_mediapipe()
    import albert_edge.export.mediapipe_export as mx
    from albert_edge.runners import open_runner
    from albert_edge.tokenizer import is_cased, load_tokenizer

    tok = load_tokenizer(cased_ckpt)
    assert is_cased(tok) and tok("A Good Film")["input_ids"] != tok("a good film")["input_ids"]
    with pytest.raises(AlbertEdgeError, match="is cased .* lower-cases every text"):
        mx.export_mediapipe(cased_ckpt, tmp_path / "refused", max_length=L, quiet=True)
    assert not (tmp_path / "refused" / "model.int8.mediapipe.tflite").exists()
    monkeypatch.setattr(mx, "require_mediapipe_tokenizer", lambda tok, model_dir: None)
    entry = mx.export_mediapipe(cased_ckpt, tmp_path / "built", max_length=L, precision="fp32", quiet=True)
    manifest = json.loads((tmp_path / "built" / "manifest.json").read_text())
    runner = open_runner(tmp_path / "built", entry, manifest)
    upper, lower = runner.probabilities_text(["A Good Film", "a good film"])
    np.testing.assert_array_equal(upper, lower)


@pytest.mark.parametrize("problem", ["cased", "left-truncation"])
def test_pipeline_leaves_mediapipe_out_for_a_tokenizer_it_cannot_serve_unless_asked(cased_ckpt, tmp_path, capsys, problem):
    """Cased (MediaPipe lower-cases every text) or truncating from the left (MediaPipe keeps a long
    text's first tokens, Hugging Face with truncation_side 'left' its last)."""
    from albert_edge import formats
    from albert_edge.cli import main
    from albert_edge.pipeline import _without_mediapipe_if_unservable

    ok = _uncased_folder(cased_ckpt, tmp_path)
    model = cased_ckpt if problem == "cased" else _with_tokenizer_config(ok, tmp_path / "left", truncation_side="left")
    message = "is cased" if problem == "cased" else "truncates long texts from the left"
    built = [f for f in formats.REGISTRY if f.steps]
    kept = _without_mediapipe_if_unservable(built, model, explicit=False)
    assert [f.name for f in kept] == [f.name for f in built if f.name != "mediapipe"]
    assert "skipping mediapipe" in capsys.readouterr().err
    assert _without_mediapipe_if_unservable(built, ok, explicit=False) == built
    # Asked for by name: one line, exit 2, before any stage runs.
    assert main(["pipeline", "--model", str(model), "--output", str(tmp_path / "out"), "--formats", "onnx,mediapipe", "--no-bench"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("albert-edge: error:")]
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()


def _uncased_folder(cased, tmp_path):
    return _with_tokenizer_config(cased, tmp_path / "uncased", do_lower_case=True)


def _with_tokenizer_config(src, dst, **changes):
    import shutil

    shutil.copytree(src, dst)
    cfg = json.loads((dst / "tokenizer_config.json").read_text())
    cfg.update(changes)
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg))
    return dst
