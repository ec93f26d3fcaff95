"""Resemblyzer's GE2E speaker encoder (Resemble AI, pip `Resemblyzer` 0.1.4, Apache-2.0) as a backbone.

The network (Wan et al., "Generalized end-to-end loss for speaker
verification", ICASSP 2018, from Corentin Jemine's Real-Time Voice Cloning,
whose documentation names LibriSpeech and VoxCeleb 1 and 2 as its training
speech; the wheel itself does not record it): a 40-band mel power spectrogram (not logarithmic) of 16 kHz
audio, 25 ms Hann windows every 10 ms, into 3 LSTM layers of 256 units, a
linear projection to 256 with ReLU, L2-normalised. The weights are read from
`resemblyzer/pretrained.pt` in the installed wheel without importing the
package (its `audio` module needs librosa and webrtcvad).

Preprocessing reproduced here, in torch:
- `normalize`: the volume step of `resemblyzer.preprocess_wav`: a clip quieter
  than -30 dBFS RMS is raised to -30 dBFS (louder clips are left alone). Its
  other step, trimming silences with webrtcvad, is NOT done: the project
  feeds whole clips. An all-zero clip stays zero (the original gives NaN).
- the mel frontend of `resemblyzer.audio.wav_to_mel_spectrogram`, i.e.
  `librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160,
  n_mels=40)` as librosa >= 0.10 computes it: periodic Hann window,
  centred frames with zero padding (`pad_mode="constant"`; librosa < 0.10
  padded by reflection, which changes only the first and last two frames),
  power 2, Slaney-style mel filterbank (computed here in numpy, as
  `librosa.filters.mel(..., htk=False, norm="slaney")`).

Exposed layers (100 frames per second, frame n centred on sample 160 n):
- `lstm.0`, `lstm.1`, `lstm.2`: each LSTM layer's output sequence, the LSTM run
  once over the whole clip from a zero state (the original runs it on 1.6 s
  partial utterances; over a longer clip the states carry on);
- `linear`: ReLU(linear(lstm.2)) per frame, and `embedding`: that, L2-normalised;
- `partial_embeddings`: the original's `embed_utterance` partials - 160-frame
  (1.6 s) windows, 1.3 per second (`compute_partial_slices(rate=1.3,
  min_coverage=0.75)`, the clip zero-padded to cover the last one), each
  encoded from a zero state and its last frame's normalised projection kept;
- `utterance_embedding`: one frame, the L2-normalised mean of the partials:
  exactly `VoiceEncoder.embed_utterance(wav)` (its pooled value is that embedding).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioqual.backbones.encoders.base import EncoderLayer, PretrainedEncoder
from audioqual.errors import ModelLoadError
from audioqual.packages import package_file

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
HIDDEN = 256
EMBEDDING = 256
LSTM_LAYERS = 3
PARTIAL_FRAMES = 160  # 1.6 s
PARTIAL_RATE = 1.3  # partial utterances per second (embed_utterance's default)
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0


def slaney_mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (fmin 0, fmax sr/2, Slaney scale and area norm)."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        hz = np.asarray(hz, dtype=np.float64)
        mel = hz / (200.0 / 3)
        log_region = hz >= 1000.0
        return np.where(log_region, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        hz = mel * (200.0 / 3)
        return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), hz)

    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_freqs = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2 : n_mels + 2] - mel_freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


def partial_slices(n_samples: int) -> list[tuple[int, int]]:
    """Mel-frame ranges of embed_utterance's partial utterances (VoiceEncoder.compute_partial_slices)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    frame_step = int(np.round((SAMPLE_RATE / PARTIAL_RATE) / HOP))
    steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
    slices = [(i, i + PARTIAL_FRAMES) for i in range(0, steps, frame_step)]
    start = slices[-1][0] * HOP
    coverage = (n_samples - start) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(slices) > 1:
        slices = slices[:-1]
    return slices


