"""DistillMOS (Microsoft, pip `distillmos` 0.9.1, MIT) as a backbone: a small speech-quality network.

Stahl and Gamper, "Distillation and pruning for scalable self-supervised
representation-based speech quality assessment" (ICASSP 2025): a
convolution + transformer model distilled from an XLS-R-based speech quality
model (the paper gives the MOS corpora and unlabelled speech it was distilled
on; the wheel does not record them; variant 7 ships as
`distillmos/weights/distill_mos_v7.pt`). It predicts the MOS
(1..5) of 16 kHz speech. This module re-implements `distillmos.sqa.
ConvTransformerSQAModel` (and the `xls_r_sqa` modules it uses) in torch with
the checkpoint's parameter names, without importing the package (it imports
torchaudio and xls_r_sqa):

- input: 7.68 s crops (122880 samples). A shorter clip is zero-padded at the
  end to one crop; a longer one is cut into `ceil(overlength / 16000) + 1`
  crops starting at evenly spaced offsets from 0 to the end (hop <= 1 s), as
  the original's `segmenting_in_forward`. Each crop is divided by its peak
  (`x / (max|x| + 1e-8)`).
- compressed complex STFT: 20 ms Hann window, 10 ms hop, reflection padding of
  80 samples, magnitude compressed to the power 0.3 (phase kept): 2 x 161 x 768;
- `cnn`: six 3x3 Conv2d layers (64, 64, 128, 256, 256, 256 channels; frequency
  stride 2 from the second, time stride 2 in the last) with leaky ReLU (0.1):
  256 channels x 4 frequencies = 1024 values every 20 ms (384 frames per crop);
- batch norm (twice), linear projection to 200 and a learned-length (384)
  sinusoidal position encoding, then 7 post-norm transformer encoder layers
  (200-d, 8 heads, feed-forward 400, ReLU), batch norm, attention pooling and a
  sigmoid: MOS = 1 + 4 * sigmoid(...), averaged over the crops.

Exposed layers, 50 frames per second (frame n centred on sample 320 n + 80):
`cnn` (1024), `transformer.position_encoding` (200, the transformer's input),
`transformer_encoder.layers.0` ... `.6` (200 each), and `mos` (1 value, one
frame: exactly the original's output). For a clip longer than one crop the
frame-level layers are stitched from the crops: frame n comes from the crop
whose centre is nearest, at that crop's frame nearest in time (crop offsets
are not multiples of 320 samples, so a frame may be up to 10 ms off). A clip
shorter than a crop keeps only the frames over its own samples
(`ceil(T / 320)`), though the transformer saw the zero padding too.
Cost: every clip costs at least one full 7.68 s crop.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioqual.backbones.encoders.base import EncoderLayer, PretrainedEncoder
from audioqual.errors import ModelLoadError
from audioqual.packages import package_file

SAMPLE_RATE = 16000
SEQ_LEN = 122880  # samples per crop (7.68 s)
MAX_HOP_LEN = 16000
HOP, WIN = 160, 320
COMPRESSION = 0.3  # spectrogram magnitude compressed to this power, phase kept
FRAME_SAMPLES = 2 * HOP  # the last conv halves the time resolution
CROP_FRAMES = SEQ_LEN // FRAME_SAMPLES  # 384, the position encoding's length
CNN_LAYERS = 6
CNN_CHANNELS = 256
CNN_FREQUENCIES = 4
DIM = 200
HEADS = 8
TRANSFORMER_LAYERS = 7


class _SpecCNN(nn.Module):
    """distillmos.sqa._ComplexSpecCNN: six Conv2d + LeakyReLU over the compressed complex spectrogram."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels_in = 2
        for index in range(CNN_LAYERS):
            channels = min(64 * 2 ** max(index - 1, 0), CNN_CHANNELS)
            stride = (2 if index >= 1 else 1, 2 if index == CNN_LAYERS - 1 else 1)
            layers += [nn.Conv2d(channels_in, channels, (3, 3), stride=stride, padding=(0, 1)), nn.LeakyReLU(0.1)]
            channels_in = channels
        self.cnn = nn.Sequential(*layers)
        self.register_buffer("window", torch.hann_window(WIN), persistent=False)

    def spectrogram(self, crops: torch.Tensor) -> torch.Tensor:
        """[N, 122880] peak-normalised crops -> compressed complex spectrogram [N, 2 (re, im), 161, 768]."""
        padded = F.pad(crops, ((WIN - HOP) // 2, (WIN - HOP) // 2), mode="reflect")
        spec = torch.view_as_real(torch.stft(padded, n_fft=WIN, hop_length=HOP, win_length=WIN, center=False,
                                             return_complex=True, window=self.window))  # fmt: skip
        magnitude = torch.sum(spec**2, dim=-1, keepdim=True) ** 0.5
        compressed = torch.clip(magnitude, 1e-12) ** COMPRESSION * spec / torch.clip(magnitude, 1e-12)
        return compressed.permute(0, 3, 1, 2)

    def convolve(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Compressed spectrogram [N, 2, 161, 768] -> [N, 384, 1024]."""
        x = self.cnn(spectrogram)
        return torch.flatten(x, 1, -2).transpose(1, 2)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        """[N, 122880] peak-normalised crops -> [N, 384, 1024]."""
        return self.convolve(self.spectrogram(crops))


class _PositionEncoding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pe", torch.zeros(1, CROP_FRAMES, DIM))  # read from the checkpoint


class _Transformer(nn.Module):
    """xls_r_sqa.transformer_wrapper.TransformerWrapper (dropout 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(CNN_CHANNELS * CNN_FREQUENCIES)
        self.position_encoding = _PositionEncoding()
        self.linear_proj = nn.Linear(CNN_CHANNELS * CNN_FREQUENCIES, DIM)
        layer = nn.TransformerEncoderLayer(DIM, HEADS, dim_feedforward=2 * DIM, dropout=0.0, batch_first=True)
        self.transformer_encoder = nn.TransformerEncoder(layer, TRANSFORMER_LAYERS, enable_nested_tensor=False)


class _PoolAttFF(nn.Module):
    """xls_r_sqa.pool_att_ff.PoolAttFF: attention pooling, then a linear output."""

    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(DIM, 2 * DIM)
        self.linear2 = nn.Linear(2 * DIM, 1)
        self.linear3 = nn.Linear(DIM, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attention = F.softmax(self.linear2(F.relu(self.linear1(x))).transpose(2, 1), dim=2)
        return self.linear3(torch.bmm(attention, x).squeeze(1))


class _SingleLayerModel(nn.Module):
    """xls_r_sqa.sqa_model.SingleLayerModel's modules (its forward is unrolled in `DistillMOSEncoder`)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm_input = nn.BatchNorm1d(CNN_CHANNELS * CNN_FREQUENCIES)
        self.transformer = _Transformer()
        self.norm_trans = nn.BatchNorm1d(DIM)
        self.pool = _PoolAttFF()


def crop_starts(total: int) -> list[int]:
    """Start samples of the original's crops of a clip of `total` samples."""
    overlength = max(total - SEQ_LEN, 0)
    hops = int(np.ceil(overlength / MAX_HOP_LEN)) + 1
    return [int(c * overlength) for c in np.linspace(0, 1, hops)]


def _batch_norm(norm: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    return norm(x.transpose(1, 2)).transpose(1, 2)


class DistillMOSEncoder(PretrainedEncoder):
    """DistillMOS: compressed-spectrogram CNN, 7 transformer layers and the MOS prediction."""

    encoder_name = "distillmos"
    distribution = "distillmos"

    def __init__(self, variant: str = "default"):
        layers = [EncoderLayer("cnn", CNN_CHANNELS * CNN_FREQUENCIES), EncoderLayer("transformer.position_encoding", DIM)]
        layers += [EncoderLayer(f"transformer_encoder.layers.{index}", DIM) for index in range(TRANSFORMER_LAYERS)]
        layers.append(EncoderLayer("mos", 1))
        super().__init__(variant, SAMPLE_RATE, layers, frames_per_second=SAMPLE_RATE / FRAME_SAMPLES)
        self.cnn = _SpecCNN()
        self.transformer_pool_attn = _SingleLayerModel()

    @classmethod
    def from_package(cls, variant: str = "default") -> DistillMOSEncoder:
        path = package_file("distillmos", "weights/distill_mos_v7.pt", cls.distribution)
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            model = cls(variant)
            model.load_state_dict(checkpoint["model"])
        except Exception as err:
            raise ModelLoadError(f"{path}: not a DistillMOS v7 checkpoint this port can load ({err})") from err
        return model.eval()

    def minimum_samples(self) -> int:
        return FRAME_SAMPLES  # one output frame (shorter clips are zero-padded to a crop anyway)

    def crop_states(self, crops: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Frame-level layers [N, 384, D] and the normalised quality in [0, 1] [N] of [N, 122880] crops."""
        crops = crops / (torch.max(torch.abs(crops), dim=1, keepdim=True).values + 1e-8)
        states = self.spectrogram_states(self.cnn.spectrogram(crops))
        model = self.transformer_pool_attn
        pooled = model.pool(_batch_norm(model.norm_trans, states[-1])).squeeze(-1)
        return states, torch.sigmoid(pooled)

    def spectrogram_states(self, spectrogram: torch.Tensor,
                           last: int = TRANSFORMER_LAYERS + 1) -> list[torch.Tensor]:
        """Frame-level layers [N, 384, D] from the compressed spectrogram, up to layer index `last`.

        The ONNX export of a no-reference model starts here: its numpy front end
        (audioqual.nr.exported) computes the spectrogram.
        """
        model = self.transformer_pool_attn
        features = self.cnn.convolve(spectrogram)
        x = _batch_norm(model.norm_input, features)
        x = _batch_norm(model.transformer.norm, x)
        x = model.transformer.linear_proj(x)
        x = x + model.transformer.position_encoding.pe.expand(x.shape)
        states = [features, x]
        for layer in model.transformer.transformer_encoder.layers[: max(last - 1, 0)]:
            x = layer(x)
            states.append(x)
        return states[: last + 1]

    def layer_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        batch, total = waveforms.shape
        starts = crop_starts(total)
        padded = F.pad(waveforms, (0, max(SEQ_LEN - total, 0)))
        crops = torch.cat([padded[:, start : start + SEQ_LEN] for start in starts], dim=0)  # crop-major, as the original
        states, quality = self.crop_states(crops)
        mos = 1 + 4 * quality.reshape(len(starts), batch).mean(dim=0)
        frames = math.ceil(total / FRAME_SAMPLES)
        centres = torch.arange(frames, dtype=torch.float64) * FRAME_SAMPLES
        offsets = torch.tensor(starts, dtype=torch.float64)
        owner = torch.argmin((centres[:, None] - (offsets[None, :] + SEQ_LEN / 2)).abs(), dim=1)  # nearest crop
        local = torch.round((centres - offsets[owner]) / FRAME_SAMPLES).long().clamp(0, CROP_FRAMES - 1)
        rows = (owner * batch)[None, :] + torch.arange(batch)[:, None]  # [B, F] index into the crop batch
        index = rows.to(waveforms.device), local.to(waveforms.device)[None, :].expand(batch, -1)
        stitched = [state[index[0], index[1]] for state in states]
        return [*stitched, mos[:, None, None]]
