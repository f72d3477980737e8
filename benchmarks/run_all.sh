#!/usr/bin/env bash
# The full desktop benchmarks, one command (`make bench`): run on a QUIET machine.
#
#   benchmarks/run_all.sh            # demo model + an ALBERT-base-shaped model
#   benchmarks/run_all.sh demo       # only the demo model
#   benchmarks/run_all.sh base       # only the ALBERT-base-shaped model
#
# For each model: export every format into an artifacts folder under .cache/bench/ (reused when
# already there), build the peers (Optimum and OpenVINO in their own venvs, the stock LiteRT and
# ExecuTorch recipes in ours; see benchmarks/peers/) and run `albert-edge bench` with the default
# settings. Results land in benchmarks/results/.
#
# The ALBERT-base-shaped model has ALBERT-base-v2's exact config and the official tokenizer from
# ../shared, with random weights perturbed to look trained (LayerNorm scales != 1, shifts and biases
# != 0; albert_edge.testing.perturb_like_trained): speed depends on shapes, but sizes and memory of
# converters that fold LayerNorms into the shared weights depend on those values, and no trained
# ALBERT-base checkpoint can be downloaded here.
# Extra arguments after the target go to `albert-edge bench` (e.g. --budget-s 600).
# BENCH_EXPORT_ONLY=1 builds the models and artifact folders and stops (to prepare before a quiet moment).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${CLI:-.venv/bin/albert-edge}
PY=${PY:-.venv/bin/python}
WORK=${BENCH_WORK:-.cache/bench}
MAXLEN=${BENCH_MAX_LENGTH:-256}
WHICH=${1:-all}
[[ $# -gt 0 ]] && shift
mkdir -p "$WORK"

export_all() {  # MODEL_DIR ARTIFACTS_DIR
  local model=$1 out=$2
  local want='"model.fp16.tflite"' has_mp="" has_et=""
  "$PY" -c "import mediapipe" 2>/dev/null && has_mp=1 && want='"model.int8.mediapipe.tflite"'
  "$CLI" export --help 2>/dev/null | grep -qw executorch && has_et=1 && want='"model.int8.pte"'
  if [[ -f "$out/manifest.json" ]] && grep -q "$want" "$out/manifest.json" && grep -q '"model.fp16.tflite"' "$out/manifest.json"; then
    echo "bench: reusing $out" >&2
    return
  fi
  # every format of the registry: ONNX (+ text-in and ORT files), TFLite fp32/int8/fp16, MediaPipe, ExecuTorch
  "$CLI" export onnx "$out" --model "$model" --max-length "$MAXLEN" --overwrite
  "$CLI" quantize onnx "$out" --overwrite
  "$CLI" export tflite "$out" --model "$model" --max-length "$MAXLEN" --overwrite
  "$CLI" quantize tflite "$out" --mode dynamic --overwrite
  "$CLI" quantize tflite "$out" --mode fp16 --overwrite
  # MediaPipe's TextClassifier file has one length (128 by default), not the folder's buckets
  [[ -n $has_mp ]] && "$CLI" export mediapipe "$out" --model "$model" --overwrite
  if [[ -n $has_et ]]; then
    # the same --max-length as the folder: a different one would start a new folder (max_seq_length changes)
    "$CLI" export executorch "$out" --model "$model" --max-length "$MAXLEN" --overwrite
    "$CLI" quantize executorch "$out" --overwrite
  fi
  return 0
}

# The report calls a run "busy" when the 1-min load average at its start is high (machine.is_busy).
# Right after our own exports that load is ours, so let it decay first (at most SETTLE_S seconds).
settle() {
  local limit=${SETTLE_S:-120} waited=0
  while (( waited < limit )) && "$PY" -m albert_edge.benchmarks.machine busy; do
    (( waited == 0 )) && echo "bench: waiting up to ${limit}s for the load of the exports to settle" >&2
    sleep 5; waited=$((waited + 5))
  done
}

bench_demo() {
  local model
  model=${BENCH_DEMO_MODEL:-$("$PY" -c "from albert_edge.data import DEMO_MODEL_DIR; print(DEMO_MODEL_DIR)")}
  if [[ ! -f "$model/config.json" ]]; then
    echo "bench: demo model $model is missing (train it with \`albert-edge train\`); skipping" >&2
    return
  fi
  export_all "$model" "$WORK/demo"
  [[ -n ${BENCH_EXPORT_ONLY:-} ]] && return
  settle
  "$CLI" bench "$WORK/demo" --name albert-sst2-demo --out benchmarks/results "$@"
}

bench_base() {
  local model=$WORK/albert-base-shaped-model
  if [[ ! -f "$model/config.json" ]]; then
    "$PY" - "$model" <<'EOF'
import json, sys
from albert_edge.data import shared_path
from albert_edge.testing import make_checkpoint
cfg_path, spm = shared_path("configs", "albert-base-v2.json"), shared_path("tokenizers", "albert-base-v2")
if cfg_path is None or spm is None:
    sys.exit("bench: ../shared/configs/albert-base-v2.json and tokenizers/albert-base-v2 are needed for the ALBERT-base-shaped model")
cfg = json.loads(cfg_path.read_text())
keys = ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers", "num_hidden_groups", "inner_group_num",
        "num_attention_heads", "intermediate_size", "max_position_embeddings", "hidden_act")
make_checkpoint(sys.argv[1], spm, init_std=0.02, trained_looking=True, **{k: cfg[k] for k in keys if k in cfg})
EOF
  fi
  export_all "$model" "$WORK/albert-base-shaped-artifacts"
  [[ -n ${BENCH_EXPORT_ONLY:-} ]] && return
  settle
  # ALBERT-base is ~40x the demo model's compute: a larger default budget (later options win).
  "$CLI" bench "$WORK/albert-base-shaped-artifacts" --model "$model" --name albert-base-shaped --budget-s "${BENCH_BASE_BUDGET_S:-900}" --out benchmarks/results "$@"
}

case "$WHICH" in
  all) bench_demo "$@"; bench_base "$@" ;;
  demo) bench_demo "$@" ;;
  base) bench_base "$@" ;;
  *) echo "usage: $0 [all|demo|base] [albert-edge bench options]" >&2; exit 2 ;;
esac
