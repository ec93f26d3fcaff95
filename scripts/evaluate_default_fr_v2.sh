#!/usr/bin/env bash
# The model card's tables (docs/model_card_default_fr_v2.md): score both development listening tests with the
# default model, v1 and the classical metrics, then evaluate. Every scoring job is journalled (reruns resume).
#   bash scripts/evaluate_default_fr_v2.sh [OUT=runs/v2] [METRICS="visqol visqol-speech twof peaq dnsmos cdpam haaqi"]
# HAAQI and CDPAM are slow (about 10 s a pair; 3 s per audio-second): drop them from METRICS for a quick run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/v2}
METRICS=${2:-visqol visqol-speech twof peaq dnsmos cdpam haaqi}
PY=${PYTHON:-.venv/bin/python}
DATA=${AUDIOQUAL_SHARED_DATA:-../shared/data}
mkdir -p "$OUT"
for test in gensvs tcdvoip; do
  manifest=$DATA/dev_listening/manifest.csv
  [ $test = tcdvoip ] && manifest=$DATA/dev_listening_tcdvoip/manifest.csv
  specs=()
  for model in default default-v1; do
    "$PY" -m audioqual.cli.main compare --model $model --manifest "$manifest" -o "$OUT/${test}_$model.csv" || true
    specs+=("$model=$OUT/${test}_$model.csv:score")
  done
  [ $test = gensvs ] && specs+=("default_cross_validated=audioqual/models/default_fr_v2/cross_validation.csv:score_cross_validated")
  for metric in $METRICS; do
    [ $metric = visqol-speech ] && [ $test = gensvs ] && continue
    "$PY" -m audioqual.cli.main metric $metric --manifest "$manifest" -o "$OUT/${test}_$metric.csv" --workers 2 || true
    specs+=("$metric=$OUT/${test}_$metric.csv")
  done
  "$PY" -m audioqual.cli.main evaluate --manifest "$manifest" --predictions "${specs[@]}" -o "$OUT/eval_$test" \
      --statistics PCC SRCC --mapping cubic --bootstrap 1000
done
echo "tables: $OUT/eval_gensvs $OUT/eval_tcdvoip"
