#!/usr/bin/env bash
# Reproduce the OpenVINO peer: OpenVINO's documented recipe for an ONNX text classifier on x86 CPUs.
#
#   benchmarks/peers/openvino.sh MODEL_ONNX CALIBRATION_NPZ OUT_DIR
#
#   MODEL_ONNX       the fp32 ONNX classifier (albert-edge's model.onnx: plain torch.onnx export)
#   CALIBRATION_NPZ  input_ids/attention_mask/token_type_ids of 300 SST-2 train sentences, one row per
#                    sentence (the bench writes it with the folder's tokenizer; the venv needs no tokenizer)
# writes OUT_DIR/model.xml|.bin            ov.convert_model(MODEL_ONNX) + ov.save_model (fp32 IR; the CPU
#                                          plugin still picks its default inference precision at run time)
#        OUT_DIR/model.int8.xml|.bin       nncf.quantize(model, calibration, model_type=nncf.ModelType.TRANSFORMER)
#        OUT_DIR/peer.json                 versions, exact calls, sizes
# The bench then times them with benchmarks/peers/openvino_peer.py worker in the same venv (CPU plugin,
# PERFORMANCE_HINT=LATENCY, INFERENCE_NUM_THREADS = the thread count of the row).
#
# openvino + nncf bring their own numpy/scipy/pandas pins, so the peer gets its own venv (git-ignored,
# reused between runs). Neither needs torch for an ONNX input; if pip ever wants it, the constraint keeps
# it on the project's CPU wheel.
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 MODEL_ONNX CALIBRATION_NPZ OUT_DIR" >&2
  exit 2
fi
MODEL_ONNX=$1
CALIB=$2
OUT_DIR=$3
for f in "$MODEL_ONNX" "$CALIB"; do
  [[ -f "$f" ]] || { echo "openvino peer: $f does not exist" >&2; exit 2; }
done

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${OPENVINO_VENV:-$ROOT/.cache/peers/openvino-venv}
PYTHON=${PYTHON:-python3}
OPENVINO_VERSION=${OPENVINO_VERSION:-2026.4.1}
NNCF_VERSION=${NNCF_VERSION:-3.4.0}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if ! "$VENV/bin/python" -c "import openvino, nncf" 2>/dev/null; then
  echo "openvino peer: creating $VENV (one-time; needs PyPI)" >&2
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  CONSTRAINTS=$(mktemp)
  trap 'rm -f "$CONSTRAINTS"' EXIT
  echo "torch==$TORCH_VERSION" > "$CONSTRAINTS"
  "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" "openvino==$OPENVINO_VERSION" "nncf==$NNCF_VERSION" psutil
fi

# One thread for the build: the peer is built, not timed, here; keep the shared CPUs free.
export OMP_NUM_THREADS=1
"$VENV/bin/python" "$HERE/openvino_peer.py" build "$MODEL_ONNX" "$CALIB" "$OUT_DIR"
