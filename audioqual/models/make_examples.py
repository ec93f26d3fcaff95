"""Write the bundled example pairs (audioqual/models/examples): a rendered vocal and three degraded versions.

  python -m audioqual.cli.shipped_models examples [OUT_DIR]

The reference is the vocal stem of a music21 chorale that no rendered training set
contains (bach/bwv66.6 sung on "ah", audioqual.synth.music.HELD_OUT_PIECES), 4 s, 44.1 kHz stereo FLAC. The
test files are what a singing-voice separator may produce: the accompaniment leaking
back at 5 dB signal-to-interference ratio, a noisy-mask separation of the mixture,
and an MP3 at 32 kbit/s. pairs.csv lists them for `audioqual compare --manifest`.
Needs fluidsynth, a GM soundfont and music21 (see docs/surrogate_labels.md).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from audioqual.data.manifest import write_manifest
from audioqual.degrade import separation
from audioqual.degrade.codecs import code_round_trip
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio, resample, save_audio
from audioqual.synth.music import HELD_OUT_PIECES

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
PIECE = HELD_OUT_PIECES[0]
RATE = 44100
START_SECONDS, SECONDS = 2.0, 4.0


def make_examples(out_dir: str | Path = EXAMPLES_DIR, seed: int = 0) -> Path:
    """Render and degrade the examples into out_dir; returns its pairs.csv."""
    from audioqual.models.stems import render_stem_pairs

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = AudioLoadOptions(sample_rate=48000, channels=ChannelPolicy.KEEP)
    with tempfile.TemporaryDirectory(prefix="audioqual-examples-") as tmp:
        pair = render_stem_pairs(1, tmp, seed=seed, max_seconds=12.0, min_seconds=6.0, pieces=[PIECE])[0]
        vocal, _ = load_audio(pair.vocal, options)
        band, _ = load_audio(pair.accompaniment, options)
    start, stop = int(START_SECONDS * 48000), int((START_SECONDS + SECONDS) * 48000)
    rng = np.random.default_rng(seed)
    versions = {
        "reference": vocal,
        "bleed_5db": separation.interference(vocal, band, 5.0),
        "separated_noisy_mask": separation.noisy_mask(vocal, band, 0.0, 1.5, rng),
        "mp3_32k": code_round_trip(vocal, 48000, "mp3", 32).samples,
    }
    paths = {}
    for name, audio in versions.items():
        clip = resample(audio[:, start:stop], 48000, RATE)
        paths[name] = save_audio(out_dir / f"{name}.flac", np.clip(clip, -1.0, 1.0), RATE, subtype="PCM_16")
    descriptions = {
        "bleed_5db": "accompaniment leaking in at 5 dB SIR",
        "separated_noisy_mask": "mask-based separation with mask errors (musical noise, residual accompaniment)",
        "mp3_32k": "MP3 at 32 kbit/s",
    }
    rows = [{"test": paths[n].name, "reference": paths["reference"].name, "condition": n, "description": d}
            for n, d in descriptions.items()]  # fmt: skip
    return write_manifest(out_dir / "pairs.csv", rows)
