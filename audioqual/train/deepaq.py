"""Train a DeePAQ quality-embedding model (seed 003) with Rank-N-Contrast on surrogate labels.

  audioqual train deepaq --config configs/deepaq_lora.yaml [key=value ...]

`audioqual train deepaq` (audioqual/cli/train_cmd.py) calls `run`: with --resume a run continues
from <output_dir>/last; --fit-mapping MODEL_DIR fits only the distance mapping of a saved model. Its
options are audioqual.train.options.add_deepaq_arguments (importable without torch).

The model is saved to <output_dir>/best (best validation RnC loss) and
<output_dir>/last; when `mapping.manifest` is set, the cubic/MLP mappings are
fitted on it afterwards and saved into the best model directory.
"""

from __future__ import annotations

import argparse
import json

from audioqual.config import ConfigError, load_config
from audioqual.deepaq.calibration import calibrate
from audioqual.deepaq.config import DeePAQTrainingConfig
from audioqual.deepaq.model import DeePAQModel
from audioqual.deepaq.training import train_deepaq


def load_training_config(path: str | None, overrides: list[str]) -> DeePAQTrainingConfig:
    """The training config; invalid values become a ConfigError naming the problem."""
    try:
        return load_config(DeePAQTrainingConfig, path, overrides)
    except ValueError as err:
        raise ConfigError(f"{path or 'config'}: {err}") from err


def _train(config: DeePAQTrainingConfig, resume: bool, progress: bool) -> dict:
    result = train_deepaq(config, resume=resume, progress=progress)
    summary = {
        "best": str(result.best_dir),
        "best_val_loss": result.best_val_loss,
        "steps": result.steps,
        "seconds_per_step": result.seconds_per_step,
        "history": result.history,
    }
    if config.mapping.manifest:
        model = DeePAQModel.from_pretrained(result.best_dir)
        mapping = calibrate(model, config.mapping, device=config.train.device)
        mapping.save(result.best_dir)
        summary["mapping"] = {"kinds": mapping.kinds(), **mapping.info}
    return summary


def run(args: argparse.Namespace) -> int:
    """Train (or calibrate) and print a JSON summary."""
    config = load_training_config(args.config, list(args.overrides or []))
    if args.device:
        config.train.device = args.device
    if args.fit_mapping:
        model = DeePAQModel.from_pretrained(args.fit_mapping)
        mapping = calibrate(model, config.mapping, device=config.train.device)
        mapping.save(args.fit_mapping)
        print(json.dumps({"model": args.fit_mapping, "mapping": mapping.kinds(), "info": mapping.info}))
        return 0
    print(json.dumps(_train(config, args.resume, not args.no_progress), default=str))
    return 0
