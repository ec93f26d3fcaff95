"""Seconds per 10 s pair for PEAQ Basic and the 2f-model (48 kHz, mono and stereo).

Run: python benchmarks/bench_peaq.py [--repeats N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from audioqual.baselines.peaq import peaq_basic
from audioqual.baselines.twof import twof_model

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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for channels in (1, 2):
        ref = music_like(10.0, channels)
        test = ref + 0.003 * np.random.default_rng(1).standard_normal(ref.shape)
        runs = {"peaq_basic": lambda: peaq_basic(ref, test, FS), "twof_model": lambda: twof_model(ref, test, FS)}
        for name, fn in runs.items():
            fn()
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            print(f"{name:11s} {channels} ch: {min(times):.3f} s per 10 s pair (best of {args.repeats})")


if __name__ == "__main__":
    main()
