"""Configuration of no-reference (NR) MOS predictor training, loaded from YAML.

Defaults are the paper's (seed 000, Sec. III-B, following MultiGauss): AdamW,
lr 1e-4, batch 64, 30 epochs, weight decay 0, best checkpoint by validation
loss; lambda 0.5 for DAT-Source and 0.1 for DAT-Kmeans / DAT-Random, K = 8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audioqual.data.aes import AES_ASPECTS
from audioqual.domains.strategies import StrategySpec
from audioqual.train.config import OptimConfig


@dataclass
class DataConfig:
    """Rating manifests and which of their fields to use."""

    train: str = ""
    valid: str | None = None
    valid_fraction: float = 0.1  # used only without a `valid` manifest: seeded random split of `train`
    aspects: list[str] = field(default_factory=lambda: list(AES_ASPECTS))
    source_field: str = "source"
    system_field: str = "system"
    path_rewrite: dict[str, str] = field(default_factory=dict)


@dataclass
class FeatureConfig:
    """The frozen SSL backbone and how its features are taken."""

    backbone: str = "facebook/wav2vec2-xls-r-2b"
    layer: int = 12  # features heads: hidden_states index (12 = output of transformer layer 12, torchaudio's 11)
    crop_seconds: float = 8.0  # features heads: clips repetitively padded / cropped to this duration (MultiGauss)
    kmeans_layer: int = -1  # K-means embeddings: time mean of this hidden state (paper: the last layer)
    kmeans_full_clip: bool = True  # pool the whole clip for K-means (paper: utterance-level), not the crop
    cache_dir: str | None = None  # None: $AUDIOQUAL_CACHE or ~/.cache/audioqual/features
    batch_size: int = 8
    device: str = "auto"


@dataclass
class HeadConfig:
    """Which quality head, and its options (validated by the head's own config class)."""

    name: str = "multigauss"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class DomainConfig:
    """One adversarial branch: a domain strategy and its weights."""

    strategy: str = "source"  # source | kmeans:K | random:K
    weight: float | None = None  # lambda in L_task + lambda * L_adv; None = the paper's value for the strategy
    grl_scale: float | None = None  # GRL backward factor; None = lambda, as in the authors' code
    hidden: list[int] = field(default_factory=lambda: [64, 32])
    seed: int | None = None  # K-means / random seed; None = the run's seed
    labels_file: str | None = None  # reuse saved domain labels (domains/<name>.json of an earlier run)

    def spec(self) -> StrategySpec:
        return StrategySpec.parse(self.strategy)

    def resolved_weight(self) -> float:
        return self.spec().paper_weight if self.weight is None else float(self.weight)

    def resolved_grl_scale(self) -> float:
        return self.resolved_weight() if self.grl_scale is None else float(self.grl_scale)


@dataclass
class RunConfig:
    """One member of an aspect-specific selection: a name and what differs from the base config."""

    name: str = ""
    domains: list[DomainConfig] = field(default_factory=list)
    head_options: dict[str, Any] = field(default_factory=dict)
    weight_decay: float | None = None


@dataclass
class SelectionConfig:
    """How the best strategy per aspect is chosen on the validation set."""

    metric: str = "srcc"  # srcc (higher is better) or mse (lower is better)
    level: str = "system"  # system (needs the system field; falls back to utterance) or utterance


@dataclass
class NRTrainConfig:
    """A no-reference training run, or (with `runs`) an aspect-specific selection over several."""

    name: str = "nr"
    output_dir: str = "runs/nr"
    seed: int = 960
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    domains: list[DomainConfig] = field(default_factory=list)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runs: list[RunConfig] = field(default_factory=list)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
