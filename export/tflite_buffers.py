"""Constant-buffer bookkeeping for .tflite flatbuffers: measure, merge duplicates, shorten names.

ALBERT applies one set of layer weights N times; the artifact must store each weight once, in
every signature (sequence bucket) and after quantization. The LiteRT converter uniques constants
within one conversion, but nothing in litert-torch or ai-edge-quantizer guarantees it afterwards
(the quantizer can even duplicate buffers on purpose, see its `duplicate_buffer` transformation),
and nothing in either merges byte-identical buffers or checks that it happened. So this module
does exactly that, on the schema's own object API (`ai_edge_litert.schema_py_generated` +
`ai_edge_litert.tools.flatbuffer_utils`), not with a hand-written flatbuffer parser.

Tensor names are shortened too: litert-torch names every tensor after its full Python module path
("transformers.models.albert.modeling_albert.AlbertLayer_0/…"), ~800 KB per signature for
ALBERT-base, i.e. several percent of an int8 file. Names are debug-only for the runtime; the
signature names (input_ids, attention_mask, token_type_ids, logits) are kept untouched.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import numpy as np

# TFLite's schema declares Buffer.data with force_align: 16; the python object API packs uint8
# vectors with alignment 1, so re-packing would silently drop the alignment the C++ writer keeps.
_BUFFER_ALIGN = 16

# "transformers.models.albert.modeling_albert.AlbertLayer_0" -> "AlbertLayer_0"
_QUALIFIER = re.compile(r"(?<![\w.])(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*)")
# The export wrapper and HF's outer modules add the same ~90 characters to every name.
_WRAPPER_PREFIX = re.compile(r"(?:^|(?<=;))[^/;]+/AlbertForSequenceClassification_\w+/(?:AlbertModel_albert/)?(?:AlbertTransformer_)?")


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _buffer_bytes(data: bytes | memoryview, buf) -> bytes:
    if buf.Offset():
        return bytes(data[buf.Offset() : buf.Offset() + buf.Size()])
    if buf.DataLength():
        return buf.DataAsNumpy().tobytes()
    return b""


def constant_stats(data: bytes | memoryview) -> dict:
    """What the file's constant buffers hold (read-only; fast reader API, no unpacking).

    Returns buffers (non-empty constant buffers), bytes (their total size), unique_bytes (size
    counting byte-identical buffers once), duplicate_buffers (buffers that repeat another),
    referenced_by_many (buffers used by more than one tensor, across all signatures), and
    misaligned (buffers whose data does not start on a 16-byte boundary).
    """
    schema = _schema()
    data = memoryview(data)
    model = schema.Model.GetRootAs(data, 0)
    refs: Counter[int] = Counter()
    for s in range(model.SubgraphsLength()):
        g = model.Subgraphs(s)
        for t in range(g.TensorsLength()):
            b = g.Tensors(t).Buffer()
            if b:
                refs[b] += 1
    seen: dict[str, int] = {}
    n = total = unique = dup = misaligned = 0
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        raw = _buffer_bytes(data, buf)
        if not raw:
            continue
        n += 1
        total += len(raw)
        if not buf.Offset():
            off = buf._tab.Vector(buf._tab.Offset(4))  # absolute position of the data bytes
            misaligned += off % _BUFFER_ALIGN != 0
        h = hashlib.sha1(raw).hexdigest()
        if h in seen:
            dup += 1
        else:
            seen[h] = len(raw)
            unique += len(raw)
    return {
        "buffers": n,
        "bytes": total,
        "unique_bytes": unique,
        "duplicate_buffers": dup,
        "referenced_by_many": sum(1 for c in refs.values() if c > 1),
        "misaligned": misaligned,
        "subgraphs": model.SubgraphsLength(),
        "tensor_name_bytes": sum(
            len(model.Subgraphs(s).Tensors(t).Name() or b"")
            for s in range(model.SubgraphsLength())
            for t in range(model.Subgraphs(s).TensorsLength())
        ),
    }


def short_name(name: str) -> str:
    """Drop Python qualifiers and the export wrapper's prefix from a litert-torch tensor name."""
    return _WRAPPER_PREFIX.sub("", _QUALIFIER.sub("", name))


def _shorten_names(model) -> None:
    for g in model.subgraphs or []:
        protected = set(g.inputs or []) | set(g.outputs or [])
        old = [t.name.decode() if isinstance(t.name, bytes) else (t.name or "") for t in g.tensors]
        new = [o if i in protected else short_name(o) for i, o in enumerate(old)]
        # The quantizer keys calibration statistics by tensor name: never merge two names.
        if len(set(new)) != len(set(old)):
            continue
        for t, n in zip(g.tensors, new):
            t.name = n.encode()


