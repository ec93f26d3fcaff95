#!/usr/bin/env bash
# Set up audioqual and run the main job on generated example audio.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
OUT=${AUDIOQUAL_QUICKSTART_DIR:-runs/quickstart}
.venv/bin/python -m audioqual.examples "$OUT"
