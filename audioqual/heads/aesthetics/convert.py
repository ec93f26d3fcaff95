"""Whole-model conversion between Meta's audiobox-aesthetics checkpoints and `AestheticsModel`.

`model_from_official` builds the model from a checkpoint: WavLM weights into a
transformers WavLMModel (strict, every key used), and for every project aspect
that is an official axis (CE, CU, PC, PQ; long names such as
Production_Quality are recognised) its layer weights, MLP and target
normalisation. Project aspects without an official axis start fresh.
`export_official` writes the inverse (checkpoint.pt or hub directory), which
the official code loads with `load_state_dict` (strict).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from audioqual.backbones.backbone import Backbone, BackboneInfo
from audioqual.errors import ModelLoadError
from audioqual.heads.aesthetics.model import AestheticsModel
from audioqual.heads.aesthetics.official import (
    OFFICIAL_AXES,
    WAVLM_PREFIX,
    OfficialCheckpoint,
    official_config_from_hf,
    wavlm_state_to_official,
    write_official,
)

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000
AXIS_NAMES = {
    "CE": ("ce", "content_enjoyment"),
    "CU": ("cu", "content_usefulness"),
    "PC": ("pc", "production_complexity"),
    "PQ": ("pq", "production_quality"),
}


def official_axis(aspect: str) -> str | None:
    """The official axis (CE, CU, PC, PQ) an aspect name denotes, if any."""
    lowered = aspect.lower().replace(" ", "_")
    return next((axis for axis, names in AXIS_NAMES.items() if lowered in names), None)


def backbone_from_official(checkpoint: OfficialCheckpoint, name: str | None = None) -> Backbone:
    """The checkpoint's WavLM as a project Backbone (16 kHz, no input normalisation, as released)."""
    normalize = bool(checkpoint.wavlm_config().get("normalize", False))
    info = BackboneInfo(
        arch="wavlm", sample_rate=SAMPLE_RATE, normalize_input=normalize, name=name or checkpoint.source
    )
    return Backbone(checkpoint.build_wavlm(), info)


def model_from_official(checkpoint: OfficialCheckpoint, aspects: Sequence[str], **options: Any) -> AestheticsModel:
    """AestheticsModel with the checkpoint's encoder, heads, layer weights and target normalisation.

    The head architecture (projection layers, number of hidden states, L2
    normalisation) is the checkpoint's; `options` give the rest (windows,
    precision, feature_grad_mult, ...).
    """
    cfg = checkpoint.model_cfg
    if int(cfg["output_dim"]) != 1:
        raise ModelLoadError(
            f"{checkpoint.source}: output_dim {cfg['output_dim']} is not supported (one score per axis)"
        )
    model = AestheticsModel(
        backbone_from_official(checkpoint),
        aspects,
        num_states=int(cfg["nth_layer"]),
        proj_num_layer=int(cfg["proj_num_layer"]),
        proj_ln=bool(cfg["proj_ln"]),
        proj_act_fn=str(cfg["proj_act_fn"]),
        proj_dropout=float(cfg["proj_dropout"]),
        use_weighted_layer_sum=bool(cfg["use_weighted_layer_sum"]),
        normalize_embed=bool(cfg["normalize_embed"]),
        **options,
    )
    state = checkpoint.state_dict
    used = {k for k in state if k.startswith(WAVLM_PREFIX)}
    mean, std = {}, {}
    for aspect in aspects:
        axis = official_axis(aspect)
        if axis is None:
            log.warning("aspect %r is not an official axis: its head starts from random weights", aspect)
            continue
        head_state = {
            k[len(f"proj_layer.{axis}.") :]: v for k, v in state.items() if k.startswith(f"proj_layer.{axis}.")
        }
        try:
            model.proj_layer[aspect].load_state_dict(head_state, strict=True)
        except RuntimeError as err:
            raise ModelLoadError(f"{checkpoint.source}: head of axis {axis} does not fit ({err})") from err
        used |= {f"proj_layer.{axis}.{k}" for k in head_state}
        if model.use_weighted_layer_sum:
            weights = state.get(f"layer_weights.{axis}")
            if weights is None or weights.shape != model.layer_weights[aspect].shape:
                raise ModelLoadError(f"{checkpoint.source}: layer_weights.{axis} missing or of the wrong size")
            with torch.no_grad():
                model.layer_weights[aspect].copy_(weights)
            used.add(f"layer_weights.{axis}")
        if axis in checkpoint.target_transform:
            mean[aspect] = checkpoint.target_transform[axis]["mean"]
            std[aspect] = checkpoint.target_transform[axis]["std"]
    model.set_target_normalization(mean, std, fixed=True)
    unused = sorted(k for k in state if k not in used and not _is_other_axis(k, aspects))
    if unused:
        raise ModelLoadError(f"{checkpoint.source}: unexpected keys {unused[:5]}{' ...' if len(unused) > 5 else ''}")
    return model


