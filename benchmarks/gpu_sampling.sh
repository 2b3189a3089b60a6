#!/usr/bin/env bash
# GPU sampling table for issue 7, in one go (about 4-5 minutes on an H100/H200).
#
#   bash benchmarks/gpu_sampling.sh            # from the repository root, with the venv active
#   OUT_DIR=$OUT bash benchmarks/gpu_sampling.sh   # on a lent machine: results come back under $OUT
#
# Paper-size GPT (24 x 16 x 1024, 305 M parameters, random weights), 270 tokens = one 10 s clip,
# top-k 512: naive loop (batch 1, 8), Hugging Face GPT-2 generate and ours (batch 1, 8, 64), in fp32
# and with bf16 weights. Then the default-size (small) config on the same GPU, fp32 only.
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
# each step has its own time limit so that one slow step cannot eat the whole lease
timeout 240 python benchmarks/sampling.py --device cuda --config paper --dtypes fp32,bf16 \
    --batch-sizes 1,8,64 --repeats 3 --naive-max-batch 8 --candidates icdf --out "$OUT_DIR/sampling-$gpu-paper-$day.md" \
    2>&1 | tee "$OUT_DIR/sampling-$gpu-paper-$day.log"
timeout 90 python benchmarks/sampling.py --device cuda --config small --dtypes fp32 \
    --batch-sizes 1,8,64 --repeats 3 --naive-max-batch 8 --out "$OUT_DIR/sampling-$gpu-small-$day.md" \
    2>&1 | tee "$OUT_DIR/sampling-$gpu-small-$day.log" || echo "small-config run failed or timed out"
