"""Text-in ONNX models: the ALBERT tokenizer inside the graph, so any ONNX Runtime binding (Android, iOS,
web, C#, C++) classifies raw strings without tokenizer code.

`model.text.onnx` / `model.int8.text.onnx` = a tokenizer graph merged (onnx.compose.merge_models) with
the id-input `model.onnx` / `model.int8.onnx`:

    text [batch] string
      -> SentencepieceTokenizer (onnxruntime-extensions, domain ai.onnx.contrib; the SentencePiece model
         bytes are the node's `model` attribute)            -> pieces int32 [N], row splits int64 [batch+1]
      -> ragged -> dense in standard ONNX ops: truncate each row to max_length - 2 pieces, [CLS] row [SEP],
         pad to the longest row                              -> input_ids, attention_mask, token_type_ids
      -> the id-input model                                  -> logits [batch, labels]
      -> Softmax                                             -> probabilities [batch, labels]

Why by hand (onnx.helper): onnxruntime-extensions 0.15.2's `gen_processing_models` refuses
AlbertTokenizer ("Unsupported processor/tokenizer"), its schema_v2 HfJsonTokenizer graph fails at session
creation ("Unknown tokenizer type AlbertTokenizer"), and relabelling the tokenizer as XLMRoberta /
DebertaV2 / T5 gives wrong ids (473/872, 0/872 SST-2 dev sentences right; measured for issue 14).

The SentencePiece op, read from onnxruntime-extensions' source (operators/tokenizer/
sentencepiece_tokenizer.cc): inputs (text string[N], nbest_size int64, alpha float, add_bos bool,
add_eos bool, reverse bool[, fairseq bool]); nbest_size and alpha are ignored (no sampling: always the
best segmentation); outputs (ids int32 [total pieces], row splits int64 [N + 1][, offsets]). add_bos /
add_eos append the model's bos/eos ids, which are -1 in ALBERT's spiece.model (it has no <s>/</s>), and
would be added before our truncation anyway: they stay off and [CLS]/[SEP] are inserted here, after
truncation, exactly as Hugging Face's tokenizer (and so albert_edge.tokenizer.TextEncoder) does.
The op's `model` attribute is base64-decoded if it decodes, else parsed as raw bytes; raw bytes are stored.

Which SentencePiece model goes in matters: the original spiece.model gives Hugging Face's ids for 852 of
872 SST-2 dev sentences; the HF-exact model of albert_edge.spm_hf (HF's normalizer and scores compiled
into the .model) for 872/872. `text_spm_model` returns the HF-exact bytes.

The ragged -> dense step is standard ONNX (Slice/Sub/Min/ReduceMax/Range/Where/Gather), not the extensions'
RaggedTensorToDense, so the only custom op is the tokenizer and any batch size works (the first hand-built
graph declared text as [1] and failed for batch 2 with "Got invalid dimensions for input: text").
"""

from __future__ import annotations

import hashlib
import importlib.metadata as _md
import warnings
from pathlib import Path

import numpy as np

from ..errors import AlbertEdgeError

HELP = "add text-in ONNX models (tokenizer in the graph) beside the id-input ONNX models"
# id-input source -> text-in file
TEXT_FILES = {"model.onnx": "model.text.onnx", "model.int8.onnx": "model.int8.text.onnx"}
TEXT_INPUT = "text"
CONTRIB_DOMAIN = "ai.onnx.contrib"
CONTRIB_OPSET = 1
SPM_OP = "SentencepieceTokenizer"
EXTENSIONS_PACKAGE = "onnxruntime-extensions"
ID_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Manifest formats for the registry (albert_edge.formats). Until it lists them, entries say "onnx" and
# carry input_kind / serialization (see entry_format).
TEXT_FORMAT = "onnx-text"
_P = "text_pre/"  # prefix of every tensor/node of the tokenizer graph (no clash with the model's names)


def entry_format(name: str, fallback: str = "onnx") -> str:
    """`name` once the format registry knows it, else `fallback` (artifact_entry accepts only known formats)."""
    from .. import formats

    return name if formats.find(name) is not None else fallback


