#!/bin/bash
# The model card's comparison: a model against the No-Feat model and the retrieval baseline.
#
#   experiments/default_vs_baselines.sh MODEL NOFEAT RUNS CORPUS PROBES OUT
#
# MODEL: the pipeline folder to score (e.g. src/vividsound/default_model); NOFEAT: a No-Feat pipeline
# (text.mode=none, same recipe); RUNS: the train-default output (its tagger and CLAP score the clips);
# CORPUS: corpus folder; PROBES: probe folder; OUT: where the reports and tables go.
# Environment: SAMPLE (test items, default 400), DUR (seconds per item, default 5), PER (probes per type,
# default 30), PDUR (seconds per probe, default 10), CFG (guidance scale, default 1), VOCODER (replace the
# model's vocoder for the probes, e.g. griffinlim for a fast screen). Every step skips a finished report,
# so the script can be run again.
#
# 1. mel domain on a seeded random sample of the test split (FD, MMKL, CLAP score, class relevance);
# 2. the probe set in the waveform domain (the model's vocoder), every probe PDUR seconds long, with its controls;
# 3. two tables: OUT/items.md and OUT/probes.md.
set -euo pipefail
MODEL=$1; NOFEAT=$2; RUNS=$3; CORPUS=$4; PROBES=$5; OUT=$6
SAMPLE=${SAMPLE:-400}; DUR=${DUR:-5}; PER=${PER:-30}; PDUR=${PDUR:-10}; CFG=${CFG:-1}
VOC=(); [ -n "${VOCODER:-}" ] && VOC=(--vocoder "$VOCODER")
mkdir -p "$OUT"
HELP=(--tagger "$RUNS/tagger/export/tagger" --clap "$RUNS/clap/export/clap")
items() {  # name, model, extra args
  [ -f "$OUT/items-$1/report.json" ] && return 0
  vividsound evaluate --model "$2" --corpus "$CORPUS" --split test --sample "$SAMPLE" --duration "$DUR" \
    --cfg-scale "$CFG" --batch-size 16 --domain mel --no-aisfx "${HELP[@]}" --no-progress --out "$OUT/items-$1" "${@:3}"
}
probes() {  # name, model, extra args
  [ -f "$OUT/probes-$1/report.json" ] && return 0
  vividsound evaluate --model "$2" --probes "$PROBES" --probes-only --probes-per-type "$PER" --probe-duration "$PDUR" \
    --cfg-scale "$CFG" --batch-size 10 "${VOC[@]}" --no-progress --out "$OUT/probes-$1" "${@:3}"
}
items model "$MODEL"
items nofeat "$NOFEAT"
items retrieval "$MODEL" --retrieval
probes model "$MODEL"
probes nofeat "$NOFEAT"
probes retrieval "$MODEL" --retrieval --corpus "$CORPUS"
python -m vividsound.eval.compare --original model="$OUT/items-model" nofeat="$OUT/items-nofeat" \
  retrieval="$OUT/items-retrieval" --metrics psnr,fd_tagger,mmkl,is_tagger,clap_score,class_relevance --out "$OUT/items.md"
python -m vividsound.eval.compare --original --probes model="$OUT/probes-model" nofeat="$OUT/probes-nofeat" \
  retrieval="$OUT/probes-retrieval" --out "$OUT/probes.md"
