#!/usr/bin/env bash
# Set up audioqual and run the main job: the packaged default full-reference model on the bundled examples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/main_job.sh "${AUDIOQUAL_QUICKSTART_DIR:-runs/main_job}"
