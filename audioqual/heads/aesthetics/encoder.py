"""Every hidden state of a transformers WavLM, computed the way Meta's audiobox-aesthetics WavLM does.

The official model ships its own (fairseq/unilm) WavLM. Its weights map one to
one onto transformers' `WavLMModel` (see `official.py`), and the transformer
layers compute the same function (post-LN blocks, gated relative position bias
computed in layer 0 and shared, weight-normed convolutional position
embedding). Three things differ in how the model is *driven*, and they change
outputs or gradients, so this module runs the transformers sub-modules itself:

- Padding: the official model turns the sample-level padding mask into a frame
  mask by cutting the samples into `T // F` long groups (one per frame) and
  calling a frame padding only when *all* its samples are padding.
  transformers derives valid frame counts from the conv-length formula, which
  keeps one frame fewer at the boundary. The official mask also always reaches
  attention (key padding) and zeroes padded frames before the position
  convolution, whereas the project's `Backbone` does not pass a mask to
  group-norm models (the transformers convention).
- `feature_grad_mult`: the official model scales the gradient that reaches the
  convolutional feature encoder (0.1 in the released config; 0 freezes it).
- LayerDrop: transformers 5 records hidden states with hooks, so a dropped
  layer would drop its hidden state; here a skipped layer repeats its input
  state, as the official loop does. Layer 0 is never dropped (it owns the
  relative position embedding in transformers; the official code would then run
  without position bias).

Hidden states are [embedding output, layer 1, ..., layer N] as in both
implementations (for pre-LN WavLMs the final LayerNorm is not applied, as in
the official `layer_results`).
"""

from __future__ import annotations

import warnings

import torch
from transformers import WavLMModel

from audioqual.domains.grl import scale_gradient


def frame_padding(sample_padding: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Frame-level padding mask [B, F] from a sample-level one [B, T] (True = padding), official rule.

    The first F * (T // F) samples are cut into F groups of T // F; a frame is
    padding when every sample of its group is.
    """
    batch, samples = sample_padding.shape
    if num_frames < 1 or samples < num_frames:
        raise ValueError(f"cannot map {samples} samples onto {num_frames} frames")
    group = samples // num_frames
    return sample_padding[:, : num_frames * group].reshape(batch, num_frames, group).all(dim=-1)


def encode_hidden_states(
    model: WavLMModel,
    waveforms: torch.Tensor,
    sample_mask: torch.Tensor | None = None,
    num_states: int | None = None,
    feature_grad_mult: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states [L, B, F, D] and the valid-frame mask [B, F] of waveforms [B, T].

    sample_mask [B, T] marks valid samples (True); None means all valid.
    num_states (<= layers + 1) stops after the layers that are needed.
    """
    config = model.config
    total = config.num_hidden_layers + 1
    num_states = total if num_states is None else int(num_states)
    if not 1 <= num_states <= total:
        raise ValueError(f"num_states must be in 1..{total}, got {num_states}")
    if waveforms.dim() != 2:
        raise ValueError(f"expected waveforms [batch, samples], got {tuple(waveforms.shape)}")

    if feature_grad_mult > 0:
        features = model.feature_extractor(waveforms)
        if feature_grad_mult != 1.0 and torch.is_grad_enabled():
            features = scale_gradient(features, feature_grad_mult)
    else:
        with torch.no_grad():
            features = model.feature_extractor(waveforms)
    features = features.transpose(1, 2)  # [B, F, C]
    frames = features.shape[1]

    if sample_mask is None:
        valid = torch.ones(waveforms.shape[0], frames, dtype=torch.bool, device=waveforms.device)
    else:
        valid = ~frame_padding(~sample_mask.to(torch.bool), frames)
    attention_mask = None if bool(valid.all()) else valid.long()

    hidden, _ = model.feature_projection(features)
    encoder = model.encoder
    if attention_mask is not None:
        hidden = hidden.masked_fill(~valid[..., None], 0.0)
    hidden = hidden + encoder.pos_conv_embed(hidden)
    if not config.do_stable_layer_norm:
        hidden = encoder.layer_norm(hidden)
    hidden = encoder.dropout(hidden)

    states = [hidden]
    position_bias = None
    with warnings.catch_warnings():
        # bool key padding + float position bias, exactly as the official attention call does
        warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
        for index, layer in enumerate(encoder.layers[: num_states - 1]):
            dropped = (
                model.training
                and index > 0
                and config.layerdrop > 0.0
                and bool(torch.rand([], device="cpu") < config.layerdrop)
            )
            if not dropped:
                hidden, position_bias = layer(
                    hidden, attention_mask=attention_mask, position_bias=position_bias, index=index
                )
            states.append(hidden)
    return torch.stack(states, dim=0), valid
