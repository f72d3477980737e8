"""ai-edge-quantizer recipes for TFLite files (int8 dynamic range, fp16, full int8), shared by
`quantize tflite` and `export mediapipe` (which writes its quantized file in one step), and the filter
for the quantizer's benign per-application warnings on ALBERT's shared weights."""

from __future__ import annotations

import contextlib
import logging

from ..errors import AlbertEdgeError

MODES = ("dynamic", "fp16", "static")
RECIPE_NAME = {"dynamic": "dynamic_wi8_afp32", "fp16": "float_casting_wfp16_afp32", "static": "static_wi8_ai8"}

_FP16_RECIPE = [
    {
        "regex": ".*",
        "operation": "*",
        "algorithm_key": "float_casting",
        "op_config": {
            "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
            "compute_precision": "FLOAT",
            "explicit_dequantize": True,
        },
    }
]


class _SharedBufferRewrite(logging.Filter):
    """ai-edge-quantizer warns on the root logger for every extra tensor that reads an already
    quantized buffer ("... is overriding other previously quantized data in buffer N"). In ALBERT
    that is every later application of a shared weight, i.e. the point of the model, and each
    application writes the same data from the same fp32 weights; the parity checks after
    quantization catch anything else. 28 such lines for the demo model's fp16 file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is overriding other previously quantized data" not in record.getMessage()


@contextlib.contextmanager
def _shared_buffer_rewrites_filtered():
    root, f = logging.getLogger(), _SharedBufferRewrite()
    root.addFilter(f)
    try:
        yield
    finally:
        root.removeFilter(f)


def recipe_for(mode: str):
    from ai_edge_quantizer import recipe

    if mode == "dynamic":
        return recipe.dynamic_wi8_afp32()
    if mode == "fp16":
        return [dict(r) for r in _FP16_RECIPE]
    if mode == "static":
        return recipe.static_wi8_ai8()
    raise AlbertEdgeError(f"unknown quantization mode {mode!r} (choose {', '.join(MODES)})")
