"""A no-reference model exported to ONNX, scored with numpy and onnxruntime alone (no torch).

`audioqual score` with no --model loads the shipped default this way, so a fresh
process answers in well under the ~1-2 s that importing torch alone costs. The
export (`audioqual.nr.export.export_onnx`) holds the encoder's network from its
input features onwards and the MultiGauss head; the encoder's front end (resemblyzer:
volume normalisation, STFT, mel filterbank; DistillMOS: peak normalisation, compressed
complex STFT) is done here in numpy, as the torch encoder does it.
`tests/test_default_nr_model.py` checks the two paths agree on real clips.

Outputs per clip: each aspect's mean and standard deviation (from the covariance
S = F F^T), the covariance on request, and `overall` = the PQ aspect mapped from the
1-10 aesthetics scale to 1-5 (with its std scaled alike).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from audioqual.arrays import repeat_crop
from audioqual.data.manifest import ManifestEntry
from audioqual.errors import AudioqualError, ModelLoadError
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio

EXPORT_FILE = "export.json"
ONNX_FILE = "model.onnx"
FORMAT_VERSION = 1
OVERALL_ASPECT = "PQ"


def _hann_stft(padded: np.ndarray, window: int, hop: int) -> np.ndarray:
    """[frames, window // 2 + 1] spectrum of already padded samples: periodic Hann frames every `hop`, no centring."""
    frames = 1 + (padded.size - window) // hop
    index = np.arange(window)[None, :] + hop * np.arange(frames)[:, None]
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)).astype(np.float32)
    return np.fft.rfft(padded[index] * hann, axis=1)


def resemblyzer_features(waveform: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """resemblyzer's input [1, frames, 40] of a mono 16 kHz clip: volume to >= -30 dBFS, mel power spectrogram."""
    x = waveform.astype(np.float64)
    rms = math.sqrt(float(np.mean(x**2))) if x.size else 0.0
    target = 10.0 ** (settings["target_dbfs"] / 20.0)
    if 0 < rms < target:
        x = x * (target / rms)
    x = x.astype(np.float32)
    n_fft, hop = settings["n_fft"], settings["hop"]
    spectrum = _hann_stft(np.pad(x, (n_fft // 2, n_fft // 2)), n_fft, hop)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel_basis = np.asarray(settings["mel_basis"], dtype=np.float32)
    return (power @ mel_basis.T)[None].astype(np.float32)


def distillmos_features(waveform: np.ndarray, settings: dict[str, Any]) -> np.ndarray:
    """DistillMOS's input [1, 2, 161, frames] of one mono 16 kHz crop: peak-normalised, compressed complex STFT.

    As `DistillMOSEncoder`: x / (max|x| + 1e-8), reflection padding of (window - hop) / 2, periodic Hann
    window, no centring; magnitude compressed to the power 0.3 with the phase kept (real, imaginary parts).
    """
    x = waveform.astype(np.float32)
    x = x / (np.float32(np.abs(x).max(initial=0.0)) + np.float32(1e-8))
    window, hop = settings["window"], settings["hop"]
    padded = np.pad(x, ((window - hop) // 2, (window - hop) // 2), mode="reflect")
    spectrum = _hann_stft(padded, window, hop).T  # [bins, frames]
    magnitude = np.maximum(np.abs(spectrum), 1e-12)
    compressed = spectrum * (magnitude ** settings["compression"] / magnitude)
    return np.stack([compressed.real, compressed.imag])[None].astype(np.float32)


FRONT_ENDS = {"resemblyzer": resemblyzer_features, "distillmos": distillmos_features}


class ExportedNRModel:
    """An exported no-reference model: numpy front end + ONNX network; scores files or samples."""

    def __init__(self, directory: str | Path, num_threads: int = 2):
        self.directory = Path(directory)
        path = self.directory / EXPORT_FILE
        try:
            self.config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ModelLoadError(f"{path}: not an exported no-reference model ({err})") from err
        if self.config.get("format_version") != FORMAT_VERSION:
            raise ModelLoadError(f"{path}: format_version {self.config.get('format_version')!r}, this audioqual "
                                 f"reads {FORMAT_VERSION}: upgrade audioqual or re-export the model")  # fmt: skip
        encoder = self.config["encoder"]["name"]
        if encoder not in FRONT_ENDS:
            raise ModelLoadError(f"{path}: no numpy front end for encoder {encoder!r}")
        self.front_end = FRONT_ENDS[encoder]
        self.aspects: list[str] = list(self.config["aspects"])
        self.sample_rate = int(self.config["sample_rate"])
        self.crop = int(round(self.config["crop_seconds"] * self.sample_rate))
        self.num_threads = num_threads
        self._session = None

    @property
    def session(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.num_threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(self.directory / ONNX_FILE), options,
                                                 providers=["CPUExecutionProvider"])  # fmt: skip
        return self._session

    def network_input(self, mono: np.ndarray) -> np.ndarray:
        """The ONNX graph's input for a mono clip at the model's rate (repeat-cropped as in training)."""
        return self.front_end(repeat_crop(mono, self.crop), self.config["encoder"]["front_end"])

    def predict(self, mono: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Means [k] and covariance [k, k] of one mono clip at `sample_rate`."""
        mean, factor = self.session.run(None, {"features": self.network_input(mono)})
        factor = np.triu(factor[0]) if self.config["factor_upper"] else np.tril(factor[0])
        return mean[0].astype(np.float64), (factor @ factor.T).astype(np.float64)

    def score_samples(self, samples: np.ndarray, covariance: bool = False) -> dict[str, Any]:
        """Scores of a (channels, frames) or (frames,) clip already at `sample_rate`."""
        mono = samples.mean(axis=0) if samples.ndim == 2 else samples
        mean, cov = self.predict(np.ascontiguousarray(mono, dtype=np.float32))
        row: dict[str, Any] = {}
        std = np.sqrt(np.diag(cov))
        for index, aspect in enumerate(self.aspects):
            row[aspect] = float(mean[index])
            row[f"{aspect}_std"] = float(std[index])
        lo, hi = self.config["aspect_scale"]
        o_lo, o_hi = self.config["overall_scale"]
        scale = (o_hi - o_lo) / (hi - lo)
        pq = self.aspects.index(OVERALL_ASPECT)
        row["overall"] = float(np.clip(o_lo + (mean[pq] - lo) * scale, o_lo, o_hi))
        row["overall_std"] = float(std[pq] * scale)
        if covariance:
            row["covariance"] = cov.tolist()
        return row

    def load(self, entry: ManifestEntry) -> np.ndarray:
        options = AudioLoadOptions(sample_rate=self.sample_rate, channels=ChannelPolicy.DOWNMIX)
        samples, _ = load_audio(entry.path, options, start_time=entry.start_time, end_time=entry.end_time)
        return samples

    # the batch interface of audioqual.nr.batch.score_entries
    def prepare(self, entries: list[ManifestEntry]) -> dict[str, str]:
        _ = self.session
        return {}

    def score_one(self, entry: ManifestEntry, covariance: bool = False) -> dict[str, Any]:
        samples = self.load(entry)
        if samples.shape[-1] < int(self.config["minimum_samples"]):
            raise AudioqualError(f"{entry.path}: too short ({samples.shape[-1]} samples at {self.sample_rate} Hz; "
                                 f"needs {self.config['minimum_samples']})")  # fmt: skip
        return self.score_samples(samples, covariance)


def is_exported(directory: str | Path) -> bool:
    return (Path(directory) / EXPORT_FILE).is_file()
