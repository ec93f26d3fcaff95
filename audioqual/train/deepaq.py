"""Train a DeePAQ quality-embedding model (seed 003) with Rank-N-Contrast on surrogate labels.

The library side of `audioqual train deepaq` (its options: audioqual/cli/train_cmd.py).
The model is saved to <output_dir>/best (best validation RnC loss) and
<output_dir>/last, the training state to <output_dir>/checkpoint.pt (a rerun
resumes from it); when `mapping.manifest` is set, the cubic/MLP mappings are
fitted on it afterwards and saved into the best model directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audioqual.config import ConfigError, load_config
from audioqual.deepaq.calibration import calibrate
from audioqual.deepaq.config import DeePAQTrainingConfig
from audioqual.deepaq.mapping import DistanceMapping
from audioqual.deepaq.model import DeePAQModel
from audioqual.deepaq.training import train_deepaq


def load_training_config(path: str | None, overrides: list[str]) -> DeePAQTrainingConfig:
    """The training config; invalid values become a ConfigError naming the problem."""
    try:
        return load_config(DeePAQTrainingConfig, path, overrides)
    except ValueError as err:
        raise ConfigError(f"{path or 'config'}: {err}") from err


def train_and_calibrate(config: DeePAQTrainingConfig, progress: bool = True) -> dict[str, Any]:
    """Train (resuming an interrupted run of the same config), fit the mapping when configured; a summary."""
    result = train_deepaq(config, progress=progress)
    summary = {
        "best": str(result.best_dir),
        "best_val_loss": result.best_val_loss,
        "steps": result.steps,
        "seconds_per_step": result.seconds_per_step,
        "history": result.history,
    }
    if config.mapping.manifest:
        mapping = fit_mapping(result.best_dir, config)
        summary["mapping"] = {"kinds": mapping.kinds(), **mapping.info}
    return summary


def fit_mapping(model_dir: str | Path, config: DeePAQTrainingConfig) -> DistanceMapping:
    """Fit the distance mapping of the saved model in `model_dir` as `config.mapping` says, and save it there."""
    model = DeePAQModel.from_pretrained(model_dir)
    mapping = calibrate(model, config.mapping, device=config.train.device)
    mapping.save(model_dir)
    return mapping
