#!/usr/bin/env bash
# Score a listening test with every metric and the default DeePAQ model, then evaluate and report.
# Usage: bash scripts/evaluate_listening_test.sh [MANIFEST.csv] [OUT_DIR] [METRIC ...]
#   default manifest: ../shared/data/dev_listening/manifest.csv; default out: runs/listening
#   default metrics:  deepaq visqol peaq twof haaqi  (haaqi takes ~10 min for 60 pairs on 2 cores)
# Each scoring job is journalled: re-running resumes and skips finished pairs.
set -euo pipefail
cd "$(dirname "$0")/.."
MANIFEST=${1:-../shared/data/dev_listening/manifest.csv}
OUT=${2:-runs/listening}
shift $(( $# > 2 ? 2 : $# ))
METRICS=${*:-deepaq visqol peaq twof haaqi}
PY=${PYTHON:-.venv/bin/python}
WORKERS=${WORKERS:-2}
mkdir -p "$OUT/scores"
specs=()
for metric in $METRICS; do
  csv="$OUT/scores/$metric.csv"
  if [ "$metric" = deepaq ]; then
    "$PY" -m audioqual.cli.main compare --manifest "$MANIFEST" -o "$csv" || echo "deepaq: some rows failed (see $csv)"
    specs+=("deepaq=$csv:score")
  else
    "$PY" -m audioqual.cli.main metric "$metric" --manifest "$MANIFEST" -o "$csv" --workers "$WORKERS" \
      || echo "$metric: some pairs failed (see $csv)"
    specs+=("$metric=$csv")
  fi
done
# Metrics live on different scales: a cubic mapping per metric makes PCC and MSE comparable (ranks are unaffected).
"$PY" -m audioqual.cli.main evaluate --manifest "$MANIFEST" --predictions "${specs[@]}" -o "$OUT/eval" --mapping cubic
"$PY" -m audioqual.cli.main report "$OUT/eval" -o "$OUT/report.html"
echo "tables: $OUT/eval   report: $OUT/report.html"
