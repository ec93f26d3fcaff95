"""Synthetic rated clips with a planted spurious source signature, for tests and benchmarks.

Every clip is a harmonic-rich tone; its true quality q sets its bandwidth
(low-pass cut-off from 500 Hz at q = 0 to 7.5 kHz at q = 1). Each source adds its own signature, a
steady sine at a source-specific frequency, and in the training set each
source's ratings are shifted by a source bias, so that source identity
predicts the scores there: the shortcut that DAT-Source should stop the
model from relying on. Validation clips carry the same signatures but no
bias, and each belongs to a system (for system-level evaluation).
Ratings: 10 simulated raters per aspect on the 1-10 scale.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audioqual.data.aes import AES_ASPECTS
from audioqual.io import save_audio

SIGNATURE_HZ = (180.0, 1400.0, 5200.0, 3100.0, 650.0, 7000.0)
ASPECT_WEIGHTS = {"PQ": 6.0, "PC": 3.0, "CE": 5.0, "CU": 5.5}


def make_spurious_dataset(
    folder: str | Path,
    sources: Sequence[str] = ("alpha", "beta", "gamma"),
    train_per_source: int = 80,
    valid_per_source: int = 20,
    seconds: float = 1.0,
    rate: int = 16000,
    bias: float = 2.0,
    signature_level: float = 0.3,
    systems: int = 5,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write clips and two AES-style JSONL manifests (train with source bias, valid without)."""
    if len(sources) > len(SIGNATURE_HZ):
        raise ValueError(f"at most {len(SIGNATURE_HZ)} sources")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    offsets = np.linspace(-bias, bias, len(sources)) if len(sources) > 1 else np.zeros(1)
    manifests = []
    for split, count, with_bias in (("train", train_per_source, True), ("valid", valid_per_source, False)):
        rows = []
        for s, source in enumerate(sources):
            for n in range(count):
                quality = rng.uniform(0.0, 1.0)
                audio = _clip(rng, quality, SIGNATURE_HZ[s], signature_level, seconds, rate)
                path = save_audio(folder / split / source / f"{source}_{n:04d}.wav", audio, rate)
                shift = offsets[s] if with_bias else 0.0
                row = {
                    "path": str(path.relative_to(folder)),
                    "source": source,
                    "system": f"sys{rng.integers(systems)}",
                    "quality": round(float(quality), 4),
                }
                for aspect in AES_ASPECTS:
                    mean = 1.0 + ASPECT_WEIGHTS[aspect] * quality + shift + (1.5 if with_bias else 0.0)
                    raters = np.clip(np.round(mean + rng.normal(0, 0.7, size=10)), 1, 10)
                    row[aspect] = raters.tolist()
                rows.append(row)
        manifest = folder / f"{split}.jsonl"
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        manifests.append(manifest)
    return manifests[0], manifests[1]


def _clip(
    rng: np.random.Generator, quality: float, signature_hz: float, level: float, seconds: float, rate: int
) -> np.ndarray:
    """Harmonic-rich tone low-passed at 500 Hz (q = 0) .. 7.5 kHz (q = 1), plus the source's sine."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(110.0, 330.0)
    harmonics = np.arange(1, int(0.5 * rate / f0))
    phases = rng.uniform(0, 2 * np.pi, size=harmonics.size)
    content = (
        np.sin(2 * np.pi * f0 * harmonics[:, None] * t[None, :] + phases[:, None]) / np.sqrt(harmonics[:, None])
    ).sum(0)
    content *= 0.5 / np.abs(content).max()
    spectrum = np.fft.rfft(content)
    spectrum[np.fft.rfftfreq(t.size, 1.0 / rate) > 500.0 + 7000.0 * quality] = 0.0
    degraded = np.fft.irfft(spectrum, n=t.size)
    signature = level * np.sin(2 * np.pi * signature_hz * t + rng.uniform(0, 2 * np.pi))
    return (degraded + 0.005 * rng.standard_normal(t.size) + signature).astype(np.float32)
