"""Non-codec degradations: low-pass, additive noise, hard clipping and packet-loss-like dropouts.

Each works on float (channels, frames) arrays and returns a new array of the same
shape; none shifts the signal in time, so degraded and clean stay sample-aligned.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

LOWPASS_ORDER = 8


def lowpass(samples: np.ndarray, rate: int, cutoff_hz: float) -> np.ndarray:
    """Zero-phase Butterworth low-pass (order 8 in total: 4 forward + 4 backward)."""
    if not 0 < cutoff_hz < rate / 2:
        raise ValueError(f"cut-off {cutoff_hz} Hz must lie between 0 and Nyquist ({rate / 2} Hz)")
    sos = sps.butter(LOWPASS_ORDER // 2, cutoff_hz, btype="lowpass", fs=rate, output="sos")
    return sps.sosfiltfilt(sos, samples, axis=-1).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise so that signal power / noise power = snr_db (over all channels)."""
    signal_power = float(np.mean(np.square(samples, dtype=np.float64)))
    noise = rng.standard_normal(samples.shape)
    noise *= np.sqrt(signal_power / 10.0 ** (snr_db / 10.0) / np.mean(np.square(noise)))
    return (samples + noise).astype(np.float32)


def hard_clip(samples: np.ndarray, level: float) -> np.ndarray:
    """Clip at `level` times the signal's peak magnitude (0 < level < 1)."""
    threshold = level * float(np.abs(samples).max())
    return np.clip(samples, -threshold, threshold).astype(np.float32)


def dropouts(
    samples: np.ndarray, rate: int, loss_rate: float, rng: np.random.Generator, frame_ms: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """Zero whole frames, each lost independently with probability `loss_rate` (no concealment).

    Returns the degraded samples and the boolean mask of lost frames.
    """
    frame = max(1, int(round(rate * frame_ms / 1000.0)))
    n_frames = -(-samples.shape[-1] // frame)
    lost = rng.random(n_frames) < loss_rate
    keep = np.repeat(~lost, frame)[: samples.shape[-1]]
    return (samples * keep).astype(np.float32), lost
