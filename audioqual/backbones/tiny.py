"""Tiny randomly initialised backbones of the real architectures, for tests and examples."""

from __future__ import annotations

import torch

from audioqual.backbones.backbone import Backbone

TINY_CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (32,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "mask_time_prob": 0.0,
    "layerdrop": 0.0,
}


def tiny_backbone(arch: str = "hubert", seed: int = 0, **overrides) -> Backbone:
    """A small random model (hidden 32, 2 layers) with the real architecture's code path."""
    torch.manual_seed(seed)
    config = {**TINY_CONFIG, **overrides}
    return Backbone.from_config(arch, name=f"tiny-{arch}-seed{seed}", **config)
