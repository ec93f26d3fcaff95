"""Command-line options of `audioqual train nr` and `audioqual train deepaq`, importable without torch.

`audioqual train --help` builds every trainer's options from here; the trainers themselves
(audioqual.train.nr, audioqual.train.deepaq, which import torch) load only when a run starts.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from audioqual.errors import AudioqualError

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
without --config, seed 000's recipe for that architecture (lr 1e-5, batch 16,
200 epochs). `--backbone DIR_OR_HUB_ID` sets `features.backbone`, `--head NAME`
sets `head.name`; KEY=VALUE overrides are applied last and win.
"""


@dataclass(frozen=True)
class BackbonePreset:
    """What `--backbone NAME` stands for: a head, its starting model and (without --config) its recipe."""

    head: str
    backbone: str
    recipe: tuple[str, ...] = ()  # overrides applied only when no config file is given


BACKBONE_PRESETS: dict[str, BackbonePreset] = {
    # Meta's released model; seed 000's recipe for this architecture (as configs/nr_aesthetics*.yaml)
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


def add_deepaq_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `audioqual train deepaq`."""
    parser.add_argument("--config", help="YAML config (see configs/deepaq_*.yaml)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.batch_size=16 model.adaptation=full")
    parser.add_argument("--resume", action="store_true", help="continue from <output_dir>/last if it exists")
    parser.add_argument("--fit-mapping", metavar="MODEL_DIR", help="only fit the distance mapping of a saved model")
    parser.add_argument("--device", help="cpu, cuda, ... (default: GPU when present)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_fusion_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `audioqual train fusion`."""
    parser.add_argument("--manifest", required=True,
                        help="listening-test manifest (test, reference, a rating column, a signal column)")
    parser.add_argument("-o", "--output", required=True, help="model directory to write (fusion.json)")
    parser.add_argument("--score-column", default="mean", help="the rating column (default: %(default)s)")
    parser.add_argument("--group-column", default="signal",
                        help="cross-validation leaves one value of this column out at a time (default: %(default)s)")
