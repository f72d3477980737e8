"""Keep ALBERT's shared layer weights as ONE constant through the LiteRT converter, on any checkpoint.

What goes wrong without this (measured, litert-torch 0.10 / its TFL optimize passes): the converter
folds a constant per-feature scale that precedes a FULLY_CONNECTED into that FC's weights
(x·diag(g)·Wᵀ -> x·(W·diag(g))ᵀ, with g·β folded into the bias alike). A LayerNorm is lowered to
mean/var/rsqrt then MUL(γ) and ADD(β), so the Q, K and V projections of layer applications 2..N
(whose input is the previous application's `full_layer_layer_norm`) get W·diag(γ), while
application 1 (input: the embedding projection) keeps W. On random weights γ = 1 and the copies are
byte-identical, which the buffer merge in tflite_buffers.compact hides; on a trained ALBERT-base the
file stores 3 extra 768x768 fp32 matrices and their biases (54.15 MB instead of 46.6 MB).

The fix: an optimization barrier (litert-torch's own `optimization_barrier` op, lowered to
stablehlo.optimization_barrier) on the input of every layer application (export/cls_only.py applies
it). The converter cannot fold across it, so every application's FC reads the same constant, and it
emits no op for it (the barrier is gone from the .tflite: no op type gains instances, a test). Folds
that stay, because they produce ONE constant used by every application (no extra bytes):
attention.LayerNorm's γ/β into the FFN-in weight/bias (also in the [CLS]-only last application,
which computes two rows for that reason: cls_only.first_two_rows), the embedding LayerNorm into the
embedding projection. The weight guard (albert_edge.weight_guard) refuses any file that stores more
than that, so a converter version that folds differently fails loudly.

`ALBERT_EDGE_TFLITE_FOLD_BARRIERS=0` converts without the barriers (the old behaviour), for
before/after measurements and the test proving the guard catches it.
"""

from __future__ import annotations

import os

from ..errors import AlbertEdgeError

ENV_DISABLE = "ALBERT_EDGE_TFLITE_FOLD_BARRIERS"


def barriers_enabled(default: bool = True) -> bool:
    v = os.environ.get(ENV_DISABLE)
    if v is None or v.strip() == "":
        return default
    return v.strip().lower() not in ("0", "false", "no", "off")


def _barrier_fn():
    try:
        from litert_torch.backend.optimization_barrier import optimization_barrier
    except ImportError as e:  # a litert-torch without it would silently fold again
        raise AlbertEdgeError(f"this litert-torch has no optimization_barrier ({e}); albert-edge needs it to keep shared weights once") from None
    return optimization_barrier


def fold_barrier(enabled: bool = True):
    """The barrier as a one-tensor function (identity in PyTorch; a fold boundary for the converter),
    for export/cls_only.ClsOnlyLogits, which applies it to every layer application's input; None when
    disabled."""
    if not enabled:
        return None
    barrier = _barrier_fn()

    def apply(x):
        # The op lowers a 1-tensor list to a bare OpResult that its own lowering cannot index
        # (litert-torch 0.10: "'OpResult' object is not subscriptable"); two operands work.
        y, _ = barrier(x, x)
        return y

    return apply