def text_io(num_labels: int) -> tuple[list[dict], list[dict]]:
    inputs = [{"name": TEXT_INPUT, "dtype": "string", "shape": ["batch"]}]
    outputs = [
        {"name": "logits", "dtype": "float32", "shape": ["batch", num_labels]},
        {"name": "probabilities", "dtype": "float32", "shape": ["batch", num_labels]},
    ]
    return inputs, outputs


def build_tokenizer_graph(
    spm_model: bytes, max_length: int, cls_id: int, sep_id: int, pad_id: int = 0, opset: int = 17, ir_version: int = 8
):
    """text [batch] -> input_ids / attention_mask / token_type_ids [batch, seq] (int64), HF's way:
    [CLS] + the first max_length - 2 pieces + [SEP], padded with pad_id to the longest row."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    if max_length < 2:
        raise AlbertEdgeError("max_length must be at least 2 ([CLS] and [SEP])")
    if not isinstance(spm_model, (bytes, bytearray)) or not spm_model:
        raise AlbertEdgeError("the SentencePiece model must be given as non-empty bytes")

    def c(name, value, dtype):
        return nh.from_array(np.asarray(value, dtype=dtype), _P + name)

    inits = [
        c("nbest", [0], np.int64),
        c("alpha", [0.0], np.float32),
        c("false", [False], np.bool_),
        c("zero", [0], np.int64),
        c("one", [1], np.int64),
        c("minus_one", [-1], np.int64),
        c("int_max", [np.iinfo(np.int64).max], np.int64),
        c("one_s", 1, np.int64),
        c("two_s", 2, np.int64),
        c("zero_s", 0, np.int64),
        c("max_pieces", max_length - 2, np.int64),
        c("cls", cls_id, np.int64),
        c("sep", sep_id, np.int64),
        c("pad", [pad_id], np.int64),
    ]
    p = lambda n: _P + n
    nodes = [
        h.make_node(
            SPM_OP,
            [TEXT_INPUT, p("nbest"), p("alpha"), p("false"), p("false"), p("false")],
            [p("pieces32"), p("splits")],
            name=p("sentencepiece"),
            domain=CONTRIB_DOMAIN,
            model=bytes(spm_model),
        ),
        h.make_node("Cast", [p("pieces32")], [p("pieces")], to=T.INT64),
        # Row i holds pieces[splits[i] : splits[i + 1]].
        h.make_node("Slice", [p("splits"), p("zero"), p("minus_one")], [p("starts")]),
        h.make_node("Slice", [p("splits"), p("one"), p("int_max")], [p("ends")]),
        h.make_node("Sub", [p("ends"), p("starts")], [p("lens_full")]),
        h.make_node("Min", [p("lens_full"), p("max_pieces")], [p("lens")]),  # truncation
        h.make_node("ReduceMax", [p("lens")], [p("longest")], keepdims=0),
        h.make_node("Add", [p("longest"), p("two_s")], [p("seq")]),
        h.make_node("Range", [p("zero_s"), p("seq"), p("one_s")], [p("pos1")]),
        h.make_node("Unsqueeze", [p("pos1"), p("zero")], [p("pos")]),  # [1, seq]
        h.make_node("Unsqueeze", [p("lens"), p("one")], [p("lens_col")]),  # [batch, 1]
        h.make_node("Unsqueeze", [p("starts"), p("one")], [p("starts_col")]),
        h.make_node("Add", [p("lens_col"), p("one")], [p("sep_pos")]),
        # Pieces sit at positions 1..len; the flat index is starts + pos - 1. Other positions read one
        # pad appended at the end of the flat pieces (so an all-empty batch, N = 0, still gathers).
        h.make_node("GreaterOrEqual", [p("pos"), p("one")], [p("after_cls")]),
        h.make_node("LessOrEqual", [p("pos"), p("lens_col")], [p("before_sep")]),
        h.make_node("And", [p("after_cls"), p("before_sep")], [p("is_piece")]),
        h.make_node("Add", [p("starts_col"), p("pos")], [p("flat_plus1")]),
        h.make_node("Sub", [p("flat_plus1"), p("one")], [p("flat")]),
        h.make_node("Size", [p("pieces")], [p("n_pieces")]),
        h.make_node("Where", [p("is_piece"), p("flat"), p("n_pieces")], [p("gather_idx")]),
        h.make_node("Concat", [p("pieces"), p("pad")], [p("pieces_padded")], axis=0),
        h.make_node("Gather", [p("pieces_padded"), p("gather_idx")], [p("body")], axis=0),
        h.make_node("Equal", [p("pos"), p("sep_pos")], [p("is_sep")]),
        h.make_node("Where", [p("is_sep"), p("sep"), p("body")], [p("with_sep")]),
        h.make_node("Equal", [p("pos"), p("zero_s")], [p("is_cls")]),
        h.make_node("Where", [p("is_cls"), p("cls"), p("with_sep")], ["input_ids"]),
        h.make_node("LessOrEqual", [p("pos"), p("sep_pos")], [p("in_row")]),
        h.make_node("Cast", [p("in_row")], ["attention_mask"], to=T.INT64),
        h.make_node("Mul", ["input_ids", p("zero")], ["token_type_ids"]),
    ]
    dims = ["batch", "sequence"]
    graph = h.make_graph(
        nodes,
        "albert_text_preprocessing",
        [h.make_tensor_value_info(TEXT_INPUT, T.STRING, ["batch"])],
        [h.make_tensor_value_info(n, T.INT64, dims) for n in ID_INPUTS],
        initializer=inits,
    )
    model = h.make_model(
        graph,
        opset_imports=[h.make_opsetid("", opset), h.make_opsetid(CONTRIB_DOMAIN, CONTRIB_OPSET)],
        ir_version=ir_version,
        producer_name="albert-edge",
    )
    return model


def merge_text_model(tokenizer_model, id_model):
    """tokenizer graph + id-input model (+ Softmax) as one model; inputs `text`, outputs logits, probabilities."""
    import onnx
    from onnx import helper as h

    model_inputs = [i.name for i in id_model.graph.input]
    missing = [n for n in model_inputs if n not in ID_INPUTS]
    if missing or "input_ids" not in model_inputs:
        raise AlbertEdgeError(f"the id-input model has inputs {model_inputs}; expected a subset of {list(ID_INPUTS)} with input_ids")
    if [o.name for o in id_model.graph.output] != ["logits"]:
        raise AlbertEdgeError("the id-input model must have exactly one output, logits")
    default = next((o.version for o in id_model.opset_import if o.domain in ("", "ai.onnx")), None)
    tok_default = next(o.version for o in tokenizer_model.opset_import if o.domain == "")
    if default != tok_default or id_model.ir_version != tokenizer_model.ir_version:
        raise AlbertEdgeError(
            f"tokenizer graph (opset {tok_default}, IR {tokenizer_model.ir_version}) and model (opset {default}, "
            f"IR {id_model.ir_version}) differ; build the tokenizer graph with the model's versions"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged = onnx.compose.merge_models(
            tokenizer_model,
            id_model,
            io_map=[(n, n) for n in model_inputs],
            outputs=["logits"],
            producer_name="albert-edge",
            producer_version=_own_version(),
        )
    # merge_models checks that shared domains agree but then writes both models' opset lists
    # (onnx 1.23: `opset_imports=list(m1.opset_import) + list(m2.opset_import)`), so "" appears twice.
    seen: dict[str, int] = {}
    for o in merged.opset_import:
        seen.setdefault(o.domain, o.version)
    del merged.opset_import[:]
    merged.opset_import.extend(h.make_opsetid(d, v) for d, v in seen.items())
    merged.graph.node.append(h.make_node("Softmax", ["logits"], ["probabilities"], name="probabilities_softmax", axis=-1))
    logits_vi = next(o for o in merged.graph.output if o.name == "logits")
    prob_vi = onnx.ValueInfoProto()
    prob_vi.CopyFrom(logits_vi)
    prob_vi.name = "probabilities"
    merged.graph.output.append(prob_vi)
    merged.graph.name = "albert_text_classifier"
    merged.doc_string = (
        f"albert-edge text-in model: input 'text' (string [batch]); needs the {EXTENSIONS_PACKAGE} custom-op library "
        f"({CONTRIB_DOMAIN}.{SPM_OP})"
    )
    return merged


def build_text_model(id_model, spm_model: bytes, max_length: int, cls_id: int, sep_id: int, pad_id: int = 0):
    """The text-in model for an id-input model (a ModelProto or a path)."""
    import onnx

    if not isinstance(id_model, onnx.ModelProto):
        id_model = onnx.load(str(id_model))
    opset = next(o.version for o in id_model.opset_import if o.domain in ("", "ai.onnx"))
    tok = build_tokenizer_graph(spm_model, max_length, cls_id, sep_id, pad_id, opset=opset, ir_version=id_model.ir_version)
    return merge_text_model(tok, id_model)


def text_spm_model(folder, manifest: dict | None = None) -> tuple[bytes, dict]:
    """(SentencePiece model bytes, facts) to put in the graph for an artifacts/tokenizer folder: the
    HF-exact model of albert_edge.spm_hf, built from the folder's spiece.model + tokenizer (~2-10 s)."""
    from .. import spm_hf

    data, facts = spm_hf.build_hf_spm(Path(folder))
    return data, {"hf_exact": True, "source": facts.get("source"), "sha256": facts["sha256"], "bytes": facts["bytes"]}


