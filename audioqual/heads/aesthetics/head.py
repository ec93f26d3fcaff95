"""The aesthetics model as a head of the generic no-reference model (`audioqual.nr`).

`FACTORY` registers it as a "waveform" head: `NoReferenceModel` feeds it
zero-padded audio and reads (prediction, h); the domain branches, strategies,
training loop, saving and scoring are the generic ones. Where its encoder
comes from (`init`):

- "pretrained" (training): the run's backbone. Meta's released model
  (checkpoint.pt, an official model directory, or the hub id
  `facebook/audiobox-aesthetics`) brings encoder, heads, layer weights and
  target normalisation; any transformers WavLM directory or hub id brings the
  encoder only.
- "config": the architecture recorded in `encoder_config`; the weights come
  from a saved model. `build_head` switches the options to this after loading,
  so a saved model reloads from its own directory in a new process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import WavLMConfig, WavLMModel

from audioqual.backbones.backbone import Backbone, BackboneInfo
from audioqual.pretrained import resolve_model_dir
from audioqual.errors import AudioqualError
from audioqual.heads.aesthetics.convert import backbone_from_official, model_from_official
from audioqual.heads.aesthetics.model import AestheticsModel
from audioqual.heads.aesthetics.official import is_official_source, read_official
from audioqual.heads.base import HeadFactory, InputInfo

log = logging.getLogger(__name__)
INITS = ("pretrained", "config")
HEAD_NAME = "aesthetics"  # name of this head in audioqual.heads.registry
PROJECT_DEFAULT_ASPECTS = ("PQ", "PC", "CE", "CU")  # the project's data.aspects default


@dataclass
class AestheticsOptions:
    """Options of the aesthetics head (defaults: the released model; training settings of seed 000)."""

    init: str = "pretrained"
    aspects: list[str] | None = None  # recorded by build_head from the model's aspects (data.aspects); no need to set
    num_states: int | None = None  # hidden states combined (official nth_layer); None: all
    proj_num_layer: int = 1
    proj_ln: bool = False
    proj_act_fn: str = "gelu"
    proj_dropout: float = 0.0
    use_weighted_layer_sum: bool = True
    normalize_embed: bool = True
    window_seconds: float = 10.0
    hop_seconds: float = 10.0
    chunk_batch_size: int = 16  # windows per encoder call at inference
    feature_grad_mult: float = 0.1  # gradient scale into the conv feature encoder (0 freezes it)
    precision: str = "32"  # "32", "bf16" (autocast; use on GPUs) or "16" (inference only)
    gradient_checkpointing: bool = False
    layerdrop: float | None = None  # override the encoder's LayerDrop (released: 0.05)
    encoder_config: dict[str, Any] | None = None  # transformers WavLM config (filled in by build_head)
    encoder_info: dict[str, Any] = field(default_factory=dict)  # sample rate, input normalisation, name

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"aesthetics init must be one of {INITS}, got {self.init!r}")


def load_backbone(name_or_path: str) -> Backbone:
    """A WavLM Backbone from Meta's released model (file, directory or hub id) or any transformers WavLM."""
    source = resolve_source(name_or_path)
    if is_official_source(source):
        return backbone_from_official(read_official(source), name=str(name_or_path))
    return Backbone.from_pretrained(source)


def resolve_source(name_or_path: str) -> Path:
    """A local file or directory as is; a hub id downloaded (configs and weights) through the hub cache."""
    path = Path(name_or_path).expanduser()
    return path if path.exists() else resolve_model_dir(name_or_path)