def _aligned_buffer_cls():
    schema = _schema()

    class AlignedBufferT(schema.BufferT):
        def Pack(self, builder):  # noqa: N802 (flatbuffers naming)
            data = None
            if self.data is not None and len(self.data):
                payload = np.ascontiguousarray(np.frombuffer(memoryview(self.data).cast("B"), dtype=np.uint8)).tobytes()
                builder.StartVector(1, len(payload), _BUFFER_ALIGN)
                builder.head -= len(payload)
                builder.Bytes[builder.head : builder.head + len(payload)] = payload
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, 0)
            schema.BufferAddSize(builder, 0)
            return schema.BufferEnd(builder)

    return AlignedBufferT


def _shared_quant_cls():
    schema = _schema()

    class SharedQuantizationParametersT(schema.QuantizationParametersT):
        """Packed once per builder; every tensor holding it points at the same table.

        A quantized weight is read by one tensor per signature; each tensor carries its own
        per-channel scales/zero-points (for ALBERT-base int8: 460 KB per signature, 30 000 of them
        for the embedding table alone). Flatbuffers allow several parents to reference one table,
        and the schema's object API has no way to say so, hence this subclass.
        """

        _packed: tuple[int, int] | None = None

        def Pack(self, builder):  # noqa: N802 (flatbuffers naming)
            if self._packed is not None and self._packed[0] == id(builder):
                return self._packed[1]
            off = super().Pack(builder)
            self._packed = (id(builder), off)
            return off

    return SharedQuantizationParametersT


def _quant_key(q):
    if q.details is not None:  # custom/blockwise details: leave such tensors alone
        return None
    parts: list = [int(q.quantizedDimension or 0)]
    for f in ("min", "max", "scale", "zeroPoint"):
        v = getattr(q, f)
        parts.append(None if v is None else (np.asarray(v).dtype.str, np.asarray(v).tobytes()))
    return tuple(parts)


def _share_quantization(model) -> int:
    """Point tensors with identical quantization parameters at one object; returns how many were shared."""
    cls = _shared_quant_cls()
    canon: dict = {}
    shared = 0
    for g in model.subgraphs or []:
        for t in g.tensors or []:
            q = t.quantization
            if q is None:
                continue
            key = _quant_key(q)
            if key is None or all(p is None for p in key[1:]):
                continue
            if key in canon:
                t.quantization = canon[key]
                shared += 1
            else:
                c = cls()
                c.__dict__.update({k: v for k, v in q.__dict__.items()})
                canon[key] = t.quantization = c
    return shared


