"""Locating the external programs and data the offline renderers need, with clear errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from audioqual.errors import AudioqualError

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",
)


class SynthToolMissing(AudioqualError):
    """A program, data file or package that rendering needs is not installed."""


def fluidsynth_executable() -> str:
    """Path of the fluidsynth program (AUDIOQUAL_FLUIDSYNTH overrides)."""
    return _program("AUDIOQUAL_FLUIDSYNTH", "fluidsynth", "apt-get install -y fluidsynth")


def espeak_executable() -> str:
    """Path of the espeak-ng program (AUDIOQUAL_ESPEAK overrides)."""
    return _program("AUDIOQUAL_ESPEAK", "espeak-ng", "apt-get install -y espeak-ng")


def soundfont_path() -> Path:
    """A General MIDI soundfont: AUDIOQUAL_SOUNDFONT, else Debian's fluid-soundfont-gm."""
    override = os.environ.get("AUDIOQUAL_SOUNDFONT")
    if override:
        if not Path(override).is_file():
            raise SynthToolMissing(f"AUDIOQUAL_SOUNDFONT={override} is not a file")
        return Path(override)
    for candidate in SOUNDFONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise SynthToolMissing(
        "no General MIDI soundfont found (looked in "
        + ", ".join(SOUNDFONT_CANDIDATES)
        + "); install one with `apt-get install -y fluid-soundfont-gm` or set AUDIOQUAL_SOUNDFONT"
    )


def require_music21() -> None:
    """Raise SynthToolMissing unless music21 can be imported."""
    try:
        import music21  # noqa: F401
    except ImportError as err:
        raise SynthToolMissing("music rendering needs music21: `pip install music21`") from err


def _program(env: str, name: str, install: str) -> str:
    override = os.environ.get(env)
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise SynthToolMissing(f"{env}={override} is not an executable file")
        return override
    found = shutil.which(name)
    if not found:
        raise SynthToolMissing(f"{name} not found on PATH; install it with `{install}` or set {env}")
    return found
