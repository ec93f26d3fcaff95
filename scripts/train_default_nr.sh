#!/usr/bin/env bash
# Rebuild the shipped no-reference default (audioqual/models/default_nr) from nothing but offline tools:
# render clean audio of five domains, degrade it, compute surrogate targets, train MultiGauss with DAT-Source
# on the resemblyzer encoder (configs/nr_default.yaml), export to ONNX and check the export against torch.
#   bash scripts/train_default_nr.sh [OUT_DIR=runs/nr_default] [MODEL_DIR=audioqual/models/default_nr]
# Environment: PYTHON (default .venv/bin/python), THREADS (default 2). Every step resumes when re-run
# (rendered and degraded sources, the feature cache, the training checkpoint). About 35 min on 2 cores.
# Needs: fluidsynth, fluid-soundfont-gm, espeak-ng, ffmpeg (apt), music21 and onnx (pip); see scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/nr_default}
MODEL_DIR=${2:-audioqual/models/default_nr}
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${THREADS:-2} AUDIOQUAL_CACHE=${AUDIOQUAL_CACHE:-$OUT/cache}
start=$(date +%s)
step() { echo "== [$(( $(date +%s) - start )) s] $*"; }

step "1/4 render 24 sources per domain (singing stems, speech, instrumental, environment, generated) and degrade"
"$PY" -m audioqual.cli.shipped_models trainset --seed 7 "$OUT/set" stem_pairs=24 speech=24 music=24 \
    environment=24 generated=24 max_clips_per_source=4 conditions_per_clip=6

step "2/4 surrogate targets (audioqual.nr.surrogates) and train / valid / test manifests"
"$PY" -m audioqual.cli.shipped_models nr-labels "$OUT/set" "$OUT"

step "3/4 MultiGauss + DAT-Source on resemblyzer (configs/nr_default.yaml)"
"$PY" -m audioqual.cli.main train nr --config configs/nr_default.yaml "data.train=$OUT/train.jsonl" \
    "data.valid=$OUT/valid.jsonl" "output_dir=$OUT/train"

step "4/4 export to ONNX, check it against torch on test clips, write $MODEL_DIR"
"$PY" -m audioqual.cli.shipped_models nr-export "$OUT/train/model" "$MODEL_DIR" --check "$OUT/test.jsonl"
step "done"
