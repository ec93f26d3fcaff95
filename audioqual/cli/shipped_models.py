"""Steps that rebuild the shipped models' files and have no `audioqual` command: v1's recipe and the example pairs.

The v1 default model's recipe (scripts/train_default_model.sh):

  python -m audioqual.cli.shipped_models trainset OUT [--seed N] [KEY=VALUE ...]
      render clean audio and degrade it into OUT/manifest.jsonl (audioqual.models.trainset)
  python -m audioqual.cli.shipped_models frontend --config configs/default_fr_frontend.yaml [KEY=VALUE ...]
      stage 1: train the convolutional front end on log-mel regression (audioqual.models.frontend)
  python -m audioqual.cli.shipped_models export --checkpoint DIR --manifest LABELLED.jsonl --out MODEL_DIR
      fit the distance -> MOS mapping on the held-out splits and write the model (audioqual.models.export)

The no-reference default's recipe (scripts/train_default_nr.sh):

  python -m audioqual.cli.shipped_models nr-labels SET_DIR OUT_DIR
      surrogate aspect targets for every clip of a rendered set (audioqual.nr.surrogates) and its
      train / valid / test manifests
  python -m audioqual.cli.shipped_models nr-export RUN_MODEL_DIR PACKAGE_DIR --check MANIFEST
      copy the trained model into the package, export it to ONNX and check the export against torch

  python -m audioqual.cli.shipped_models examples [OUT_DIR]
      render and degrade the bundled example pairs (audioqual.models.make_examples)

Labelling (`audioqual label`) and DeePAQ training (`audioqual train deepaq`) run through the main command.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence


def run_trainset(args: argparse.Namespace) -> int:
    """Render and degrade; prints the manifest written."""
    from audioqual.config import load_config
    from audioqual.data.manifest import read_manifest
    from audioqual.models.trainset import TrainsetConfig, build_trainset

    config = load_config(TrainsetConfig, None, [*args.overrides, f"seed={args.seed}"])
    manifest = build_trainset(args.out, config, args.retry_failed)
    print(f"wrote {manifest}: {len(read_manifest(manifest))} rows")
    return 0


def run_frontend(args: argparse.Namespace) -> int:
    """Train the front end; prints its training summary."""
    from audioqual.config import load_config
    from audioqual.models.frontend import TRAINING_FILE, FrontendConfig, train_frontend

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_config(FrontendConfig, args.config, list(args.overrides))
    out = train_frontend(config, progress=not args.no_progress)
    print(json.dumps(json.loads((out / TRAINING_FILE).read_text()), indent=2))
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Fit the mapping and write the model; prints where it went and the held-out agreement."""
    from audioqual.models.export import export_default_model

    print(json.dumps(export_default_model(args.checkpoint, args.manifest, args.out, tuple(args.splits)), indent=2))
    return 0


def run_examples(args: argparse.Namespace) -> int:
    """Write the example pairs; prints their pairs.csv."""
    from audioqual.models.make_examples import EXAMPLES_DIR, make_examples

    print(make_examples(args.out or EXAMPLES_DIR))
    return 0


def run_nr_labels(args: argparse.Namespace) -> int:
    """Label the set and write its split manifests; prints their sizes."""
    from audioqual.nr.surrogates import label_trainset, write_splits

    labelled = label_trainset(args.set_dir, f"{args.out}/labelled.jsonl", workers=args.workers)
    print(json.dumps({name: str(path) for name, path in write_splits(labelled, args.out).items()}, indent=2))
    return 0


def run_nr_export(args: argparse.Namespace) -> int:
    """Copy, export and check; prints the largest torch/ONNX difference on the check clips."""
    from audioqual.nr.shipped import ship_nr_model

    print(json.dumps(ship_nr_model(args.model, args.out, args.check, args.check_clips), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """One subcommand per step."""
    parser = argparse.ArgumentParser(prog="python -m audioqual.cli.shipped_models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    steps = parser.add_subparsers(dest="step", metavar="STEP", required=True)

    trainset = steps.add_parser("trainset", help="render clean audio and degrade it (the training set)")
    trainset.add_argument("out", help="output folder")
    trainset.add_argument("--seed", type=int, default=0)
    trainset.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="TrainsetConfig fields, e.g. stem_pairs=8")
    trainset.add_argument("--retry-failed", action="store_true")
    trainset.set_defaults(run=run_trainset)

    frontend = steps.add_parser("frontend", help="stage 1: train the convolutional front end (log-mel regression)")
    frontend.add_argument("--config", help="YAML with FrontendConfig fields")
    frontend.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    frontend.add_argument("--no-progress", action="store_true")
    frontend.set_defaults(run=run_frontend)

    export = steps.add_parser("export", help="fit the distance -> MOS mapping and write the model directory")
    export.add_argument("--checkpoint", required=True, help="trained DeePAQ model directory (e.g. .../train/best)")
    export.add_argument("--manifest", required=True, help="labelled training-set manifest")
    export.add_argument("--out", required=True, help="model directory to write (replaced)")
    export.add_argument("--splits", nargs="+", default=["validation", "test"],
                        help="splits the mapping is fitted on (default: validation test)")  # fmt: skip
    export.set_defaults(run=run_export)

    labels = steps.add_parser("nr-labels", help="surrogate aspect targets and split manifests (no-reference default)")
    labels.add_argument("set_dir", help="a rendered and degraded set (the trainset step's OUT)")
    labels.add_argument("out", help="folder for labelled.jsonl, train.jsonl, valid.jsonl, test.jsonl")
    labels.add_argument("--workers", type=int, default=2)
    labels.set_defaults(run=run_nr_labels)

    nr_export = steps.add_parser("nr-export", help="copy a trained no-reference model into the package, as ONNX too")
    nr_export.add_argument("model", help="trained model directory (train nr's OUTPUT/model)")
    nr_export.add_argument("out", help="package model directory to write (replaced)")
    nr_export.add_argument("--check", required=True, help="manifest whose clips check ONNX against torch")
    nr_export.add_argument("--check-clips", type=int, default=16)
    nr_export.set_defaults(run=run_nr_export)

    examples = steps.add_parser("examples", help="render and degrade the bundled example pairs")
    examples.add_argument("out", nargs="?", help="output folder (default: audioqual/models/examples)")
    examples.set_defaults(run=run_examples)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step of the recipe."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
