"""Analytic FLOPs of one AlbertForSequenceClassification forward pass.

Counted: every matrix multiplication, 2 FLOPs per multiply-add, for a batch of B sequences of L
tokens (all positions computed, padded or not — that is what the runtime does):

    embedding projection     2·B·L·E·H                      (E = embedding_size, H = hidden_size)
    per layer APPLICATION    (num_hidden_layers times; ALBERT's sharing saves memory, not compute)
      Q, K, V projections    3 · 2·B·L·H·H
      scores  Q·Kᵀ           2·B·L·L·H                      (heads × (L×d)·(d×L), d = H/heads)
      context P·V            2·B·L·L·H
      output projection      2·B·L·H·H
      FFN up + down          2·B·L·H·I + 2·B·L·I·H          (I = intermediate_size)
    pooler ([CLS] only)      2·B·H·H
    classifier               2·B·H·C                        (C = num_labels)

i.e. total = 2BLEH + N·(8BLH² + 4BLHI + 4BL²H) + 2BH² + 2BHC.

Not counted: the embedding gathers (no arithmetic), biases, LayerNorm, softmax, GELU, and
quantize/dequantize ops — together about 1–2 % of the matmul count at ALBERT-base shapes; leaving
them out makes "achieved GFLOP/s" a slight underestimate, i.e. conservative. ALBERT-base at L=128,
B=1: ≈ 22.4 GFLOP.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    hidden_size: int
    embedding_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    num_labels: int = 2

    @classmethod
    def from_config(cls, cfg) -> "Shape":
        """From a transformers AlbertConfig, a config.json dict, or a manifest's "model" block."""
        get = (lambda k, d=None: cfg.get(k, d)) if isinstance(cfg, dict) else (lambda k, d=None: getattr(cfg, k, d))
        num_labels = get("num_labels")
        if num_labels is None:
            id2label = get("id2label")
            num_labels = len(id2label) if id2label else 2
        return cls(
            hidden_size=int(get("hidden_size")),
            embedding_size=int(get("embedding_size")),
            num_hidden_layers=int(get("num_hidden_layers")),
            num_attention_heads=int(get("num_attention_heads")),
            intermediate_size=int(get("intermediate_size")),
            num_labels=int(num_labels),
        )


def _application(B: int, L: int, Q: int, H: int, I: int) -> dict[str, int]:
    """One layer application with Q query rows per sequence (Q = L, or 1 for [CLS] only): K and V still
    come from all L rows, everything after the scores runs on the Q rows."""
    return {
        "qkv": 2 * B * Q * H * H + 2 * 2 * B * L * H * H,
        "attention_scores": 2 * B * Q * L * H,
        "attention_context": 2 * B * Q * L * H,
        "attention_output": 2 * B * Q * H * H,
        "ffn": 2 * B * Q * H * I + 2 * B * Q * I * H,
    }


def breakdown(shape: Shape, seq_len: int, batch: int = 1, cls_only_last: bool = False) -> dict[str, int]:
    """FLOPs per component for one call (see the module docstring for the formula). cls_only_last: the
    last application computed for [CLS] only (the ExecuTorch export's rewrite; the pooler reads no other row)."""
    if seq_len < 1 or batch < 1:
        raise ValueError(f"seq_len and batch must be >= 1 (got {seq_len}, {batch})")
    B, L = int(batch), int(seq_len)
    H, E, I, C, N = shape.hidden_size, shape.embedding_size, shape.intermediate_size, shape.num_labels, shape.num_hidden_layers
    full = _application(B, L, L, H, I)
    last = _application(B, L, 1, H, I) if cls_only_last else full
    out = {"embedding_projection": 2 * B * L * E * H}
    out.update({k: v * (N - 1) + last[k] for k, v in full.items()})
    out["pooler"] = 2 * B * H * H
    out["classifier"] = 2 * B * H * C
    return out


def forward_flops(shape: Shape, seq_len: int, batch: int = 1) -> int:
    return sum(breakdown(shape, seq_len, batch).values())
