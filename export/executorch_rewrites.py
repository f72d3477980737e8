"""Graph rewrites that let ExecuTorch's XNNPACK delegate take ALBERT's whole encoder, and the quantizer fix.

Measured with executorch 1.5.1 on ALBERT-base (12 applications of one shared layer): the stock recipe
(`from_pretrained` + `torch.export` + `to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()])`,
benchmarks/peers/executorch_stock.py) splits the graph into 122 delegate pieces (fp32 and int8) with
portable CPU kernels between them, because XNNPACK 1.5.1 has no partitioner config for
`native_layer_norm`, `where`/`any` (the safe softmax of SDPA's decomposition), `pow(x, 3)` (only
`pow(x, 2)`), reshapes with a symbolic size, or `unsqueeze` off the last dim. With the rewrites below
both programs are 2 pieces (embedding gathers and the pooler's `select` stay outside). Each rewrite
expresses the same math with ops XNNPACK does take, keeps the module's numerics (tests/test_executorch.py
compares each with the module it replaces) and reuses the original nn.Parameter objects, so every weight
is still exported once.

What ExecuTorch or transformers already has is used as is: eager attention is a transformers switch,
the no-op `expand_copy` removal is ExecuTorch's own `RemoveNoopExpandCopyPass` (XNNPACK runs it only
inside its preprocess, after the partitioner has left those nodes out, so it is passed here as an edge
transform pass before partitioning). Hand-written, each with its reason below: the attention reshapes,
LayerNorm, gelu_new, the additive mask, the partition merge to a fixpoint and the quantizer fix.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "LayerNorm4d",
    "GeluNewCubed",
    "StaticBatchAttention",
    "AdditiveMaskLogits",
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


class LayerNorm4d(nn.Module):
    """nn.LayerNorm over the last dim, written as XNNPACK 1.5.1 can delegate it.

    Why by hand: XNNPACK's partitioner has no `native_layer_norm` config, and its `mean.dim` is only
    taken on 4-D tensors over dims (2, 3) with keepdim (it lowers to global average pooling), so the
    [batch, seq, hidden] input is viewed as [batch, seq, hidden, 1]. Variance as mean(d*d), then rsqrt;
    all sub, mul, add, rsqrt, view are delegated. Same weight/bias Parameters as the replaced module.
    """

    def __init__(self, ln: nn.LayerNorm):
        super().__init__()
        if len(ln.normalized_shape) != 1:
            raise ValueError(f"LayerNorm4d handles one normalized dim, got {ln.normalized_shape}")
        self.eps = float(ln.eps)
        self.weight = ln.weight
        self.bias = ln.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # view, not unsqueeze/squeeze: XNNPACK has no squeeze config, and its reshape takes only
        # static sizes plus at most one inferred (-1) dim, so the dynamic sequence dim is the -1.
        b, h = x.shape[0], x.shape[-1]
        x4 = x.reshape(b, -1, h, 1)
        mu = x4.mean(dim=(2, 3), keepdim=True)
        d = x4 - mu
        var = (d * d).mean(dim=(2, 3), keepdim=True)
        y = (d * torch.rsqrt(var + self.eps)).reshape(b, -1, h)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y


class GeluNewCubed(nn.Module):
    """transformers' gelu_new (tanh approximation) with x*x*x instead of pow(x, 3.0).

    Why by hand: XNNPACK 1.5.1 takes `pow.Tensor_Scalar` only for the exponent 2, so every FFN
    application (12 in ALBERT-base) split the delegate. XNNPACK's own `gelu` is the erf form, not
    the tanh approximation ALBERT was trained with, so it is not used.
    """

    _c = math.sqrt(2.0 / math.pi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(self._c * (x + 0.044715 * (x * x * x))))


class StaticBatchAttention(nn.Module):
    """ALBERT's eager self-attention with reshapes XNNPACK can delegate under a dynamic sequence length.

    Why by hand: torch.export records `view(*input_shape, -1, head_size)` after a transpose, and the
    4-D `matmul` decomposition (view -> bmm -> view), with the symbolic sequence length as a size;
    XNNPACK 1.5.1's reshape takes only literal sizes plus at most one inferred (-1) dim, so 4 reshapes
    per layer application fell out of the delegate. Here heads are folded into the (static) batch dim
    and `bmm` is called directly, with the sequence dim always the -1 (a `.contiguous().view` keeps the
    -1 in the exported graph; `reshape` of a non-contiguous tensor does not).

    Same submodules (query/key/value/dense/LayerNorm) as the wrapped AlbertAttention; same math as
    transformers' `eager_attention_forward` (q.k^T * scale + additive mask, softmax, .v). Masks of shape
    [batch, 1, 1, seq] (what `AdditiveMaskLogits` passes) take the bmm path; any other mask (e.g.
    transformers' own [batch, 1, seq, seq]) takes the 4-D path, same numbers, fewer delegated ops.
    """

    def __init__(self, attn: nn.Module):
        super().__init__()
        self.attn = attn

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        a = self.attn
        b = hidden_states.shape[0]
        nh, hd = a.num_attention_heads, a.attention_head_size
        key_mask = attention_mask is None or (attention_mask.dim() == 4 and attention_mask.shape[1] == 1 and attention_mask.shape[2] == 1)
        if not key_mask:
            q, k, v = (lin(hidden_states).view(b, -1, nh, hd).transpose(1, 2) for lin in (a.query, a.key, a.value))
            probs = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * a.scaling + attention_mask, dim=-1)
            ctx = torch.matmul(a.attention_dropout(probs), v)  # [b, nh, seq, hd]
        else:
            q, k, v = (lin(hidden_states).view(b, -1, nh, hd).transpose(1, 2).contiguous().view(b * nh, -1, hd) for lin in (a.query, a.key, a.value))
            scores = torch.bmm(q, k.transpose(1, 2)) * a.scaling  # [b*nh, seq, seq]
            if attention_mask is not None:
                # [b, 1, 1, seq] -> [b*nh, 1, seq]: one additive row per (batch, head), broadcast over
                # queries; batch 1 needs no expand (XNNPACK 1.5.1 has no expand_copy config).
                m = attention_mask.view(1, 1, -1) if b == 1 else attention_mask.expand(b, nh, 1, -1).contiguous().view(b * nh, 1, -1)
                scores = scores + m
            probs = torch.softmax(scores, dim=-1)
            ctx = torch.bmm(a.attention_dropout(probs), v).view(b, nh, -1, hd)
        ctx = ctx.transpose(1, 2).contiguous().view(b, -1, nh * hd)
        out = a.output_dropout(a.dense(ctx))
        return a.LayerNorm(hidden_states + out), probs


class AdditiveMaskLogits(nn.Module):
    """The classifier reduced to logits, given transformers an additive [batch, 1, 1, seq] mask.

    Why by hand: from a 2-D padding mask, transformers 5 builds a [batch, 1, seq, seq] mask with
    arange/index/bitwise_and/where (portable kernels, and the integer adds that break prepare_pt2e);
    a 4-D mask is passed through as is. (1 - mask) * finfo.min equals transformers' where(mask, 0, min)
    element for element (0 * min is -0.0, adding it is exact).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.m = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        additive = (1.0 - attention_mask.to(torch.float32)) * torch.finfo(torch.float32).min
        # view, not [:, None, None, :]: XNNPACK takes unsqueeze only on the trailing dim.
        additive = additive.view(additive.shape[0], 1, 1, -1)
        return self.m(input_ids=input_ids, attention_mask=additive, token_type_ids=token_type_ids).logits


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
    return _replace_modules(model, lambda m: type(m) is nn.LayerNorm, LayerNorm4d)


def replace_attention(model: nn.Module) -> int:
    from transformers.models.albert.modeling_albert import AlbertAttention

    return _replace_modules(model, lambda m: isinstance(m, AlbertAttention), StaticBatchAttention)


def replace_gelu_new(model: nn.Module) -> int:
    from transformers.activations import NewGELUActivation

    return _replace_modules(model, lambda m: isinstance(m, NewGELUActivation), lambda m: GeluNewCubed())


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
    Repeating the same cycle-checked merge to a fixpoint gives 2 pieces, like fp32.
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
