"""The [CLS] row selection moved up the ONNX graph, so the last layer application's output projection
and FFN run on one row instead of every token (the ONNX counterpart of export/cls_only.py).

Why a graph pass and not export/cls_only.ClsOnlyLogits, which ExecuTorch and TFLite trace: the int8
ONNX path relies on ONNX Runtime's attention fusion (QAttention holds the Q, K and V projections of an
application as one integer matmul over the layer's one concatenated weight). Traced with a query of
one row, the last application's Q would read another input than K and V; ORT would not fuse it and
quantize_dynamic would store separate Q, K and V weights beside the concatenated one, i.e. the shared
layer twice. Here the attention itself is left as it is (all rows), and everything after it up to the
pooler's `Gather(axis=1, index 0)` is row-wise (matmuls by a weight, bias/residual adds, LayerNorm over
the hidden axis, gelu): computing those on row 0 only gives the same row 0. So the row selection is
pushed up through them and a `Slice(0:1)` on the sequence axis is put where the region reads anything
computed outside it (the attention's context and the residual stream). In the last application 3 of
the 6 weight matmuls (O, FFN-in, FFN-out: 9/12 of its weight FLOPs) then run on one row; with 12
applications that is about 6 % of the model's weight FLOPs, with the demo model's 4 about 19 %.

Nothing here knows ALBERT's node names: the region is found by op semantics and ranks (ONNX shape
inference), and is validated by the exporter numerically (same logits as the unsliced graph).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .onnx_graph import consumer_map, producer_map

# Ops that act on each position of the sequence axis independently (elementwise, or on the last axis).
_UNARY = {"Tanh", "Erf", "Sigmoid", "Relu", "Neg", "Sqrt", "Reciprocal", "Exp", "Abs", "Identity", "Gelu"}
_BINARY = {"Add", "Sub", "Mul", "Div", "Pow"}
# com.microsoft ops ORT's optimizer fuses gelu/bias into: input 0 the activation, the rest constants.
_MS_ROWWISE = {"FastGelu", "BiasGelu", "Gelu", "QuickGelu"}
SEQ_AXIS = 1
# Names of the Slice nodes (and their constant arguments) the pass adds: how a reader finds them.
ROW_SLICE_PREFIX = "albert_edge_cls_row/"


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


class _Graph:
    def __init__(self, model: onnx.ModelProto):
        g = model.graph
        self.g = g
        self.producer = producer_map(g)
        self.consumers = consumer_map(g)
        self.outputs = {o.name for o in g.output}
        self.const = {t.name: t for t in g.initializer}
        for n in g.node:
            if n.op_type == "Constant" and n.domain in ("", "ai.onnx"):
                v = _attr(n, "value")
                if v is not None:
                    self.const[n.output[0]] = v
        inferred = onnx.shape_inference.infer_shapes(model)
        self.rank: dict[str, int] = {}
        for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
            t = v.type.tensor_type
            if t.HasField("shape"):
                self.rank[v.name] = len(t.shape.dim)

    def value(self, name: str) -> np.ndarray | None:
        t = self.const.get(name)
        return None if t is None else numpy_helper.to_array(t)

    def is_row_slice(self, n) -> bool:
        """Slice(x, starts=[0], ends=[1], axes=[1]) with constant arguments (and steps 1 if given)."""
        if n.op_type != "Slice" or len(n.input) < 4:
            return False
        vals = [self.value(x) for x in n.input[1:]]
        if any(v is None for v in vals):
            return False
        starts, ends, axes = (np.atleast_1d(v).tolist() for v in vals[:3])
        steps = np.atleast_1d(vals[3]).tolist() if len(vals) > 3 else [1]
        return starts == [0] and ends == [1] and axes == [SEQ_AXIS] and steps == [1]

    def is_row_select(self, n) -> bool:
        """Gather(x, 0, axis=1): row 0 of the sequence axis."""
        if n.op_type != "Gather" or n.domain not in ("", "ai.onnx") or _attr(n, "axis", 0) != SEQ_AXIS:
            return False
        idx = self.value(n.input[1])
        return idx is not None and idx.ndim == 0 and int(idx) == 0


def _data_inputs(graph: _Graph, n, rank: int) -> list[str] | None:
    """The inputs of a row-wise node that carry [batch, seq, ...] data (of the given rank), or None if
    the node is not row-wise (or has a constant operand that varies along the sequence axis)."""
    op = n.op_type
    if n.domain == "com.microsoft":
        if op not in _MS_ROWWISE or any(x not in graph.const for x in n.input[1:] if x):
            return None
        return [n.input[0]]
    if n.domain not in ("", "ai.onnx"):
        return None
    if op in _UNARY or op == "Cast":
        return [n.input[0]]
    if op == "MatMul":
        w = graph.value(n.input[1])
        return [n.input[0]] if w is not None and w.ndim == 2 else None
    if op == "LayerNormalization":
        if _attr(n, "axis", -1) != -1 or any(x not in graph.const for x in n.input[1:] if x):
            return None
        return [n.input[0]]
    if op in _BINARY:
        data = []
        for x in n.input:
            v = graph.value(x)
            if v is None:
                data.append(x)
            elif 0 <= SEQ_AXIS - (rank - v.ndim) < v.ndim and v.shape[SEQ_AXIS - (rank - v.ndim)] != 1:
                # a constant that varies along the (broadcast-aligned) sequence axis, e.g. a
                # [seq, hidden] table: other rows of it would be needed, not row 0: not row-wise.
                return None
        return data or None
    return None


def hoist_row_select(model: onnx.ModelProto) -> dict:
    """Move every Gather(axis=1, index 0) up through the row-wise nodes that only it consumes; returns
    {"rowwise_nodes": nodes now on one row, "weight_matmuls": of them MatMuls by a weight,
    "row_slices": Slice nodes added}. The model is changed in place; 0s when nothing qualified."""
    graph = _Graph(model)
    g = graph.g
    total = {"rowwise_nodes": 0, "weight_matmuls": 0, "row_slices": 0}
    for sel in [n for n in g.node if graph.is_row_select(n)]:
        data = sel.input[0]
        rank = graph.rank.get(data)
        if rank is None or rank < 2:
            continue
        region = _region(graph, sel, rank)
        if not region:
            continue
        added = _rewrite(graph, region)
        total["rowwise_nodes"] += len(region)
        total["weight_matmuls"] += sum(1 for n in region.values() if n.op_type == "MatMul")
        total["row_slices"] += added
        graph = _Graph(model)  # maps are stale after the rewrite
    return total


def _region(graph: _Graph, sel, rank: int) -> dict[int, object]:
    """The nodes whose outputs only ever reach `sel` through row-wise nodes: id(node) -> node."""
    cand: dict[int, object] = {}
    stack = [graph.producer.get(sel.input[0])]
    while stack:
        n = stack.pop()
        if n is None or id(n) in cand or graph.is_row_slice(n):
            continue
        data = _data_inputs(graph, n, rank)
        if data is None or any(graph.rank.get(o) != rank for o in n.output):
            continue
        cand[id(n)] = n
        stack.extend(graph.producer.get(x) for x in data)
    changed = True
    while changed:
        changed = False
        for key, n in list(cand.items()):
            ok = True
            for o in n.output:
                if o in graph.outputs or any(id(c) not in cand and c is not sel for c in graph.consumers[o]):
                    ok = False
            for x in _data_inputs(graph, n, rank) or []:
                p = graph.producer.get(x)
                if p is not None and (id(p) in cand or graph.is_row_slice(p)):
                    continue
                # read from outside the region: sliced there, which needs the same [batch, seq, ...] layout
                if graph.rank.get(x) != rank:
                    ok = False
            if not ok:
                del cand[key]
                changed = True
    return cand


def _rewrite(graph: _Graph, region: dict[int, object]) -> int:
    """Slice every tensor the region reads from outside it to row 0; returns the Slice nodes added."""
    g = graph.g
    sliced: dict[str, str] = {}
    consts = []
    for n in region.values():
        for k, x in enumerate(n.input):
            if not x or x in graph.const:
                continue
            p = graph.producer.get(x)
            if p is not None and (id(p) in region or graph.is_row_slice(p)):
                continue
            if x not in sliced:
                base = f"{ROW_SLICE_PREFIX}{x}"
                if not consts:
                    consts = [f"{ROW_SLICE_PREFIX}{s}" for s in ("starts", "ends", "axes")]
                    for name, val in zip(consts, ([0], [1], [SEQ_AXIS])):
                        if name not in graph.const:
                            g.initializer.append(numpy_helper.from_array(np.array(val, np.int64), name))
                sliced[x] = f"{base}/row0"
                # right after the producer (first for a graph input), so the node order stays topological
                at = 0 if p is None else list(g.node).index(p) + 1
                g.node.insert(at, helper.make_node("Slice", [x, *consts], [sliced[x]], name=base))
            n.input[k] = sliced[x]
    # the region's tensors now have 1 row: drop shape annotations recorded for the old sizes
    changed = {o for n in region.values() for o in n.output}
    for v in [v for v in g.value_info if v.name in changed]:
        g.value_info.remove(v)
    return len(sliced)



def has_cls_row_slices(model: onnx.ModelProto) -> bool:
    """Whether the graph holds the Slice nodes hoist_row_select adds (e.g. after fusion and quantization)."""
    return any(n.op_type == "Slice" and n.name.startswith(ROW_SLICE_PREFIX) for n in model.graph.node)


def cls_row_nodes(model: onnx.ModelProto) -> set[str]:
    """Names of the nodes that run on the [CLS] row only: everything reached from the Slices this pass
    added, up to the row selection (a Gather) or an attention op (for the profilers' analytic
    operation counts: these nodes do 1 row's work, and for tests)."""
    g = model.graph
    consumers = consumer_map(g)
    seen, found = set(), set()
    stack = [n.output[0] for n in g.node if n.op_type == "Slice" and n.name.startswith(ROW_SLICE_PREFIX)]
    while stack:
        t = stack.pop()
        for c in consumers.get(t, []):
            if c.op_type in ("Gather", "Attention", "QAttention", "MultiHeadAttention") or c.name in found:
                continue
            found.add(c.name)
            stack.extend(o for o in c.output if o and o not in seen)
            seen.update(c.output)
    return found
