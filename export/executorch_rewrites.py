"""Graph rewrites that let ExecuTorch's XNNPACK delegate take ALBERT's whole encoder, and the quantizer fix.

Measured with executorch 1.5.1 on ALBERT-base (12 applications of one shared layer): the stock recipe
(`from_pretrained` + `torch.export` + `to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()])`,
benchmarks/peers/executorch_stock.py) splits the graph into 122 delegate pieces (fp32 and int8) with
portable CPU kernels between them, because XNNPACK 1.5.1 has no partitioner config for
`native_layer_norm`, `where`/`any` (the safe softmax of SDPA's decomposition), `pow(x, 3)` (only
`pow(x, 2)`), reshapes with a symbolic size, or `unsqueeze` off the last dim. With the rewrites below
both programs are 1 piece (the embedding gathers and the [CLS] one-hot stay outside, on the
inputs' side). Each rewrite expresses the same math with ops XNNPACK does take, keeps the module's
numerics (tests/test_executorch.py compares each with the module it replaces) and reuses the original
nn.Parameter objects, so every weight is still exported once.

What ExecuTorch or transformers already has is used as is: eager attention is a transformers switch,
the no-op `expand_copy` removal is ExecuTorch's own `RemoveNoopExpandCopyPass` (XNNPACK runs it only
inside its preprocess, after the partitioner has left those nodes out, so it is passed here as an edge
transform pass before partitioning). Hand-written, each with its reason below: the attention reshapes,
LayerNorm, gelu_new, the additive mask and the [CLS]-only last application, the partition merge to
a fixpoint and the quantizer fix.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# The query-rows attention and the [CLS]-only classifier are shared with the TFLite exporter.
from .cls_only import ClsOnlyLogits, StaticBatchAttention, additive_mask, layer_applications

__all__ = [
    "LayerNormMatmulMean",
    "GeluNewSigmoid",
    "averaging_column",
    "is_averaging_column",
    "StaticBatchAttention",
    "AdditiveMaskLogits",
    "layer_applications",
    "first_row",
    "use_eager_attention",
    "replace_attention",
    "replace_layer_norms",
    "replace_gelu_new",
    "apply_rewrites",
    "edge_transform_passes",
    "IntegerSafeXNNPACKQuantizer",
    "FixpointXnnpackPartitioner",
    "merge_partitions_to_fixpoint",
    "delegate_stats",
]


def averaging_column(h: int) -> torch.Tensor:
    """The [h, 1] fp32 column of 1/h that LayerNormMatmulMean multiplies by (a mean as a matmul)."""
    return torch.full((h, 1), 1.0 / h, dtype=torch.float32)


def is_averaging_column(raw: bytes) -> bool:
    """Whether a stored fp32 constant is averaging_column(n) (a reduction, not a checkpoint weight)."""
    n = len(raw) // 4
    return 0 < n <= 1 << 16 and len(raw) == 4 * n and raw == averaging_column(n).numpy().tobytes()


class LayerNormMatmulMean(nn.Module):
    """nn.LayerNorm over the last dim, each mean written as a matmul by a constant 1/h column.

    Why by hand: XNNPACK 1.5.1's partitioner has no `native_layer_norm` config, and its only mean is
    `mean.dim` over dims (2, 3) of a 4-D tensor with keepdim (global average pooling). ExecuTorch
    hands XNNPACK that NCHW tensor as NHWC, so the pooling formulation ([b, s, h] viewed as
    [b, s, h, 1]) cost 4 transposes per LayerNorm, 2 of them over the whole activation (100 per
    ALBERT-base forward, 15 XNNPACK nodes per LayerNorm). A [n, h] x [h, 1] matmul by a constant is
    one fp32 XNNPACK fully-connected node (N = 1, packed once), and `addmm` puts eps in its bias:
    9 nodes, no transposes, the tokens stay rows. ALBERT-base int8 with the other two rewrites below
    (GeluNewSigmoid, K^T in StaticBatchAttention): 867 -> 694 XNNPACK nodes (708 -> 535 that are not
    reshapes), transposes 160 -> 48 (docs/executorch.md has the timings).

    The int8 program keeps these means fp32: XNNPACKQuantizer's dynamic config quantizes nn.Linear /
    F.linear only, and `mm`/`addmm` with a buffer is neither. The column is a buffer (not a
    Parameter: the checkpoint's parameters are unchanged) and is recognised in the file by its bytes
    (is_averaging_column): it is a graph constant, not a weight, for the weight guard and the matmul
    counts. Same weight/bias Parameters as the replaced module.
    """

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        if len(ln.normalized_shape) != 1:
            raise ValueError(f"LayerNormMatmulMean handles one normalized dim, got {ln.normalized_shape}")
        h = int(ln.normalized_shape[0])
        self.weight = ln.weight
        self.bias = ln.bias
        # persistent: PT2E's prepare looks buffers up in the state dict; the rewritten model is never saved.
        self.register_buffer("avg", averaging_column(h))
        self.register_buffer("eps", torch.tensor([float(ln.eps)], dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.shape[-1]
        # One inferred (-1) dim: XNNPACK's reshape takes static sizes plus at most one, so the dynamic
        # sequence length is always the -1.
        x2 = x if x.dim() == 2 else x.reshape(-1, h)
        d = x2 - torch.mm(x2, self.avg)
        y = d * torch.rsqrt(torch.addmm(self.eps, d * d, self.avg))
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        if x.dim() == 2:
            return y
        return y.view(x.shape[0], -1, h) if x.dim() == 3 else y.view(x.shape)


class GeluNewSigmoid(nn.Module):
    """transformers' gelu_new (tanh approximation) as x * sigmoid(x * (a + b * x * x)).

    Why by hand: XNNPACK 1.5.1 takes `pow.Tensor_Scalar` only for the exponent 2, so gelu_new's
    pow(x, 3.0) split the delegate in every FFN application. XNNPACK's own `gelu` is the erf form, not
    the tanh approximation ALBERT was trained with (and ExecuTorch 1.5.1's partitioner lowers
    `gelu(approximate="tanh")` to it anyway, without looking at `approximate`), so it is not used.
    0.5 * x * (1 + tanh(u)) = x * sigmoid(2u) with u = sqrt(2/pi) * (x + 0.044715 x^3): 6 XNNPACK
    nodes instead of the 9 of the literal formula.
    """

    _a = 2.0 * math.sqrt(2.0 / math.pi)
    _b = _a * 0.044715

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x * (self._a + self._b * (x * x)))


def first_row(h: torch.Tensor) -> torch.Tensor:
    """h[:, :1] ([batch, seq, d] -> [batch, 1, d]) as a one-hot [1, 1, seq] x h matmul at batch 1.

    Why: XNNPACK 1.5.1 takes `slice_copy` only with static shapes, and a slice (or `select`) of the
    dynamic-length hidden states outside the delegate cut it in two, with the last application's K
    and V (2 x [12, 64, 256] fp32 at ALBERT-base) planned as buffers between the pieces (+1.5 MB).
    The one-hot row comes from arange == 0 (portable kernels, on the inputs' side, before the
    delegate); 1 * x + 0 * y sums are exact, so this is h[:, :1] bit for bit for finite h.
    """
    if h.dim() == 2:  # one text's tokens as rows ([seq, d] -> [1, d]): the same one-hot bmm on a [1, seq, d] view
        return first_row(h.view(1, -1, h.shape[-1])).view(1, -1)
    if h.shape[0] != 1:
        return h[:, :1]
    sel = (torch.arange(h.shape[1], device=h.device) == 0).to(h.dtype).view(1, 1, -1)
    return torch.bmm(sel, h)


class AdditiveMaskLogits(nn.Module):
    """The classifier reduced to logits for ExecuTorch: with rewritten attention (StaticBatchAttention
    in every application), export/cls_only.ClsOnlyLogits (the additive [batch, 1, 1, seq] mask, the
    last application for [CLS] only, one text's tokens as 2-D rows) with the first row taken by
    `first_row` (a one-hot bmm, which XNNPACK keeps in its one piece); otherwise transformers' own
    forward given the additive mask (transformers passes a 4-D mask through as is)."""

    def __init__(self, model: nn.Module, cls_only: bool = True):
        super().__init__()
        layers = layer_applications(model) if cls_only else []
        # Only with the rewritten attention in every application (the ExecuTorch graph); a module that
        # was not rewritten keeps transformers' forward. The model is registered once, in one of the two.
        use = bool(layers) and all(isinstance(x.attention, StaticBatchAttention) for x in layers)
        self.cls = ClsOnlyLogits(model, first_row=first_row, token_rows=True) if use else None
        self.m = None if use else model

    @property
    def layers(self) -> list[nn.Module] | None:
        """The layer applications the [CLS]-only forward runs; None when transformers' forward is used."""
        return self.cls.layers if self.cls is not None else None

    def forward(self, input_ids, attention_mask, token_type_ids):
        if self.cls is not None:
            return self.cls(input_ids, attention_mask, token_type_ids)
        return self.m(input_ids=input_ids, attention_mask=additive_mask(attention_mask), token_type_ids=token_type_ids).logits


def use_eager_attention(model) -> None:
    """matmul + softmax attention instead of SDPA: the SDPA decomposition's safe softmax adds
    `where`/`any`, which XNNPACK does not delegate, in every layer application."""
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:  # older transformers
        model.config._attn_implementation = "eager"


def _replace_modules(model: nn.Module, match, make) -> int:
    n = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if match(child):
                setattr(parent, name, make(child))
                n += 1
    return n


def replace_layer_norms(model: nn.Module) -> int:
    return _replace_modules(model, lambda m: type(m) is nn.LayerNorm, LayerNormMatmulMean)


def replace_attention(model: nn.Module) -> int:
    from transformers.models.albert.modeling_albert import AlbertAttention

    return _replace_modules(model, lambda m: isinstance(m, AlbertAttention), StaticBatchAttention)


def tanh_gelu_classes() -> tuple[type, ...]:
    """transformers' activations that compute the tanh approximation 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))):
    gelu_new, gelu_pytorch_tanh / gelu_python_tanh (GELUTanh: F.gelu(approximate="tanh"), which
    ExecuTorch 1.5.1 lowers to XNNPACK's erf gelu: 1.9e-4 off on a tiny checkpoint, over the fp32
    gate), gelu_fast (the constant rounded to 0.7978845608) and gelu_accurate. All get GeluNewSigmoid."""
    import transformers.activations as act

    names = ("NewGELUActivation", "GELUTanh", "PytorchGELUTanh", "FastGELUActivation", "AccurateGELUActivation")
    return tuple(c for c in (getattr(act, n, None) for n in names) if isinstance(c, type))


def replace_gelu_new(model: nn.Module) -> int:
    """Every tanh-approximation GELU (tanh_gelu_classes) -> GeluNewSigmoid; returns how many."""
    classes = tanh_gelu_classes()
    return _replace_modules(model, lambda m: isinstance(m, classes), lambda m: GeluNewSigmoid())


def apply_rewrites(model: nn.Module) -> dict:
    """All module-level rewrites, in place; returns what was replaced (for the manifest)."""
    use_eager_attention(model)
    return {
        "attention": replace_attention(model),
        "layer_norms": replace_layer_norms(model),
        "gelu_new": replace_gelu_new(model),
    }


def edge_transform_passes() -> list:
    """ExecuTorch's own XNNPACK transform passes (RemoveNoopExpandCopyPass), for to_edge_transform_and_lower."""
    from executorch.backends.xnnpack.utils.configs import get_transform_passes

    return get_transform_passes()


def _integer_safe_scalars_to_attrs(model: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """XNNPACKQuantizer's `_convert_scalars_to_attrs`, but only for float-valued add/mul.

    Why by hand: the stock version turns EVERY scalar operand of add/mul into a float tensor constant,
    including the integer index arithmetic of transformers 5's mask code (`arange(seq) + 0`), so
    prepare_pt2e fails with `IndexError: tensors used as indices must be long, int, byte or bool`.
    Integer adds are never quantized, so leaving them alone changes nothing else.
    """
    from torchao.quantization.pt2e.utils import get_new_attr_name_with_prefix

    for n in model.graph.nodes:
        if n.op != "call_function" or n.target not in (torch.ops.aten.add.Tensor, torch.ops.aten.mul.Tensor):
            continue
        val = n.meta.get("val")
        if val is None or not val.dtype.is_floating_point:
            continue
        new_args = []
        for a in n.args:
            if isinstance(a, torch.fx.Node) or not isinstance(a, (int, float)):
                new_args.append(a)
                continue
            name = get_new_attr_name_with_prefix("_tensor_constant_")(model)
            const = torch.tensor(float(a))
            model.register_buffer(name, const)
            with model.graph.inserting_before(n):
                attr = model.graph.create_node("get_attr", name, (), {})
                attr.meta["val"] = val.fake_mode.from_tensor(const, static_shapes=True)
            new_args.append(attr)
        n.args = tuple(new_args)
    model.recompile()
    return model


def _quantizer_base():
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    return XNNPACKQuantizer


class IntegerSafeXNNPACKQuantizer(_quantizer_base()):
    """ExecuTorch's XNNPACKQuantizer that leaves integer-typed add/mul scalars as they are (see above)."""

    def transform_for_annotation(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        return _integer_safe_scalars_to_attrs(model)


def merge_partitions_to_fixpoint(partitions: list) -> list:
    """Merge proposed delegate partitions pairwise while the union stays acyclic, until nothing changes.

    Why by hand: ExecuTorch 1.5.1's GroupBasedPartitioner merges in ONE greedy pass; with dynamic int8
    linears whose choose_qparams is shared by Q/K/V, a merge of layer applications k and k+1 is first
    refused (the piece in between is still separate) and never retried, so int8 ALBERT-base stayed in
    14 pieces (one per application) with planned buffers between them (3.1 MB arena vs 0.6 MB fp32).
    Repeating the same cycle-checked merge to a fixpoint gives as few pieces as fp32 (1 now).
    """
    from torch.fx.passes.infra.partitioner import Partition
    from torch.fx.passes.utils.fuser_utils import validate_partition

    parts = [dict.fromkeys(p.nodes) for p in partitions]
    changed = True
    while changed:
        changed = False
        for i in range(len(parts)):
            for j in range(i + 1, len(parts)):
                union = {**parts[i], **parts[j]}
                if validate_partition(list(union)):
                    parts[i] = union
                    del parts[j]
                    changed = True
                    break
            if changed:
                break
    return [Partition(id=k, nodes=p.keys()) for k, p in enumerate(parts)]


def _partitioner_base():
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    return XnnpackPartitioner


class FixpointXnnpackPartitioner(_partitioner_base()):
    """ExecuTorch's XnnpackPartitioner whose proposed partitions are merged to a fixpoint (see above)."""

    def generate_partitions(self, ep):
        partitions = super().generate_partitions(ep)
        return partitions if self.per_op_mode else merge_partitions_to_fixpoint(partitions)


def delegate_stats(edge_manager, method: str = "forward") -> dict:
    """Delegate pieces and the ops left outside them, from an EdgeProgramManager after lowering."""
    from collections import Counter

    gm = edge_manager.exported_program(method).graph_module
    ops: Counter = Counter()
    pieces = 0
    for n in gm.graph.nodes:
        if n.op != "call_function":
            continue
        name = getattr(n.target, "__name__", str(n.target))
        if name == "executorch_call_delegate":
            pieces += 1
        elif name not in ("getitem",) and not name.startswith("sym_size"):
            ops[name] += 1
    return {"delegate_partitions": pieces, "non_delegated_ops": dict(sorted(ops.items()))}
