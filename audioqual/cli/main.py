"""The `audioqual` command: one subcommand per job, each in its own module.

A subcommand module defines `add_arguments(parser)` and `run(args) -> int`.
Commands whose module is not written yet are listed in --help and say so when
called, rather than pretending to work.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from audioqual import __version__
from audioqual.errors import AudioqualError

COMMANDS: dict[str, str] = {
    "score": "No-reference quality: per-aspect MOS (PQ, PC, CE, CU) with uncertainty for files or a manifest.",
    "compare": "Full-reference / non-matching-reference quality (DeePAQ) of test audio against references.",
    "metric": "Baseline metrics (ViSQOL, PEAQ, 2f-model, HAAQI, FAD, ...) over reference/test pairs.",
    "evaluate": "Correlate predictions with listening-test scores (PCC, SRCC, Kendall, MSE; stimulus and system level).",
    "degrade": "Make coded/degraded variants of clean audio (AAC, Opus, MP3 bitrate ladders, noise, ...).",
    "label": "Surrogate labels: ViSQOL MOS of each degraded clip against its clean reference.",
    "train": "Train a model: `train nr` (no-reference MOS predictor) or `train deepaq` (DeePAQ metric).",
    "analyze": "Latent-space analyses of a trained model: UMAP, linear probing, K ablation.",
    "report": "One self-contained HTML page with the tables and plots of an evaluation run.",
    "extract": "Extract SSL backbone features of files or a manifest into the feature cache.",
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only the `selected` command's module is imported (fast start-up)."""
    parser = argparse.ArgumentParser(
        prog="audioqual",
        description="Learned, perceptual audio quality assessment.",
    )
    parser.add_argument("--version", action="version", version=f"audioqual {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        module = _command_module(name) if name == selected else None
        available = module is not None or name != selected
        description = (module.__doc__ or summary).strip() if module else summary
        if not available:
            description += "\n\nNot available yet in this version."
        sub = subparsers.add_parser(
            name, help=summary, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        if module is not None:
            module.add_arguments(sub)
        sub.set_defaults(_module=module, _name=name)
    return parser


def _command_module(name: str):
    module_name = f"audioqual.cli.{name}_cmd"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            return None
        raise


def _selected_command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line, if any (the first non-option word)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_selected_command(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    if args._module is None:
        print(f"audioqual {args._name}: not available yet in this version", file=sys.stderr)
        return 2
    try:
        return int(args._module.run(args) or 0)
    except AudioqualError as err:
        print(f"audioqual {args._name}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
