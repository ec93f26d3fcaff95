"""Dataclass configs of a DeePAQ model and of its training (loaded from configs/deepaq_*.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field

ADAPTATIONS = ("frozen", "lora", "full")
MAPPING_KINDS = ("cubic", "mlp")


@dataclass
class LoraSettings:
    """LoRA on the attention projections (seed 003, sec. 3.1)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    weight_decay: float = 0.01


@dataclass
class ModelConfig:
    """The embedding network: backbone, adaptation and projection head."""

    backbone: str | None = "m-a-p/MERT-v1-95M"  # hub id or local directory; None: random init of backbone_arch
    backbone_arch: str | None = None  # force an architecture, or the one to initialise randomly
    backbone_overrides: dict = field(default_factory=dict)  # transformers config values for random init
    layers: list[int] | None = None  # hidden states fed to the head; None: all (13 for MERT)
    embedding_dim: int = 256
    adaptation: str = "lora"  # frozen | lora | full
    lora: LoraSettings = field(default_factory=LoraSettings)
    chunk_seconds: float = 30.0  # longer inputs are encoded chunk by chunk when scoring

    def __post_init__(self) -> None:
        if self.adaptation not in ADAPTATIONS:
            raise ValueError(f"adaptation must be one of {ADAPTATIONS}, got {self.adaptation!r}")
        if self.backbone is None and self.backbone_arch is None:
            raise ValueError("model.backbone or model.backbone_arch must be set")


@dataclass
class DataConfig:
    """The training manifest (JSONL/CSV) and the names of the fields read from it.

    Defaults follow `audioqual degrade` + `audioqual label` output: `path` clip,
    `reference` clean reference, `codec` (aac/opus/mp3/...; "clean" for clean
    rows; empty for effects such as low-pass or noise), `bitrate_kbps` (clean:
    inf; effects: empty), `source_id` (clean source: splits never share one),
    `split` (train/val/test, when present) and `visqol_moslqo` (ViSQOL MOS of
    the clip against its reference). Relative paths are relative to the manifest.
    """

    train_manifest: str = ""
    val_manifest: str | None = None  # None: the manifest's `split` column, else val_fraction of the sources
    val_fraction: float = 0.1
    path_field: str = "path"
    reference_field: str = "reference"
    codec_field: str = "codec"
    bitrate_field: str = "bitrate_kbps"
    source_field: str = "source_id"
    split_field: str = "split"
    label_field: str = "visqol_moslqo"
    clean_label: float | None = None  # MOS for clean rows whose label is missing; None: it must be present
    clip_seconds: float = 4.0  # clips are cropped (randomly in training) or zero-padded to this length
    num_workers: int = 2


@dataclass
class TrainConfig:
    """Optimisation (seed 003, sec. 3.1): batch 32, lr 1e-4 (full fine-tuning: 5e-5), decay 0.99 on plateau."""

    output_dir: str = "runs/deepaq"
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_weight_decay: float = 0.0
    backbone_weight_decay: float = 0.0  # full fine-tuning only (LoRA uses model.lora.weight_decay)
    lr_decay: float = 0.99
    lr_patience: int = 10  # epochs without validation improvement before each decay
    epochs: int = 100
    max_steps: int | None = None  # stop after this many optimiser steps (smoke runs, benchmarks)
    early_stop_patience: int | None = None  # stop after this many epochs without improvement
    temperature: float = 2.0
    bitrate_weight: float = 1.0
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str | None = None  # None: a GPU when present, else the CPU
    mixed_precision: str = "no"  # no | bf16 | fp16 (autocast; fp16 with a gradient scaler)
    cache_frozen_features: bool = True  # frozen backbone: train the head on cached pooled features
    feature_cache: str | None = None  # None: audioqual's default feature cache folder
    log_every: int = 10


@dataclass
class MappingConfig:
    """Distance -> subjective-scale mappings fitted after training on labelled (test, reference, score) rows."""

    manifest: str | None = None
    test_field: str = "test"
    reference_field: str = "reference"
    score_field: str = "mean"
    nmr_refs: str | None = None  # folder/manifest of clean references: fit on non-matching-reference distances
    kinds: list[str] = field(default_factory=lambda: ["cubic", "mlp"])

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(MAPPING_KINDS)
        if unknown:
            raise ValueError(f"unknown mapping kind(s) {sorted(unknown)}; known: {MAPPING_KINDS}")


@dataclass
class DeePAQTrainingConfig:
    """Everything `audioqual train deepaq` needs."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
