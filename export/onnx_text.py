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

from .. import runners
from ..errors import AlbertEdgeError
from ..onnx_text_graph import CONTRIB_DOMAIN, ID_INPUTS, SPM_OP, TEXT_INPUT, build_tokenizer_graph, embedded_spm_model, graph_token_ids  # noqa: F401

HELP = "add text-in ONNX models (tokenizer in the graph) beside the id-input ONNX models"
# id-input source -> text-in file
TEXT_FILES = {"model.onnx": "model.text.onnx", "model.int8.onnx": "model.int8.text.onnx"}
EXTENSIONS_PACKAGE = "onnxruntime-extensions"
TEXT_FORMAT = "onnx-text"


def text_io(num_labels: int) -> tuple[list[dict], list[dict]]:
    inputs = [{"name": TEXT_INPUT, "dtype": "string", "shape": ["batch"]}]
    outputs = [
        {"name": "logits", "dtype": "float32", "shape": ["batch", num_labels]},
        {"name": "probabilities", "dtype": "float32", "shape": ["batch", num_labels]},
    ]
    return inputs, outputs


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


def text_spm_model(folder, manifest: dict) -> tuple[bytes, dict]:
    """(SentencePiece model bytes, facts) to put in the graph: the folder's spiece.hf.model (written by
    every export, albert_edge.spm_hf: Hugging Face's normalizer and scores compiled into the .model)."""
    from ..artifacts import hf_spm_bytes

    data = hf_spm_bytes(Path(folder), manifest, "a text-in ONNX model")
    facts = manifest["tokenizer"].get("hf_spm") or {}
    return data, {"hf_exact": True, "source": facts.get("source"), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def custom_op_facts() -> dict:
    try:
        ver = _md.version(EXTENSIONS_PACKAGE)
    except _md.PackageNotFoundError:
        ver = None
    return {"library": EXTENSIONS_PACKAGE, "version": ver, "domain": CONTRIB_DOMAIN, "ops": [SPM_OP]}


def smoke_test(path, num_labels: int, texts=("a gorgeous , witty film .", "", "dull"), name: str | None = None) -> None:
    """Load the written file with the extensions library and run a batch of three (one empty) texts.
    `name`: the file's name in errors (`path` may be a staged temporary file)."""
    import onnxruntime as ort

    from ..runners import ort_session_options

    try:
        sess = ort.InferenceSession(str(path), ort_session_options(custom_ops=True), providers=["CPUExecutionProvider"])
        logits, probs = sess.run(["logits", "probabilities"], {TEXT_INPUT: np.array(list(texts), dtype=object)})
    except Exception as e:
        raise AlbertEdgeError(f"the text-in model {name or Path(path).name} does not run: {str(e).splitlines()[0][:200]}") from None
    if logits.shape != (len(texts), num_labels):
        raise AlbertEdgeError(f"the text-in model {name or Path(path).name} gave logits of shape {logits.shape}, expected {(len(texts), num_labels)}")
    if not (np.isfinite(logits).all() and np.allclose(probs.sum(-1), 1, atol=1e-5)):
        raise AlbertEdgeError(f"the text-in model {name or Path(path).name} gave non-finite logits or probabilities that do not sum to 1")


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
                    smoke_test(tmp, len(manifest["labels"]), name=dst)
            inputs, outputs = text_io(len(manifest["labels"]))
            entry = artifact_entry(
                out.dir,
                dst,
                TEXT_FORMAT,
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
                runtime_hints=runners.runtime_hints(custom_ops=True),
            )
            if record:
                out.add(entry)
            entries.append(entry)
    return entries


def _own_version() -> str:
    from .. import __version__

    return __version__


def add_text_models_for(out, source: str, overwrite: bool, quiet: bool) -> list[dict]:
    """The text-in model of `source` inside an open transaction (export onnx / quantize onnx write it by
    default). Without an HF-exact SentencePiece model (a tokenizer spm_hf cannot reproduce), it is
    skipped with a warning: the id-input model is still complete and correct."""
    import sys

    if "spiece.hf.model" not in out.manifest.get("files", {}):
        why = (out.manifest["tokenizer"].get("hf_spm") or {}).get("error", "no spiece.hf.model")
        if not quiet:
            print(f"warning: no text-in model for {source}: {why}", file=sys.stderr)
        return []
    entries = add_text_models(out.dir, sources=(source,), overwrite=overwrite, quiet=quiet)
    out.manifest.clear()
    from ..manifest import load_manifest

    out.manifest.update(load_manifest(out.dir))  # add_text_models wrote the stage's manifest
    return entries
