"""Fréchet Audio Distance (FAD) between a reference set and a test set, on any project backbone.

FAD compares two *sets*, not pairs: each set's frame-level embeddings of one
backbone layer are summarised by their mean and covariance, and FAD is the
Fréchet distance between the two Gaussians (fadtk convention; lower is better,
0 for identical statistics). With --per-song, each test file's frames are
compared with the whole reference set instead (needs -o).

Each set is audio files, folders (searched recursively) or manifests
(.jsonl/.csv with a `path` column and optional `start_time`/`end_time`).
--backbone is any project backbone: a hub id or local directory of an SSL
model (MERT, HuBERT, wav2vec 2.0, WavLM) or a pretrained encoder name such as
`musicnn` (see audioqual.backbones.encoders). Embeddings go through the feature
cache, so a second run over the same sets computes nothing.

Examples:
  audioqual fad refs/ generated/ --backbone m-a-p/MERT-v1-95M --layer 6
  audioqual fad refs.csv generated.csv --backbone musicnn --per-song -o per_song.csv
"""

from __future__ import annotations

import argparse
import json
import sys

from audioqual.data.journal import check_output
from audioqual.data.manifest import load_entries, write_manifest
from audioqual.errors import AudioqualError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", help="reference set: audio folder, file or manifest (.jsonl/.csv)")
    parser.add_argument("test", help="test set: audio folder, file or manifest (.jsonl/.csv)")
    parser.add_argument("--backbone", required=True,
                        help="hub id or local directory of an SSL model, or a pretrained encoder name (e.g. musicnn)")
    parser.add_argument("--layer", type=int, default=-1,
                        help="hidden-state index of the backbone (0 = embeddings; negative counts from the last; "
                             "default: %(default)s)")
    parser.add_argument("--per-song", action="store_true",
                        help="FAD of each test file against the whole reference set (written to -o)")
    parser.add_argument("-o", "--output", help="per-song output (.csv or .jsonl): the test rows plus `fad` and `error`")
    parser.add_argument("--cache", help="feature cache folder (default: $AUDIOQUAL_CACHE or ~/.cache/audioqual/features)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips of equal length per forward pass")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")


def run(args: argparse.Namespace) -> int:
    from audioqual.backbones import Backbone
    from audioqual.baselines.fad import FrechetAudioDistance
    from audioqual.features import DEFAULT_CACHE_DIR, FeatureCache

    if args.per_song and not args.output:
        raise AudioqualError("--per-song needs -o/--output (one row per test file)")
    if args.output and not args.per_song:
        raise AudioqualError("-o/--output holds per-song scores: add --per-song (the set FAD is printed)")
    reference_inputs, test_inputs = [args.reference], [args.test]
    if args.output:
        check_output(args.output, *reference_inputs, *test_inputs)
    reference, test = load_entries(reference_inputs), load_entries(test_inputs)
    for name, entries, inputs in (("reference", reference, reference_inputs), ("test", test, test_inputs)):
        if not entries:
            raise AudioqualError(f"no audio files found in the {name} set {', '.join(map(str, inputs))}")
    backbone = Backbone.from_pretrained(args.backbone)
    if not -backbone.num_hidden_states <= args.layer < backbone.num_hidden_states:
        raise AudioqualError(
            f"--layer {args.layer}: backbone {backbone.name} has hidden states 0..{backbone.num_hidden_states - 1}"
        )
    if args.device != "cpu":
        backbone = backbone.to(args.device)
    fad = FrechetAudioDistance(backbone, layer=args.layer, cache=FeatureCache(args.cache or DEFAULT_CACHE_DIR), batch_size=args.batch_size)
    summary = {"backbone": backbone.name, "layer": fad.layer, "reference_files": len(reference),
               "test_files": len(test)}
    if args.per_song:
        scores = fad.per_song(test, reference)
        rows = []
        for entry in test:
            row = entry.to_row()
            row["fad"] = scores.get(entry.item_id)
            row["error"] = "" if entry.item_id in scores else fad.failures.get(entry.item_id, "not scored")
            rows.append(row)
        write_manifest(args.output, rows)
        summary.update(scored=len(scores), failed=len(test) - len(scores), output=str(args.output))
    else:
        summary["fad"] = fad.compute(test, reference)
    for error in fad.failures.values():
        print(f"  failed: {error}", file=sys.stderr)
    print(json.dumps(summary))
    return 1 if fad.failures else 0
