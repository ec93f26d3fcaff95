"""The DeePAQ embedding network: backbone hidden states -> time mean -> flatten -> ReLU -> Linear.

Seed 003 (sec. 3.1): MERT-v1-95M gives 13 x 768 hidden states per frame;
their time mean, flattened to 9984 values, goes through ReLU and a linear
layer to a 256-d quality embedding. The Euclidean distance between the
embeddings of a test and a reference signal is the quality measure.

A saved model directory holds:
  deepaq.json          architecture, adaptation and where the backbone comes from
  head.safetensors     the projection head
  adapter/             LoRA adapters only (peft format), for adaptation 'lora'
  backbone/            backbone weights, when they cannot be referenced (fine-tuned or randomly initialised)
  mapping.json (+ mapping_mlp.safetensors)   distance -> subjective-scale mappings, when fitted
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from audioqual.backbones import Backbone
from audioqual.deepaq.adaptation import (
    ADAPTER_DIR,
    apply_adaptation,
    base_model,
    base_state_dict,
    is_lora,
    load_lora_adapter,
    save_lora_adapter,
)
from audioqual.deepaq.config import LoraSettings, ModelConfig
from audioqual.deepaq.mapping import DistanceMapping
from audioqual.errors import ModelLoadError
from audioqual.pretrained import Pretrained

CONFIG_FILE = "deepaq.json"
HEAD_FILE = "head.safetensors"
BACKBONE_DIR = "backbone"
FORMAT_VERSION = 1


class ProjectionHead(nn.Module):
    """ReLU then a linear layer, from flattened pooled hidden states to the embedding."""

    def __init__(self, in_features: int, embedding_dim: int = 256):
        super().__init__()
        self.activation = nn.ReLU()
        self.linear = nn.Linear(in_features, embedding_dim)

    def forward(self, features: Tensor) -> Tensor:
        return self.linear(self.activation(features))


class DeePAQModel(nn.Module, Pretrained):
    """Quality embedding f(x) of a waveform; distances between embeddings measure degradation."""

    config_file = CONFIG_FILE
    format_version = FORMAT_VERSION
    kind = "DeePAQ model"

    def __init__(
        self,
        backbone: Backbone,
        embedding_dim: int = 256,
        layers: tuple[int, ...] | None = None,
        adaptation: str = "frozen",
        backbone_source: str | None = None,
        chunk_seconds: float = 30.0,
        lora: LoraSettings | None = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.layers = tuple(layers) if layers else None
        self.adaptation = adaptation
        self.backbone_source = backbone_source
        self.chunk_seconds = chunk_seconds
        self.lora = lora
        num_states = len(self.layers) if self.layers else backbone.num_hidden_states
        self.head = ProjectionHead(num_states * backbone.hidden_size, embedding_dim)
        self.mapping: DistanceMapping | None = None
        self.metadata: dict = {}

    @property
    def sample_rate(self) -> int:
        return self.backbone.sample_rate

    @property
    def embedding_dim(self) -> int:
        return self.head.linear.out_features

    def train(self, mode: bool = True) -> DeePAQModel:
        """Train mode, except that a frozen backbone always runs in eval mode (no dropout)."""
        super().train(mode)
        if self.adaptation == "frozen":
            self.backbone.eval()
        return self

    def embed_pooled(self, pooled: Tensor) -> Tensor:
        """Embeddings [B, E] from time-pooled hidden states [B, L, D] (all L states of the backbone)."""
        if self.layers is not None:
            pooled = pooled[:, list(self.layers)]
        return self.head(pooled.flatten(1))

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Embeddings [B, E] of [B, T] waveforms at `sample_rate` (zero-padded past `lengths`).

        [B, L, D] inputs are taken as already time-pooled hidden states (frozen
        backbone with cached features), so one forward serves both paths.
        """
        if inputs.dim() == 3:
            return self.embed_pooled(inputs)
        pooled = self.backbone.pooled(inputs, lengths)  # [L, B, D]
        return self.embed_pooled(pooled.transpose(0, 1))

    def embed_long(self, waveform: Tensor) -> Tensor:
        """Embedding [E] of one mono waveform [T] of any length (chunked backbone pass)."""
        pooled = self.backbone.encode_long(waveform, chunk_seconds=self.chunk_seconds)  # [L, D]
        return self.embed_pooled(pooled[None])[0]

    def fingerprint(self) -> str:
        """Hash of configuration and every weight: keys cached embeddings of this exact model."""
        digest = hashlib.sha256(json.dumps(self._config_dict(), sort_keys=True).encode())
        for key, tensor in sorted(self.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()[:16]

    @classmethod
    def from_config(cls, config: ModelConfig, backbone: Backbone | None = None) -> DeePAQModel:
        """Build the network for training: load (or randomly initialise) the backbone and adapt it."""
        if backbone is None:
            if config.backbone is not None:
                backbone = Backbone.from_pretrained(config.backbone, arch=config.backbone_arch)
            else:
                backbone = Backbone.from_config(config.backbone_arch, **config.backbone_overrides)
        apply_adaptation(backbone, config.adaptation, config.lora)
        return cls(
            backbone,
            embedding_dim=config.embedding_dim,
            layers=tuple(config.layers) if config.layers else None,
            adaptation=config.adaptation,
            backbone_source=config.backbone,
            chunk_seconds=config.chunk_seconds,
            lora=config.lora if config.adaptation == "lora" else None,
        )

    def _includes_backbone(self) -> bool:
        return self.adaptation == "full" or self.backbone_source is None

    def _config_dict(self) -> dict:
        info = self.backbone.info
        return {
            "format_version": FORMAT_VERSION,
            "embedding_dim": self.embedding_dim,
            "layers": list(self.layers) if self.layers else None,
            "adaptation": self.adaptation,
            "chunk_seconds": self.chunk_seconds,
            "lora": asdict(self.lora) if self.lora else None,
            "backbone": {
                "source": self.backbone_source,
                "included": self._includes_backbone(),
                "arch": info.arch,
                "name": info.name,
                "sample_rate": info.sample_rate,
                "normalize_input": info.normalize_input,
            },
        }

    def _save_files(self, folder: Path, metadata: dict | None = None) -> dict:
        """Head, LoRA adapters (apart from the backbone), backbone when needed, and mappings; the config."""
        config = self._config_dict()
        if metadata:
            config["metadata"] = metadata
        save_file({k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}, folder / HEAD_FILE)
        if is_lora(self.backbone):
            save_lora_adapter(self.backbone, folder / ADAPTER_DIR)
        if self._includes_backbone():
            _save_backbone(self.backbone, folder / BACKBONE_DIR)
        if self.mapping is not None:
            self.mapping.save(folder)
        return config

    @classmethod
    def _from_files(cls, directory: Path, config: dict, backbone_source: str | Path | None = None) -> DeePAQModel:
        """The model in eval mode; `backbone_source` overrides where a referenced backbone is loaded from."""
        info = config["backbone"]
        if info["included"]:
            backbone = Backbone.from_pretrained(directory / BACKBONE_DIR, arch=info["arch"])
        else:
            source = backbone_source or info["source"]
            try:
                backbone = Backbone.from_pretrained(source, arch=info["arch"], sample_rate=info["sample_rate"])
            except ModelLoadError as err:
                raise ModelLoadError(
                    f"{directory}: its backbone {source!r} cannot be loaded ({err}); "
                    "pass the backbone's local directory (backbone_source / --backbone)"
                ) from err
        if config["adaptation"] == "lora":
            load_lora_adapter(backbone, directory / ADAPTER_DIR)
        for parameter in backbone.parameters():
            parameter.requires_grad_(False)
        lora = LoraSettings(**config["lora"]) if config.get("lora") else None
        model = cls(
            backbone,
            embedding_dim=config["embedding_dim"],
            layers=tuple(config["layers"]) if config["layers"] else None,
            adaptation=config["adaptation"],
            backbone_source=info["source"],
            chunk_seconds=config["chunk_seconds"],
            lora=lora,
        )
        try:
            model.head.load_state_dict(load_file(directory / HEAD_FILE))
        except (OSError, RuntimeError) as err:
            raise ModelLoadError(f"{directory / HEAD_FILE}: cannot load the projection head ({err})") from err
        model.mapping = DistanceMapping.load(directory)
        model.metadata = config.get("metadata", {})
        return model.eval()


def _save_backbone(backbone: Backbone, directory: Path) -> None:
    """Save the backbone's own weights (without LoRA layers) in Backbone.from_pretrained's layout."""
    if not is_lora(backbone):
        backbone.save_pretrained(directory)
        return
    Backbone(base_model(backbone), backbone.info).save_pretrained(directory, state_dict=base_state_dict(backbone))
