#!/usr/bin/env bash
# Fine-tune the default VQGAN's decoder adversarially on a lent GPU, from a mel pack (no corpus there).
# The encoder and codebook stay frozen (train_parts: decoder), so every code grid, and the GPT trained on
# them, keeps its meaning; the decoder trains with L1 + the patch discriminator from step 0 (no
# perceptual loss: its tagger would be an in-house judge trained on our corpus).
#
# Here (the machine with the corpus), once:
#   vividsound train vqgan --config configs/default/recipe.yaml#vqgan_decoder --out runs/melpack \
#       --set data.manifest=corpus/manifest.jsonl --write-pack .bench/decoder/mels.npz --pack-mb 56
# On the GPU machine (carry .bench/decoder; results come back under $OUT):
#   OUT_DIR=$OUT MINUTES=8 bash experiments/gpu_train_decoder.sh
# Another sitting continues from the returned weights: INIT=path/to/vqgan (a returned run's vqgan folder;
# the discriminator starts afresh, the optimiser state is not carried: a 16 MiB file limit per result).
# RUNS lists "name:KEY=VALUE ..." overrides separated by ';' (default: two learning rates side by side).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
OUT_DIR=${OUT_DIR:-runs/gpu-decoder}
BUNDLE=${BUNDLE:-.bench/decoder}
MINUTES=${MINUTES:-8}
INIT=${INIT:-src/vividsound/default_model/vqgan}
DEVICE=${DEVICE:-cuda}  # cpu: a smoke test of this script on tiny settings
RUNS=${RUNS:-"lr1:train.lr=0.0001;lr2:train.lr=0.0002 loss.disc_weight=0.5"}
PY=${PYTHON:-$(command -v python3 || command -v python)}
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
work=$(mktemp -d)
limit=$(awk "BEGIN { print int($MINUTES * 60 + ${SLACK:-120}) }")  # room for setup, the last validation and the export
pids=()
IFS=';' read -ra specs <<< "$RUNS"
for spec in "${specs[@]}"; do
    name=${spec%%:*}
    sets=()
    for kv in ${spec#*:}; do sets+=(--set "$kv"); done
    mkdir -p "$OUT_DIR/$name"
    timeout "$limit" "$PY" -m vividsound train vqgan --config configs/default/recipe.yaml#vqgan_decoder \
        --out "$work/$name" --set pack="$BUNDLE/mels.npz" --set init_from="$INIT" --set train_parts=decoder \
        --set loss.perceptual_weight=0 --set loss.disc_start=0 --set train.device="$DEVICE" \
        --set train.steps=1000000 --set train.max_minutes="$MINUTES" --set train.batch_size=32 --set train.warmup_steps=50 \
        --set train.val_every=500 --set train.ckpt_every=500 --set train.progress=false "${sets[@]}" \
        > "$OUT_DIR/$name/train.log" 2>&1 &
    pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
for spec in "${specs[@]}"; do
    name=${spec%%:*}
    tail -n 3 "$OUT_DIR/$name/train.log"
    # the last step's decoder (not the lowest validation L1: the adversarial term trades L1 for detail, which
    # experiments/decoder_detail.py and the prompt set judge here afterwards), fp16, with the discriminator,
    # metrics and log in one tar
    "$PY" - "$work/$name" "$OUT_DIR/$name" <<'PYEOF' || rc=1
import json, shutil, sys, torch
from pathlib import Path
from vividsound.checkpoint import load_component, save_component
run, out = Path(sys.argv[1]), Path(sys.argv[2])
done = json.loads((run / "DONE").read_text())
for comp, cls in (("vqgan", "VQGAN"), ("discriminator", "PatchDiscriminator")):
    save_component(load_component(run / "export" / comp, cls), out / comp, dtype=torch.float16,
                   extra={"step": done["step"]})
shutil.copy(run / "metrics.jsonl", out / "metrics.jsonl")
print(f"{run.name}: kept the last step, {done['step']}")
PYEOF
    tar -C "$OUT_DIR" -cf "$OUT_DIR/$name.tar" "$name" && rm -rf "${OUT_DIR:?}/$name"
done
ls -l "$OUT_DIR"
exit $rc