class ResemblyzerEncoder(PretrainedEncoder):
    """GE2E speaker encoder of Resemblyzer: 3 LSTM layers, projection and speaker embeddings."""

    encoder_name = "resemblyzer"
    distribution = "Resemblyzer"

    def __init__(self, variant: str = "default"):
        layers = [EncoderLayer(f"lstm.{index}", HIDDEN) for index in range(LSTM_LAYERS)]
        layers += [EncoderLayer("linear", EMBEDDING), EncoderLayer("embedding", EMBEDDING),
                   EncoderLayer("partial_embeddings", EMBEDDING), EncoderLayer("utterance_embedding", EMBEDDING)]  # fmt: skip
        super().__init__(variant, SAMPLE_RATE, layers, frames_per_second=SAMPLE_RATE / HOP)
        # One single-layer LSTM per layer, so each layer's sequence is available (same maths as nn.LSTM(num_layers=3)).
        self.lstm = nn.ModuleList(
            nn.LSTM(N_MELS if index == 0 else HIDDEN, HIDDEN, 1, batch_first=True) for index in range(LSTM_LAYERS)
        )
        self.linear = nn.Linear(HIDDEN, EMBEDDING)
        self.register_buffer("mel_basis", torch.from_numpy(slaney_mel_filterbank()), persistent=False)
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)

    @classmethod
    def from_package(cls, variant: str = "default") -> ResemblyzerEncoder:
        path = package_file("resemblyzer", "pretrained.pt", cls.distribution)
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ModelLoadError(f"{path}: not a readable Resemblyzer checkpoint ({err})") from err
        source = checkpoint.get("model_state", {}) if isinstance(checkpoint, dict) else {}
        model = cls(variant)
        state = {}
        for key in model.state_dict():
            if key.startswith("lstm."):  # lstm.K.weight_ih_l0 <- lstm.weight_ih_lK
                _, index, name = key.split(".")
                state[key] = source.get(f"lstm.{name[:-1]}{index}")
            else:
                state[key] = source.get(key)
        missing = [key for key, value in state.items() if value is None]
        if missing:
            raise ModelLoadError(f"{path}: Resemblyzer checkpoint lacks {missing[:4]}")
        model.load_state_dict(state)
        return model.eval()

    def minimum_samples(self) -> int:
        return N_FFT  # one full 25 ms analysis window

    def normalize(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """preprocess_wav's volume step: raise clips quieter than -30 dBFS RMS to -30 dBFS (never lower)."""
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], device=waveforms.device)
        valid = torch.arange(waveforms.shape[1], device=waveforms.device)[None, :] < lengths[:, None]
        power = (waveforms.double() ** 2 * valid).sum(dim=1) / lengths.clamp_min(1).double()
        rms = power.sqrt()
        target = 10.0 ** (TARGET_DBFS / 20.0)
        gain = torch.where((rms < target) & (rms > 0), target / rms.clamp_min(1e-30), torch.ones_like(rms))
        return (waveforms.double() * gain[:, None]).to(waveforms.dtype)

    def mel(self, waveforms: torch.Tensor) -> torch.Tensor:
        """[B, T] -> mel power spectrogram [B, 1 + T // 160, 40]."""
        spec = torch.stft(waveforms, N_FFT, HOP, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)  # fmt: skip
        power = spec.real**2 + spec.imag**2
        return torch.matmul(self.mel_basis, power).transpose(1, 2)

    def _run(self, mels: torch.Tensor) -> list[torch.Tensor]:
        states, x = [], mels
        for lstm in self.lstm:
            x, _ = lstm(x)
            states.append(x)
        projected = F.relu(self.linear(x))
        return [*states, projected, projected / projected.norm(dim=2, keepdim=True).clamp_min(1e-12)]

    def layer_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        total = waveforms.shape[1]
        slices = partial_slices(total)
        stop = slices[-1][1] * HOP
        padded = F.pad(waveforms, (0, max(stop - total, 0)))
        mels = self.mel(padded)
        # zero padding at the end changes no frame of the unpadded clip (librosa pads with zeros too)
        frame_states = self._run(mels[:, : 1 + total // HOP])
        partial_mels = torch.stack([mels[:, a:b] for a, b in slices], dim=1).flatten(0, 1)
        partial_embeddings = self._run(partial_mels)[-1][:, -1].reshape(waveforms.shape[0], len(slices), EMBEDDING)
        mean = partial_embeddings.mean(dim=1, keepdim=True)
        utterance = mean / mean.norm(dim=2, keepdim=True).clamp_min(1e-12)
        return [*frame_states, partial_embeddings, utterance]
