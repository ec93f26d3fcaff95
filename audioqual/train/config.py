"""Settings of the generic training loop (audioqual.train.trainer); torch-free, so configs load without it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OptimConfig:
    """Optimiser and loop settings."""

    lr: float = 1.0e-4
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 30
    grad_clip: float | None = 5.0  # max gradient norm, as in the reference training loops
    select_best: bool = True  # keep the epoch with the lowest validation loss (paper); False: the last epoch
    num_workers: int = 0
    device: str = "auto"