def embedded_spm_model(path) -> bytes:
    """The SentencePiece model bytes inside a text-in .onnx file (its SentencepieceTokenizer node's attribute)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise AlbertEdgeError(f"cannot read {path}: {str(e).splitlines()[0][:200]}") from None
    for n in model.graph.node:
        if n.op_type == SPM_OP and n.domain == CONTRIB_DOMAIN:
            for a in n.attribute:
                if a.name == "model":
                    return bytes(a.s)
    raise AlbertEdgeError(f"{path} has no {CONTRIB_DOMAIN}.{SPM_OP} node: not a text-in model")


def graph_token_ids(path, texts: list[str], max_length: int, cls_id: int, sep_id: int, pad_id: int = 0) -> list[list[int]]:
    """The ids a text-in .onnx file feeds its model for each text (its own SentencePiece bytes in a
    tokenizer-only graph, batch 1): what `verify` compares with Hugging Face's ids."""
    import tempfile

    import onnx
    import onnxruntime as ort

    from ..onnx_text_runner import make_session_options

    tok = build_tokenizer_graph(embedded_spm_model(path), max_length, cls_id, sep_id, pad_id)
    with tempfile.TemporaryDirectory(prefix="albert-edge-tok-") as td:
        p = Path(td) / "tokenizer.onnx"
        onnx.save(tok, str(p))
        sess = ort.InferenceSession(str(p), make_session_options(custom_ops=True), providers=["CPUExecutionProvider"])
        out = []
        for t in texts:
            ids, mask, _ = sess.run(None, {TEXT_INPUT: np.array([t], dtype=object)})
            out.append(ids[0][mask[0] == 1].tolist())
    return out


