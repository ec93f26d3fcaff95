"""The fixed test inputs of the encoder oracles, built with numpy only (the golden scripts run in other venvs).

`numpy.random.default_rng` streams are stable across numpy versions, so the
golden files and the tests see the same samples.
"""

from __future__ import annotations

import numpy as np


def voice_like(seconds: float = 3.0, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A seeded speech-like mix: a gliding harmonic 'voice' with syllable-rate envelope, a tone and noise, float32.

    About -22 dBFS RMS (so volume normalisations that only raise quiet clips leave it alone), peak < 1.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140.0 + 40.0 * np.sin(2 * np.pi * 0.7 * t) + 15.0 * np.sin(2 * np.pi * 5.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(h * phase) / h**1.2 for h in range(1, 25))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t + 1.0)
    signal = envelope * voice + 0.3 * np.sin(2 * np.pi * 1000.0 * t) + 0.2 * rng.standard_normal(t.size)
    signal[: rate // 10] *= np.linspace(0.0, 1.0, rate // 10)  # a soft onset
    return (0.08 * signal / np.sqrt(np.mean(signal**2))).astype(np.float32)
