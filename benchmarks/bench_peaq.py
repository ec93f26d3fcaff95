"""Seconds per 10 s pair for PEAQ Basic and the 2f-model (48 kHz, mono and stereo).

Each function is timed --repeats times after one warm-up run (median, min, IQR); each computes
its own MOVs (the functions, unlike the registry metrics, share nothing). bench_fr_models.py
times both on real pairs against ViSQOL.

Run: python benchmarks/bench_peaq.py [--repeats N] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import MIN_REPETITIONS, fix_process, repeat  # noqa: E402

from audioqual.baselines.peaq import peaq_basic  # noqa: E402
from audioqual.baselines.twof import twof_model  # noqa: E402

FS = 48000


def music_like(seconds: float, channels: int, seed: int = 0) -> np.ndarray:
    """Amplitude-modulated partials over band-limited noise, 16-bit quantised."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    out = []
    for _ in range(channels):
        x = sum(
            0.04 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * (1 + 0.8 * np.sin(2 * np.pi * r * t))
            for f, r in [(196, 3), (440, 2), (1250, 2), (3300, 7), (7000, 1.5), (11000, 2.5)]
        )
        spectrum = np.fft.rfft(rng.standard_normal(t.size))
        spectrum[np.fft.rfftfreq(t.size, 1 / FS) > 16000] = 0
        out.append(x + 0.05 * np.fft.irfft(spectrum, n=t.size))
    return np.round(np.stack(out) * 32768) / 32768


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=MIN_REPETITIONS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(fix_process(args.threads))
    for channels in (1, 2):
        ref = music_like(10.0, channels)
        test = ref + 0.003 * np.random.default_rng(1).standard_normal(ref.shape)
        runs = {"peaq_basic": lambda: peaq_basic(ref, test, FS), "twof_model": lambda: twof_model(ref, test, FS)}
        for name, fn in runs.items():
            print(f"{name:11s} {channels} ch, s per 10 s pair: {repeat(fn, args.repeats).describe()}")


if __name__ == "__main__":
    main()