def build_head(options: AestheticsOptions, info: InputInfo) -> AestheticsModel:
    """Build the head; records the resolved encoder config and aspects into `options` (see module doc)."""
    common = dict(
        window_seconds=options.window_seconds,
        hop_seconds=options.hop_seconds,
        chunk_batch_size=options.chunk_batch_size,
        feature_grad_mult=options.feature_grad_mult,
        precision=options.precision,
    )
    if options.init == "config":
        if options.encoder_config is None:
            raise AudioqualError("aesthetics head with init='config' needs encoder_config")
        aspects = _aspect_names(options, info, official=False)
        model = AestheticsModel(_backbone_from_config(options), aspects, **_head_architecture(options), **common)
    else:
        if not info.backbone:
            raise AudioqualError(
                "the aesthetics head needs a backbone (features.backbone): a WavLM or Meta's checkpoint"
            )
        source = resolve_source(info.backbone)
        official = is_official_source(source)
        aspects = _aspect_names(options, info, official)
        if official:
            model = model_from_official(read_official(source), aspects, **common)
            _record_head_architecture(options, model)
        else:
            backbone = Backbone.from_pretrained(source)
            model = AestheticsModel(backbone, aspects, **_head_architecture(options), **common)
    if info.sample_rate and info.sample_rate != model.backbone.sample_rate:
        raise AudioqualError(f"input at {info.sample_rate} Hz, but the encoder expects {model.backbone.sample_rate} Hz")
    if options.layerdrop is not None:
        model.backbone.model.config.layerdrop = float(options.layerdrop)
    if options.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    options.init = "config"
    options.aspects = list(aspects)
    options.encoder_config = model.backbone.model.config.to_dict()
    options.encoder_info = {
        "arch": model.backbone.info.arch,
        "sample_rate": model.backbone.info.sample_rate,
        "normalize_input": model.backbone.info.normalize_input,
        "name": model.backbone.info.name,
    }
    return model


def _aspect_names(options: AestheticsOptions, info: InputInfo, official: bool) -> list[str]:
    """The model's aspect names: from the input info (the model's aspects), else from the options.

    Names decide which of Meta's axes a head starts from, so starting from the
    official checkpoint without them is an error; otherwise neutral names are used.
    `head.options.aspects` (older configs repeat `data.aspects` there) must agree.
    """
    given = [str(a) for a in options.aspects or []]
    names = [str(a) for a in info.aspects] or given
    if given and given != names:
        raise AudioqualError(
            f"head.options.aspects {given} differ from the model's aspects {names} (data.aspects); "
            "leave head.options.aspects out"
        )
    if not names:
        if official:
            raise AudioqualError("starting from Meta's checkpoint needs the aspect names (InputInfo.aspects)")
        names = [f"aspect{i}" for i in range(info.num_aspects)]
        log.warning("aesthetics head: aspect names not given; using %s", names)
    if len(names) != info.num_aspects:
        raise AudioqualError(f"head options name {len(names)} aspects, the data has {info.num_aspects}")
    return [str(n) for n in names]


def _head_architecture(options: AestheticsOptions) -> dict[str, Any]:
    return dict(
        num_states=options.num_states,
        proj_num_layer=options.proj_num_layer,
        proj_ln=options.proj_ln,
        proj_act_fn=options.proj_act_fn,
        proj_dropout=options.proj_dropout,
        use_weighted_layer_sum=options.use_weighted_layer_sum,
        normalize_embed=options.normalize_embed,
    )


def _record_head_architecture(options: AestheticsOptions, model: AestheticsModel) -> None:
    """Options follow the checkpoint's head architecture (a warning where the config asked for another)."""
    first = model.proj_layer[model.aspects[0]]
    actual = {
        "num_states": model.num_states,
        "proj_num_layer": sum(isinstance(m, nn.Linear) for m in first),
        "proj_ln": any(isinstance(m, nn.LayerNorm) for m in first),
        "proj_dropout": next((float(m.p) for m in first if isinstance(m, nn.Dropout)), 0.0),
        "use_weighted_layer_sum": model.use_weighted_layer_sum,
        "normalize_embed": model.normalize_embed,
    }
    defaults = AestheticsOptions()
    for name, value in actual.items():
        requested = getattr(options, name)
        if requested != getattr(defaults, name) and requested != value:
            log.warning("aesthetics head: %s=%r ignored, the official checkpoint has %r", name, requested, value)
        setattr(options, name, value)


def _backbone_from_config(options: AestheticsOptions) -> Backbone:
    """The recorded architecture with uninitialised weights: a saved model's state dict fills them."""
    config = WavLMConfig.from_dict(dict(options.encoder_config or {}))
    info = options.encoder_info or {}
    backbone_info = BackboneInfo(
        arch="wavlm",
        sample_rate=int(info.get("sample_rate", 16000)),
        normalize_input=bool(info.get("normalize_input", False)),
        name=str(info.get("name", "wavlm")),
    )
    with torch.device("meta"):
        model = WavLMModel(config)
    return Backbone(model.to_empty(device="cpu").eval(), backbone_info)


FACTORY = HeadFactory(
    config_cls=AestheticsOptions, build=build_head, input_kind="waveform", load_backbone=load_backbone
)
