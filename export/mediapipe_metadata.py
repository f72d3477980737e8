"""MediaPipe model metadata for a text classifier .tflite: written with MediaPipe's own writer.

MediaPipe Tasks' TextClassifier reads everything it needs from the file: the tokenizer (a
SentencePiece model packed into the file), which input tensor is ids / mask / segment ids, and the
labels. Without metadata it refuses the file ("BertPreprocessorCalculator failed: No metadata or
input process unit found", measured with mediapipe 1.2.3).

The metadata is made by `mediapipe.tasks.python.metadata.metadata_writers.text_classifier
.MetadataWriter.create_for_bert_model` (the field's tool; nothing here encodes the schema by hand),
with two measured problems worked around, each in one place:

1. The mediapipe 1.2.3 wheel's metadata.py imports `mediapipe.tasks.cc.metadata.python.
   _pywrap_metadata_version`, a pybind module the wheel does not ship (ModuleNotFoundError:
   No module named 'mediapipe.tasks.cc'). Its only function, GetMinimumMetadataParserVersion, is
   ported to Python below (`minimum_parser_version`, from mediapipe/tasks/cc/metadata/
   metadata_version.cc) and registered under that module name only when the real one is missing.
2. MediaPipe's populator re-packs the whole model through the flatbuffers object API, which packs
   buffer data with alignment 1: on the demo int8 model 39 of 48 weight buffers no longer started
   on the 16-byte boundary TFLite's schema declares (force_align: 16; measured). So the populated
   flatbuffer goes through export/tflite_buffers.compact again (0 misaligned, same constants) and
   MediaPipe's packed associated files (the zip it appends after the flatbuffer) are re-appended
   the way its populator appends them.
"""

from __future__ import annotations

import importlib
import io
import sys
import types
import zipfile

from ..errors import AlbertEdgeError
from ..mediapipe_runner import INSTALL_HINT, mediapipe_version, require_mediapipe  # noqa: F401

MEDIAPIPE_VERSION = "1.2.3"  # the version measured here (pinned by the `mediapipe` extra)
METADATA_NAME = "TFLITE_METADATA"  # MetadataPopulator.METADATA_FIELD_NAME
_PYWRAP = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"


# --------------------------------------------------------------------------- parser version


def _version_tuple(s: str) -> tuple[int, int, int]:
    parts = [int(p) for p in s.split(".")] + [0, 0]
    return parts[0], parts[1], parts[2]


def minimum_parser_version(metadata_buf: bytes) -> str:
    """The smallest metadata parser version that understands every field present in a
    ModelMetadata flatbuffer (Python port of MediaPipe's GetMinimumMetadataParserVersion: each
    schema member added after 1.0.0 raises the minimum to the version that introduced it)."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    md = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(bytes(metadata_buf), 0))
    need = [(1, 0, 0)]
    FT, PU, CP = fb.AssociatedFileType, fb.ProcessUnitOptions, fb.ContentProperties

    def files(lst):
        for f in lst or []:
            if f.type == FT.VOCABULARY:
                need.append((1, 0, 1))
            if f.type == FT.SCANN_INDEX_FILE:
                need.append((1, 4, 0))
            if f.version is not None:
                need.append((1, 4, 1))

    def units(lst):
        for u in lst or []:
            if u.optionsType in (PU.BertTokenizerOptions, PU.SentencePieceTokenizerOptions):
                need.append((1, 1, 0))
            if u.optionsType == PU.RegexTokenizerOptions:
                need.append((1, 2, 1))

    def tensors(lst):
        for t in lst or []:
            files(t.associatedFiles)
            units(t.processUnits)
            if t.content is not None and t.content.contentPropertiesType == CP.AudioProperties:
                need.append((1, 3, 0))

    for sg in md.subgraphMetadata or []:
        tensors(sg.inputTensorMetadata)
        tensors(sg.outputTensorMetadata)
        files(sg.associatedFiles)
        # A present vector counts even when empty (the C++ checks != nullptr).
        if sg.inputProcessUnits is not None:
            need.append((1, 1, 0))
            units(sg.inputProcessUnits)
        if sg.outputProcessUnits is not None:
            need.append((1, 1, 0))
            units(sg.outputProcessUnits)
        if sg.inputTensorGroups is not None or sg.outputTensorGroups is not None:
            need.append((1, 2, 0))
        if sg.customMetadata is not None:
            need.append((1, 5, 0))
    files(md.associatedFiles)
    return ".".join(map(str, max(need)))


def _ensure_parser_version_module() -> bool:
    """Register the Python port under the pybind module's name when the wheel lacks it; returns
    True when the port is in use (recorded in the manifest)."""
    try:
        importlib.import_module(_PYWRAP)
        return False
    except ImportError:
        pass
    parts = _PYWRAP.split(".")
    for i in range(3, len(parts)):  # mediapipe.tasks.cc, .metadata, .python, ._pywrap_metadata_version
        name = ".".join(parts[:i + 1])
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = []  # a package, so the next level can hang below it
            sys.modules[name] = mod
            parent = sys.modules.get(".".join(parts[:i]))
            if parent is not None:
                setattr(parent, parts[i], mod)
    sys.modules[_PYWRAP].GetMinimumMetadataParserVersion = minimum_parser_version
    return True


def writer_modules():
    """(text_classifier, metadata_writer) of MediaPipe's metadata writers, importable on 1.2.3."""
    require_mediapipe("writing MediaPipe metadata")
    ported = _ensure_parser_version_module()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, text_classifier

    return text_classifier, metadata_writer, ported


