"""Train a model from a YAML config, with `key=value` overrides.

  audioqual train nr --config configs/nr_dat_source.yaml
  audioqual train nr --config configs/nr_baseline.yaml optim.epochs=10 seed=1

Subcommands: `nr` (no-reference multi-aspect MOS predictor: MultiGauss head,
domain-adversarial branches) and `deepaq` (DeePAQ metric). An interrupted run
resumes from its last epoch when started again with the same config.
Multi-GPU / multi-node: start the same command under torchrun.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

TRAINERS: dict[str, tuple[str, str]] = {
    "nr": ("audioqual.train.nr", "no-reference MOS predictor (MultiGauss + domain-adversarial training)"),
    "deepaq": ("audioqual.train.deepaq", "DeePAQ full-reference / non-matching-reference metric"),
}
"""Subcommand -> (module, summary). The module defines `cli_train(config_path, overrides, progress) -> Path`,
or its own `add_arguments(parser)` and `run(args) -> int` when it needs more options."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subparsers = parser.add_subparsers(dest="trainer", metavar="MODEL", required=True)
    for name, (module_name, summary) in TRAINERS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        module = _trainer_module(module_name)
        if module is not None and hasattr(module, "add_arguments") and hasattr(module, "run"):
            module.add_arguments(sub)
            continue
        sub.add_argument("--config", "-c", help="YAML config file (defaults apply without one)")
        sub.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.epochs=5")
        sub.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    module = _trainer_module(TRAINERS[args.trainer][0])
    if module is None:
        print(f"audioqual train {args.trainer}: not available yet in this version", file=sys.stderr)
        return 2
    if hasattr(module, "add_arguments") and hasattr(module, "run"):
        return int(module.run(args) or 0)
    output = module.cli_train(args.config, list(args.overrides), progress=not args.quiet)
    print(f"model saved to {output}")
    return 0


def _trainer_module(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        return None
