#!/usr/bin/env bash
# The main job on the bundled examples: full-reference quality of degraded files against their reference
# with the packaged default model (offline, no downloads; docs/model_card_default_fr_v2.md).
# No set-up here: scripts/quickstart.sh runs scripts/setup.sh first.
# Output: one JSON line per test file on stdout (score: 1-5, higher is better; distance: larger = more
# degraded; interference_db / distortion_db: what kind of damage), and OUT/scores.csv for the manifest run.   Usage: bash scripts/main_job.sh [OUT=runs/main_job]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
EX=audioqual/models/examples
OUT=${1:-runs/main_job}
export HF_HUB_OFFLINE=1
mkdir -p "$OUT"

echo "== audioqual compare --ref $EX/reference.flac  (the reference itself first, for scale)"
"$PY" -m audioqual.cli.main compare --ref "$EX/reference.flac" "$EX/reference.flac" "$EX/mp3_32k.flac" \
    "$EX/bleed_5db.flac" "$EX/separated_noisy_mask.flac"

echo "== audioqual compare --manifest $EX/pairs.csv -o $OUT/scores.csv"
"$PY" -m audioqual.cli.main compare --manifest "$EX/pairs.csv" -o "$OUT/scores.csv"
cat "$OUT/scores.csv"

echo "== audioqual score $EX/*.flac -o $OUT/no_reference.csv  (no reference: the shipped no-reference default;"
echo "   surrogate-trained, weak on real ratings: docs/model_card_default_nr.md)"
"$PY" -m audioqual.cli.main score "$EX"/*.flac -o "$OUT/no_reference.csv" -q
cat "$OUT/no_reference.csv"
