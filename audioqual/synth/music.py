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
from pathlib import Path

import soundfile as sf

from audioqual.errors import AudioqualError
from audioqual.io import save_audio
from audioqual.synth.common import RenderedItem, finish
from audioqual.synth.tools import fluidsynth_executable, require_music21, soundfont_path

log = logging.getLogger(__name__)

SCORE_SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")
PALETTE = ("Violin", "Flute", "Trumpet", "Harpsichord")
RENDER_RATE = 48000


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
    candidates = list(pieces) if pieces else corpus_scores()
    if not pieces:
        random.Random(seed).shuffle(candidates)
    items: list[RenderedItem] = []
    for attempt, name in enumerate(candidates):
        if len(items) >= count or attempt >= 10 * count + 10:
            break
        rotation = random.Random(f"{seed}:{name}").randrange(len(PALETTE))
        try:
            item = _render_piece(name, out_dir, len(items), synth, font, rotation, max_seconds)
        except AudioqualError as err:
            log.info("skipping %s: %s", name, err)
            continue
        if item.seconds < min_seconds:
            item.path.unlink(missing_ok=True)
            log.info("skipping %s: only %.1f s of audio", name, item.seconds)
            continue
        items.append(item)
    if len(items) < count:
        raise AudioqualError(f"rendered only {len(items)} of {count} music pieces (see log for skipped ones)")
    return items


def _render_piece(
    name: str, out_dir: Path, index: int, synth: str, font: Path, rotation: int, max_seconds: float
) -> RenderedItem:
    from music21 import corpus, instrument, stream

    try:
        score = corpus.parse(name)
    except Exception as err:  # noqa: BLE001 - music21 raises many types for odd corpus files
        raise AudioqualError(f"music21 cannot parse {name}: {err}") from err
    if isinstance(score, stream.Opus):
        if not score.scores:
            raise AudioqualError(f"{name} is an empty opus")
        score = score.scores[0]
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
    slug = name.replace("/", "_").rsplit(".", 1)[0]
    target = out_dir / f"music-{index:03d}-{slug}.wav"
    with tempfile.TemporaryDirectory(prefix="audioqual-music-") as tmp:
        midi = Path(tmp) / "score.mid"
        raw = Path(tmp) / "render.wav"
        try:
            score.write("midi", fp=str(midi))
        except Exception as err:  # noqa: BLE001
            raise AudioqualError(f"music21 cannot write MIDI for {name}: {err}") from err
        command = [synth, "-ni", "-q", "-g", "0.5", "-r", str(RENDER_RATE), "-T", "wav", "-O", "float",
                   "-F", str(raw), str(font), str(midi)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not raw.exists():
            raise AudioqualError(f"fluidsynth failed on {name}: {(result.stderr or '').strip()[-300:]}")
        audio, rate = sf.read(str(raw), dtype="float32", always_2d=True)
    audio = finish(audio.T, rate, max_seconds)
    save_audio(target, audio, rate, subtype="PCM_24")
    details = {"corpus_path": name, "instruments": assigned, "soundfont": font.name, "sample_rate": rate}
    return RenderedItem(target, "music", name, details, audio.shape[1] / rate)


def _corpus_root(path: Path) -> Path:
    for parent in path.parents:
        if parent.name == "corpus":
            return parent
    return path.parent
