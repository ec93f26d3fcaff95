"""Offline vocal + accompaniment stems: the clean material of the default model's training set.

A separated singing voice is judged against the clean vocal stem, and its typical
faults involve the accompaniment (bleed, mask errors). So each music21 corpus score
is rendered twice with fluidsynth and the General MIDI soundfont: one melodic part
with a voice program (Choir Aahs, Voice Oohs, Synth Voice) as the vocal stem, and the
other parts with band instruments (plus, for half of the pieces, a synthesised drum
kit) as the accompaniment. Both stems share tempo and transposition, so they line up
sample for sample. Limits: sampled "ah/oh" vowels without lyrics, consonants or
expressive singing; see docs/model_card_default_fr.md.
"""

from __future__ import annotations

import copy
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal as sps

from audioqual.errors import AudioqualError
from audioqual.io import save_audio
from audioqual.synth.common import PEAK_DBFS, SILENCE_RELATIVE
from audioqual.synth.music import RENDER_RATE, parse_score, render_first, render_midi, seeded_candidates
from audioqual.synth.tools import fluidsynth_executable, require_music21, soundfont_path

log = logging.getLogger(__name__)

VOICE_PROGRAMS = {"choir_aahs": 52, "voice_oohs": 53, "synth_voice": 54}
"""General MIDI programs (0-based) that sound like a sung vowel."""
BAND_PROGRAMS = {
    "acoustic_piano": 0, "electric_piano": 4, "harpsichord": 6, "organ": 19, "nylon_guitar": 24,
    "steel_guitar": 25, "clean_guitar": 27, "violin": 40, "cello": 42, "strings": 48, "trumpet": 56,
    "flute": 73,
}  # fmt: skip
BASS_PROGRAMS = {"acoustic_bass": 32, "electric_bass": 33, "cello": 42}


@dataclass(frozen=True)
class StemPair:
    """A rendered vocal stem and its accompaniment, equally long, 48 kHz stereo."""

    vocal: Path
    accompaniment: Path
    title: str
    details: dict
    seconds: float

    def manifest_row(self) -> dict:
        """Row of the stems manifest (paths as given)."""
        return {"id": self.vocal.stem.removesuffix("-vocal"), "path": str(self.vocal), "kind": "vocal",
                "accompaniment": str(self.accompaniment), "title": self.title, "seconds": round(self.seconds, 3),
                **self.details}  # fmt: skip


def render_stem_pairs(
    count: int,
    out_dir: str | Path,
    seed: int = 0,
    max_seconds: float = 24.0,
    min_seconds: float = 12.0,
    pieces: list[str] | None = None,
) -> list[StemPair]:
    """Render `count` corpus scores with two or more parts into vocal/accompaniment stem pairs.

    A seeded shuffle picks the scores (or `pieces`, corpus paths, in order); each one's voice program, accompaniment
    instruments, transposition (-4..+4 semitones), tempo (70-140 quarter notes per
    minute) and drums are drawn from a generator seeded by the piece. Pieces that fail
    to parse, have one part, or give less than `min_seconds` are skipped.
    """
    require_music21()
    synth, font = fluidsynth_executable(), soundfont_path()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def render(name: str, index: int) -> StemPair:
        rng = random.Random(f"{seed}:stems:{name}")
        return _render_pair(name, out_dir, index, synth, font, rng, max_seconds, min_seconds)

    return render_first(count, seeded_candidates(seed, pieces), render, "stem pairs")


def _render_pair(
    name: str, out_dir: Path, index: int, synth: str, font: Path, rng: random.Random, max_seconds: float,
    min_seconds: float,
) -> StemPair:
    from music21 import instrument, stream, tempo

    score = parse_score(name)
    parts = [p for p in score.parts if p.recurse().notes]
    if len(parts) < 2:
        raise AudioqualError(f"{name} has fewer than two parts with notes")
    vocal_index = rng.choice([0, 0, 1]) if len(parts) > 2 else 0
    voice = rng.choice(sorted(VOICE_PROGRAMS))
    shift = rng.randint(-4, 4)
    qpm = rng.randint(70, 140)
    band = rng.sample(sorted(BAND_PROGRAMS), k=min(len(parts), len(BAND_PROGRAMS)))
    bass = rng.choice(sorted(BASS_PROGRAMS))
    drums = rng.random() < 0.5

    def build(selected: list[tuple[stream.Part, int]]) -> stream.Score:
        out = stream.Score()
        for part, program in selected:
            part = copy.deepcopy(part)
            for old in list(part.recurse().getElementsByClass((instrument.Instrument, tempo.MetronomeMark))):
                old.activeSite.remove(old)
            chosen = instrument.Instrument()
            chosen.midiProgram = program
            part.insert(0, chosen)
            part.insert(0, tempo.MetronomeMark(number=qpm))
            out.insert(0, part.transpose(shift))
        return out

    others = [p for i, p in enumerate(parts) if i != vocal_index]
    programs = [BAND_PROGRAMS[b] for b in band[: len(others)]]
    if len(others) >= 2:
        programs[-1] = BASS_PROGRAMS[bass]  # the lowest part carries the bass line
    instruments = [b for b in band[: len(others)]]
    if len(others) >= 2:
        instruments[-1] = bass
    vocal_score = build([(parts[vocal_index], VOICE_PROGRAMS[voice])])
    band_score = build(list(zip(others, programs)))
    vocal = render_midi(vocal_score, synth, font, name)
    accompaniment = render_midi(band_score, synth, font, name)
    frames = max(vocal.shape[1], accompaniment.shape[1])
    vocal = _pad(vocal, frames)
    accompaniment = _pad(accompaniment, frames)
    vocal = add_breath(vocal, RENDER_RATE, rng)
    if drums:
        accompaniment = accompaniment + drum_track(frames, RENDER_RATE, 60.0 / qpm, rng) * np.abs(accompaniment).max()
    vocal, accompaniment = _trim_together(vocal, accompaniment, max_seconds)
    if vocal.shape[1] < min_seconds * RENDER_RATE:
        raise AudioqualError(f"only {vocal.shape[1] / RENDER_RATE:.1f} s of audio")
    slug = name.replace("/", "_").rsplit(".", 1)[0]
    vocal_path = save_audio(out_dir / f"stems-{index:03d}-{slug}-vocal.wav", vocal, RENDER_RATE, subtype="PCM_24")
    band_path = save_audio(out_dir / f"stems-{index:03d}-{slug}-band.wav", accompaniment, RENDER_RATE,
                           subtype="PCM_24")  # fmt: skip
    details = {"corpus_path": name, "voice": voice, "vocal_part": vocal_index, "band": instruments,
               "drums": drums, "transpose": shift, "qpm": qpm, "soundfont": font.name, "sample_rate": RENDER_RATE}  # fmt: skip
    return StemPair(vocal_path, band_path, name, details, vocal.shape[1] / RENDER_RATE)


