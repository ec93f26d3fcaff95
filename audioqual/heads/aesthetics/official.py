"""Meta's released audiobox-aesthetics checkpoints: reading, key mapping to transformers WavLM, writing.

Two on-disk layouts exist, both read here:

- `checkpoint.pt` (the original release): a torch pickle holding
  {"state_dict": {"model.<key>": tensor}, "model_cfg": {...}, "target_transform":
  {axis: {"mean", "std"}}};
- the hub repo `facebook/audiobox-aesthetics` (huggingface_hub's PyTorchModelHubMixin):
  config.json (the model_cfg fields plus target_transform) and model.safetensors
  with the same keys, unprefixed (an earlier wrapper prefixed them "encoder.").

Keys: `wavlm_model.*` (Meta's own fairseq-style WavLM), `proj_layer.<axis>.<i>.*`
(one MLP per axis CE, CU, PC, PQ) and `layer_weights.<axis>` (one logit per hidden
state). The WavLM keys map one to one onto transformers' WavLMModel
(`OFFICIAL_TO_HF`); the WavLM architecture itself is not stored in the checkpoint,
so it is the released one (`RELEASED_WAVLM`) with sizes read from the weight shapes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import WavLMConfig, WavLMModel

from audioqual.errors import ModelLoadError
from audioqual.pretrained import resolve_model_dir

OFFICIAL_AXES = ("CE", "CU", "PC", "PQ")
WAVLM_PREFIX = "wavlm_model."

RELEASED_WAVLM: dict[str, Any] = {
    "extractor_mode": "default",
    "encoder_layers": 12,
    "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12,
    "activation_fn": "gelu",
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "encoder_layerdrop": 0.05,
    "dropout_input": 0.1,
    "dropout_features": 0.1,
    "layer_norm_first": False,
    "conv_layers": [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2,
    "conv_bias": False,
    "feature_grad_mult": 0.1,
    "mask_prob": 0.8,
    "conv_pos": 128,
    "conv_pos_groups": 16,
    "relative_position_embedding": True,
    "num_buckets": 320,
    "max_distance": 800,
    "gru_rel_pos": True,
    "normalize": False,
}
"""The WavLM configuration of the released model (audiobox_aesthetics DEFAULT_AUDIO_CFG), conv layers as a list."""

DEFAULT_MODEL_CFG: dict[str, Any] = {
    "proj_num_layer": 1,
    "proj_ln": False,
    "proj_act_fn": "gelu",
    "proj_dropout": 0.0,
    "nth_layer": 13,
    "use_weighted_layer_sum": True,
    "precision": "32",
    "normalize_embed": True,
    "output_dim": 1,
}
"""Head options of the official model (its constructor defaults); a checkpoint's model_cfg overrides them."""

