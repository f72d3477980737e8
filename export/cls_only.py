"""ALBERT's classifier with the last layer application computed for [CLS] only; the exporters that
trace it (ExecuTorch, TFLite, MediaPipe) share it.

Why: the pooler reads row 0 of the last hidden states and nothing else, so in the last application
only row 0's query, attention output, LayerNorms and FFN matter (keys and values still come from
every row). Neither torch.export nor ExecuTorch nor the LiteRT converter prunes rows, so the loop over
the applications is written out here and the last one is called with `query` = the first row (TFLite:
the first two, first_two_rows says why): in the last application 4 of the 6 weight matmuls (Q, O and
both FFN ones: 10/12 of its weight FLOPs) run on 1 row instead of all. Same logits (to fp32 rounding;
bit for bit against the every-row conversion in benchmarks/tflite_cls_only.py); ALBERT-base on SST-2
sentences: ExecuTorch int8 1.07x, TFLite fp32 1.06x / int8 1.07x (docs/executorch.md, docs/tflite.md).
Every weight is still the checkpoint's one nn.Parameter.

Why the mask by hand: from a 2-D padding mask transformers 5 builds a [batch, 1, seq, seq] mask with
arange/index/bitwise_and/where (portable kernels in ExecuTorch, and the integer adds that break
prepare_pt2e); an additive [batch, 1, 1, seq] mask is broadcast by every attention implementation.
(1 - mask) * finfo.min equals transformers' where(mask, 0, min) element for element (0 * min is -0.0,
adding it is exact).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# What the manifest entries of the traced files record ("rewrites"), for readers of a folder.
TFLITE_REWRITES = {"cls_only_last_application": True, "last_application_rows": 2}

__all__ = ["StaticBatchAttention", "ClsOnlyLogits", "layer_applications", "additive_mask", "slice_first_row", "first_two_rows", "TFLITE_REWRITES"]


class StaticBatchAttention(nn.Module):
    """ALBERT's eager self-attention that can compute the output for the first rows only (`query`),
    with reshapes XNNPACK can delegate under a dynamic sequence length.

    Why by hand: transformers' attention has no query-rows argument. And for ExecuTorch: torch.export
    records `view(*input_shape, -1, head_size)` after a transpose, and the 4-D `matmul` decomposition
    (view -> bmm -> view), with the symbolic sequence length as a size; XNNPACK 1.5.1's reshape takes
    only literal sizes plus at most one inferred (-1) dim, so 4 reshapes per layer application fell out
    of the delegate. Here heads are folded into the (static) batch dim and `bmm` is called directly,
    with the sequence dim always the -1 (a `.contiguous().view` keeps the -1 in the exported graph;
    `reshape` of a non-contiguous tensor does not).

    Same submodules (query/key/value/dense/LayerNorm) as the wrapped AlbertAttention; same math as
    transformers' `eager_attention_forward` (q.k^T * scale + additive mask, softmax, .v). Masks of shape
    [batch, 1, 1, seq] (what ClsOnlyLogits passes) take the bmm path; any other mask (e.g.
    transformers' own [batch, 1, seq, seq]) takes the 4-D path, same numbers, fewer delegated ops.
    Hidden states of one text as 2-D [seq, hidden] rows (ClsOnlyLogits with token_rows, the ExecuTorch
    graph) take `_token_rows`, with a key mask only.
    """

    def __init__(self, attn: nn.Module):
        super().__init__()
        self.attn = attn

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, query: torch.Tensor | None = None, **kwargs):
        """query: the first rows of hidden_states ([batch, r, hidden], or [r, hidden] for 2-D hidden
        states) to compute the output for (keys and values still come from every row); None for all
        rows, as transformers does."""
        hq = hidden_states if query is None else query
        if hidden_states.dim() == 2:
            return self._token_rows(hidden_states, attention_mask, hq)
        a = self.attn
        b = hidden_states.shape[0]
        nh, hd = a.num_attention_heads, a.attention_head_size
        key_mask = attention_mask is None or (attention_mask.dim() == 4 and attention_mask.shape[1] == 1 and attention_mask.shape[2] == 1)
        if not key_mask:
            q = a.query(hq).view(b, -1, nh, hd).transpose(1, 2)
            k, v = (lin(hidden_states).view(b, -1, nh, hd).transpose(1, 2) for lin in (a.key, a.value))
            mask = attention_mask if query is None else attention_mask[:, :, : hq.shape[1]]
            probs = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * a.scaling + mask, dim=-1)
            ctx = torch.matmul(a.attention_dropout(probs), v)  # [b, nh, rows, hd]
        else:
            q = a.query(hq).view(b, -1, nh, hd).transpose(1, 2).contiguous().view(b * nh, -1, hd)
            v = a.value(hidden_states).view(b, -1, nh, hd).transpose(1, 2).contiguous().view(b * nh, -1, hd)
            # K laid out transposed in one permute ([b*nh, hd, seq]), not transposed again for the bmm:
            # ExecuTorch 1.5.1's bmm visitor has no transpose-B flag, so k.transpose was one more copy.
            kt = a.key(hidden_states).view(b, -1, nh, hd).permute(0, 2, 3, 1).contiguous().view(b * nh, hd, -1)
            scores = torch.bmm(q, kt) * a.scaling  # [b*nh, rows, seq]
            if attention_mask is not None:
                # [b, 1, 1, seq] -> [b*nh, 1, seq]: one additive row per (batch, head), broadcast over
                # queries; batch 1 needs no expand (XNNPACK 1.5.1 has no expand_copy config).
                m = attention_mask.view(1, 1, -1) if b == 1 else attention_mask.expand(b, nh, 1, -1).contiguous().view(b * nh, 1, -1)
                scores = scores + m
            probs = torch.softmax(scores, dim=-1)
            ctx = torch.bmm(a.attention_dropout(probs), v).view(b, nh, -1, hd)
        ctx = ctx.transpose(1, 2).contiguous().view(b, -1, nh * hd)
        out = a.output_dropout(a.dense(ctx))
        return a.LayerNorm(hq + out), probs

    def _token_rows(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, hq: torch.Tensor):
        """The same attention on one text's tokens as rows ([seq, hidden], batch 1; ClsOnlyLogits with
        token_rows): heads are the bmm batch directly, so each of Q/K/V is a reshape and one permute
        (no fold of batch into heads) and the context one permute and a reshape back."""
        a = self.attn
        nh, hd = a.num_attention_heads, a.attention_head_size
        q = a.query(hq).view(-1, nh, hd).transpose(0, 1)  # [nh, rows, hd]
        kt = a.key(hidden_states).view(-1, nh, hd).permute(1, 2, 0)  # [nh, hd, seq]: K^T in one permute
        v = a.value(hidden_states).view(-1, nh, hd).transpose(0, 1)  # [nh, seq, hd]
        scores = torch.bmm(q, kt) * a.scaling
        if attention_mask is not None:
            # [1, 1, seq]: one additive row broadcast over heads and queries (ClsOnlyLogits views it
            # once for all applications; a 4-D key mask is viewed here).
            scores = scores + (attention_mask if attention_mask.dim() == 3 else attention_mask.view(1, 1, -1))
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.bmm(a.attention_dropout(probs), v).transpose(0, 1).contiguous().view(-1, nh * hd)
        out = a.output_dropout(a.dense(ctx))
        return a.LayerNorm(hq + out), probs


def layer_applications(model: nn.Module) -> list[nn.Module]:
    """The AlbertLayer modules of an AlbertFor* model in the order AlbertTransformer applies them:
    application i runs group int(i / (num_hidden_layers / num_hidden_groups)), each group its
    inner_group_num layers in turn (transformers' own index formula, modeling_albert.py)."""
    cfg = model.config
    groups = model.albert.encoder.albert_layer_groups
    out: list[nn.Module] = []
    for i in range(cfg.num_hidden_layers):
        out.extend(groups[int(i / (cfg.num_hidden_layers / cfg.num_hidden_groups))].albert_layers)
    return out


def additive_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """[batch, seq] 0/1 padding mask -> additive [batch, 1, 1, seq] (0 or finfo.min)."""
    additive = (1.0 - attention_mask.to(torch.float32)) * torch.finfo(torch.float32).min
    # view, not [:, None, None, :]: XNNPACK takes unsqueeze only on the trailing dim.
    return additive.view(additive.shape[0], 1, 1, -1)


def slice_first_row(h: torch.Tensor) -> torch.Tensor:
    return h[:, :1]


def first_two_rows(h: torch.Tensor) -> torch.Tensor:
    """h[:, :2]: [CLS] and the next row, for the LiteRT converter.

    Why two: with a single row every tensor of the last application is [1, 1, H], and the converter
    materialises its LayerNorm's γ as a [1, 1, H] constant, which it does not fold into the FFN-in
    weight the way it folds the [H] γ of every other application (export/tflite_sharing.py): the
    file stored the FFN-in weight twice (+4·H·I bytes; the weight guard refused it) or, with a
    barrier against the fold everywhere, lost the fold, and the int8 file's label agreement on the
    trained demo model fell from 99.89 % to 99.66 % (presumably because the fold moves γ's large
    channels out of the activations, quantized per tensor, into the per-channel quantized weight;
    the ALBERT-base-shaped int8 max |Δlogit| also went 1.4e-2 -> 2.0e-2). With two rows γ stays
    [H], every application folds alike, and the second row costs 1/L of an application.
    Sequences are at least 2 tokens ([CLS] ... [SEP])."""
    return h[:, :2]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class ClsOnlyLogits(nn.Module):
    """AlbertForSequenceClassification -> logits, the layer applications written out and the last one
    for [CLS] only (module docstring). Each application is AlbertLayer.forward's three steps
    (attention, FFN, full-layer LayerNorm) on the layer's own submodules.

    token_rows: at batch 1, the hidden states as [seq, hidden] rows from the embedding projection to
    the pooler (ExecuTorch). Why: every [b, s, h] <-> [b*s, h] view of a LayerNorm, and the fold of
    batch into heads around each attention, is one XNNPACK reshape node; ALBERT-base int8 went from
    698 to 593 XNNPACK nodes (reshapes 161 -> 56), the same logits bit for bit, RSS at load
    -0.2 MiB; time within 1.5 % (two in-process A/B runs on SST-2 sentences: 1.5 % and 0.1 %).
    first_row: how the exporter takes the rows the last application computes (a slice of row 0;
    ExecuTorch a one-hot bmm, executorch_rewrites.first_row; TFLite two rows, first_two_rows, of which
    row 0 goes on to the pooler). barrier: applied to every application's input (the TFLite exporter's
    fold barrier, tflite_sharing; identity by default).
    cls_only=False computes the last application on every row (the graph before this rewrite, for
    side-by-side measurements).
    """

    def __init__(self, model: nn.Module, first_row: Callable = slice_first_row, barrier: Callable | None = None, cls_only: bool = True, token_rows: bool = False):
        super().__init__()
        self.m = model
        self.layers = layer_applications(model)
        last = self.layers[-1].attention
        # The last application needs the query-rows argument; a module already rewritten (ExecuTorch
        # replaces every AlbertAttention in place) has it, otherwise wrap the same submodules. Held in
        # a tuple, not registered: the model (self.m) already registers those submodules, and a module
        # reachable by two paths made torch.export lift the LayerNorm rewrite's constant column twice
        # (one copy left in the ExecuTorch program beside XNNPACK's: 1028 duplicate bytes, a test).
        self._last_attention = (last if isinstance(last, StaticBatchAttention) else StaticBatchAttention(last),)
        self.first_row = first_row
        self.barrier = barrier or _identity
        self.cls_only = cls_only
        self.token_rows = token_rows

    def _application(self, layer: nn.Module, h: torch.Tensor, mask: torch.Tensor, attention=None, query=None) -> torch.Tensor:
        from transformers.pytorch_utils import apply_chunking_to_forward

        h = self.barrier(h)
        if attention is None:
            att, _ = layer.attention(h, mask)
        else:
            att, _ = attention(h, mask, query=None if query is None else query(h))
        ffn = apply_chunking_to_forward(layer.ff_chunk, layer.chunk_size_feed_forward, layer.seq_len_dim, att)
        return layer.full_layer_layer_norm(ffn + att)

    def forward(self, input_ids, attention_mask, token_type_ids):
        a = self.m.albert
        mask = additive_mask(attention_mask)
        e = a.embeddings(input_ids, token_type_ids=token_type_ids)
        if self.token_rows and e.shape[0] == 1:
            e = e.view(-1, e.shape[-1])  # one text: its tokens as rows from here to the pooler
            mask = mask.view(1, 1, -1)
        h = a.encoder.embedding_hidden_mapping_in(e)
        for layer in self.layers[:-1]:
            h = self._application(layer, h, mask)
        if self.cls_only:
            cls = self._application(self.layers[-1], h, mask, attention=self._last_attention[0], query=self.first_row)
        else:
            cls = self.first_row(self._application(self.layers[-1], h, mask))
        if cls.dim() == 3:
            if cls.shape[1] != 1:  # first_row gave more rows than [CLS]'s (TFLite: two, first_two_rows)
                cls = cls[:, :1]
            # The pooler's `select` of row 0, as a reshape of the one row left.
            cls = cls.view(cls.shape[0], -1)
        pooled = a.pooler_activation(a.pooler(cls))
        return self.m.classifier(self.m.dropout(pooled))
