"""CDPAM (Manocha et al., ICASSP 2021): a learned full-reference perceptual audio distance.

The `cdpam` wheel ships the trained network (`CDPAM_trained/scratchJNDdefault_best_model.pth`),
but its Python code imports librosa and resampy at import time and uses NumPy
APIs removed in NumPy 1.24. This module therefore re-implements the inference
path of `cdpam.CDPAM.forward` as plain torch modules whose parameter names and
shapes equal the checkpoint's, and reads the weights file from the installed
package without importing it:

- the base encoder: 16 Conv1d layers (kernel 15, 64 filters doubling every 4
  layers up to 1024), each followed by eval-mode BatchNorm and a leaky ReLU
  (slope 0.1), with the time axis decimated by 2 after every 4th layer; the
  features are averaged over time;
- the "acoustics" half of that 1024-d average (its first 512 values), L2-normalised;
- `model_dist` (`lossnet_dfl`): four linear layers 512-256-64-16-4 (leaky ReLU,
  slope 0.01, after the first three); the distance is the sum over layers of
  sum |w_l * (phi_l(test) - phi_l(reference))| with learned channel weights w_l.

Input is mono 22.05 kHz scaled like the package's `load_audio`:
`round(x * 32768)` for samples x in [-1, 1] (int16 range, not clipped).
The training-only JND classifier head (`model_classif.*`) in the checkpoint is not loaded.

Long audio: the encoder costs about 1.2 s of one CPU core per second of audio
(~24 s for a 10 s pair, ~0.7 GB peak memory) and its first layers hold 64 x frames floats. Signals
longer than `chunk_seconds` are encoded in chunks that overlap by the
network's receptive field (420 samples each side, rounded up to the encoder's
total decimation of 16), so memory stays bounded and the time average equals
the unchunked one up to float rounding. Embeddings of recently seen signals
are cached by content, so a reference shared by many test signals is encoded once.
Install: `pip install --no-deps cdpam` (torch is the only runtime need here).
"""

from __future__ import annotations

import hashlib
import pickle
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioqual.errors import AudioqualError
from audioqual.io import AudioLoadOptions, ChannelPolicy, prepare_samples
from audioqual.metrics.base import MetricInfo, PairMetric

CDPAM_RATE = 22050
INT16_SCALE = 32768.0  # the package's load_audio: np.round(x * 32768)
WEIGHTS_IN_PACKAGE = Path("CDPAM_trained") / "scratchJNDdefault_best_model.pth"
TRAINING_ONLY_PREFIX = "model_classif."  # JND classifier head, used in training only
ENCODER_LAYERS = 16
ENCODER_FILTERS = 64
KERNEL_SIZE = 15
LAYERS_PER_DECIMATION = 4
EMBEDDING_SIZE = 512  # the "acoustics" half of the 1024-d encoder output
DISTANCE_WIDTHS = (256, 64, 16, 4)
VALID_RANGE = (
    "distance >= 0 (0 = identical; lower is better; unbounded above); "
    "any input rate, resampled to 22.05 kHz; downmixed to mono"
)


