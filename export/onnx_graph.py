"""ALBERT-specific ONNX graph work that onnxruntime's optimizer and quantizer lack (used by the exporter and the quantizer).

ALBERT applies one set of layer weights N times. Generic tools lose that in three ways, each fixed here:
- torch.onnx routes later applications to the shared weights through `Identity` nodes, which the
  ORT quantizer does not look through (so only the first application became integer):
  `resolve_initializer_aliases` points every consumer at the initializer itself.
- ORT's attention fusion builds one concatenated QKV weight *per application* (12 copies) and skips
  the first application, whose residual input is the embedding projection rather than a LayerNorm,
  and the last, whose context our exporter slices to the [CLS] row (export/onnx_cls_row.py):
  `fuse_unfused_attention` fuses those by reusing the other applications' fused weights, and
  `dedupe_initializers` merges byte-identical initializers back into one.
- Quantizing leaves fp32 originals behind when any consumer remains unquantized:
  `remove_dead_initializers` and `graph_stats` let tests prove nothing unused is stored.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict

import numpy as np
import onnx
from onnx import numpy_helper

# Ops whose weight-input arithmetic is integer once quantized, and how many weight matmuls each holds
# (QAttention fuses the Q, K and V projections).
INTEGER_WEIGHT_OPS = {"MatMulInteger": 1, "DynamicQuantizeMatMul": 1, "MatMulIntegerToFloat": 1, "QLinearMatMul": 1, "QAttention": 3}
FLOAT_WEIGHT_OPS = {"MatMul": 1, "Gemm": 1, "Attention": 3, "FusedMatMul": 1}


def initializer_map(graph) -> dict[str, onnx.TensorProto]:
    return {i.name: i for i in graph.initializer}


def producer_map(graph) -> dict[str, onnx.NodeProto]:
    """Tensor name -> the node that writes it (graph inputs and initializers have none)."""
    return {o: n for n in graph.node for o in n.output if o}


def consumer_map(graph) -> defaultdict:
    """Tensor name -> the nodes that read it (in graph order)."""
    consumers = defaultdict(list)
    for n in graph.node:
        for x in n.input:
            if x:
                consumers[x].append(n)
    return consumers


def resolve_initializer_aliases(model: onnx.ModelProto) -> int:
    """Replace Identity(initializer) outputs by the initializer in every consumer; returns how many."""
    g = model.graph
    names = set(initializer_map(g))
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity" and n.input[0] in names}
    graph_outputs = {o.name for o in g.output}
    for n in g.node:
        for k, x in enumerate(n.input):
            if x in alias:
                n.input[k] = alias[x]
    for n in [n for n in g.node if n.op_type == "Identity" and n.output[0] in alias and n.output[0] not in graph_outputs]:
        g.node.remove(n)
    return len(alias)


def _tensor_key(t: onnx.TensorProto) -> tuple:
    arr = numpy_helper.to_array(t)
    return (t.data_type, tuple(t.dims), hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest())


def dedupe_initializers(model: onnx.ModelProto, min_bytes: int = 0) -> int:
    """Merge byte-identical initializers (same dtype, shape and bytes) into one; returns how many removed."""
    g = model.graph
    seen: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    for t in list(g.initializer):
        if numpy_helper.to_array(t).nbytes < min_bytes:
            continue
        key = _tensor_key(t)
        if key in seen:
            rename[t.name] = seen[key]
            g.initializer.remove(t)
        else:
            seen[key] = t.name
    if rename:
        for n in g.node:
            for k, x in enumerate(n.input):
                if x in rename:
                    n.input[k] = rename[x]
    return len(rename)


def remove_dead_initializers(model: onnx.ModelProto) -> int:
    g = model.graph
    used = {x for n in g.node for x in n.input} | {o.name for o in g.output}
    dead = [t for t in g.initializer if t.name not in used]
    for t in dead:
        g.initializer.remove(t)
    # Graph inputs that merely mirror initializers (old IR style) must go with them.
    for inp in [i for i in g.input if i.name not in used and i.name in {t.name for t in dead}]:
        g.input.remove(inp)
    return len(dead)


def prune_unreachable_nodes(model: onnx.ModelProto) -> int:
    """Drop nodes none of whose outputs reach a graph output (left behind by hand-made fusions)."""
    g = model.graph
    producer = producer_map(g)
    needed, stack = set(), [o.name for o in g.output]
    keep = set()
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        n = producer.get(name)
        if n is not None and id(n) not in keep:
            keep.add(id(n))
            stack.extend(x for x in n.input if x)
    dead = [n for n in g.node if id(n) not in keep]
    for n in dead:
        g.node.remove(n)
    return len(dead)


def fuse_unfused_attention(model: onnx.ModelProto, hidden_size: int) -> int:
    """Fuse attention applications ORT's optimizer missed, reusing an existing fused Attention's weights.

    Matching is by value, not by node names: three MatMuls that share an input and whose [H, H] weights
    equal the Q, K, V column blocks of a fused QKV weight form an unfused application of that layer; the
    MatMul that consumes its context is the one using the same output-projection weight as the fused
    applications. Returns the number of applications fused.
    """
    from .onnx_cls_row import ROW_SLICE_PREFIX  # (onnx_cls_row imports this module)

    g = model.graph
    inits = initializer_map(g)
    consumers = consumer_map(g)
    fused = [n for n in g.node if n.op_type == "Attention" and n.domain == "com.microsoft"]
    if not fused:
        return 0
    arrays: dict[str, np.ndarray] = {}

    def arr(name):
        if name not in arrays:
            arrays[name] = numpy_helper.to_array(inits[name])
        return arrays[name]

    H = hidden_size
    done = 0
    templates = {}
    for att in fused:  # one template per distinct QKV weight (one per layer group/inner layer)
        w = arr(att.input[1])
        key = hashlib.sha256(w.tobytes()).hexdigest()
        if key not in templates:
            dense = [c for c in consumers[att.output[0]] if c.op_type == "MatMul" and c.input[1] in inits]
            templates[key] = (att, w, dense[0].input[1] if dense else None)
    matmuls = [n for n in g.node if n.op_type == "MatMul" and n.input[1] in inits and arr(n.input[1]).shape == (H, H)]
    by_input = defaultdict(list)
    for n in matmuls:
        by_input[n.input[0]].append(n)
    att_outputs = {a.output[0] for a in fused}
    # Fusing adds Attention nodes and re-points readers, never a Slice: the walk below through the
    # [CLS]-row Slices needs only the producers of the graph as it was.
    producer = producer_map(g)
    for x, group in by_input.items():
        if len(group) < 3:
            continue
        for att, w, dense_w in templates.values():
            blocks = [w[:, i * H : (i + 1) * H] for i in range(3)]
            qkv = []
            for b in blocks:
                hit = [n for n in group if np.array_equal(arr(n.input[1]), b)]
                qkv.append(hit[0] if hit else None)
            if None in qkv or dense_w is None:
                continue
            # The output projection of this application: a MatMul with the shared dense weight whose
            # input is not produced by a fused Attention.
            cands = [n for n in g.node if n.op_type == "MatMul" and n.input[1] == dense_w and n.input[0] not in att_outputs]
            # Pick the candidate nearest to this application's query projection: later unfused
            # applications' projections are reachable too (in a small model within a few dozen
            # nodes), but further away.
            dist = _distances_from(g, qkv[0].output[0], limit=40)
            cands = sorted((dist[n.input[0]], k, n) for k, n in enumerate(cands) if n.input[0] in dist)
            if not cands or len(cands) > 1 and cands[0][0] == cands[1][0]:
                continue
            cands = [cands[0][2]]
            new = onnx.helper.make_node(
                "Attention",
                [x] + list(att.input[1:]),
                [f"{att.name}_albert_{done}_output"],
                name=f"{att.name}_albert_{done}",
                domain="com.microsoft",
            )
            new.attribute.extend(att.attribute)
            idx = list(g.node).index(qkv[0])
            g.node.insert(idx, new)
            # The context enters the output projection directly, or through the [CLS]-row Slice of
            # export/onnx_cls_row.py (last application): the new Attention replaces the context there.
            reader = cands[0]
            while (p := producer.get(reader.input[0])) is not None and p.op_type == "Slice" and p.name.startswith(ROW_SLICE_PREFIX):
                reader = p
            reader.input[0] = new.output[0]
            done += 1
            break
    if done:
        declare_node_domains(model)
        prune_unreachable_nodes(model)
        remove_dead_initializers(model)
    return done


def declare_node_domains(model: onnx.ModelProto) -> list[str]:
    """Add an opset import for every operator domain a node uses and the model does not declare;
    returns the domains added.

    ORT's optimizer declares com.microsoft when it fuses Attention, not when FastGelu is all it fused
    (a one-layer ALBERT: its only attention is a first application, which ORT skips). ONNX shape
    inference, which quantize_dynamic runs first, then refuses the model."""
    have = {o.domain for o in model.opset_import}
    added = sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx") and n.domain not in have})
    for d in added:
        model.opset_import.append(onnx.helper.make_opsetid(d, 1))
    return added


def _distances_from(g, start: str, limit: int) -> dict[str, int]:
    """Tensor name -> number of nodes between `start` and it (BFS over consumers, up to `limit`)."""
    consumers = consumer_map(g)
    dist, frontier = {start: 0}, [start]
    for step in range(1, limit + 1):
        nxt = []
        for t in frontier:
            for c in consumers[t]:
                for o in c.output:
                    if o not in dist:
                        dist[o] = step
                        nxt.append(o)
        frontier = nxt
    return dist


def graph_stats(model: onnx.ModelProto) -> dict:
    """What a reviewer would check by hand: op counts, initializer bytes by dtype, dead initializers,
    and how many weight-matmul applications run integer vs float kernels."""
    g = model.graph
    inits = initializer_map(g)
    used = {x for n in g.node for x in n.input}
    by_dtype: Counter = Counter()
    for t in g.initializer:
        by_dtype[onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name] += int(np.prod(t.dims, dtype=np.int64)) * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
    ops = Counter(n.op_type for n in g.node)

    def has_weight(n) -> bool:
        # A weight matmul multiplies by a 2-D initializer (activation x activation matmuls do not count).
        return len(n.input) >= 2 and n.input[1] in inits and len(inits[n.input[1]].dims) == 2

    producer = producer_map(g)

    def qdq_weight(n) -> bool:
        # Static QDQ: MatMul(DequantizeLinear(x_q), DequantizeLinear(W_int8)); ORT runs it as an integer
        # matmul (QLinearMatMul / MatMulIntegerToFloat) when both sides are dequantized 8-bit tensors.
        if n.op_type != "MatMul" or len(n.input) < 2:
            return False
        a, b = producer.get(n.input[0]), producer.get(n.input[1])
        return (
            a is not None and a.op_type == "DequantizeLinear"
            and b is not None and b.op_type == "DequantizeLinear"
            and b.input[0] in inits and len(inits[b.input[0]].dims) == 2
            and inits[b.input[0]].data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
        )

    integer = sum(k for op, k in INTEGER_WEIGHT_OPS.items() for n in g.node if n.op_type == op and has_weight(n))
    integer += sum(1 for n in g.node if qdq_weight(n))
    floating = sum(k for op, k in FLOAT_WEIGHT_OPS.items() for n in g.node if n.op_type == op and has_weight(n))
    dead = [t.name for t in g.initializer if t.name not in used]
    return {
        "nodes": len(g.node),
        "ops": dict(sorted(ops.items())),
        "initializers": len(g.initializer),
        "initializer_bytes": int(sum(by_dtype.values())),
        "initializer_bytes_by_dtype": dict(by_dtype),
        "dead_initializers": len(dead),
        "weight_matmuls_integer": int(integer),
        "weight_matmuls_float": int(floating),
    }


def _replace_node(g, idx: int, node, new: list) -> None:
    """Put `new` where `node` stood (index idx), keeping the graph topologically ordered."""
    g.node.remove(node)
    for k, m in enumerate(new):
        g.node.insert(idx + k, m)


def gemm_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite Gemm(A, W, b) with a weight initializer as MatMul + Add.

    torch.onnx emits the pooler and classifier as Gemm, which ORT's dynamic quantizer leaves fp32;
    for ALBERT-base the pooler alone is 2.4 MB fp32, too much to keep beside a ~12 MB int8 model.
    """
    g = model.graph
    inits = initializer_map(g)
    count = 0
    for idx, n in reversed(list(enumerate(g.node))):
        if n.op_type != "Gemm" or n.input[1] not in inits:
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            continue
        w_name = n.input[1]
        if attrs.get("transB", 0):
            w = numpy_helper.to_array(inits[w_name]).T.copy()
            w_name = w_name + "_T"
            if w_name not in inits:
                t = numpy_helper.from_array(w, w_name)
                g.initializer.append(t)
                inits[w_name] = t
        mm_out = n.output[0] + ("_matmul" if len(n.input) > 2 else "")
        new = [onnx.helper.make_node("MatMul", [n.input[0], w_name], [mm_out], name=n.name + "_matmul")]
        if len(n.input) > 2 and n.input[2]:
            new.append(onnx.helper.make_node("Add", [mm_out, n.input[2]], [n.output[0]], name=n.name + "_bias"))
        _replace_node(g, idx, n, new)
        count += 1
    if count:
        remove_dead_initializers(model)
    return count