def _is_other_axis(key: str, aspects: Sequence[str]) -> bool:
    mapped = {official_axis(a) for a in aspects}
    return any(
        key.startswith((f"proj_layer.{axis}.", f"layer_weights.{axis}")) for axis in OFFICIAL_AXES if axis not in mapped
    )


def to_official(model: AestheticsModel) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, dict[str, float]]]:
    """(state dict with official keys, model_cfg, target_transform) of a model whose aspects are the 4 axes."""
    axes = {official_axis(a): a for a in model.aspects}
    if set(axes) != set(OFFICIAL_AXES) or len(model.aspects) != len(OFFICIAL_AXES):
        raise ValueError(f"the official format holds exactly the axes {OFFICIAL_AXES}; this model has {model.aspects}")
    state = {f"{WAVLM_PREFIX}{k}": v for k, v in wavlm_state_to_official(model.backbone.model).items()}
    for axis in OFFICIAL_AXES:
        aspect = axes[axis]
        for key, value in model.proj_layer[aspect].state_dict().items():
            state[f"proj_layer.{axis}.{key}"] = value.detach()
        if model.use_weighted_layer_sum:
            state[f"layer_weights.{axis}"] = model.layer_weights[aspect].detach()
    first = model.proj_layer[model.aspects[0]]
    linear_count = sum(isinstance(m, torch.nn.Linear) for m in first)
    model_cfg = {
        "proj_num_layer": linear_count,
        "proj_ln": any(isinstance(m, torch.nn.LayerNorm) for m in first),
        "proj_act_fn": "gelu",
        "proj_dropout": next((float(m.p) for m in first if isinstance(m, torch.nn.Dropout)), 0.0),
        "nth_layer": model.num_states,
        "use_weighted_layer_sum": model.use_weighted_layer_sum,
        "precision": model.precision,
        "normalize_embed": model.normalize_embed,
        "output_dim": 1,
    }
    transform = {
        axis: {
            "mean": float(model.target_mean[model.aspects.index(axes[axis])]),
            "std": float(model.target_std[model.aspects.index(axes[axis])]),
        }
        for axis in OFFICIAL_AXES
    }
    return state, model_cfg, transform


def export_official(model: AestheticsModel, path: str | Path, layout: str = "checkpoint") -> Path:
    """Write the model in Meta's format: layout "checkpoint" (checkpoint.pt) or "hub" (config.json + safetensors).

    The official code builds the released WavLM size; a model of another size
    keeps the exact key layout but needs that size configured there too
    (`official_wavlm_config_of(model)` gives it).
    """
    state, model_cfg, transform = to_official(model)
    return write_official(path, state, model_cfg, transform, layout)


def official_wavlm_config_of(model: AestheticsModel) -> dict[str, Any]:
    """The official WavLM configuration matching the model's encoder."""
    return official_config_from_hf(model.backbone.model.config, model.feature_grad_mult)
