"""Clean audio of two more domains, synthesised in numpy: environmental sound and "generated" music.

The no-reference model and the seed-000 domain experiment need domains beyond speech, singing
and sample-based instrumental music, and no recorded corpus is available offline.

- environment: 1-3 layered textures (rain, wind, birdsong, engine hum, footsteps, water
  bubbles), each a small physical-ish model (filtered noise, damped resonances, FM chirps);
- generated: melodies and chords from additive and FM synthesis with random timbres and
  envelopes, standing in for the timbres of generative-model output (it is *not* output of a
  neural generator; the docs say so).

Every item records its layer or voice count (`sources`), a production-complexity proxy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import signal

from audioqual.io import save_audio
from audioqual.synth.common import RenderedItem, finish

RATE = 48000


def _noise_band(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    sos = signal.butter(4, [low, min(high, RATE / 2 - 100)], btype="band", fs=RATE, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(n))


def _slow_envelope(rng: np.random.Generator, n: int, depth: float, rate_hz: float) -> np.ndarray:
    knots = rng.uniform(1 - depth, 1, size=int(n / RATE * rate_hz) + 2)
    return np.interp(np.arange(n), np.linspace(0, n, knots.size), knots)


def rain(rng: np.random.Generator, n: int) -> np.ndarray:
    bed = _noise_band(rng, n, 400, 12000) * 0.2
    drops = np.zeros(n)
    for start in rng.integers(0, n - 2000, size=int(n / RATE * rng.uniform(40, 120))):
        length = int(rng.uniform(200, 1500))
        drops[start : start + length] += rng.uniform(0.2, 1) * np.exp(-np.arange(length) / (length / 5)) * rng.standard_normal(length)
    return bed + drops


def wind(rng: np.random.Generator, n: int) -> np.ndarray:
    return _noise_band(rng, n, 60, rng.uniform(600, 1500)) * _slow_envelope(rng, n, 0.8, 0.7)


def birds(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.zeros(n)
    for start in rng.integers(0, n - RATE // 2, size=int(n / RATE * rng.uniform(1, 4))):
        length = int(rng.uniform(0.05, 0.3) * RATE)
        t = np.arange(length) / RATE
        f0, sweep = rng.uniform(2500, 6000), rng.uniform(-3000, 3000)
        phase = 2 * np.pi * np.cumsum(f0 + sweep * t / t[-1] + 300 * np.sin(2 * np.pi * rng.uniform(20, 60) * t)) / RATE
        out[start : start + length] += np.sin(phase) * np.hanning(length) * rng.uniform(0.3, 1)
    return out


def engine(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n) / RATE
    f0 = rng.uniform(30, 90) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    harmonics = sum(np.sin(k * phase) / k**rng.uniform(0.7, 1.5) for k in range(1, 24))
    return harmonics + 0.3 * _noise_band(rng, n, 50, 3000)


def footsteps(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.zeros(n)
    period = rng.uniform(0.4, 0.7) * RATE
    for start in np.arange(rng.uniform(0, period), n - 4000, period).astype(int):
        length = int(0.12 * RATE)
        length = min(length, n - start)
        t = np.arange(length) / RATE
        body = sum(np.sin(2 * np.pi * f * t) * np.exp(-t * rng.uniform(30, 80)) for f in rng.uniform(80, 900, size=4))
        out[start : start + length] += body + 0.5 * rng.standard_normal(length) * np.exp(-t * 200)
    return out


def water(rng: np.random.Generator, n: int) -> np.ndarray:
    out = 0.15 * _noise_band(rng, n, 200, 4000)
    for start in rng.integers(0, n - 4000, size=int(n / RATE * rng.uniform(15, 40))):
        length = int(rng.uniform(0.01, 0.05) * RATE)
        t = np.arange(length) / RATE
        f = rng.uniform(300, 1500) * (1 + 4 * t / t[-1])
        out[start : start + length] += np.sin(2 * np.pi * np.cumsum(f) / RATE) * np.exp(-t * 60) * rng.uniform(0.3, 1)
    return out


TEXTURES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "rain": rain, "wind": wind, "birds": birds, "engine": engine, "footsteps": footsteps, "water": water,
}  # fmt: skip


def _tone(rng: np.random.Generator, freq: float, length: int) -> np.ndarray:
    """One note: additive partials with random rolloff, or two-operator FM; ADSR-like envelope."""
    t = np.arange(length) / RATE
    if rng.random() < 0.5:
        rolloff = rng.uniform(0.8, 2.0)
        tone = sum(np.sin(2 * np.pi * k * freq * t + rng.uniform(0, 6.28)) / k**rolloff
                   for k in range(1, int(min(30, 18000 / freq))))  # fmt: skip
    else:
        ratio, index = rng.choice([1.0, 2.0, 3.0, 3.5]), rng.uniform(0.5, 5)
        tone = np.sin(2 * np.pi * freq * t + index * np.exp(-t * 3) * np.sin(2 * np.pi * ratio * freq * t))
    attack = max(int(rng.uniform(0.005, 0.08) * RATE), 1)
    envelope = np.minimum(1, np.arange(length) / attack) * np.exp(-t * rng.uniform(0.5, 4))
    return tone * envelope


def generated_music(rng: np.random.Generator, n: int, voices: int) -> np.ndarray:
    out = np.zeros(n)
    beat = int(rng.uniform(0.2, 0.5) * RATE)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    root = rng.uniform(110, 330)
    for voice in range(voices):
        step = beat * int(rng.integers(1, 4))
        for start in range(0, n - step, step):
            if rng.random() < 0.15:
                continue
            degree = scale[rng.integers(0, 7)] + 12 * (voice - 1 + int(rng.integers(0, 2)))
            freq = root * 2 ** (degree / 12)
            length = min(int(step * rng.uniform(0.8, 1.6)), n - start)
            out[start : start + length] += _tone(rng, freq, length) * rng.uniform(0.4, 1.0)
    return out


def _render(kind: str, count: int, out_dir: Path, seed: int, seconds: float) -> list[RenderedItem]:
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    n = int(seconds * RATE)
    for index in range(count):
        rng = np.random.default_rng([seed, index, 1 if kind == "environment" else 2])
        if kind == "environment":
            names = sorted(rng.choice(sorted(TEXTURES), size=int(rng.integers(1, 4)), replace=False).tolist())
            layers = [TEXTURES[name](rng, n) for name in names]
            audio = sum(layer / (np.std(layer) + 1e-12) * 10 ** (rng.uniform(-12, 0) / 20) for layer in layers)
            details = {"textures": names, "sources": len(names)}
            title = "+".join(names)
        else:
            voices = int(rng.integers(1, 5))
            audio = generated_music(rng, n, voices)
            details = {"synthesis": "additive/FM", "sources": voices}
            title = f"generated-{voices}-voices"
        audio = finish(np.asarray(audio, dtype=np.float32)[None, :], RATE)
        path = out_dir / f"{kind}-{seed}-{index:03d}.wav"
        save_audio(path, audio, RATE, subtype="PCM_24")
        items.append(RenderedItem(path, kind, title, {**details, "sample_rate": RATE, "engine": "numpy"},
                                  audio.shape[1] / RATE))  # fmt: skip
    return items


def render_environment(count: int, out_dir: str | Path, seed: int = 0, seconds: float = 24.0) -> list[RenderedItem]:
    """`count` environmental scenes of 1-3 textures."""
    return _render("environment", count, Path(out_dir), seed, seconds)


def render_generated(count: int, out_dir: str | Path, seed: int = 0, seconds: float = 24.0) -> list[RenderedItem]:
    """`count` pieces of additive/FM-synthesised music with 1-4 voices."""
    return _render("generated", count, Path(out_dir), seed, seconds)