# --------------------------------------------------------------------------- writing


def input_tensor_names(model_bytes: bytes) -> dict[str, str]:
    """Signature input name -> flatbuffer tensor name (what the metadata must name: MediaPipe's
    writer matches `Tensor.name`, e.g. seq_128_input_ids, not the signature's input_ids)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(model_bytes, 0)
    if model.SubgraphsLength() != 1 or model.SignatureDefsLength() != 1:
        raise AlbertEdgeError(
            f"a MediaPipe classifier must have one subgraph and one signature, this file has "
            f"{model.SubgraphsLength()} subgraph(s) and {model.SignatureDefsLength()} signature(s)"
        )
    sd, g = model.SignatureDefs(0), model.Subgraphs(0)
    return {sd.Inputs(i).Name().decode(): g.Tensors(sd.Inputs(i).TensorIndex()).Name().decode() for i in range(sd.InputsLength())}


def split_packed_files(data: bytes) -> tuple[bytes, bytes]:
    """(flatbuffer, appended zip of associated files) of a populated model."""
    from ai_edge_litert import schema_py_generated as schema

    # The flatbuffer ends where its last referenced byte ends; the zip's local headers start with PK\3\4.
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data, b""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        first = min(i.header_offset for i in zf.infolist()) if zf.infolist() else len(data)
    schema.Model.GetRootAs(data[:first], 0)  # still parses without the tail
    return data[:first], data[first:]


def append_packed_files(flatbuffer: bytes, files: dict[str, bytes]) -> bytes:
    """The model with `files` appended as a zip, as MediaPipe's MetadataPopulator does (zipfile in
    append mode on the model bytes: offsets are from the start of the file, which MediaPipe's
    C++ zip reader expects)."""
    buf = io.BytesIO(flatbuffer)
    buf.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buf, "a") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def write_metadata(model_bytes: bytes, spm_path, labels: list[str], names: dict[str, str] | None = None) -> tuple[bytes, dict]:
    """`model_bytes` (one signature: input_ids, attention_mask, token_type_ids -> one float output)
    with TextClassifier metadata: SentencePiece tokenizer `spm_path` packed into the file, labels
    in class-id order. Returns (bytes, facts for the manifest)."""
    from .tflite_buffers import compact

    text_classifier, metadata_writer, ported = writer_modules()
    names = names or input_tensor_names(model_bytes)
    missing = {"input_ids", "attention_mask", "token_type_ids"} - set(names)
    if missing:
        raise AlbertEdgeError(f"the model has no signature input(s) {', '.join(sorted(missing))}")
    try:
        writer = text_classifier.MetadataWriter.create_for_bert_model(
            bytearray(model_bytes),
            tokenizer=metadata_writer.SentencePieceTokenizer(sentence_piece_model_path=str(spm_path)),
            labels=metadata_writer.Labels().add(list(labels)),
            ids_name=names["input_ids"],
            mask_name=names["attention_mask"],
            segment_name=names["token_type_ids"],
        )
        populated, _json = writer.populate()
    except (ValueError, OSError) as e:  # the writer's own checks (tensor names, single subgraph, files)
        raise AlbertEdgeError(f"MediaPipe's metadata writer refused the model: {str(e).splitlines()[0][:200]}") from None
    flat, tail = split_packed_files(bytes(populated))
    with zipfile.ZipFile(io.BytesIO(bytes(populated))) as zf:
        packed = {n: zf.read(n) for n in zf.namelist()}
    if not tail or not packed:
        raise AlbertEdgeError("MediaPipe's metadata writer packed no tokenizer/label files into the model")
    compacted, _ = compact(flat, shorten_names=False)
    out = append_packed_files(compacted, packed)
    facts = read_metadata(out)
    facts["parser_version_port"] = ported
    facts["writer"] = f"mediapipe {mediapipe_version()} metadata_writers.text_classifier.create_for_bert_model"
    return out, facts


# --------------------------------------------------------------------------- reading


def read_metadata(data: bytes) -> dict:
    """What a MediaPipe client will read from the file: tensor names the metadata is bound to,
    tokenizer kind and file, labels, min parser version, packed files. Pure Python (the schema
    modules of ai_edge_litert and mediapipe); raises AlbertEdgeError when there is no metadata."""
    from ai_edge_litert import schema_py_generated as schema
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    model = schema.Model.GetRootAs(data, 0)
    buf = None
    for i in range(model.MetadataLength()):
        m = model.Metadata(i)
        if m.Name().decode() == METADATA_NAME:
            b = model.Buffers(m.Buffer())
            buf = bytes(data[b.Offset() : b.Offset() + b.Size()]) if b.Offset() else b.DataAsNumpy().tobytes()
    if buf is None:
        raise AlbertEdgeError(f"the model has no {METADATA_NAME} (MediaPipe metadata)")
    md = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAs(buf, 0))
    if not md.subgraphMetadata or len(md.subgraphMetadata) != 1:
        raise AlbertEdgeError("MediaPipe metadata must describe exactly one subgraph")
    sg = md.subgraphMetadata[0]
    g = model.Subgraphs(0)
    in_names = [g.Tensors(g.Inputs(i)).Name().decode() for i in range(g.InputsLength())]
    out_names = [g.Tensors(g.Outputs(i)).Name().decode() for i in range(g.OutputsLength())]
    kinds = {v: k for k, v in vars(fb.ProcessUnitOptions).items() if not k.startswith("_")}
    units = [kinds.get(u.optionsType, str(u.optionsType)) for u in sg.inputProcessUnits or []]
    spm_files = []
    for u in sg.inputProcessUnits or []:
        if u.optionsType == fb.ProcessUnitOptions.SentencePieceTokenizerOptions:
            spm_files += [f.name.decode() if isinstance(f.name, bytes) else f.name for f in u.options.sentencePieceModel or []]
    label_files = [
        f.name.decode() if isinstance(f.name, bytes) else f.name
        for t in sg.outputTensorMetadata or []
        for f in t.associatedFiles or []
        if f.type == fb.AssociatedFileType.TENSOR_AXIS_LABELS
    ]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            packed = {n: zf.read(n) for n in zf.namelist()}
    except zipfile.BadZipFile:
        packed = {}
    labels = packed[label_files[0]].decode("utf-8").splitlines() if label_files and label_files[0] in packed else []

    def s(x):
        return x.decode() if isinstance(x, bytes) else x

    return {
        "min_parser_version": s(md.minParserVersion),
        "subgraphs": model.SubgraphsLength(),
        "signatures": model.SignatureDefsLength(),
        # Metadata entries are bound to tensors by position: input i of the subgraph.
        "input_tensors": [{"tensor": n, "metadata": s(t.name)} for n, t in zip(in_names, sg.inputTensorMetadata or [])],
        "output_tensors": [{"tensor": n, "metadata": s(t.name)} for n, t in zip(out_names, sg.outputTensorMetadata or [])],
        "input_process_units": units,
        "tokenizer_files": spm_files,
        "label_files": label_files,
        "labels": labels,
        "packed_files": {n: len(b) for n, b in packed.items()},
    }


def packed_file(data: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read(name)
