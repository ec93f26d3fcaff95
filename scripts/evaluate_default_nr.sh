#!/usr/bin/env bash
# The no-reference model card's tables (docs/model_card_default_nr.md): score both development listening tests with
# the shipped no-reference default, DNSMOS and DistillMOS (no reference), and - for context - the full-reference
# ViSQOL, PEAQ and 2f-model on the same items, then evaluate with bootstrap CIs. Scoring jobs resume when re-run.
#   bash scripts/evaluate_default_nr.sh [OUT=runs/nr_eval]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/nr_eval}
PY=${PYTHON:-.venv/bin/python}
DATA=${AUDIOQUAL_SHARED_DATA:-../shared/data}
mkdir -p "$OUT"
for test in gensvs tcdvoip; do
  manifest=$DATA/dev_listening/manifest.csv
  fr=visqol,peaq,twof
  if [ $test = tcdvoip ]; then manifest=$DATA/dev_listening_tcdvoip/manifest.csv; fr=visqol,visqol-speech,peaq,twof; fi
  "$PY" -m audioqual.cli.main metric default-nr,dnsmos,distillmos --manifest "$manifest" -o "$OUT/${test}_nr.csv"
  "$PY" -m audioqual.cli.main metric $fr --manifest "$manifest" -o "$OUT/${test}_fr.csv" --workers 2 || true
  specs=("default-nr=$OUT/${test}_nr.csv:default_nr_overall" "dnsmos=$OUT/${test}_nr.csv:dnsmos_ovrl"
         "distillmos=$OUT/${test}_nr.csv:distillmos" "visqol=$OUT/${test}_fr.csv:visqol_moslqo"
         "peaq=$OUT/${test}_fr.csv:peaq_odg" "twof=$OUT/${test}_fr.csv:twof_mms")
  [ $test = tcdvoip ] && specs+=("visqol-speech=$OUT/${test}_fr.csv:visqol-speech_visqol_moslqo")
  "$PY" -m audioqual.cli.main evaluate --manifest "$manifest" --predictions "${specs[@]}" -o "$OUT/eval_$test" \
      --statistics PCC SRCC --mapping cubic --bootstrap 1000
done
echo "tables: $OUT/eval_gensvs $OUT/eval_tcdvoip"