class CDPAMEncoder(nn.Module):
    """CDPAM's `base_encoder`: waveform (batch, 1, frames) -> conv features (batch, channels, frames / 16)."""

    def __init__(self, layers: int = ENCODER_LAYERS, filters: int = ENCODER_FILTERS, kernel_size: int = KERNEL_SIZE):
        super().__init__()
        self.layers = layers
        self.kernel_size = kernel_size
        self.encoder = nn.ModuleList()
        self.ebatch = nn.ModuleList()
        channels_in, channels = 1, filters
        for index in range(layers):
            if (index + 1) % LAYERS_PER_DECIMATION == 0:
                channels *= 2
            self.encoder.append(nn.Conv1d(channels_in, channels, kernel_size, padding=kernel_size // 2))
            self.ebatch.append(nn.BatchNorm1d(channels))
            channels_in = channels

    @property
    def decimation(self) -> int:
        """Input samples per output frame."""
        return 2 ** (self.layers // LAYERS_PER_DECIMATION)

    @property
    def receptive_radius(self) -> int:
        """Input samples on each side of an output frame that reach it."""
        half = self.kernel_size // 2
        return sum(half * 2 ** (index // LAYERS_PER_DECIMATION) for index in range(self.layers))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform
        for index in range(self.layers):
            x = F.leaky_relu(self.ebatch[index](self.encoder[index](x)), 0.1)
            if (index + 1) % LAYERS_PER_DECIMATION == 0:
                x = x[:, :, ::2]
        return x


class CDPAMDistance(nn.Module):
    """CDPAM's `model_dist` (lossnet_dfl): weighted L1 distance between deep features of two embeddings."""

    def __init__(self, input_size: int = EMBEDDING_SIZE, widths: tuple[int, ...] = DISTANCE_WIDTHS):
        super().__init__()
        self.convs = nn.ModuleList()
        self.chan_w = nn.ParameterList()
        size = input_size
        for index, width in enumerate(widths):
            last = index == len(widths) - 1
            self.convs.append(nn.Sequential(nn.Linear(size, width)) if last
                              else nn.Sequential(nn.Linear(size, width), nn.LeakyReLU()))  # fmt: skip
            self.chan_w.append(nn.Parameter(torch.zeros(width)))  # learned channel weights, from the checkpoint
            size = width

    def forward(self, reference: torch.Tensor, test: torch.Tensor) -> torch.Tensor:
        """(batch, input_size) embeddings -> (batch,) distances."""
        distance = torch.zeros(reference.shape[0], dtype=reference.dtype, device=reference.device)
        for layer, weight in zip(self.convs, self.chan_w):
            reference, test = layer(reference), layer(test)
            distance = distance + torch.sum(torch.abs((test - reference) * weight), dim=1)
        return distance


class CDPAMNet(nn.Module):
    """The inference part of CDPAM's trained network; parameter names match the checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.base_encoder = CDPAMEncoder()
        self.model_dist = CDPAMDistance()

    def embed(self, waveform: torch.Tensor, chunk_frames: int | None = None) -> torch.Tensor:
        """Normalised "acoustics" embedding (batch, 512) of int16-scaled waveforms (batch, frames).

        With `chunk_frames`, the encoder runs on overlapping chunks of about that many
        samples and the time average is assembled from their exact central outputs.
        """
        features_sum, count = self._feature_sum(waveform, chunk_frames)
        average = features_sum / count
        acoustics = average[:, : average.shape[1] // 2]
        return F.normalize(acoustics, dim=1)

    def _feature_sum(self, waveform: torch.Tensor, chunk_frames: int | None) -> tuple[torch.Tensor, int]:
        frames = waveform.shape[-1]
        x = waveform[:, None, :]
        step = self.base_encoder.decimation
        if chunk_frames is None or frames <= chunk_frames:
            features = self.base_encoder(x)
            return features.sum(dim=2), features.shape[2]
        halo = -(-self.base_encoder.receptive_radius // step) * step
        core = max(step, chunk_frames // step * step)
        total, count = None, 0
        for start in range(0, frames, core):
            stop = min(start + core, frames)
            left, right = min(halo, start), min(halo, frames - stop)
            features = self.base_encoder(x[:, :, start - left: stop + right])
            first = left // step
            kept = features[:, :, first: first + -(-(stop - start) // step)]
            total = kept.sum(dim=2) if total is None else total + kept.sum(dim=2)
            count += kept.shape[2]
        return total, count


def cdpam_weights_path() -> Path:
    """The checkpoint inside the installed `cdpam` package, found without importing it."""
    from audioqual.packages import package_file

    return package_file("cdpam", WEIGHTS_IN_PACKAGE)


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a legacy-format state dict, refusing every global but the two it needs.

    `torch.load(weights_only=True)` cannot read this 2020 file (its pickle uses
    an opcode the safe loader does not support), so this stands in for it.
    """

    ALLOWED = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CDPAM checkpoint")
        return super().find_class(module, name)


_SAFE_PICKLE = types.SimpleNamespace(
    __name__="audioqual_cdpam_pickle",
    Unpickler=_StateDictUnpickler,
    load=lambda file, **kwargs: _StateDictUnpickler(file, **kwargs).load(),
)


def load_cdpam_net(weights: str | Path | None = None) -> CDPAMNet:
    """CDPAMNet in eval mode with the trained weights loaded strictly (installed package's file by default)."""
    path = Path(weights) if weights is not None else cdpam_weights_path()
    if not path.is_file():
        raise AudioqualError(f"CDPAM weights file {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_SAFE_PICKLE)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        raise AudioqualError(f"{path}: not a readable CDPAM checkpoint ({err})") from err
    state = checkpoint.get("state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise AudioqualError(f"{path}: CDPAM checkpoint has no 'state' dict")
    state = {k: v for k, v in state.items() if not k.startswith(TRAINING_ONLY_PREFIX)}
    net = CDPAMNet()
    expected = net.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(state) & set(expected) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong_shape:
        raise AudioqualError(
            f"{path}: CDPAM checkpoint does not match the network: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shape {wrong_shape[:5]}"
        )
    net.load_state_dict(state, strict=True)
    return net.eval()


def to_cdpam_scale(mono: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> CDPAM's input scale, as `cdpam.load_audio` does: round(x * 32768)."""
    return np.round(np.asarray(mono, dtype=np.float64) * INT16_SCALE).astype(np.float32)


class CDPAMMetric(PairMetric):
    """CDPAM distance of a test signal from its reference (headline key "cdpam", lower is better)."""

    info = MetricInfo(name="cdpam", higher_is_better=False, sample_rate=CDPAM_RATE,
                      channels=ChannelPolicy.DOWNMIX.value, valid_range=VALID_RANGE)  # fmt: skip

    def __init__(self, weights: str | None = None, chunk_seconds: float = 10.0, cache_size: int = 16) -> None:
        super().__init__()
        if chunk_seconds <= 0:
            raise AudioqualError(f"chunk_seconds must be positive, got {chunk_seconds}")
        self.weights = weights
        self.chunk_frames = int(round(chunk_seconds * CDPAM_RATE))
        self.cache_size = int(cache_size)
        self._net: CDPAMNet | None = None
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @property
    def net(self) -> CDPAMNet:
        """The trained network, loaded on first use."""
        if self._net is None:
            self._net = load_cdpam_net(self.weights)
        return self._net

    def score_pair(self, reference: np.ndarray, test: np.ndarray, sample_rate: int) -> dict[str, float]:
        """CDPAM distance of `test` from `reference`, both (channels, frames) or (frames,) at `sample_rate`."""
        ref = self.embedding(reference, sample_rate, "<reference>")
        deg = self.embedding(test, sample_rate, "<test>")
        with torch.inference_mode():
            distance = self.net.model_dist(ref, deg)
        return {"cdpam": float(distance[0])}

    def embedding(self, samples: np.ndarray, sample_rate: int, source: str = "<array>") -> torch.Tensor:
        """The (1, 512) normalised acoustics embedding of one signal (cached by content)."""
        options = AudioLoadOptions(sample_rate=CDPAM_RATE, channels=ChannelPolicy.DOWNMIX, allow_silence=True)
        mono, _ = prepare_samples(samples, sample_rate, options, source=source)
        scaled = to_cdpam_scale(mono[0])
        key = hashlib.blake2b(scaled.tobytes(), digest_size=16).hexdigest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        with torch.inference_mode():
            embedding = self.net.embed(torch.from_numpy(scaled)[None], self.chunk_frames)
        if self.cache_size > 0:
            self._cache[key] = embedding
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return embedding
