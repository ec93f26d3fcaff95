"""Train a model from a YAML config, with `key=value` overrides.

  audioqual train nr --config configs/nr_dat_source.yaml
  audioqual train nr --config configs/nr_baseline.yaml optim.epochs=10 seed=1
  audioqual train nr --backbone aesthetics data.train=train.jsonl 'domains=[{strategy: source}]'

Subcommands: `nr` (no-reference multi-aspect MOS predictor: MultiGauss or
Audiobox-Aesthetics head, domain-adversarial branches; `--backbone aesthetics`
starts from Meta's released model, see `audioqual train nr --help`) and
`deepaq` (DeePAQ metric) and `fusion` (the NSIM-fusion full-reference model fitted to the ratings of a
listening-test manifest: `audioqual train fusion --manifest LT.csv -o DIR`). An interrupted
run of any model resumes from its last epoch when started again with the same config (a
changed config needs another output folder). Multi-GPU / multi-node: start the same
command under torchrun.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audioqual.errors import AudioqualError

if TYPE_CHECKING:
    from audioqual.train.nr_config import NRTrainConfig

NR_DESCRIPTION = """`audioqual train nr`: train the no-reference multi-aspect MOS predictor with DAT.

  audioqual train nr --config configs/nr_dat_source.yaml data.train=train.jsonl
  audioqual train nr --backbone aesthetics data.train=train.jsonl 'domains=[{strategy: source}]'
  audioqual train nr --config configs/nr_aesthetics.yaml --backbone /models/checkpoint.pt

Pipeline: read the rating manifests -> load the backbone (through the head's
loader: Meta's Audiobox-Aesthetics checkpoints for the aesthetics head) ->
extract (or reuse cached) features of the frozen backbone (features heads;
waveform heads read whole clips) -> define domains for every adversarial
branch (source field, K-means on utterance embeddings, random) -> build head +
branches, fit the head's target normalisation -> train (resumable) -> save the
best model (by validation task loss) with its domain labels, and the
validation metrics per aspect. With `runs` in the config, several variants are
trained on the same data and the best one per aspect (validation SRCC) is
combined into an aspect-specific router.

`--backbone aesthetics` starts from Meta's released model: it stands for
`head.name=aesthetics features.backbone=facebook/audiobox-aesthetics` and,
without --config, the recipe Huang et al. 2026 (arXiv:2603.16201) use for that
architecture (lr 1e-5, batch 16, 200 epochs). `--backbone DIR_OR_HUB_ID` sets `features.backbone`, `--head NAME`
sets `head.name`; KEY=VALUE overrides are applied last and win.
"""


@dataclass(frozen=True)
class BackbonePreset:
    """What `--backbone NAME` stands for: a head, its starting model and (without --config) its recipe."""

    head: str
    backbone: str
    recipe: tuple[str, ...] = ()  # overrides applied only when no config file is given


BACKBONE_PRESETS: dict[str, BackbonePreset] = {
    # Meta's released model; Huang et al. 2026's recipe for this architecture (as configs/nr_aesthetics*.yaml)
    "aesthetics": BackbonePreset(
        head="aesthetics",
        backbone="facebook/audiobox-aesthetics",
        recipe=("optim.lr=1.0e-5", "optim.batch_size=16", "optim.epochs=200", "optim.weight_decay=0.0"),
    ),
}


def add_nr_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `audioqual train nr`."""
    parser.description = NR_DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", "-c", help="YAML config file, e.g. configs/nr_*.yaml (defaults apply without one)")
    presets = ", ".join(f"'{name}' ({p.head} head from {p.backbone})" for name, p in BACKBONE_PRESETS.items())
    parser.add_argument(
        "--backbone",
        metavar="DIR_OR_HUB_ID",
        help=f"the backbone to start from (sets features.backbone): a hub id or directory, or a preset: {presets}; "
        "the aesthetics head also takes Meta's checkpoint.pt. A directory named like a preset: write ./NAME",
    )
    parser.add_argument("--head", metavar="NAME", help="quality head (sets head.name): multigauss, aesthetics, ...")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. optim.epochs=5")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def cli_overrides(
    config_path: str | None, overrides: list[str], backbone: str | None = None, head: str | None = None
) -> list[str]:
    """`--backbone` / `--head` as key=value overrides, followed by the explicit ones (which win)."""
    expanded: list[str] = []
    preset = BACKBONE_PRESETS.get(backbone) if backbone else None
    if preset is not None:
        if head and head != preset.head:
            raise AudioqualError(
                f"--backbone {backbone} starts the {preset.head} head; it cannot go with --head {head}"
            )
        if config_path is None:
            expanded += preset.recipe
        head, backbone = preset.head, preset.backbone
    if backbone:
        expanded.append(f"features.backbone={json.dumps(backbone)}")
    if head:
        expanded.append(f"head.name={json.dumps(head)}")
    return expanded + list(overrides)


