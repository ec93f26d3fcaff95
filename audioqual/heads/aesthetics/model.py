"""The Audiobox-Aesthetics predictor on the project's WavLM backbone, ready for domain-adversarial fine-tuning.

Architecture (Tjandra et al., 2025; facebookresearch/audiobox-aesthetics):
every hidden state of a WavLM (embedding output + each transformer layer) is
combined, per aspect, by softmax-normalised learned layer weights; the
weighted frames are mean-pooled over valid frames, L2-normalised, and a small
MLP per aspect predicts that aspect's z-score. Scores are
z * std_aspect + mean_aspect (target normalisation, buffers saved with the
weights). The encoder is fully fine-tuned; the gradient reaching its
convolutional feature encoder is scaled by `feature_grad_mult` (0.1 in the
release).

Bottleneck h for the domain branch: the concatenation of the per-aspect
normalised embeddings [B, k * D], i.e. exactly what the aspect heads read, so
the reversed gradient reaches the layer weights and the whole encoder.

Input geometry (see `chunking.py`): in training each clip contributes one
window (random `window_seconds` crop of longer clips); in evaluation each clip
is cut into official 10 s windows whose predictions (and h) are averaged with
weights valid / window. Mixed precision: the encoder runs under autocast
(`precision` "bf16" or "16") and the pooling and heads in float32.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from audioqual.backbones.backbone import Backbone
from audioqual.heads.aesthetics.chunking import WindowBatch, inference_windows, merge_windows, training_windows
from audioqual.heads.aesthetics.encoder import encode_hidden_states
from audioqual.heads.aesthetics.loss import mae_mse_loss
from audioqual.heads.base import AspectPrediction, HeadOutput

PRECISIONS: dict[str, torch.dtype | None] = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def mlp_block(
    in_features: int,
    out_features: int,
    num_layers: int = 1,
    activation: str = "gelu",
    layer_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Sequential:
    """The official per-axis projection: (Linear D->D [LayerNorm] GELU [Dropout]) x (n-1), then Linear D->out.

    Module indices follow the official layout, so state-dict keys match it.
    """
    if num_layers < 1:
        raise ValueError(f"the projection needs at least one layer, got {num_layers}")
    if activation != "gelu":
        raise ValueError(f"the official projection only supports the 'gelu' activation, got {activation!r}")
    layers: list[nn.Module] = []
    for _ in range(num_layers - 1):
        layers.append(nn.Linear(in_features, in_features))
        if layer_norm:
            layers.append(nn.LayerNorm(in_features))
        layers.append(nn.GELU())
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(in_features, out_features))
    return nn.Sequential(*layers)


class AestheticsModel(nn.Module):
    """WavLM (all hidden states) -> per-aspect layer weights, pooling, L2 norm, MLP -> aspect scores."""

    input_kind = "waveform"
    probabilistic = False

    def __init__(
        self,
        backbone: Backbone,
        aspects: Sequence[str],
        *,
        num_states: int | None = None,
        proj_num_layer: int = 1,
        proj_ln: bool = False,
        proj_act_fn: str = "gelu",
        proj_dropout: float = 0.0,
        use_weighted_layer_sum: bool = True,
        normalize_embed: bool = True,
        window_seconds: float = 10.0,
        hop_seconds: float = 10.0,
        chunk_batch_size: int = 16,
        feature_grad_mult: float = 0.1,
        precision: str = "32",
    ):
        super().__init__()
        if backbone.info.arch != "wavlm":
            raise ValueError(f"the aesthetics model needs a WavLM backbone, got {backbone.info.arch!r}")
        if len(set(aspects)) != len(aspects) or not aspects:
            raise ValueError(f"aspects must be unique and non-empty, got {list(aspects)}")
        if any("." in a for a in aspects):
            raise ValueError(f"aspect names cannot contain '.', got {list(aspects)}")
        if str(precision) not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        total = backbone.num_hidden_states
        self.num_states = total if num_states is None else int(num_states)
        if not 1 <= self.num_states <= total:
            raise ValueError(f"num_states must be in 1..{total} for {backbone.name}, got {num_states}")
        if window_seconds <= 0 or hop_seconds <= 0 or chunk_batch_size < 1:
            raise ValueError("window_seconds, hop_seconds and chunk_batch_size must be positive")
        self.backbone = backbone
        self.aspects = list(aspects)
        self.use_weighted_layer_sum = use_weighted_layer_sum
        self.normalize_embed = normalize_embed
        self.window = int(round(window_seconds * backbone.sample_rate))
        self.hop = int(round(hop_seconds * backbone.sample_rate))
        self.chunk_batch_size = int(chunk_batch_size)
        self.feature_grad_mult = float(feature_grad_mult)
        self.precision = str(precision)
        dim = backbone.hidden_size
        self.proj_layer = nn.ModuleDict(
            {a: mlp_block(dim, 1, proj_num_layer, proj_act_fn, proj_ln, proj_dropout) for a in self.aspects}
        )
        if use_weighted_layer_sum:
            self.layer_weights = nn.ParameterDict(
                {a: nn.Parameter(torch.ones(self.num_states) / self.num_states) for a in self.aspects}
            )
        k = len(self.aspects)
        self.register_buffer("target_mean", torch.zeros(k))
        self.register_buffer("target_std", torch.ones(k))
        self.register_buffer("target_fixed", torch.zeros(k, dtype=torch.bool))
        self._freeze_unused()

    def _freeze_unused(self) -> None:
        """No gradient for encoder parameters the forward never uses (DistributedDataParallel requires it).

        The pre-training mask vector, layers past `num_states`, the final LayerNorm of
        pre-LN encoders (not part of the hidden states) and, with feature_grad_mult 0,
        the conv feature encoder.
        """
        model = self.backbone.model
        unused: list[nn.Module | nn.Parameter] = list(model.encoder.layers[self.num_states - 1 :])
        if getattr(model, "masked_spec_embed", None) is not None:
            unused.append(model.masked_spec_embed)
        if model.config.do_stable_layer_norm:
            unused.append(model.encoder.layer_norm)
        if self.feature_grad_mult == 0:
            unused.append(model.feature_extractor)
        for item in unused:
            for parameter in [item] if isinstance(item, nn.Parameter) else item.parameters():
                parameter.requires_grad_(False)

    @property
    def bottleneck_dim(self) -> int:
        return len(self.aspects) * self.backbone.hidden_size

    def gradient_checkpointing_enable(self) -> None:
        """Recompute each WavLM layer in the backward pass instead of storing its activations."""
        model = self.backbone.model
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()

    def set_target_normalization(self, mean: Mapping[str, float], std: Mapping[str, float], fixed: bool = True) -> None:
        """Set mean/std of the named aspects (e.g. from an official checkpoint); fixed ones survive fit_targets."""
        for index, aspect in enumerate(self.aspects):
            if aspect in mean:
                if not std[aspect] > 0:
                    raise ValueError(f"target std of {aspect} must be positive, got {std[aspect]}")
                self.target_mean[index] = float(mean[aspect])
                self.target_std[index] = float(std[aspect])
                self.target_fixed[index] = fixed

    def fit_targets(self, targets: np.ndarray) -> None:
        """Per-aspect mean and (population) std of training targets [N, k], for aspects not fixed yet.

        Fitted aspects are fixed afterwards: a model fine-tuned again keeps its normalisation.
        """
        values = np.asarray(targets, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.aspects):
            raise ValueError(f"targets must be [N, {len(self.aspects)}], got {values.shape}")
        mean, std = values.mean(axis=0), values.std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)
        free = {a: i for i, a in enumerate(self.aspects) if not bool(self.target_fixed[i])}
        self.set_target_normalization({a: mean[i] for a, i in free.items()}, {a: std[i] for a, i in free.items()})

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None) -> HeadOutput:
        """Scores of zero-padded clips [B, T] (valid samples per clip in `lengths`)."""
        if waveforms.dim() != 2:
            raise ValueError(f"expected waveforms [batch, samples], got {tuple(waveforms.shape)}")
        if self.training:
            windows = training_windows(waveforms, lengths, self.window)
            z, h = self.predict_windows(windows)
        else:
            windows = inference_windows(waveforms, lengths, self.window, self.hop)
            parts = [
                self.predict_windows(windows.slice(s, s + self.chunk_batch_size))
                for s in range(0, len(windows), self.chunk_batch_size)
            ]
            z = merge_windows(torch.cat([p[0] for p in parts]), windows, waveforms.shape[0])
            h = merge_windows(torch.cat([p[1] for p in parts]), windows, waveforms.shape[0])
        mean = z * self.target_std + self.target_mean
        return HeadOutput(AspectPrediction(mean=mean), h)

    def predict_windows(self, windows: WindowBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """z-scores [N, k] and bottleneck h [N, k * D] of a batch of windows."""
        embeddings = self.embed(windows.waveforms, windows.sample_mask)
        z = torch.stack([self.proj_layer[a](embeddings[:, i]).squeeze(-1) for i, a in enumerate(self.aspects)], dim=1)
        return z, embeddings.flatten(1)

    def embed(self, waveforms: torch.Tensor, sample_mask: torch.Tensor) -> torch.Tensor:
        """Per-aspect pooled (and L2-normalised) embeddings [N, k, D]."""
        waveforms = self.backbone.normalize(waveforms, sample_mask.sum(dim=1))
        with self._autocast(waveforms.device):
            states, valid = encode_hidden_states(
                self.backbone.model, waveforms, sample_mask, self.num_states, self.feature_grad_mult
            )
        states = states.float()
        frame_weight = valid.to(states.dtype)[..., None]  # [N, F, 1]
        count = frame_weight.sum(dim=1).clamp(min=1.0)
        pooled = []
        for aspect in self.aspects:
            if self.use_weighted_layer_sum:
                weights = torch.softmax(self.layer_weights[aspect].float(), dim=-1)
                frames = torch.einsum("lnfd,l->nfd", states, weights)
            else:
                frames = states[-1]
            embedding = (frames * frame_weight).sum(dim=1) / count
            if self.normalize_embed:
                embedding = F.normalize(embedding, dim=-1)
            pooled.append(embedding)
        return torch.stack(pooled, dim=1)

    def _autocast(self, device: torch.device):
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return nullcontext()
        if dtype == torch.float16 and self.training and torch.is_grad_enabled():
            raise RuntimeError("precision '16' needs a gradient scaler the trainer does not have; train with 'bf16'")
        return torch.autocast(device_type=device.type, dtype=dtype)

    def task_loss(self, output: HeadOutput, targets: torch.Tensor) -> torch.Tensor:
        """MAE + MSE of the z-scores, summed over aspects, averaged over the batch."""
        return mae_mse_loss(output.prediction.mean, targets, self.target_std)