_FIELDS = {"i": r"\d+", "t": r"weight|bias", "p": r"q|k|v|out"}
OFFICIAL_TO_HF: tuple[tuple[str, str], ...] = (
    ("mask_emb", "masked_spec_embed"),
    ("feature_extractor.conv_layers.{i}.0.{t}", "feature_extractor.conv_layers.{i}.conv.{t}"),
    ("feature_extractor.conv_layers.0.2.{t}", "feature_extractor.conv_layers.0.layer_norm.{t}"),  # group norm
    ("feature_extractor.conv_layers.{i}.2.1.{t}", "feature_extractor.conv_layers.{i}.layer_norm.{t}"),  # layer norm
    ("layer_norm.{t}", "feature_projection.layer_norm.{t}"),
    ("post_extract_proj.{t}", "feature_projection.projection.{t}"),
    ("encoder.pos_conv.0.bias", "encoder.pos_conv_embed.conv.bias"),
    ("encoder.pos_conv.0.weight_g", "encoder.pos_conv_embed.conv.weight_g"),
    ("encoder.pos_conv.0.weight_v", "encoder.pos_conv_embed.conv.weight_v"),
    ("encoder.layer_norm.{t}", "encoder.layer_norm.{t}"),
    ("encoder.layers.{i}.self_attn.{p}_proj.{t}", "encoder.layers.{i}.attention.{p}_proj.{t}"),
    (
        "encoder.layers.{i}.self_attn.relative_attention_bias.weight",
        "encoder.layers.{i}.attention.rel_attn_embed.weight",
    ),
    ("encoder.layers.{i}.self_attn.grep_linear.{t}", "encoder.layers.{i}.attention.gru_rel_pos_linear.{t}"),
    ("encoder.layers.{i}.self_attn.grep_a", "encoder.layers.{i}.attention.gru_rel_pos_const"),
    ("encoder.layers.{i}.self_attn_layer_norm.{t}", "encoder.layers.{i}.layer_norm.{t}"),
    ("encoder.layers.{i}.fc1.{t}", "encoder.layers.{i}.feed_forward.intermediate_dense.{t}"),
    ("encoder.layers.{i}.fc2.{t}", "encoder.layers.{i}.feed_forward.output_dense.{t}"),
    ("encoder.layers.{i}.final_layer_norm.{t}", "encoder.layers.{i}.final_layer_norm.{t}"),
)
"""Official WavLM key (inside `wavlm_model.`) <-> transformers WavLMModel key.

{i}: layer index, {t}: weight or bias, {p}: q, k, v or out.
"""
_WEIGHT_NORM_PARAMETRIZED = {
    "encoder.pos_conv_embed.conv.weight_g": "encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    "encoder.pos_conv_embed.conv.weight_v": "encoder.pos_conv_embed.conv.parametrizations.weight.original1",
}


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name, alternatives in _FIELDS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{alternatives})")
    return re.compile(pattern + "$")


_FORWARD = [(_compile(src), dst) for src, dst in OFFICIAL_TO_HF]
_BACKWARD = [(_compile(dst), src) for src, dst in OFFICIAL_TO_HF]


