#!/usr/bin/env bash
# Reproduce the Optimum peer: Hugging Face Optimum's standard ONNX recipe for a text classifier.
#
#   benchmarks/peers/optimum.sh MODEL_DIR OUT_DIR
#
# writes OUT_DIR/model.onnx            (optimum-cli export onnx --task text-classification)
#        OUT_DIR/model_quantized.onnx  (optimum-cli onnxruntime quantize --avx2: dynamic int8)
#        OUT_DIR/peer.json             (versions and the exact commands, for the benchmark report)
# then benchmark it beside ours:
#   albert-edge bench ARTIFACTS --extra optimum-fp32=OUT_DIR/model.onnx --extra optimum-int8=OUT_DIR/model_quantized.onnx
#
# optimum-onnx pins transformers < 4.58 while albert-edge uses transformers 5, so the peer gets its
# own virtual environment (git-ignored, reused between runs). torch is installed first, pinned to the
# same CPU wheel as the project, so pip never pulls a multi-GB CUDA build.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 MODEL_DIR OUT_DIR   (MODEL_DIR: a Hugging Face ALBERT classifier folder with safetensors)" >&2
  exit 2
fi
MODEL_DIR=$1
OUT_DIR=$2
if [[ ! -f "$MODEL_DIR/config.json" ]]; then
  echo "optimum peer: $MODEL_DIR has no config.json (need a Hugging Face model folder)" >&2
  exit 2
fi

# albert-edge bench passes OPTIMUM_VENV (its cache folder); run by hand from a checkout, .cache/ is used.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${OPTIMUM_VENV:-$ROOT/.cache/peers/optimum-venv}
PYTHON=${PYTHON:-python3}
OPTIMUM_ONNX_VERSION=${OPTIMUM_ONNX_VERSION:-0.1.0}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
# Same ONNX Runtime as the project, so quantizer behaviour is not a version difference.
ORT_VERSION=${ORT_VERSION:-1.32.0}

if [[ ! -x "$VENV/bin/optimum-cli" ]]; then
  echo "optimum peer: creating $VENV (one-time; needs PyPI)" >&2
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION"
  "$VENV/bin/python" -m pip install -q "optimum-onnx[onnxruntime]==$OPTIMUM_ONNX_VERSION" \
    "onnxruntime==$ORT_VERSION" sentencepiece "torch==$TORCH_VERSION"
fi

mkdir -p "$OUT_DIR"
TMP_Q=$(mktemp -d "$OUT_DIR/.quantize.XXXXXX")
trap 'rm -rf "$TMP_Q"' EXIT

# One thread: the peer is built, not timed, here; keep the shared CPUs free.
export OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
"$VENV/bin/optimum-cli" export onnx --model "$MODEL_DIR" --task text-classification "$OUT_DIR" >&2
"$VENV/bin/optimum-cli" onnxruntime quantize --onnx_model "$OUT_DIR" --avx2 -o "$TMP_Q" >&2
cp "$TMP_Q/model_quantized.onnx" "$OUT_DIR/model_quantized.onnx"
[[ -f "$TMP_Q/ort_config.json" ]] && cp "$TMP_Q/ort_config.json" "$OUT_DIR/ort_config.json"

"$VENV/bin/python" - "$MODEL_DIR" "$OUT_DIR" "$OPTIMUM_ONNX_VERSION" <<'EOF'
import importlib.metadata as md, json, sys, pathlib
model_dir, out_dir, ver = sys.argv[1:]
versions = {}
for n in ("optimum-onnx", "optimum", "transformers", "torch", "onnx", "onnxruntime"):
    try:
        versions[n] = md.version(n)
    except md.PackageNotFoundError:
        pass
peer = {
    "name": "optimum",
    "model_dir": str(pathlib.Path(model_dir).resolve()),
    "commands": [
        f"optimum-cli export onnx --model {model_dir} --task text-classification {out_dir}",
        f"optimum-cli onnxruntime quantize --onnx_model {out_dir} --avx2 -o {out_dir}",
    ],
    "files": {"fp32": "model.onnx", "int8": "model_quantized.onnx"},
    "versions": versions,
}
pathlib.Path(out_dir, "peer.json").write_text(json.dumps(peer, indent=2) + "\n")
EOF
echo "optimum peer: wrote $OUT_DIR/model.onnx and $OUT_DIR/model_quantized.onnx" >&2