def custom_op_facts() -> dict:
    try:
        ver = _md.version(EXTENSIONS_PACKAGE)
    except _md.PackageNotFoundError:
        ver = None
    return {"library": EXTENSIONS_PACKAGE, "version": ver, "domain": CONTRIB_DOMAIN, "ops": [SPM_OP]}


def smoke_test(path, num_labels: int, texts=("a gorgeous , witty film .", "", "dull")) -> None:
    """Load the written file with the extensions library and run a batch of three (one empty) texts."""
    import onnxruntime as ort

    from ..onnx_text_runner import make_session_options

    try:
        sess = ort.InferenceSession(str(path), make_session_options(custom_ops=True), providers=["CPUExecutionProvider"])
        logits, probs = sess.run(["logits", "probabilities"], {TEXT_INPUT: np.array(list(texts), dtype=object)})
    except Exception as e:
        raise AlbertEdgeError(f"the text-in model {Path(path).name} does not run: {str(e).splitlines()[0][:200]}") from None
    if logits.shape != (len(texts), num_labels) or not np.allclose(probs.sum(-1), 1, atol=1e-5):
        raise AlbertEdgeError(f"the text-in model {Path(path).name} gave logits of shape {logits.shape}")


def add_text_models(
    folder,
    sources: tuple[str, ...] | None = None,
    spm_model: bytes | None = None,
    spm_facts: dict | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    record: bool = True,
) -> list[dict]:
    """Write model.text.onnx / model.int8.text.onnx beside the id-input models the folder has
    (`sources`: which of TEXT_FILES' keys; default every one present) and return their manifest entries.

    `spm_model`: the SentencePiece model bytes to embed (default: text_spm_model(folder), the HF-exact one);
    `spm_facts`: what to record about given bytes (text_spm_model's second value), else hf_exact: null.
    `record`: upsert the entries into manifest.json (needs a manifest format that knows text-in entries;
    see the module's report for the wiring)."""
    import onnx

    from ..artifacts import update_output
    from ..fsutil import atomic_path
    from ..integrity import verified_path
    from ..manifest import artifact_entry, find_artifact
    from ..progress import step

    with update_output(folder) as out:
        manifest = out.manifest
        have = {a["file"] for a in manifest["artifacts"]}
        todo = [s for s in (sources or TEXT_FILES) if s in have]
        if sources:
            unknown = [s for s in sources if s not in TEXT_FILES]
            absent = [s for s in sources if s in TEXT_FILES and s not in have]
            if unknown or absent:
                raise AlbertEdgeError(f"cannot add a text-in model for {(unknown or absent)[0]} (known: {', '.join(TEXT_FILES)}; in the folder: {', '.join(sorted(have))})")
        if not todo:
            raise AlbertEdgeError(f"{folder} has no id-input ONNX model ({', '.join(TEXT_FILES)}); run `albert-edge export onnx` first")
        for s in todo:
            if (out.dir / TEXT_FILES[s]).exists() and not overwrite:
                raise AlbertEdgeError(f"{Path(folder) / TEXT_FILES[s]} already exists (use --overwrite)")
        tok = manifest["tokenizer"]
        max_length = int(manifest["max_seq_length"])
        # Sources are checked before the (seconds-long) SentencePiece build.
        srcs = {s: (find_artifact(manifest, s), verified_path(out.dir, find_artifact(manifest, s), what="text-model source")) for s in todo}
        if spm_model is None:
            with step("building the HF-exact SentencePiece model for the graph", quiet):
                spm_model, spm_facts = text_spm_model(out.dir, manifest)
        else:
            digest = hashlib.sha256(spm_model).hexdigest()
            if spm_facts is not None and spm_facts.get("sha256") not in (None, digest):
                raise AlbertEdgeError("spm_facts describe other SentencePiece bytes than spm_model")
            spm_facts = {"hf_exact": None, "source": "given", **(spm_facts or {}), "sha256": digest, "bytes": len(spm_model)}
        entries = []
        for src_name in todo:
            src_entry, src = srcs[src_name]
            dst = TEXT_FILES[src_name]
            with step(f"building {dst} (tokenizer graph + {src_name})", quiet):
                model = build_text_model(src, spm_model, max_length, tok["cls_id"], tok["sep_id"], tok.get("pad_id") or 0)
                with atomic_path(out.dir / dst, suffix=".onnx") as tmp:
                    onnx.save(model, str(tmp))
                    smoke_test(tmp, len(manifest["labels"]))
            inputs, outputs = text_io(len(manifest["labels"]))
            entry = artifact_entry(
                out.dir,
                dst,
                entry_format(TEXT_FORMAT),
                src_entry["precision"],
                inputs,
                outputs,
                input_kind="text",
                derived_from=src_name,
                tokenizer_in_graph={
                    "op": f"{CONTRIB_DOMAIN}.{SPM_OP}",
                    "sentencepiece": spm_facts,
                    "max_seq_length": max_length,
                    "truncation": "first max_seq_length - 2 pieces, then [CLS] ... [SEP]",
                    "cls_id": tok["cls_id"],
                    "sep_id": tok["sep_id"],
                    "pad_id": tok.get("pad_id") or 0,
                },
                custom_ops=custom_op_facts(),
                runtime_hints=runtime_hints(custom_ops=True),
            )
            if record:
                out.add(entry)
            entries.append(entry)
    return entries


def runtime_hints(custom_ops: bool = False) -> dict:
    from ..onnx_text_runner import runtime_hints as _hints

    return _hints(custom_ops=custom_ops)


def _own_version() -> str:
    from .. import __version__

    return __version__
