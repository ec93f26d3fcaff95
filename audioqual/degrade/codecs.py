"""FFmpeg encode/decode round trips (AAC, Opus, MP3) that keep coded audio sample-aligned.

Encoder delay and padding are removed by the containers, which FFmpeg's decoders
honour: MP4 edit lists for AAC (1024 priming samples), Ogg Opus pre-skip (312
samples) and the LAME tag of MP3 (encoder delay + decoder delay + padding). The
decoded signal is then trimmed or zero-padded to the input length; any residual
lag is measured by cross-correlation in `audioqual.io.align`.
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from audioqual.errors import AudioqualError
from audioqual.io import resample
from audioqual.io.ffmpeg import ffmpeg_executable

WORK_RATE = 48000
"""Rate at which clips are cut and coded: Opus's native rate and ViSQOL audio mode's rate."""

MPEG1_RATES = (32000, 44100, 48000)
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
MP3_MPEG1_MIN_KBPS = 32


@dataclass(frozen=True)
class Codec:
    """One lossy codec: its FFmpeg encoder and the container that carries delay information."""

    name: str
    encoder: str
    suffix: str
    options: tuple[str, ...] = ()  # extra encoder arguments

    def encoder_rate(self, bitrate_kbps: float, input_rate: int) -> int:
        """Sample rate handed to the encoder for this bitrate.

        Opus only accepts 8/12/16/24/48 kHz and always runs at 48 kHz here. MPEG-1
        Layer III has no bitrate below 32 kbps, so LAME would silently code a
        16 kbps request at 32 kbps; lower bitrates therefore use MPEG-2 (half rate),
        as LAME's own front end does.
        """
        if self.name == "opus":
            return 48000
        if self.name == "mp3":
            rate = input_rate if input_rate in MPEG1_RATES else 48000
            return rate if bitrate_kbps >= MP3_MPEG1_MIN_KBPS else rate // 2
        return input_rate if input_rate in AAC_RATES else 48000


CODECS: dict[str, Codec] = {
    "aac": Codec("aac", "aac", ".m4a"),
    # Intensity-stereo phase inversion cancels in a mono downmix, which ViSQOL and MERT both take;
    # libopus recommends disabling it when a downmix is expected.
    "opus": Codec("opus", "libopus", ".opus", options=("-apply_phase_inv", "0")),
    "mp3": Codec("mp3", "libmp3lame", ".mp3"),
}


@dataclass(frozen=True)
class RoundTrip:
    """Decoded audio of one encode/decode round trip."""

    samples: np.ndarray  # (channels, frames) at the input rate, same shape as the input
    coded_kbps: float  # size of the coded file (container included) over its duration
    encoder_rate: int


@functools.lru_cache(maxsize=4)
def available_encoders(executable: str | None = None) -> frozenset[str]:
    """Names of the audio encoders the ffmpeg binary offers."""
    executable = executable or ffmpeg_executable()
    result = subprocess.run([executable, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=60)
    names = set()
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 6 and parts[0].startswith("A"):
            names.add(parts[1])
    return frozenset(names)


def require_codecs(names: list[str]) -> None:
    """Raise AudioqualError naming every requested codec the ffmpeg binary cannot encode."""
    unknown = [n for n in names if n not in CODECS]
    if unknown:
        raise AudioqualError(f"unknown codec(s) {unknown}; known: {sorted(CODECS)}")
    encoders = available_encoders()
    missing = [f"{n} (encoder {CODECS[n].encoder})" for n in names if CODECS[n].encoder not in encoders]
    if missing:
        raise AudioqualError(
            f"ffmpeg at {ffmpeg_executable()} lacks encoder(s): {', '.join(missing)}; "
            "install imageio-ffmpeg or an ffmpeg built with them"
        )


def code_round_trip(samples: np.ndarray, rate: int, codec: str, bitrate_kbps: float) -> RoundTrip:
    """Encode (channels, frames) float samples with `codec` at `bitrate_kbps`, decode, and align.

    The result has the input's shape and rate. Raises AudioqualError when ffmpeg fails.
    """
    spec = CODECS[codec]
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 2 or samples.shape[1] == 0:
        raise AudioqualError(f"expected non-empty (channels, frames) samples, got shape {samples.shape}")
    channels, frames = samples.shape
    enc_rate = spec.encoder_rate(bitrate_kbps, rate)
    to_encode = resample(samples, rate, enc_rate)
    with tempfile.TemporaryDirectory(prefix="audioqual-codec-") as tmp:
        coded = os.path.join(tmp, "coded" + spec.suffix)
        encode = [
            ffmpeg_executable(), "-nostdin", "-v", "error", "-f", "f32le", "-ar", str(enc_rate),
            "-ac", str(channels), "-i", "pipe:0", "-c:a", spec.encoder, "-b:a", f"{bitrate_kbps:g}k", *spec.options,
            "-y", coded,
        ]  # fmt: skip
        payload = np.ascontiguousarray(to_encode.T).tobytes()
        _run(encode, payload, f"encoding {codec} at {bitrate_kbps:g} kbps")
        coded_kbps = os.path.getsize(coded) * 8 / 1000 / (frames / rate)
        decode = [ffmpeg_executable(), "-nostdin", "-v", "error", "-i", coded,
                  "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]  # fmt: skip
        raw = _run(decode, None, f"decoding {codec} at {bitrate_kbps:g} kbps")
    decoded = np.frombuffer(raw, dtype=np.float32).reshape(-1, channels).T
    decoded = resample(decoded, enc_rate, rate)
    return RoundTrip(samples=fit_length(decoded, frames), coded_kbps=coded_kbps, encoder_rate=enc_rate)


def fit_length(samples: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad (channels, frames) samples at the end to exactly `frames`."""
    if samples.shape[1] >= frames:
        return np.ascontiguousarray(samples[:, :frames])
    pad = np.zeros((samples.shape[0], frames - samples.shape[1]), dtype=samples.dtype)
    return np.concatenate([samples, pad], axis=1)


def _run(command: list[str], stdin: bytes | None, what: str) -> bytes:
    result = subprocess.run(command, input=stdin, capture_output=True, timeout=600)
    if result.returncode != 0:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else f"exit code {result.returncode}"
        raise AudioqualError(f"ffmpeg failed {what}: {detail}")
    return result.stdout
