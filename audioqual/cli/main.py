"""The `audioqual` command: one subcommand per job, each in its own module.

Exit codes (every command): 0 success, 1 some rows failed (output written),
2 usage or input error (see audioqual/cli/exit_codes.py). Messages go to stderr.

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
from audioqual.allocator import retain_freed_memory
from audioqual.cli.exit_codes import USAGE_ERROR
from audioqual.errors import AudioqualError

COMMANDS: dict[str, str] = {
    "score": "No-reference quality: per-aspect MOS (PQ, PC, CE, CU) with uncertainty for files or a manifest.",
    "compare": "Full-reference / non-matching-reference quality (DeePAQ) of test audio against references.",
    "metric": "Pair metrics (ViSQOL, PEAQ, 2f-model, HAAQI, CDPAM, DNSMOS, embedding distance) over reference/test pairs, several in one pass (set-versus-set FAD: `audioqual fad`).",
    "leaderboard": "Rank systems from per-item scores: mean with bootstrap CI, rank, Holm-corrected paired tests.",
    "fad": "Fréchet Audio Distance between a reference set and a test set (or per test file) on any project backbone.",
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
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    if args._module is None:
        print(f"audioqual {args._name}: not available yet in this version", file=sys.stderr)
        return USAGE_ERROR
    retain_freed_memory()  # a model's large blocks are reused between calls, not faulted in again on each
    try:
        check_device(getattr(args, "device", None))
        return int(args._module.run(args) or 0)
    except AudioqualError as err:
        print(f"audioqual {args._name}: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except (IsADirectoryError, NotADirectoryError, FileExistsError, FileNotFoundError, PermissionError) as err:
        # An input or output path of the wrong kind: a message naming it, not a traceback.
        what = {IsADirectoryError: "is a directory, expected a file", NotADirectoryError: "is not a directory",
                FileExistsError: "already exists", FileNotFoundError: "does not exist",
                PermissionError: "permission denied"}[type(err)]
        print(f"audioqual {args._name}: error: {err.filename or err}: {what}", file=sys.stderr)
        return USAGE_ERROR


def check_device(device: str | None) -> None:
    """A --device this machine does not have is a usage error, before any model is loaded."""
    if not device or not str(device).startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise AudioqualError(f"--device {device}: no CUDA GPU is available on this machine (use --device cpu)")
    index = str(device).partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise AudioqualError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


if __name__ == "__main__":
    sys.exit(main())