def quantize_embedding_rows(model: onnx.ModelProto, min_rows: int = 1024) -> int:
    """Store large embedding tables (Gather data [V, E] with V >= min_rows) as int8 with one scale per row.

    onnxruntime's dynamic quantizer gives a Gather table ONE uint8 scale; a trained ALBERT's 30k x E
    word embeddings have rows of very different norms, and that single scale was the largest int8
    error source measured on the demo model (mean |Δlogit| 0.038 -> 0.013 without it). Per-row
    symmetric int8 keeps the table at 1 byte/weight (+4 bytes/row) and the lookup stays a Gather:
    Gather(int8 table) and Gather(scales), then Cast + Mul on the [batch, seq, E] result only.
    Returns how many tables were rewritten.
    """
    from onnx import helper

    g = model.graph
    inits = initializer_map(g)
    count = 0
    for idx, n in reversed(list(enumerate(g.node))):
        if n.op_type != "Gather" or n.input[0] not in inits:
            continue
        t = inits[n.input[0]]
        if t.data_type != onnx.TensorProto.FLOAT or len(t.dims) != 2 or t.dims[0] < min_rows:
            continue
        axis = next((helper.get_attribute_value(a) for a in n.attribute if a.name == "axis"), 0)
        if axis != 0:
            continue
        table = numpy_helper.to_array(t).astype(np.float32)
        amax = np.abs(table).max(axis=1)
        scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.round(table / scale[:, None]), -127, 127).astype(np.int8)
        base = n.input[0]
        g.initializer.append(numpy_helper.from_array(q, base + "_int8_rows"))
        g.initializer.append(numpy_helper.from_array(scale, base + "_row_scale"))
        ids, out = n.input[1], n.output[0]
        axes_name = base + "_row_scale_axes"
        g.initializer.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), axes_name))
        new = [
            helper.make_node("Gather", [base + "_int8_rows", ids], [out + "_q"], name=n.name + "_q", axis=0),
            helper.make_node("Cast", [out + "_q"], [out + "_qf"], name=n.name + "_cast", to=onnx.TensorProto.FLOAT),
            helper.make_node("Gather", [base + "_row_scale", ids], [out + "_s"], name=n.name + "_scale", axis=0),
            helper.make_node("Unsqueeze", [out + "_s", axes_name], [out + "_s1"], name=n.name + "_unsq"),
            helper.make_node("Mul", [out + "_qf", out + "_s1"], [out], name=n.name + "_dequant"),
        ]
        _replace_node(g, idx, n, new)
        count += 1
    if count:
        remove_dead_initializers(model)
    return count


