"""MultiGauss head (Cumlin et al., Interspeech 2025): a multivariate Gaussian over quality aspects.

Input: frame-level features of one frozen SSL layer, [B, D, T] with a fixed T
(clips repetitively padded / cropped to a fixed duration, 8 s in the reference).
Encoder: two blocks Conv1d(k=5) -> LayerNorm over (channels, time) -> ReLU ->
Dropout(0.3) -> MaxPool1d(5), 32 channels each, flattened into the bottleneck h.
Predictor: dense 64 -> 32 -> k + k + k(k-1)/2 outputs (ReLU between): means,
raw diagonal and off-diagonal entries of an upper-triangular U. U's diagonal
goes through softplus, so S_raw = U U^T is positive definite by construction.
Outputs are mapped to the label scale with mean = a * m_raw + b and
S = a^2 U U^T (a = 4.5, b = 5.5 maps [-1, 1] to the 1-10 AES scale), i.e. the
covariance factor is a * U. Layer sizes and the output layout follow the
reference code (fcumlin/MultiGauss, 610494/domainGRL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from audioqual.heads.base import AspectPrediction, HeadFactory, HeadOutput, InputInfo
from audioqual.losses.gaussian_nll import gaussian_nll


@dataclass
class MultiGaussConfig:
    """Hyper-parameters of the MultiGauss head (defaults: the reference implementation), named as MultiGaussHead's arguments."""

    conv_channels: list[int] = field(default_factory=lambda: [32, 32])
    use_poolings: list[bool] = field(default_factory=lambda: [True, True])
    use_normalizations: list[bool] = field(default_factory=lambda: [True, True])
    kernel_size: int = 5
    pool_size: int = 5
    dropout: float = 0.3
    dense: list[int] = field(default_factory=lambda: [64, 32])
    output_scale: float = 4.5
    output_bias: float = 5.5
    logdet_floor: float | None = 1.0e-6
    include_constant: bool = True


class MultiGaussHead(nn.Module):
    """Conv encoder -> bottleneck h -> multivariate Gaussian over `num_aspects` aspects."""

    input_kind = "features"

    def __init__(
        self,
        in_channels: int,
        in_frames: int,
        num_aspects: int = 4,
        conv_channels: Sequence[int] = (32, 32),
        use_poolings: Sequence[bool] = (True, True),
        use_normalizations: Sequence[bool] = (True, True),
        kernel_size: int = 5,
        pool_size: int = 5,
        dropout: float = 0.3,
        dense: Sequence[int] = (64, 32),
        output_scale: float = 4.5,
        output_bias: float = 5.5,
        logdet_floor: float | None = 1.0e-6,
        include_constant: bool = True,
    ):
        super().__init__()
        if not len(conv_channels) == len(use_poolings) == len(use_normalizations):
            raise ValueError("conv_channels, use_poolings and use_normalizations must have the same length")
        if num_aspects < 1:
            raise ValueError("num_aspects must be at least 1")
        self.in_channels = in_channels
        self.in_frames = in_frames
        self.num_aspects = num_aspects
        self.output_scale = output_scale
        self.output_bias = output_bias
        self.logdet_floor = logdet_floor
        self.include_constant = include_constant

        blocks: list[nn.Module] = []
        channels, frames = in_channels, in_frames
        for out_channels, pool, norm in zip(conv_channels, use_poolings, use_normalizations):
            frames = frames - (kernel_size - 1)
            if frames < 1:
                raise ValueError(
                    f"{in_frames} input frames are too few for the conv stack "
                    f"(kernel {kernel_size}, pool {pool_size}, {len(conv_channels)} blocks)"
                )
            layers: list[nn.Module] = [nn.Conv1d(channels, out_channels, kernel_size)]
            if norm:
                layers.append(nn.LayerNorm((out_channels, frames)))
            layers += [nn.ReLU(), nn.Dropout(dropout)]
            if pool:
                layers.append(nn.MaxPool1d(pool_size))
                frames = frames // pool_size
                if frames < 1:
                    raise ValueError(f"{in_frames} input frames are too few for pooling by {pool_size}")
            blocks.append(nn.Sequential(*layers))
            channels = out_channels
        self.encoder = nn.Sequential(*blocks, nn.Flatten())
        self.bottleneck_dim = channels * frames

        k = num_aspects
        self.num_outputs = 2 * k + k * (k - 1) // 2
        dense_layers: list[nn.Module] = []
        width = self.bottleneck_dim
        for size in dense:
            dense_layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        dense_layers.append(nn.Linear(width, self.num_outputs))
        self.predictor = nn.Sequential(*dense_layers)
        rows, cols = torch.triu_indices(k, k, offset=1)
        self.register_buffer("_off_rows", rows, persistent=False)
        self.register_buffer("_off_cols", cols, persistent=False)

    def forward(self, features: torch.Tensor) -> HeadOutput:
        """features [B, D, T] -> HeadOutput(prediction, h)."""
        if features.dim() != 3 or features.shape[1:] != (self.in_channels, self.in_frames):
            raise ValueError(
                f"MultiGauss expects features [B, {self.in_channels}, {self.in_frames}], got {tuple(features.shape)}"
            )
        h = self.encoder(features)
        return HeadOutput(self.gaussian(self.predictor(h)), h)

    def gaussian(self, raw: torch.Tensor) -> AspectPrediction:
        """Map the predictor's raw outputs [B, 2k + k(k-1)/2] to mean and covariance factor a*U."""
        k = self.num_aspects
        factor = raw.new_zeros(raw.shape[0], k, k)
        diagonal = torch.arange(k, device=raw.device)
        factor[:, diagonal, diagonal] = F.softplus(raw[:, k : 2 * k])
        factor[:, self._off_rows, self._off_cols] = raw[:, 2 * k :]
        mean = self.output_scale * raw[:, :k] + self.output_bias
        return AspectPrediction(mean=mean, cov_factor=self.output_scale * factor, factor_upper=True)

    def task_loss(self, output: HeadOutput, targets: torch.Tensor) -> torch.Tensor:
        """Multivariate Gaussian NLL of the targets [B, k], averaged over the batch."""
        prediction = output.prediction
        return gaussian_nll(
            prediction.mean,
            targets,
            prediction.cov_factor,
            upper=True,
            include_constant=self.include_constant,
            logdet_floor=self.logdet_floor,
        )


def build_multigauss(config: MultiGaussConfig, info: InputInfo) -> MultiGaussHead:
    """MultiGauss head for features of width info.channels and info.frames frames."""
    if info.channels is None or info.frames is None:
        raise ValueError("MultiGauss needs the feature width and the fixed number of frames")
    return MultiGaussHead(info.channels, info.frames, info.num_aspects, **asdict(config))


FACTORY = HeadFactory(MultiGaussConfig, build_multigauss, "features")