def nr_config_from_args(args: argparse.Namespace) -> NRTrainConfig:
    """The run's config: --config file, then --backbone / --head, then KEY=VALUE overrides."""
    from audioqual.config import load_config
    from audioqual.train.nr_config import NRTrainConfig

    overrides = cli_overrides(args.config, list(args.overrides), backbone=args.backbone, head=args.head)
    return load_config(NRTrainConfig, args.config, overrides)


def run_nr(args: argparse.Namespace) -> int:
    """Train as the arguments say; prints where the model went."""
    from audioqual.train.nr import train_nr

    output = train_nr(nr_config_from_args(args), progress=not args.quiet)
    print(f"model saved to {output}")
    return 0


def add_deepaq_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `audioqual train deepaq`."""
    parser.add_argument("--config", help="YAML config (see configs/deepaq_*.yaml)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.batch_size=16 model.adaptation=full")
    parser.add_argument("--fit-mapping", metavar="MODEL_DIR", help="only fit the distance mapping of a saved model")
    parser.add_argument("--device", help="cpu, cuda, ... (default: GPU when present)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run_deepaq(args: argparse.Namespace) -> int:
    """Train (or only calibrate) and print a JSON summary."""
    from audioqual.train.deepaq import fit_mapping, load_training_config, train_and_calibrate

    config = load_training_config(args.config, list(args.overrides or []))
    if args.device:
        config.train.device = args.device
    if args.fit_mapping:
        mapping = fit_mapping(args.fit_mapping, config)
        print(json.dumps({"model": args.fit_mapping, "mapping": mapping.kinds(), "info": mapping.info}))
        return 0
    print(json.dumps(train_and_calibrate(config, not args.no_progress), default=str))
    return 0


def add_fusion_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `audioqual train fusion`."""
    parser.add_argument("--manifest", required=True,
                        help="listening-test manifest (test, reference, a rating column, a signal column)")
    parser.add_argument("-o", "--output", required=True, help="model directory to write (fusion.json)")
    parser.add_argument("--score-column", default="mean", help="the rating column (default: %(default)s)")
    parser.add_argument("--group-column", default="signal",
                        help="cross-validation leaves one value of this column out at a time (default: %(default)s)")


def run_fusion(args: argparse.Namespace) -> int:
    """Measure a listening test's pairs, fit the NSIM fusion, save it, print the fit."""
    from audioqual.models.fusion import train_from_listening_test

    model, report = train_from_listening_test(args.manifest, args.output, args.score_column, args.group_column)
    chosen = report["chosen"]
    print(json.dumps({"output": args.output, "features": model.features, "weights": model.weights,
                      "offset": model.offset, "shrinkage": chosen["shrinkage"],
                      "cross_validated_stimulus_srcc": chosen["stimulus_srcc"],
                      "cross_validated_within_srcc": chosen["within_srcc"]}))  # fmt: skip
    print(f"wrote {args.output}/fusion.json", file=sys.stderr)
    return 0


@dataclass(frozen=True)
class Trainer:
    """One `audioqual train` subcommand: its options and what runs it (imports torch only when called)."""

    summary: str
    add_options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


TRAINERS: dict[str, Trainer] = {
    "nr": Trainer(
        "no-reference MOS predictor (MultiGauss or Audiobox-Aesthetics head + domain-adversarial training)",
        add_nr_arguments,
        run_nr,
    ),
    "deepaq": Trainer("DeePAQ full-reference / non-matching-reference metric", add_deepaq_arguments, run_deepaq),
    "fusion": Trainer(
        "NSIM-fusion full-reference model fitted to a listening test's ratings (the default model's recipe)",
        add_fusion_arguments,
        run_fusion,
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One subparser per trainer."""
    subparsers = parser.add_subparsers(dest="trainer", metavar="MODEL", required=True)
    for name, trainer in TRAINERS.items():
        sub = subparsers.add_parser(name, help=trainer.summary, description=trainer.summary)
        trainer.add_options(sub)


def run(args: argparse.Namespace) -> int:
    """Run the chosen trainer."""
    return int(TRAINERS[args.trainer].run(args) or 0)
