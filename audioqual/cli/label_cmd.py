"""Surrogate labels: ViSQOL v3 MOS-LQO of each degraded clip against its clean reference.

These are the training labels of DeePAQ (Jiang et al. 2025, arXiv:2510.12326).

Reads a manifest written by `audioqual degrade` (or any manifest with `path` and
`reference` columns; `fullband_path`/`fullband_reference` are preferred) and writes
it back with `visqol_moslqo`, `visqol_vnsim` and `visqol_mode` columns, plus an
`error` column naming any pair that could not be scored. Audio mode runs at 48 kHz
(the default, for music), speech mode at 16 kHz. Pairs are scored in parallel
worker processes; a re-run resumes and skips labelled rows. At the end, a table of
MOS per condition and the Spearman correlation of MOS with bitrate per codec.

  audioqual label runs/demo/manifest.jsonl --label-workers 2
"""

from __future__ import annotations

import argparse

from audioqual.cli.label_args import add_label_options, label_and_report, label_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the label command's options."""
    parser.add_argument("manifest", help="degrade manifest (.jsonl or .csv)")
    parser.add_argument("--out", help="labelled manifest to write (default: <manifest>_labelled.jsonl beside it)")
    add_label_options(parser)


def run(args: argparse.Namespace) -> int:
    """Label the manifest and print a summary."""
    return label_and_report(args.manifest, args.out, label_config(args))
