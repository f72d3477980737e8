"""The tokenizer graph of albert-edge's text-in ONNX models (shared by the exporter that builds them and
the runner that checks their ids): raw strings -> SentencePiece (onnxruntime-extensions' contrib op) ->
truncation, [CLS] ... [SEP], padding -> input_ids / attention_mask / token_type_ids.

The op, read from onnxruntime-extensions' source (operators/tokenizer/sentencepiece_tokenizer.cc): inputs
(text string[N], nbest_size int64, alpha float, add_bos bool, add_eos bool, reverse bool[, fairseq bool]);
nbest_size and alpha are ignored (no sampling); outputs (ids int32 [total pieces], row splits int64 [N+1]).
add_bos / add_eos would append the model's bos/eos ids, which are -1 in ALBERT's spiece.model, before our
truncation: they stay off and [CLS]/[SEP] are inserted after truncation, as Hugging Face does. The ragged
-> dense step is standard ONNX, so the only custom op is the tokenizer and any batch size works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import AlbertEdgeError
from .formats import INPUT_NAMES as ID_INPUTS

TEXT_INPUT = "text"
CONTRIB_DOMAIN = "ai.onnx.contrib"
CONTRIB_OPSET = 1
SPM_OP = "SentencepieceTokenizer"
_P = "text_pre/"  # prefix of every tensor/node of the tokenizer graph (no clash with the model's names)


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

    from .runners import ort_session_options

    tok = build_tokenizer_graph(embedded_spm_model(path), max_length, cls_id, sep_id, pad_id)
    with tempfile.TemporaryDirectory(prefix="albert-edge-tok-") as td:
        p = Path(td) / "tokenizer.onnx"
        onnx.save(tok, str(p))
        sess = ort.InferenceSession(str(p), ort_session_options(custom_ops=True), providers=["CPUExecutionProvider"])
        out = []
        for t in texts:
            ids, mask, _ = sess.run(None, {TEXT_INPUT: np.array([t], dtype=object)})
            out.append(ids[0][mask[0] == 1].tolist())
    return out