def compact(data: bytes | memoryview, shorten_names: bool = True, share_quantization: bool = True) -> tuple[bytes, dict]:
    """Merge byte-identical constant buffers (tensors point to one copy), drop unreferenced
    buffers, share identical quantization parameters, optionally shorten tensor names; returns
    (new flatbuffer, stats before/after)."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    before = constant_stats(data)
    model = fbu.read_model_from_bytearray(bytearray(data))
    buffers = model.buffers
    meta = {m.buffer for m in model.metadata or []}
    # Buffer 0 stays the empty sentinel the schema reserves; metadata buffers are left alone.
    canon: dict[bytes, int] = {}
    remap = np.zeros(len(buffers), dtype=np.int64)
    for i, b in enumerate(buffers):
        if i == 0 or i in meta or b.data is None or len(b.data) == 0:
            continue
        raw = bytes(memoryview(b.data).cast("B"))
        key = hashlib.sha256(raw).digest() + len(raw).to_bytes(8, "little")
        remap[i] = canon.setdefault(key, i)
    used = {0}
    for g in model.subgraphs or []:
        for t in g.tensors or []:
            if t.buffer:
                t.buffer = int(remap[t.buffer]) if remap[t.buffer] else t.buffer
                used.add(t.buffer)
    used |= meta
    order = sorted(used)
    new_index = {old: new for new, old in enumerate(order)}
    cls = _aligned_buffer_cls()
    new_buffers = []
    for old in order:
        nb = cls()
        nb.data = buffers[old].data if old else None
        new_buffers.append(nb)
    model.buffers = new_buffers
    for g in model.subgraphs or []:
        for t in g.tensors or []:
            t.buffer = new_index[t.buffer]
    for m in model.metadata or []:
        m.buffer = new_index[m.buffer]
    if shorten_names:
        _shorten_names(model)
    n_shared = _share_quantization(model) if share_quantization else 0
    out = bytes(fbu.convert_object_to_bytearray(model))
    after = constant_stats(out)
    return out, {"before": before, "after": after, "quantization_tables_shared": n_shared}


# --- weight guard: what the file stores vs what the checkpoint's parameters need ---------------

_TYPE_NAMES = None


def _tensor_type_names() -> dict[int, str]:
    global _TYPE_NAMES
    if _TYPE_NAMES is None:
        schema = _schema()
        _TYPE_NAMES = {v: k.lower() for k, v in schema.TensorType.__dict__.items() if not k.startswith("_") and isinstance(v, int)}
    return _TYPE_NAMES


def _op_names() -> dict[int, str]:
    schema = _schema()
    return {v: k for k, v in schema.BuiltinOperator.__dict__.items() if not k.startswith("_") and isinstance(v, int)}


def list_constants(data: bytes | memoryview, count_quantization: bool = True) -> list:
    """Every constant the flatbuffer stores, as weight_guard.Constant: one per non-empty buffer
    (named after its first tensor, shortened, plus which ops read it), and one per distinct
    quantization table (per-channel scales/zero-points live in tensor tables, not buffers; tables
    shared by several tensors, see _share_quantization, are counted once). A per-tensor table (one
    scale) is a graph constant; count_quantization=False makes every table one (full-int8 files carry
    calibrated, per-signature activation and int32-bias scales that are not weights)."""
    from collections import defaultdict

    from ..weight_guard import Constant, role_for

    schema = _schema()
    data = memoryview(data)
    model = schema.Model.GetRootAs(data, 0)
    types, ops = _tensor_type_names(), _op_names()
    first: dict[int, tuple] = {}
    readers: dict[int, Counter] = defaultdict(Counter)
    qtables: dict[int, tuple] = {}
    for s in range(model.SubgraphsLength()):
        g = model.Subgraphs(s)
        for t in range(g.TensorsLength()):
            tensor = g.Tensors(t)
            b = tensor.Buffer()
            if b and b not in first:
                first[b] = (tensor.Name() or b"").decode(errors="replace"), tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else (), types.get(tensor.Type(), str(tensor.Type()))
            q = tensor.Quantization()
            if q is not None and (q.ScaleLength() or q.ZeroPointLength()):
                pos = q._tab.Pos  # shared tables have one position in the file
                if pos not in qtables:
                    n = q.ScaleLength() * 4 + q.ZeroPointLength() * 8 + (q.MinLength() + q.MaxLength()) * 4
                    qtables[pos] = ((tensor.Name() or b"").decode(errors="replace"), max(q.ScaleLength(), q.ZeroPointLength()), n)
        for k in range(g.OperatorsLength()):
            op = g.Operators(k)
            code = model.OperatorCodes(op.OpcodeIndex())
            name = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            for j in range(op.InputsLength()):
                t = op.Inputs(j)
                if t >= 0:
                    b = g.Tensors(t).Buffer()
                    if b:
                        readers[b][f"{name}[{j}]"] += 1
    out = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        size = buf.Size() if buf.Offset() else buf.DataLength()
        if not size or i not in first:
            continue
        name, shape, dtype = first[i]
        use = ", ".join(f"{k} x{v}" for k, v in readers[i].most_common(2))
        label = short_name(name.split(";")[0]) or f"buffer {i}"
        out.append(Constant(f"{label} (read by {use or 'no op'})", shape, dtype, int(size), role_for(dtype, shape)))
    for name, n, size in qtables.values():
        role = "quantization" if count_quantization and n > 1 else "graph"
        out.append(Constant(f"quantization of {short_name(name)}", (n,), "float32+int64", int(size), role))
    return out


# ai-edge-quantizer keeps these fp32 in every recipe (they feed ADD / GATHER_ND, not FULLY_CONNECTED or
# EMBEDDING_LOOKUP): measured on dynamic_wi8_afp32 and float_casting.
_POSITION = "position_embeddings"
# Bytes per element by precision for matrices (2-D parameters); vectors stay fp32 in every file (measured).
_MATRIX_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}
# One fp32 scale + one int64 zero point per quantized channel (axis 0: FC output rows, embedding rows).
_QUANT_BYTES_PER_CHANNEL = 12


def weight_budget(param_shapes, precision: str, buckets, mode: str = "dynamic") -> "object":
    """The weight_guard.Budget of a .tflite made by albert-edge from a checkpoint with these parameters.

    Fixed-shape signatures store the position embeddings as one [1, L, E] slice per bucket (the
    full table is never stored), so that parameter is budgeted as those slices. mode="static"
    (static_wi8_ai8) leaves the EMBEDDING_LOOKUP tables fp32 (measured) and its quantization
    tables are not counted (see list_constants)."""
    from ..weight_guard import Budget, Expected, numel

    if precision not in _MATRIX_BYTES:
        raise ValueError(precision)
    b = Budget(precision=precision, parameters=sum(numel(s) for _, s in param_shapes))
    for name, shape in param_shapes:
        if _POSITION in name and len(shape) == 2:
            for L in buckets:
                rows = min(int(L), shape[0])
                b.expected.append(Expected(f"{name}[:{rows}]", (1, rows, shape[1]), rows * shape[1] * 4))
            continue
        per = _MATRIX_BYTES[precision] if len(shape) >= 2 else 4
        if mode == "static" and "embeddings." in name:
            per = 4
        b.expected.append(Expected(name, tuple(shape), numel(shape) * per))
        if precision == "int8" and mode != "static" and len(shape) >= 2:
            b.overhead_bytes += shape[0] * _QUANT_BYTES_PER_CHANNEL
    if precision == "int8" and mode != "static":
        b.overhead_what = f"per-channel scales + zero points ({_QUANT_BYTES_PER_CHANNEL} B per channel)"
    return b
