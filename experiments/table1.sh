#!/bin/bash
# The paper's Table 1 on our corpus: the same GPT (configs/default/gpt.yaml: 6 x 5 x 320) trained for the
# same budget (400 steps x 16 crops, seed 0: identical initialisation and data order) under seven text
# conditions, then scored in the mel domain on a seeded random sample of 400 test items (5 s each).
#
#   experiments/table1.sh CORPUS RUNS OUT
#
# CORPUS: corpus folder; RUNS: a finished `vividsound train-default` output (its VQGAN, CLAP text tower,
# tagger, CLAP and cache are reused); OUT: where the seven GPT runs and their reports go. Every step
# skips what is already done, so the script can be run again after an interruption.
# CAPTIONER=DIR (a trained captioner component) adds the CIDEr-D column.
# MPNet needs the reassembled all-mpnet-base-v2: `python -m vividsound.models.mpnet` (see docs/TRAINING.md).
set -euo pipefail
CORPUS=$1; RUNS=$2; OUT=$3
STEPS=${STEPS:-400}
mkdir -p "$OUT"
train() {  # name, then --set overrides
  local name=$1; shift
  [ -f "$OUT/$name/DONE" ] && return 0
  local res=""; [ -f "$OUT/$name/checkpoints/last/state.pt" ] && res="--resume"
  vividsound train gpt --config configs/default/gpt.yaml --out "$OUT/$name" $res \
    --set data.manifest="$CORPUS/manifest.jsonl" --set data.cache_dir="$RUNS/cache" \
    --set vqgan="$RUNS/vqgan/export/vqgan" --set train.steps=$STEPS --set train.warmup_steps=100 \
    --set train.val_every=$STEPS --set train.ckpt_every=100 --set export.name="ablation-$name" "$@"
}
CLAP=(--set text.encoder=clap --set text.path="$RUNS/clap/export/text_encoder")
train none     --set text.encoder=minilm --set text.mode=none
train minilm1  --set text.encoder=minilm --set text.mode=pooled
train minilm30 --set text.encoder=minilm --set text.mode=sequence
train mpnet1   --set text.encoder=mpnet --set text.mode=pooled
train mpnet30  --set text.encoder=mpnet --set text.mode=sequence
train clap1    "${CLAP[@]}" --set text.mode=pooled
train clap30   "${CLAP[@]}" --set text.mode=sequence
for c in none minilm1 minilm30 mpnet1 mpnet30 clap1 clap30; do
  [ -f "$OUT/report-$c/report.json" ] && continue
  vividsound evaluate --model "$OUT/$c/export" --corpus "$CORPUS" --split test --sample 400 --duration 5 \
    --batch-size 16 --domain mel --no-aisfx --tagger "$RUNS/tagger/export/tagger" \
    --clap "$RUNS/clap/export/clap" ${CAPTIONER:+--captioner "$CAPTIONER"} --no-progress --out "$OUT/report-$c"
done
python -m vividsound.eval.compare --original \
  "No Feat=$OUT/report-none" "MiniLM 1 Feat=$OUT/report-minilm1" "MiniLM 30 Feats=$OUT/report-minilm30" \
  "MPNet 1 Feat=$OUT/report-mpnet1" "MPNet 30 Feats=$OUT/report-mpnet30" \
  "CLAP 1 Feat=$OUT/report-clap1" "CLAP 30 Feats=$OUT/report-clap30" --metrics psnr,fd_tagger,mmkl,is_tagger,clap_score,class_relevance,cider_d --out "$OUT/table1.md"
