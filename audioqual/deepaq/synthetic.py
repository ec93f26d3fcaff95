"""A small synthetic surrogate-label training set, for tests, benchmarks and smoke runs.

Music-like clean clips (harmonic tones with vibrato, noise bursts and clicks)
are coded with ffmpeg's MP3/Opus/AAC encoders at a few bitrates and decoded
back to WAV; optional simple degradations (low-pass filter, white noise at an
SNR) are made in NumPy and carry no bitrate. The label is NOT ViSQOL: it is a monotone stand-in computed from
the log-spectral distance (dB) of the long-term spectra of clip and reference,
mos = 1 + 4 * exp(-lsd / 8) (per-band
differences capped at 30 dB), so clean clips get 5. The manifest has the
fields `audioqual train deepaq` reads by default (the label under
visqol_moslqo is the stand-in).
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt, welch

from audioqual.data.manifest import write_manifest
from audioqual.errors import AudioqualError
from audioqual.io import load_audio, save_audio
from audioqual.io.ffmpeg import ffmpeg_executable

ENCODERS = {"mp3": ("libmp3lame", "mp3"), "opus": ("libopus", "ogg"), "aac": ("aac", "m4a")}


def music_like(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A mono clip with harmonics up to ~15 kHz, vibrato, noise bursts and clicks (peak 0.5)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    signal = np.zeros_like(t)
    for _ in range(3):
        f0 = rng.uniform(110, 880)
        vibrato = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 7) * t)
        phase = 2 * np.pi * np.cumsum(f0 * vibrato) / rate
        for k in range(1, int(15000 // f0) + 1):
            signal += rng.uniform(0.2, 1.0) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    envelope = np.zeros_like(t)
    for start in rng.uniform(0, seconds, size=max(1, int(seconds * 4))):
        envelope += np.exp(-np.clip(t - start, 0, None) * 30) * (t >= start)
    signal += 2.0 * envelope * rng.standard_normal(t.shape)
    signal /= np.abs(signal).max()
    return (0.5 * signal).astype(np.float32)


def code(clean: Path, codec: str, kbps: int, out_wav: Path) -> Path:
    """Encode a WAV with ffmpeg at kbps and decode it back to a WAV at the same rate."""
    if codec not in ENCODERS:
        raise AudioqualError(f"unknown codec {codec!r}; known: {sorted(ENCODERS)}")
    encoder, suffix = ENCODERS[codec]
    rate = load_audio(clean)[1]
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="audioqual-code-") as tmp:
        coded = Path(tmp) / f"coded.{suffix}"
        for command in (
            [ffmpeg_executable(), "-nostdin", "-v", "error", "-y", "-i", str(clean), "-c:a", encoder, "-b:a", f"{kbps}k", str(coded)],
            [ffmpeg_executable(), "-nostdin", "-v", "error", "-y", "-i", str(coded), "-ar", str(rate), "-c:a", "pcm_f32le", str(out_wav)],
        ):
            result = subprocess.run(command, capture_output=True, text=True, timeout=120)
            if result.returncode != 0:
                raise AudioqualError(f"{clean}: ffmpeg {codec} {kbps} kbit/s failed: {result.stderr.strip()[-300:]}")
    return out_wav


def degrade(clean: np.ndarray, kind: str, setting: float, rate: int, seed: int) -> np.ndarray:
    """A simple degradation: 'lowpass' (8th-order Butterworth at `setting` Hz) or 'noise' (white, `setting` dB SNR)."""
    if kind == "lowpass":
        return sosfilt(butter(8, setting, fs=rate, output="sos"), clean, axis=-1).astype(np.float32)
    if kind == "noise":
        noise = np.random.default_rng(seed).standard_normal(clean.shape)
        return (clean + noise * np.sqrt(np.mean(clean**2) / 10 ** (setting / 10))).astype(np.float32)
    raise AudioqualError(f"unknown degradation {kind!r}; known: lowpass, noise")


def spectral_label(reference: np.ndarray, test: np.ndarray, rate: int) -> float:
    """Monotone stand-in label: 1 + 4 * exp(-LSD/8), LSD between long-term log spectra (dB, 50 Hz-16 kHz).

    Per-band differences are capped at 30 dB so that a removed band counts as
    a large but finite loss.
    """
    n = min(reference.shape[-1], test.shape[-1])
    freqs, p_ref = welch(reference[..., :n].ravel(), rate, nperseg=1024)
    _, p_test = welch(test[..., :n].ravel(), rate, nperseg=1024)
    band = (freqs >= 50) & (freqs <= min(16000, rate / 2))
    floor = 1e-10 * p_ref[band].max()
    difference = np.clip(10 * np.log10((p_ref[band] + floor) / (p_test[band] + floor)), -30, 30)
    lsd = np.sqrt(np.mean(difference**2))
    return float(1 + 4 * math.exp(-lsd / 8))


def make_surrogate_set(
    folder: str | Path,
    sources: int = 8,
    codecs: Sequence[str] = ("mp3", "opus"),
    bitrates: Sequence[int] = (8, 16, 32, 64),
    seconds: float = 1.0,
    rate: int = 44100,
    seed: int = 0,
    workers: int = 2,
    degradations: dict[str, Sequence[float]] | None = None,
) -> Path:
    """Write clean, coded and degraded clips and `manifest.jsonl`.

    Fields as `audioqual degrade` + `audioqual label` write them: path,
    reference, codec ("clean", the codec, or the degradation's name),
    bitrate_kbps (inf for clean, empty for degradations), setting, source_id,
    visqol_moslqo (here the stand-in label).
    """
    folder = Path(folder)
    rows = []
    jobs = []
    for index in range(sources):
        source = f"src{index:03d}"
        clean = save_audio(folder / "clean" / f"{source}.wav", music_like(seconds, rate, seed + index), rate)
        rows.append(
            {"path": str(clean), "reference": str(clean), "codec": "clean", "bitrate_kbps": math.inf,
             "source_id": source, "visqol_moslqo": 5.0}
        )
        jobs.extend((clean, source, codec, kbps) for codec in codecs for kbps in bitrates)
        for kind, settings in (degradations or {}).items():
            samples = load_audio(clean)[0]
            for setting in settings:
                out = save_audio(folder / kind / f"{source}_{setting:g}.wav", degrade(samples, kind, setting, rate, index), rate)
                rows.append(
                    {"path": str(out), "reference": str(clean), "codec": kind, "bitrate_kbps": None, "setting": setting,
                     "source_id": source, "visqol_moslqo": spectral_label(samples, load_audio(out)[0], rate)}
                )

    def run(job: tuple[Path, str, str, int]) -> dict:
        clean, source, codec, kbps = job
        out = code(clean, codec, kbps, folder / codec / f"{source}_{kbps}k.wav")
        label = spectral_label(load_audio(clean)[0], load_audio(out)[0], rate)
        return {"path": str(out), "reference": str(clean), "codec": codec, "bitrate_kbps": float(kbps), "setting": kbps,
                "source_id": source, "visqol_moslqo": label}

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows.extend(pool.map(run, jobs))
    return write_manifest(folder / "manifest.jsonl", rows)
