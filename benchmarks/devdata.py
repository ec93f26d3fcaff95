"""The real audio the benchmarks time: development-set pairs from ../shared/data, or stand-ins without it.

GenSVS (dev_listening): 60 separated-vocal / target pairs of 5 s, 44.1 kHz stereo; 12 targets,
each the reference of 5 tests. TCD-VoIP (dev_listening_tcdvoip): 192 speech pairs of 7-11 s,
48 kHz mono. Without ../shared/data the benchmarks run on generated pairs of the same shape and
every table says so.
"""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GENSVS = SHARED / "dev_listening" / "manifest.csv"
TCDVOIP = SHARED / "dev_listening_tcdvoip" / "manifest.csv"


def gensvs_pairs(count: int) -> tuple[list, str]:
    """The first `count` GenSVS pairs (audioqual Pair objects) and the name of their source."""
    return _pairs(GENSVS, count, "GenSVS", seconds=5.0, rate=44100, channels=2)


def tcdvoip_pairs(count: int) -> tuple[list, str]:
    """The first `count` TCD-VoIP pairs and the name of their source."""
    return _pairs(TCDVOIP, count, "TCD-VoIP", seconds=8.0, rate=48000, channels=1)


def _pairs(manifest: Path, count: int, name: str, seconds: float, rate: int, channels: int) -> tuple[list, str]:
    from audioqual.metrics.pairs import read_pairs

    if manifest.is_file():
        pairs = read_pairs(manifest)[2][:count]
        return pairs, f"{name} ({manifest.parent.name})"
    return _stand_in_pairs(count, seconds, rate, channels), (
        f"generated stand-ins for {name} ({seconds:g} s, {rate} Hz, {channels} ch; {SHARED} is absent)")


def _stand_in_pairs(count: int, seconds: float, rate: int, channels: int) -> list:
    """Harmonic tones with vibrato and a noisy copy, written as WAV files that live until the process ends."""
    from audioqual.io import save_audio
    from audioqual.metrics.pairs import Pair

    folder = tempfile.TemporaryDirectory(prefix="audioqual-bench-")
    atexit.register(folder.cleanup)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    pairs = []
    for index in range(count):
        f0 = (150 + 10 * (index % 12)) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        clean = sum(0.2 / k * np.sin(k * phase) for k in range(1, 6))
        test = clean + 0.02 * (1 + index % 5) * rng.standard_normal(t.size)
        reference_path = Path(folder.name) / f"ref{index % 12:02d}.wav"
        if not reference_path.exists():
            save_audio(reference_path, np.tile(clean, (channels, 1)).astype(np.float32), rate)
        test_path = save_audio(Path(folder.name) / f"test{index:03d}.wav",
                               np.tile(test, (channels, 1)).astype(np.float32), rate)  # fmt: skip
        pairs.append(Pair(str(reference_path), str(test_path)))
    return pairs


def decoded(path: str) -> tuple[np.ndarray, int]:
    """A file's samples (channels, frames) and rate, as `audioqual metric` decodes it."""
    from audioqual.io import decode_audio

    return decode_audio(path)
