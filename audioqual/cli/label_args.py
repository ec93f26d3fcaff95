"""ViSQOL labelling options and report shared by `audioqual label` and `audioqual degrade --label`."""

from __future__ import annotations

import argparse
import sys

from audioqual.data.manifest import read_manifest
from audioqual.labels import LabelConfig, format_summary, label_manifest


def add_label_options(parser: argparse.ArgumentParser) -> None:
    """--mode, --speech-mapper, --label-workers and --retry-failed."""
    parser.add_argument("--mode", choices=["audio", "speech"], default="audio",
                        help="ViSQOL audio mode (48 kHz, default) or speech mode (16 kHz)")  # fmt: skip
    parser.add_argument("--speech-mapper", choices=["lattice", "polynomial"], default="lattice",
                        help="speech mode's MOS mapping: lattice (C++ default) or polynomial")  # fmt: skip
    parser.add_argument("--label-workers", type=int, default=2, help="worker processes for ViSQOL (default 2)")
    parser.add_argument("--retry-failed", action="store_true", help="score rows that failed in an earlier run again")


def label_config(args: argparse.Namespace) -> LabelConfig:
    """LabelConfig from parsed options."""
    return LabelConfig(mode=args.mode, speech_mapper=args.speech_mapper, workers=args.label_workers,
                       retry_failed=args.retry_failed)  # fmt: skip


def label_and_report(manifest: str, out: str | None, config: LabelConfig) -> int:
    """Run the labelling job, print throughput, failures and the per-condition summary."""
    result = label_manifest(manifest, out, config)
    rate = 60.0 * result.scored_now / result.seconds if result.seconds > 0 else 0.0
    print(f"labelled {result.labelled} rows ({result.scored_now} scored now, {rate:.1f} clips/min) -> {result.output}")
    for item_id, error in sorted(result.failures.items()):
        print(f"  failed {item_id}: {error}", file=sys.stderr)
    rows = [entry.to_row() for entry in read_manifest(result.output)]
    print(format_summary(rows))
    return 0 if result.labelled else 1