def drum_track(frames: int, rate: int, beat_seconds: float, rng: random.Random) -> np.ndarray:
    """A simple rock pattern (kick on 1 and 3, snare on 2 and 4, closed hi-hat on eighths), peak 1, stereo."""
    gen = np.random.default_rng(rng.randrange(2**32))
    out = np.zeros(frames, dtype=np.float64)

    def hit(start: int, sound: np.ndarray) -> None:
        stop = min(frames, start + sound.size)
        if stop > start:
            out[start:stop] += sound[: stop - start]

    t = np.arange(int(0.35 * rate)) / rate
    kick = np.sin(2 * np.pi * (45 * t + 60 * (1 - np.exp(-t * 30)) / 30)) * np.exp(-t * 12)
    snare = (0.6 * gen.standard_normal(t.size) + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 22)
    hat_t = t[: int(0.06 * rate)]
    hat = np.diff(gen.standard_normal(hat_t.size + 1)) * np.exp(-hat_t * 70) * 0.25
    beat = int(round(beat_seconds * rate))
    for index, start in enumerate(range(0, frames, beat)):
        hit(start, kick if index % 2 == 0 else 0.8 * snare)
        hit(start, hat)
        hit(start + beat // 2, 0.7 * hat)
    out /= max(np.abs(out).max(), 1e-9)
    return np.stack([out, out]).astype(np.float32)


def add_breath(vocal: np.ndarray, rate: int, rng: random.Random, level_db: float = -24.0) -> np.ndarray:
    """Vocal plus breath noise and consonant-like bursts: the high band a sampled vowel lacks.

    Sampled choir vowels carry almost nothing above 8 kHz (about -47 dB of the energy),
    recorded singing about -24 dB. High-passed (> 4 kHz) noise follows the vocal's
    20 ms envelope at `level_db` relative to the vocal's power, and 40 ms bursts of
    5-11 kHz noise (sibilants, plosives) mark a random half of the note onsets.
    """
    gen = np.random.default_rng(rng.randrange(2**32))
    mono = vocal.mean(axis=0)
    smooth = max(1, int(0.02 * rate))
    envelope = np.sqrt(np.convolve(mono**2, np.ones(smooth) / smooth, mode="same"))
    high = sps.sosfilt(sps.butter(4, 4000, "highpass", fs=rate, output="sos"), gen.standard_normal(mono.size))
    breath = high * envelope
    peak = float(envelope.max())
    onsets = np.flatnonzero(np.diff((envelope > 0.3 * peak).astype(np.int8)) == 1)
    burst_len = int(0.04 * rate)
    band = sps.butter(4, [5000, 11000], "bandpass", fs=rate, output="sos")
    for onset in onsets:
        if gen.random() < 0.5:
            stop = min(mono.size, onset + burst_len)
            shape = np.hanning(2 * burst_len)[burst_len:][: stop - onset]
            breath[onset:stop] += 3.0 * peak * shape * sps.sosfilt(band, gen.standard_normal(stop - onset))
    target = np.mean(mono**2) * 10 ** (level_db / 10)
    breath *= np.sqrt(target / max(float(np.mean(breath**2)), 1e-20))
    return (vocal + breath[None].astype(np.float32)).astype(np.float32)


def _pad(audio: np.ndarray, frames: int) -> np.ndarray:
    return np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))


def _trim_together(vocal: np.ndarray, band: np.ndarray, max_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Cut both stems to the span where the vocal sounds (at most max_seconds), fade out, peak-normalise each."""
    level = np.abs(vocal).max(axis=0)
    peak = float(level.max())
    if peak <= 0 or float(np.abs(band).max()) <= 0:
        raise AudioqualError("rendering produced a silent stem")
    loud = np.flatnonzero(level > SILENCE_RELATIVE * peak)
    stop = min(loud[-1] + 1, loud[0] + int(max_seconds * RENDER_RATE))
    vocal, band = vocal[:, loud[0] : stop].copy(), band[:, loud[0] : stop].copy()
    fade = np.linspace(1.0, 0.0, min(vocal.shape[1], int(0.05 * RENDER_RATE)), dtype=np.float32)
    vocal[:, vocal.shape[1] - fade.size :] *= fade
    band[:, band.shape[1] - fade.size :] *= fade
    gain = np.float32(10 ** (PEAK_DBFS / 20))
    return vocal * gain / np.abs(vocal).max(), band * gain / max(float(np.abs(band).max()), 1e-9)
