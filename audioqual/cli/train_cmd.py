"""Train a model from a YAML config, with `key=value` overrides.

  audioqual train nr --config configs/nr_dat_source.yaml
  audioqual train nr --config configs/nr_baseline.yaml optim.epochs=10 seed=1
  audioqual train nr --backbone aesthetics data.train=train.jsonl 'domains=[{strategy: source}]'

Subcommands: `nr` (no-reference multi-aspect MOS predictor: MultiGauss or
Audiobox-Aesthetics head, domain-adversarial branches; `--backbone aesthetics`
starts from Meta's released model, see `audioqual train nr --help`) and
`deepaq` (DeePAQ metric) and `fusion` (the NSIM-fusion full-reference model fitted to the ratings of a
listening-test manifest: `audioqual train fusion --manifest LT.csv -o DIR`). An interrupted `nr` run resumes from its last epoch when
started again with the same config; `deepaq` does so with `--resume` (without it, a
run starts afresh, e.g. after a config change). Multi-GPU / multi-node: start the same
command under torchrun.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

TRAINERS: dict[str, tuple[str, str, str]] = {
    "nr": (
        "audioqual.train.nr",
        "add_nr_arguments",
        "no-reference MOS predictor (MultiGauss or Audiobox-Aesthetics head + domain-adversarial training)",
    ),
    "deepaq": (
        "audioqual.train.deepaq",
        "add_deepaq_arguments",
        "DeePAQ full-reference / non-matching-reference metric",
    ),
    "fusion": (
        "audioqual.train.fusion",
        "add_fusion_arguments",
        "NSIM-fusion full-reference model fitted to a listening test's ratings (the default model's recipe)",
    ),
}
"""Subcommand -> (module, options function, summary). The module defines `run(args) -> int` and imports torch;
the options function, in audioqual.train.options, does not, so `audioqual train --help` stays light."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from audioqual.train import options

    subparsers = parser.add_subparsers(dest="trainer", metavar="MODEL", required=True)
    for name, (_, options_function, summary) in TRAINERS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        getattr(options, options_function)(sub)


def run(args: argparse.Namespace) -> int:
    module = _trainer_module(TRAINERS[args.trainer][0])
    if module is None:
        print(f"audioqual train {args.trainer}: not available yet in this version", file=sys.stderr)
        return 2
    return int(module.run(args) or 0)


def _trainer_module(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        return None
