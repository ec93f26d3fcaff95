"""Source-separation-like degradations: interference, mask-estimation errors, spectral holes, phase loss.

What a separated vocal typically suffers from (GenSVS-style listening tests):
- interference: the accompaniment leaks back in (`interference`, at a signal-to-interference ratio);
- a mask-based separator's errors: a noisy time-frequency ratio mask applied to the mixture, giving
  both residual accompaniment and "musical noise" (`noisy_mask`);
- spectral holes: time-frequency bins removed at random (`spectral_holes`);
- lost phase, as in magnitude-only or vocoder resynthesis: Griffin-Lim from the true STFT magnitude
  (`griffin_lim`) or from a mel-smoothed magnitude (`mel_vocoder`, coarser spectral detail).

All functions take float (channels, frames) arrays at `rate` and return float32 arrays of the same
shape, sample-aligned with the input (no delay). Random ones take a numpy Generator, so a seeded
generator reproduces them exactly.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

N_FFT = 2048  # 43 ms at 48 kHz
HOP = 512
WINDOW = "hann"
EPS = 1e-10


def stft(samples: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Complex STFT [channels, bins, frames] (Hann window, zero-padded ends, perfect reconstruction)."""
    _, _, spec = sps.stft(samples, nperseg=n_fft, noverlap=n_fft - hop, window=WINDOW, boundary="zeros",
                          padded=True, axis=-1)  # fmt: skip
    return spec


def istft(spec: np.ndarray, frames: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Inverse of `stft`, trimmed or zero-padded to `frames` samples."""
    _, out = sps.istft(spec, nperseg=n_fft, noverlap=n_fft - hop, window=WINDOW, boundary=True,
                       time_axis=-1, freq_axis=-2)  # fmt: skip
    out = out[..., :frames]
    if out.shape[-1] < frames:
        out = np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, frames - out.shape[-1])])
    return out


def scale_to_sir(target: np.ndarray, interferer: np.ndarray, sir_db: float) -> np.ndarray:
    """`interferer` scaled so that power(target) / power(scaled interferer) = sir_db (over all channels)."""
    target_power = float(np.mean(np.square(target, dtype=np.float64)))
    interferer_power = float(np.mean(np.square(interferer, dtype=np.float64)))
    if interferer_power <= 0.0:
        raise ValueError("the interferer is silent")
    return interferer * np.sqrt(target_power / interferer_power / 10.0 ** (sir_db / 10.0))


def interference(target: np.ndarray, interferer: np.ndarray, sir_db: float) -> np.ndarray:
    """Target plus the interferer at `sir_db` dB signal-to-interference ratio (accompaniment bleed)."""
    _check_pair(target, interferer)
    return (target + scale_to_sir(target, interferer, sir_db)).astype(np.float32)


def noisy_mask(
    target: np.ndarray,
    interferer: np.ndarray,
    mixture_sir_db: float,
    mask_noise: float,
    rng: np.random.Generator,
    floor: float = 0.0,
) -> np.ndarray:
    """Separate the target from a mixture with an ideal ratio mask corrupted by noise in the logit domain.

    The mixture is target + interferer at `mixture_sir_db`. The ideal ratio mask
    |T|^2 / (|T|^2 + |I|^2) is moved to the logit domain, Gaussian noise of standard
    deviation `mask_noise` is added independently per bin (isolated errors sound like
    musical noise; wrong bins let interference through or cut target energy), and the
    mask, floored at `floor`, is applied to the mixture's STFT. mask_noise = 0 gives the
    ideal-ratio-mask estimate, which is itself not transparent.
    """
    _check_pair(target, interferer)
    frames = target.shape[-1]
    scaled = scale_to_sir(target, interferer, mixture_sir_db)
    spec_t, spec_i = stft(target), stft(scaled)
    power_t, power_i = np.abs(spec_t) ** 2, np.abs(spec_i) ** 2
    ideal = np.clip(power_t / (power_t + power_i + EPS), 1e-4, 1 - 1e-4)
    logit = np.log(ideal / (1 - ideal)) + mask_noise * rng.standard_normal(ideal.shape)
    mask = np.maximum(1.0 / (1.0 + np.exp(-logit)), floor)
    return istft(mask * (spec_t + spec_i), frames).astype(np.float32)


def spectral_holes(samples: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Zero a random `fraction` of the STFT bins (same bins in every channel): holes and musical noise."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction}")
    spec = stft(samples)
    keep = rng.random(spec.shape[-2:]) >= fraction
    return istft(spec * keep[None], samples.shape[-1]).astype(np.float32)


def griffin_lim(
    magnitude: np.ndarray, frames: int, iterations: int, rng: np.random.Generator
) -> np.ndarray:
    """Signal whose STFT magnitude approximates `magnitude` [channels, bins, frames] (Griffin & Lim 1984).

    Starts from random phase and alternates projection onto consistent STFTs with
    imposing the target magnitude, `iterations` times.
    """
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    out = istft(magnitude * phase, frames)
    for _ in range(iterations):
        spec = stft(out)[..., : magnitude.shape[-1]]
        out = istft(magnitude * np.exp(1j * np.angle(spec)), frames)
    return out.astype(np.float32)


def phase_reconstruction(samples: np.ndarray, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """The signal resynthesised from its own STFT magnitude by Griffin-Lim (phase information lost)."""
    return griffin_lim(np.abs(stft(samples)), samples.shape[-1], iterations, rng)


def mel_filterbank(rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters [n_mels, n_fft // 2 + 1] (HTK mel scale, unit peak)."""
    fmax = fmax or rate / 2
    mel = lambda f: 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)  # noqa: E731
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bins = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    lower, center, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / np.maximum(center - lower, EPS)
    falling = (upper - bins[None]) / np.maximum(upper - center, EPS)
    return np.maximum(0.0, np.minimum(rising, falling))


def mel_vocoder(samples: np.ndarray, rate: int, n_mels: int, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """Resynthesis from a mel spectrogram: mel-smoothed magnitude, then Griffin-Lim.

    The magnitude is projected onto `n_mels` mel bands and back (least squares, via the
    pseudo-inverse of the filterbank), which blurs harmonics in the upper bands as a
    mel-conditioned vocoder may; the phase is then rebuilt by Griffin-Lim.
    """
    spec = stft(samples)
    bank = mel_filterbank(rate, N_FFT, n_mels)
    mel_power = np.einsum("mf,cft->cmt", bank, np.abs(spec) ** 2)
    power = np.einsum("fm,cmt->cft", np.linalg.pinv(bank), mel_power)
    return griffin_lim(np.sqrt(np.maximum(power, 0.0)), samples.shape[-1], iterations, rng)


def _check_pair(target: np.ndarray, interferer: np.ndarray) -> None:
    if target.shape != interferer.shape:
        raise ValueError(f"target {target.shape} and interferer {interferer.shape} must have the same shape")
