#!/usr/bin/env bash
# Rebuild the packaged default full-reference model v2 (audioqual/models/default_fr_v2, NSIM fusion) from the
# GenSVS listening test's ratings: measure its 60 pairs, choose the ridge strength by leave-one-excerpt-out
# cross-validation, fit, write fusion.json and cross_validation.csv (docs/model_card_default_fr_v2.md).
#   bash scripts/train_default_model_v2.sh [MANIFEST=../shared/data/dev_listening/manifest.csv] [MODEL_DIR]
# About 15 s on 2 cores; deterministic (no random step); rerunning redoes the whole fit.
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFEST=${1:-../shared/data/dev_listening/manifest.csv}
MODEL_DIR=${2:-audioqual/models/default_fr_v2}
PY=${PYTHON:-.venv/bin/python}
"$PY" -m audioqual.cli.main train fusion --manifest "$MANIFEST" -o "$MODEL_DIR"
