"""CDPAM's audio encoder (pip `cdpam` 0.0.6) as a backbone, on the project's own port in `audioqual.baselines.cdpam`.

Manocha, Jin, Zhang and Finkelstein, "CDPAM: contrastive learning for
perceptual audio similarity" (ICASSP 2021): trained on human just-noticeable-
difference judgements of perturbed speech (and triplet comparisons, contrastive
pretraining) to make a perceptual distance of 22.05 kHz audio. The network and
its loading (`CDPAMEncoder`, `load_cdpam_net`: 16 Conv1d layers of kernel 15,
64 filters doubling every 4 layers up to 1024, eval-mode batch norm and leaky
ReLU 0.1, time decimated by 2 after every 4th layer) are reused from
`audioqual.baselines.cdpam`; only the layer-wise read-out is added here.

Input scale: `normalize` is the package's `load_audio` scaling, round(x * 32768).

Exposed layers:
- `encoder.0` ... `encoder.15`: every conv layer's output (after batch norm and
  leaky ReLU, before that layer's decimation), widths 64 x3, 128 x4, 256 x4,
  512 x4, 1024. A layer at full rate would be 22050 frames a second (10 s of
  audio would need gigabytes once every layer is brought to one frame rate), so
  each is averaged over windows of 256 input samples (11.6 ms; 86.13 frames a
  second, frame n covers samples [256 n, 256 n + 256); the last window may be
  partial and is averaged over what it holds);
- `acoustics`: one frame, the 512-d L2-normalised "acoustics" embedding the
  CDPAM distance compares (the first half of the time-mean of the decimated
  last layer), exactly `CDPAMNet.embed`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from audioqual.backbones.encoders.base import EncoderLayer, PretrainedEncoder
from audioqual.baselines.cdpam import (
    CDPAM_RATE,
    EMBEDDING_SIZE,
    INT16_SCALE,
    LAYERS_PER_DECIMATION,
    CDPAMEncoder,
    load_cdpam_net,
)
from audioqual.errors import AudioqualError, ModelLoadError

WINDOW = 256  # input samples per exposed frame: 16 frames of the last (decimated) layer


class CDPAMEncoderBackbone(PretrainedEncoder):
    """CDPAM's base encoder: its 16 conv layers (time-averaged over 256 samples) and the acoustics embedding."""

    encoder_name = "cdpam"
    distribution = "cdpam"

    def __init__(self, variant: str = "default"):
        encoder = CDPAMEncoder()
        layers = [EncoderLayer(f"encoder.{index}", conv.out_channels) for index, conv in enumerate(encoder.encoder)]
        layers.append(EncoderLayer("acoustics", EMBEDDING_SIZE))
        super().__init__(variant, CDPAM_RATE, layers, frames_per_second=CDPAM_RATE / WINDOW)
        self.base_encoder = encoder

    @classmethod
    def from_package(cls, variant: str = "default") -> CDPAMEncoderBackbone:
        try:
            net = load_cdpam_net()
        except AudioqualError as err:
            raise ModelLoadError(str(err)) from err
        model = cls(variant)
        model.base_encoder.load_state_dict(net.base_encoder.state_dict())
        return model.eval()

    def minimum_samples(self) -> int:
        return WINDOW

    def normalize(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """cdpam.load_audio's scaling: round(x * 32768) (int16 range, not clipped)."""
        return torch.round(waveforms.double() * INT16_SCALE).to(waveforms.dtype)

    def conv_outputs(self, waveforms: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each layer's output [B, channels, frames] before its decimation, and the decimated last one."""
        encoder, x, outputs = self.base_encoder, waveforms[:, None, :], []
        for index in range(encoder.layers):
            x = F.leaky_relu(encoder.ebatch[index](encoder.encoder[index](x)), 0.1)
            outputs.append(x)
            if (index + 1) % LAYERS_PER_DECIMATION == 0:
                x = x[:, :, ::2]
        return outputs, x

    def layer_states(self, waveforms: torch.Tensor) -> list[torch.Tensor]:
        outputs, last = self.conv_outputs(waveforms)
        states = []
        for index, output in enumerate(outputs):
            kernel = WINDOW // 2 ** (index // LAYERS_PER_DECIMATION)
            pooled = F.avg_pool1d(output, kernel, kernel, ceil_mode=True)  # a partial last window: its own mean
            states.append(pooled.transpose(1, 2))
        average = last.mean(dim=2)
        acoustics = F.normalize(average[:, : average.shape[1] // 2], dim=1)
        return [*states, acoustics[:, None, :]]
