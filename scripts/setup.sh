#!/usr/bin/env bash
# Set up audioqual on a fresh Debian machine: system tools (best effort), a venv, CPU torch, the package.
# Usage: bash scripts/setup.sh            (idempotent; re-running only installs what is missing)
#        AUDIOQUAL_NO_APT=1 bash scripts/setup.sh   to skip Debian packages
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
APT_PACKAGES="ffmpeg fluidsynth fluid-soundfont-gm espeak-ng chromium"

if [ -z "${AUDIOQUAL_NO_APT:-}" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  for pkg in $APT_PACKAGES; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
  if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
      || echo "setup: warning: apt-get failed; ffmpeg falls back to the imageio-ffmpeg wheel, and tests needing the rest skip"
  fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
# torch is pinned to the CPU build first, so nothing else can pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q -c constraints.txt torch 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q -c constraints.txt -e ".[dev,ray,haaqi,dnsmos,visqol,synth,analysis]" 2>&1 | grep -v '^WARNING: Location' || true
# Optional metrics (and Meta's aesthetics code, the oracle of a faithfulness test) whose declared
# dependencies we do not want (torchaudio, librosa): data and code only.
.venv/bin/python -m pip install -q --no-deps -c constraints.txt "pyclarity>=0.9" "speechmos>=0.0.1" "cdpam>=0.0.6" "audiobox_aesthetics==0.0.4" \
  2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c "import audioqual, torch; print(f'setup: audioqual {audioqual.__version__}, torch {torch.__version__} ready in .venv')"
