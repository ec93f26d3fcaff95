#!/usr/bin/env bash
# Rebuild the packaged default full-reference model (audioqual/models/default_fr) from nothing but offline
# tools: render clean audio, degrade it, label it with ViSQOL, train the encoder's convolutional front end
# (log-mel regression), train DeePAQ on top of it, fit the distance -> MOS mapping.
#   bash scripts/train_default_model.sh [OUT_DIR=runs/default_fr] [MODEL_DIR=audioqual/models/default_fr]
# Environment: SEED (default 0), PYTHON (default .venv/bin/python), THREADS (torch threads, default 2).
# Every step resumes when re-run (rendered audio, degraded sources, labels and the training checkpoint are
# reused). Wall time on the 2-core development machine: see docs/model_card_default_fr.md (about 75 min).
# Needs: fluidsynth, fluid-soundfont-gm, espeak-ng (apt), music21 and visqol-python (pip); see scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/default_fr}
MODEL_DIR=${2:-audioqual/models/default_fr}
SEED=${SEED:-0}
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${THREADS:-2} HF_HUB_OFFLINE=1
start=$(date +%s)
step() { echo "== [$(( $(date +%s) - start )) s] $*"; }

step "1/5 render clean audio and degrade it -> $OUT/data/manifest.jsonl"
"$PY" -m audioqual.cli.shipped_models trainset "$OUT/data" --seed "$SEED"

step "2/5 ViSQOL v3 labels (audio mode, 2 worker processes)"
OMP_NUM_THREADS=1 "$PY" -m audioqual.cli.main label "$OUT/data/manifest.jsonl" --label-workers 2

step "3/5 stage 1: train the convolutional encoder on log-mel regression (configs/default_fr_frontend.yaml)"
if [ ! -f "$OUT/frontend/frontend_training.json" ]; then
  "$PY" -m audioqual.cli.shipped_models frontend --config configs/default_fr_frontend.yaml \
      "train_manifest=$OUT/data/manifest_labelled.jsonl" "output_dir=$OUT/frontend" "seed=$SEED" --no-progress
fi

step "4/5 stage 2: DeePAQ Rank-N-Contrast training (configs/default_fr.yaml, seed $SEED)"
"$PY" -m audioqual.cli.main -v train deepaq --config configs/default_fr.yaml "model.backbone=$OUT/frontend" \
    "data.train_manifest=$OUT/data/manifest_labelled.jsonl" "train.output_dir=$OUT/train" "train.seed=$SEED" \
    --no-progress

step "5/5 fit the distance -> MOS mapping on the held-out splits, write $MODEL_DIR"
"$PY" -m audioqual.cli.shipped_models export --checkpoint "$OUT/train/best" \
    --manifest "$OUT/data/manifest_labelled.jsonl" --out "$MODEL_DIR"
step "done"
