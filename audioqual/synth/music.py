"""Clean music rendered offline: music21's bundled scores -> MIDI -> fluidsynth with a GM soundfont.

Parts are re-assigned to violin, flute, trumpet and harpsichord, whose General
MIDI samples reach ~19 kHz (the piano-like defaults stop near 12 kHz), so codec
band limits and high-frequency artefacts have something to act on.
"""

from __future__ import annotations

import logging
import random
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import soundfile as sf

from audioqual.errors import AudioqualError
from audioqual.io import save_audio
from audioqual.synth.common import RenderedItem, finish
from audioqual.synth.tools import fluidsynth_executable, require_music21, soundfont_path

log = logging.getLogger(__name__)

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")
PALETTE = ("Violin", "Flute", "Trumpet", "Harpsichord")
RENDER_RATE = 48000
RENDER_TIMEOUT = 120
"""Seconds a fluidsynth render may take. Renders take 1-2 s; a few corpus files (e.g.
schumann_clara/polonaise_op1n4.mxl) give MIDI that fluidsynth never finishes, writing
gigabytes per minute, so such a piece is skipped."""
HELD_OUT_PIECES = ("bach/bwv66.6",)
"""Never drawn at random (only rendered when named): the piece of the bundled examples and of the
tests, so rendered training sets never contain it."""
T = TypeVar("T")


def corpus_scores() -> list[str]:
    """Corpus-relative paths of music21's bundled scores that render to notes (not analyses)."""
    require_music21()
    from music21 import corpus

    root = None
    paths = []
    for path in corpus.getPaths():
        path = Path(path)
        if path.suffix.lower() not in SCORE_SUFFIXES:
            continue
        root = root or _corpus_root(path)
        paths.append(path.relative_to(root).as_posix())
    return sorted(paths)


def render_music(
    count: int,
    out_dir: str | Path,
    seed: int = 0,
    max_seconds: float = 30.0,
    min_seconds: float = 8.0,
    pieces: list[str] | None = None,
) -> list[RenderedItem]:
    """Render `count` corpus pieces (seeded choice, or the given corpus paths) to 48 kHz stereo WAVs.

    Each file starts at the first note, is cut to `max_seconds` and peak-normalised to
    -1 dBFS. Pieces that fail to parse or are shorter than `min_seconds` are skipped.
    """
    require_music21()
    synth = fluidsynth_executable()
    font = soundfont_path()
    out_dir = Path(out_dir)

    def render(name: str, index: int) -> RenderedItem:
        rotation = random.Random(f"{seed}:{name}").randrange(len(PALETTE))
        return _render_piece(name, out_dir, index, synth, font, rotation, max_seconds, min_seconds)

    return render_first(count, seeded_candidates(seed, pieces), render, "music pieces")


def seeded_candidates(seed: int, pieces: list[str] | None = None) -> list[str]:
    """The given corpus paths in order, or every corpus score but HELD_OUT_PIECES in a seeded shuffle."""
    if pieces:
        return list(pieces)
    candidates = corpus_scores()
    random.Random(seed).shuffle(candidates)
    return [c for c in candidates if c.rsplit(".", 1)[0] not in HELD_OUT_PIECES]


def render_first(count: int, candidates: list[str], render: Callable[[str, int], T], what: str) -> list[T]:
    """`render(name, index)` over candidates until `count` succeed; a piece that raises AudioqualError is skipped.

    Gives up after 10 * count + 10 attempts, so a corpus of unusable pieces fails with a clear error.
    """
    items: list[T] = []
    for attempt, name in enumerate(candidates):
        if len(items) >= count or attempt >= 10 * count + 10:
            break
        try:
            items.append(render(name, len(items)))
        except AudioqualError as err:
            log.info("skipping %s: %s", name, err)
    if len(items) < count:
        raise AudioqualError(f"rendered only {len(items)} of {count} {what} (see log for skipped ones)")
    return items


def parse_score(name: str) -> Any:
    """A music21 corpus score (the first score of an opus); AudioqualError when it cannot be parsed."""
    from music21 import corpus, stream

    try:
        score = corpus.parse(name)
    except Exception as err:  # noqa: BLE001 - music21 raises many types for odd corpus files
        raise AudioqualError(f"music21 cannot parse {name}: {err}") from err
    if isinstance(score, stream.Opus):
        if not score.scores:
            raise AudioqualError(f"{name} is an empty opus")
        score = score.scores[0]
    return score


def render_midi(score: Any, synth: str, font: Path, name: str, timeout: float = RENDER_TIMEOUT) -> np.ndarray:
    """A music21 score rendered by fluidsynth through MIDI: float32 (channels, frames) at RENDER_RATE."""
    with tempfile.TemporaryDirectory(prefix="audioqual-render-") as tmp:
        midi, raw = Path(tmp) / "score.mid", Path(tmp) / "render.wav"
        try:
            score.write("midi", fp=str(midi))
        except Exception as err:  # noqa: BLE001
            raise AudioqualError(f"music21 cannot write MIDI for {name}: {err}") from err
        command = [synth, "-ni", "-q", "-g", "0.5", "-r", str(RENDER_RATE), "-T", "wav", "-O", "float",
                   "-F", str(raw), str(font), str(midi)]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as err:
            raise AudioqualError(f"fluidsynth did not finish {name} within {timeout:g} s") from err
        if result.returncode != 0 or not raw.exists():
            raise AudioqualError(f"fluidsynth failed on {name}: {(result.stderr or '').strip()[-300:]}")
        audio, _ = sf.read(str(raw), dtype="float32", always_2d=True)
    return audio.T


def _render_piece(
    name: str, out_dir: Path, index: int, synth: str, font: Path, rotation: int, max_seconds: float,
    min_seconds: float,
) -> RenderedItem:
    from music21 import instrument

    score = parse_score(name)
    parts = list(score.parts) or [score]
    if not any(p.recurse().notes for p in parts):
        raise AudioqualError(f"{name} has no notes")
    assigned = []
    for i, part in enumerate(parts):
        for old in list(part.recurse().getElementsByClass(instrument.Instrument)):
            old.activeSite.remove(old)
        chosen = PALETTE[(i + rotation) % len(PALETTE)]
        part.insert(0, getattr(instrument, chosen)())
        assigned.append(chosen.lower())
    audio = finish(render_midi(score, synth, font, name), RENDER_RATE, max_seconds)
    seconds = audio.shape[1] / RENDER_RATE
    if seconds < min_seconds:
        raise AudioqualError(f"only {seconds:.1f} s of audio")
    slug = name.replace("/", "_").rsplit(".", 1)[0]
    target = save_audio(out_dir / f"music-{index:03d}-{slug}.wav", audio, RENDER_RATE, subtype="PCM_24")
    details = {"corpus_path": name, "instruments": assigned, "soundfont": font.name, "sample_rate": RENDER_RATE}
    return RenderedItem(target, "music", name, details, seconds)


def _corpus_root(path: Path) -> Path:
    for parent in path.parents:
        if parent.name == "corpus":
            return parent
    return path.parent
