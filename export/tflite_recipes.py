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
def quiet_quantizer():
    """Around Quantizer.quantize(..., enable_progress_bar=False): drop the benign per-application
    warnings (above), and keep the progress bar off. ai-edge-quantizer 0.10 does not pass
    enable_progress_bar on to the model-modifying step (Quantizer._get_quantized_model), whose bar
    then defaults to "on for larger models" and draws "Applying Transformations to tensors" over our
    own progress lines; a None there is made False for the duration."""
    from ai_edge_quantizer.utils import progress_utils

    root, f = logging.getLogger(), _SharedBufferRewrite()
    init = progress_utils.ProgressBar.__init__

    def no_bar(self, *args, enable=None, **kwargs):
        init(self, *args, enable=bool(enable), **kwargs)

    root.addFilter(f)
    progress_utils.ProgressBar.__init__ = no_bar
    try:
        yield
    finally:
        progress_utils.ProgressBar.__init__ = init
        root.removeFilter(f)


def _equal_arrays_or_none(a, b) -> bool:
    """ai-edge-quantizer's `qtyping._compare_array_or_none` with numpy's comparison (same answers)."""
    import numpy as np

    if a is None or b is None:
        return a is None and b is None
    return a is b or bool(np.array_equal(a, b))


@contextlib.contextmanager
def fast_array_compare():
    """Around Quantizer.quantize: compare quantized tensors with numpy.

    Why by hand: ai-edge-quantizer 0.10 compares each pair of quantization parameters' arrays with
    `a.data == b.data` (memoryview equality) before numpy. For an fp16 array Python unpacks that
    memoryview one element at a time through `struct`, and the fp16 recipe compares 418 such pairs
    on ALBERT-base (cProfile: nearly all of the run in `_compare_array_or_none`): `quantize tflite --mode fp16`
    took 107 s instead of 3.6 s, for the same bytes (benchmarks/results/tflite/). int8 memoryviews
    compare at memcmp speed. Older releases compared with np.array_equal, which gives the same answers
    (values; NaN unequal)."""
    from ai_edge_quantizer import qtyping

    original = qtyping._compare_array_or_none
    qtyping._compare_array_or_none = _equal_arrays_or_none
    try:
        yield
    finally:
        qtyping._compare_array_or_none = original


def quantized_bytes(q, mode: str, calibration=None) -> bytes:
    """`q.quantize(calibration)` (an ai_edge_quantizer.Quantizer) with both patches above and no
    progress bar, as the model's bytes; the quantizer's many exception types become one line."""
    with quiet_quantizer(), fast_array_compare():
        try:
            result = q.quantize(calibration, enable_progress_bar=False, enable_progress_report=False)
        except Exception as e:  # the quantizer raises many types; the user needs one line
            raise AlbertEdgeError(f"ai-edge-quantizer failed ({mode}): {str(e).splitlines()[0][:200]}") from None
    return bytes(result.quantized_model)


def recipe_for(mode: str):
    from ai_edge_quantizer import recipe

    if mode == "dynamic":
        return recipe.dynamic_wi8_afp32()
    if mode == "fp16":
        return [dict(r) for r in _FP16_RECIPE]
    if mode == "static":
        return recipe.static_wi8_ai8()
    raise AlbertEdgeError(f"unknown quantization mode {mode!r} (choose {', '.join(MODES)})")