# --- weight guard (albert_edge.weight_guard): constants stored vs the checkpoint's parameters ---

# Inputs that hold quantization scales / zero points, by op (the format's own overhead).
_QUANT_SLOTS = {
    "DynamicQuantizeMatMul": {2, 3},
    "MatMulInteger": {2, 3},
    "MatMulIntegerToFloat": {2, 3, 4, 5},
    "QAttention": {3, 4, 6, 7},
    "DequantizeLinear": {1, 2},
    "QuantizeLinear": {1, 2},
    "QLinearMatMul": {1, 2, 4, 5, 6, 7},
}
_FUSED_QKV = {"Attention": (1, 2), "QAttention": (1, 2)}


def list_constants(model: onnx.ModelProto) -> list:
    """Every initializer as weight_guard.Constant. A fused attention's [H, 3H] weight and [3H] bias
    are a re-layout of the Q, K and V parameters, so they are listed as three [H, H] / [H] parts."""
    from ..weight_guard import Constant, role_for

    g = model.graph
    quant, fused = set(), set()
    for n in g.node:
        for k in _QUANT_SLOTS.get(n.op_type, ()):
            if k < len(n.input) and n.input[k]:
                quant.add(n.input[k])
        for k in _FUSED_QKV.get(n.op_type, ()):
            if k < len(n.input) and n.input[k]:
                fused.add(n.input[k])
    out = []
    for t in g.initializer:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(t.data_type)
        shape = tuple(int(d) for d in t.dims)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        role = "quantization" if t.name in quant else role_for(dtype.name, shape)
        if t.name in fused and role == "weight" and shape and shape[-1] % 3 == 0:
            part = shape[:-1] + (shape[-1] // 3,)
            out += [Constant(f"{t.name}[{p}]", part, dtype.name, nbytes // 3, role) for p in "qkv"]
        else:
            out.append(Constant(t.name, shape, dtype.name, nbytes, role))
    return out


def weight_budget(param_shapes, precision: str, embedding_min_rows: int = 256, per_channel: bool = True) -> "object":
    """The weight_guard.Budget of model.onnx (fp32) or model.int8.onnx made by albert-edge.

    int8: every weight matrix int8 + one fp32 scale and one int8 zero point per output channel
    (onnxruntime per-channel) — or per matrix without per_channel; embedding tables with at least
    embedding_min_rows rows int8 + one fp32 scale per row (quantize_embedding_rows), smaller tables
    and every vector fp32."""
    from ..weight_guard import row_quantized_budget

    return row_quantized_budget(param_shapes, precision, matrix_row_bytes=5, embedding_row_bytes=4, embedding_min_rows=embedding_min_rows,
                                per_channel=per_channel,
                                overhead_what="per-channel scales + zero points (5 B per output channel), per-row embedding scales (4 B per row)")
