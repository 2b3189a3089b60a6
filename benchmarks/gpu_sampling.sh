#!/usr/bin/env bash
# GPU sampling table for issue 7, in one go (about 4-5 minutes on an H100/H200).
#
#   bash benchmarks/gpu_sampling.sh            # from the repository root, with the venv active
#   OUT_DIR=$OUT bash benchmarks/gpu_sampling.sh   # on a lent machine: results come back under $OUT
#
# Paper-size GPT (24 x 16 x 1024, 305 M parameters, random weights), 270 tokens = one 10 s clip,
# top-k 512: naive loop (batch 1, 8 in fp32; 1 in bf16), Hugging Face GPT-2 generate, ours and the
# inverse-CDF candidate (batch 1, 8, 64), fp32 and bf16 weights. Then the small config, fp32.
# Not needed by any test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
OUT_DIR=${OUT_DIR:-benchmarks/results}
mkdir -p "$OUT_DIR"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
day=$(date -u +%Y-%m-%d)
gpu=$(python -c "import torch; n=torch.cuda.get_device_name(0).lower(); print(''.join(c if c.isalnum() else '-' for c in n).strip('-'))")
# Each step has its own time limit (worst case 150 + 120 + 40 s), so one slow step cannot eat the
# lease; every step's log is kept even if its table is not written.
run() {  # name, limit, args...
    local name=$1 limit=$2; shift 2
    timeout "$limit" python benchmarks/sampling.py --device cuda "$@" --out "$OUT_DIR/sampling-$gpu-$name-$day.md" \
        2>&1 | tee "$OUT_DIR/sampling-$gpu-$name-$day.log" || echo "step $name failed or timed out"
}
run paper-fp32 150 --config paper --dtypes fp32 --batch-sizes 1,8,64 --repeats 2 --naive-max-batch 8 --candidates icdf
run paper-bf16 120 --config paper --dtypes bf16 --batch-sizes 1,8,64 --repeats 2 --naive-max-batch 1 --candidates icdf
run small-fp32 40 --config small --dtypes fp32 --batch-sizes 1,64 --repeats 2 --naive-max-batch 1 --no-hf