def _rename(key: str, table: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, template in table:
        match = pattern.match(key)
        if match:
            return template.format(**match.groupdict())
    return None


def official_to_hf_key(key: str) -> str:
    """transformers WavLMModel key of an official WavLM key (without the `wavlm_model.` prefix)."""
    renamed = _rename(key, _FORWARD)
    if renamed is None:
        raise KeyError(f"official WavLM key {key!r} has no transformers counterpart")
    return renamed


def hf_to_official_key(key: str, layer_norm_extractor: bool = False) -> str:
    """Official WavLM key of a transformers WavLMModel key (weight-norm parametrisation names accepted).

    layer_norm_extractor: the conv layers all have a LayerNorm (official
    extractor_mode "layer_norm"), so conv layer 0's norm is not the GroupNorm.
    """
    for plain, parametrized in _WEIGHT_NORM_PARAMETRIZED.items():
        if key == parametrized:
            key = plain
    match = re.match(r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(weight|bias)$", key)
    if layer_norm_extractor and match:
        return f"feature_extractor.conv_layers.{match.group(1)}.2.1.{match.group(2)}"
    renamed = _rename(key, _BACKWARD)
    if renamed is None:
        raise KeyError(f"transformers WavLM key {key!r} has no official counterpart")
    return renamed


def wavlm_state_to_hf(official: Mapping[str, torch.Tensor], model: WavLMModel) -> dict[str, torch.Tensor]:
    """Official WavLM tensors -> a state dict for `model` (its weight-norm naming; mask_emb only if it has one)."""
    target_keys = set(model.state_dict())
    official = dict(official)
    if "post_extract_proj.weight" not in official:  # conv width == model width: no projection, i.e. identity
        width = model.config.hidden_size
        official["post_extract_proj.weight"] = torch.eye(width)
        official["post_extract_proj.bias"] = torch.zeros(width)
    state = {}
    for key, tensor in official.items():
        hf_key = official_to_hf_key(key)
        if hf_key not in target_keys and hf_key in _WEIGHT_NORM_PARAMETRIZED:
            hf_key = _WEIGHT_NORM_PARAMETRIZED[hf_key]
        if hf_key == "masked_spec_embed" and hf_key not in target_keys:
            continue  # masking vector of pre-training; transformers only has it when masking is configured
        state[hf_key] = tensor
    return state


def wavlm_state_to_official(model: WavLMModel) -> dict[str, torch.Tensor]:
    """The transformers model's tensors under official keys (mask_emb zero when the model has none)."""
    layer_norm = model.config.feat_extract_norm == "layer"
    state = {hf_to_official_key(k, layer_norm): v.detach() for k, v in model.state_dict().items()}
    if "mask_emb" not in state:
        state["mask_emb"] = torch.zeros(model.config.hidden_size)
    if model.config.conv_dim[-1] == model.config.hidden_size:  # the official model has no projection then
        weight, bias = state.pop("post_extract_proj.weight"), state.pop("post_extract_proj.bias")
        if not (torch.equal(weight, torch.eye(weight.shape[0], dtype=weight.dtype)) and not bias.any()):
            raise ValueError(
                "conv width equals model width, so the official WavLM has no projection, "
                "but this one is not the identity"
            )
    return state


def official_wavlm_config(
    state: Mapping[str, torch.Tensor], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The released WavLM configuration with sizes taken from the weights (official keys, no prefix)."""
    cfg = dict(RELEASED_WAVLM)
    try:
        layers = sorted({int(m.group(1)) for k in state if (m := re.match(r"encoder\.layers\.(\d+)\.", k))})
        embed = state["encoder.layer_norm.weight"].shape[0]
        cfg["encoder_layers"] = len(layers)
        cfg["encoder_embed_dim"] = int(embed)
        cfg["encoder_ffn_embed_dim"] = int(state["encoder.layers.0.fc1.weight"].shape[0])
        if "encoder.layers.0.self_attn.grep_a" not in state:
            raise ModelLoadError("official WavLM without gated relative position bias is not supported")
        cfg["encoder_attention_heads"] = int(state["encoder.layers.0.self_attn.grep_a"].shape[1])
        bias_key = "encoder.layers.0.self_attn.relative_attention_bias.weight"
        if bias_key not in state:
            raise ModelLoadError("official WavLM without relative position embedding is not supported")
        cfg["num_buckets"] = int(state[bias_key].shape[0])
        weight_v = state["encoder.pos_conv.0.weight_v"]
        cfg["conv_pos"] = int(weight_v.shape[2])
        cfg["conv_pos_groups"] = int(embed // weight_v.shape[1])
        convs = []
        index = 0
        while f"feature_extractor.conv_layers.{index}.0.weight" in state:
            out_channels, _, kernel = state[f"feature_extractor.conv_layers.{index}.0.weight"].shape
            convs.append((int(out_channels), int(kernel)))
            index += 1
        cfg["conv_bias"] = "feature_extractor.conv_layers.0.0.bias" in state
        cfg["extractor_mode"] = "layer_norm" if "feature_extractor.conv_layers.0.2.1.weight" in state else "default"
    except KeyError as err:
        raise ModelLoadError(f"not an audiobox-aesthetics WavLM state dict (missing {err})") from err
    if overrides:
        cfg.update(overrides)
    if not overrides or "conv_layers" not in overrides:
        released = [(dim, kernel) for dim, kernel, _ in RELEASED_WAVLM["conv_layers"]]
        if [k for _, k in convs] != [k for _, k in released]:
            raise ModelLoadError(
                f"conv kernels {[k for _, k in convs]} differ from the released model's; strides cannot be "
                "read from weights: pass the conv layers as overrides {'conv_layers': [(dim, kernel, stride), ...]}"
            )
        cfg["conv_layers"] = [
            (dim, kernel, stride) for (dim, kernel), (_, _, stride) in zip(convs, RELEASED_WAVLM["conv_layers"])
        ]
    return cfg


_WAVLM_FIELDS: tuple[tuple[str, str, type], ...] = (
    ("encoder_embed_dim", "hidden_size", int),
    ("encoder_layers", "num_hidden_layers", int),
    ("encoder_attention_heads", "num_attention_heads", int),
    ("encoder_ffn_embed_dim", "intermediate_size", int),
    ("activation_fn", "hidden_act", str),
    ("dropout", "hidden_dropout", float),
    ("attention_dropout", "attention_dropout", float),
    ("activation_dropout", "activation_dropout", float),
    ("dropout_input", "feat_proj_dropout", float),
    ("encoder_layerdrop", "layerdrop", float),
    ("conv_bias", "conv_bias", bool),
    ("conv_pos", "num_conv_pos_embeddings", int),
    ("conv_pos_groups", "num_conv_pos_embedding_groups", int),
    ("num_buckets", "num_buckets", int),
    ("max_distance", "max_bucket_distance", int),
    ("layer_norm_first", "do_stable_layer_norm", bool),
)
"""(official key, transformers WavLMConfig attribute, type) of the settings that map one to one."""


def hf_wavlm_config(cfg: Mapping[str, Any]) -> WavLMConfig:
    """transformers WavLMConfig equivalent to an official WavLM configuration.

    The pre-training mask vector is kept (mask_time_prob = official mask_prob) with
    SpecAugment switched off (apply_spec_augment = False), so the weights round-trip.
    """
    if not cfg.get("relative_position_embedding", True) or not cfg.get("gru_rel_pos", True):
        raise ModelLoadError("transformers' WavLM always has gated relative position bias; this configuration has not")
    dims, kernels, strides = zip(*[tuple(int(v) for v in layer) for layer in cfg["conv_layers"]])
    return WavLMConfig(
        **{attribute: kind(cfg[key]) for key, attribute, kind in _WAVLM_FIELDS},
        feat_extract_norm="group" if cfg["extractor_mode"] == "default" else "layer",
        feat_extract_activation="gelu",
        conv_dim=list(dims),
        conv_kernel=list(kernels),
        conv_stride=list(strides),
        apply_spec_augment=False,
        mask_time_prob=float(cfg.get("mask_prob", 0.0)),
        mask_feature_prob=0.0,
        layer_norm_eps=1e-5,
    )


def official_config_from_hf(config: WavLMConfig, feature_grad_mult: float) -> dict[str, Any]:
    """Official WavLM configuration of a transformers WavLMConfig (for exporting)."""
    cfg = dict(RELEASED_WAVLM)
    cfg.update({key: getattr(config, attribute) for key, attribute, _ in _WAVLM_FIELDS})
    cfg.update(
        extractor_mode="default" if config.feat_extract_norm == "group" else "layer_norm",
        conv_layers=[tuple(v) for v in zip(config.conv_dim, config.conv_kernel, config.conv_stride)],
        feature_grad_mult=feature_grad_mult,
    )
    return cfg


@dataclass
class OfficialCheckpoint:
    """An audiobox-aesthetics checkpoint with its keys unprefixed (wavlm_model.*, proj_layer.*, layer_weights.*)."""

    state_dict: dict[str, torch.Tensor]
    model_cfg: dict[str, Any]
    target_transform: dict[str, dict[str, float]]
    source: str
    wavlm_overrides: dict[str, Any] = field(default_factory=dict)

    def wavlm_state(self) -> dict[str, torch.Tensor]:
        """The WavLM tensors, official keys without `wavlm_model.`."""
        return {k[len(WAVLM_PREFIX) :]: v for k, v in self.state_dict.items() if k.startswith(WAVLM_PREFIX)}

    def wavlm_config(self) -> dict[str, Any]:
        return official_wavlm_config(self.wavlm_state(), self.wavlm_overrides)

    def build_wavlm(self) -> WavLMModel:
        """A transformers WavLMModel holding this checkpoint's WavLM weights (strict: every key used).

        Built on the meta device and given the checkpoint's tensors, so no time
        is spent initialising weights that are replaced anyway.
        """
        with torch.device("meta"):
            model = WavLMModel(hf_wavlm_config(self.wavlm_config()))
        try:
            mapped = wavlm_state_to_hf(self.wavlm_state(), model)
        except KeyError as err:
            raise ModelLoadError(f"{self.source}: {err.args[0]}") from err
        state = {k: v.to(torch.float32, copy=True) for k, v in mapped.items()}
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as err:
            raise ModelLoadError(f"{self.source}: WavLM weights do not fit ({err})") from err
        return model.eval()


def strip_prefix(state: Mapping[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Remove the wrapper prefix ("model.", "encoder.", none) found before `wavlm_model.`."""
    anchor = next((k for k in state if WAVLM_PREFIX in k), None)
    if anchor is None:
        raise ModelLoadError(f"{where}: no '{WAVLM_PREFIX}*' weights; not an audiobox-aesthetics checkpoint")
    prefix = anchor[: anchor.index(WAVLM_PREFIX)]
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def is_official_source(name_or_path: str | Path) -> bool:
    """True for a checkpoint file, or a directory whose config.json is the official model's (not transformers')."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return True
    if path.is_dir():
        return _is_official_config(path / "config.json")
    return False


def _is_official_config(path: Path) -> bool:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return (
        isinstance(config, dict)
        and "model_type" not in config
        and ("proj_num_layer" in config or "target_transform" in config)
    )


def read_official(
    name_or_path: str | Path, revision: str | None = None, wavlm_overrides: Mapping[str, Any] | None = None
) -> OfficialCheckpoint:
    """Read checkpoint.pt, an official model directory, or a hub id such as `facebook/audiobox-aesthetics`."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        checkpoint = _read_torch_checkpoint(path)
    else:
        directory = resolve_model_dir(name_or_path, revision, marker="config.json")
        if not _is_official_config(directory / "config.json"):
            raise ModelLoadError(f"{directory}: config.json is not an audiobox-aesthetics model config")
        checkpoint = _read_hub_directory(directory)
    checkpoint.wavlm_overrides = dict(wavlm_overrides or {})
    return checkpoint


def _read_torch_checkpoint(path: Path) -> OfficialCheckpoint:
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickle and zip errors of many kinds
        raise ModelLoadError(f"{path}: cannot read torch checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(raw, dict) or "state_dict" not in raw:
        raise ModelLoadError(f"{path}: not an audiobox-aesthetics checkpoint (no 'state_dict')")
    transform = raw.get("target_transform") or {}
    return OfficialCheckpoint(
        state_dict=strip_prefix(raw["state_dict"], str(path)),
        model_cfg={
            **DEFAULT_MODEL_CFG,
            **{k: v for k, v in (raw.get("model_cfg") or {}).items() if k in DEFAULT_MODEL_CFG},
        },
        target_transform=_transform(transform, str(path)),
        source=str(path),
    )


def _read_hub_directory(directory: Path) -> OfficialCheckpoint:
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    weights = directory / "model.safetensors"
    if weights.exists():
        from safetensors.torch import load_file

        state = load_file(str(weights))
    elif (directory / "pytorch_model.bin").exists():
        state = torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        raise ModelLoadError(f"{directory}: no model.safetensors or pytorch_model.bin")
    return OfficialCheckpoint(
        state_dict=strip_prefix(state, str(directory)),
        model_cfg={**DEFAULT_MODEL_CFG, **{k: v for k, v in config.items() if k in DEFAULT_MODEL_CFG}},
        target_transform=_transform(config.get("target_transform") or {}, str(directory / "config.json")),
        source=str(directory),
    )


def _transform(raw: Mapping[str, Any], where: str) -> dict[str, dict[str, float]]:
    try:
        return {str(axis): {"mean": float(v["mean"]), "std": float(v["std"])} for axis, v in raw.items()}
    except (KeyError, TypeError, ValueError) as err:
        raise ModelLoadError(f"{where}: malformed target_transform ({err})") from err


def write_official(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    model_cfg: Mapping[str, Any],
    target_transform: Mapping[str, Mapping[str, float]],
    layout: str = "checkpoint",
) -> Path:
    """Write an official checkpoint: layout "checkpoint" (checkpoint.pt file) or "hub" (directory)."""
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    transform = {axis: {"mean": float(v["mean"]), "std": float(v["std"])} for axis, v in target_transform.items()}
    if layout == "checkpoint":
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state_dict": {f"model.{k}": v for k, v in tensors.items()},
                "model_cfg": dict(model_cfg),
                "target_transform": transform,
            },
            path,
        )
        return path
    if layout == "hub":
        from safetensors.torch import save_file

        path.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path / "model.safetensors"))
        config = {**dict(model_cfg), "target_transform": transform}
        (path / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return path
    raise ValueError(f"layout must be 'checkpoint' or 'hub', got {layout!r}")
