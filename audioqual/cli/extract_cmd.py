"""Extract SSL backbone features into the feature cache.

Inputs are audio files, folders (searched recursively) or manifests
(.jsonl/.csv with a `path` column and optional `start_time`/`end_time`).
Features are cached by audio content, backbone weights, layers and pooling,
so a second run over the same inputs computes nothing. With -o, an output
manifest lists every input row with its cache file (or its error).

Example:
  audioqual extract clips/ --backbone m-a-p/MERT-v1-95M --layers all -o features.jsonl
"""

from __future__ import annotations

import argparse
import sys

from audioqual.cli.engine_args import add_engine_arguments
from audioqual.data.hashing import input_hash, result_key
from audioqual.data.journal import check_output
from audioqual.data.manifest import load_entries, write_manifest
from audioqual.errors import AudioqualError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="audio files, folders or manifests (.jsonl/.csv)")
    parser.add_argument("--backbone", required=True, help="hub id or local directory of an SSL model")
    parser.add_argument("--layers", default="all", help="'all' or comma-separated hidden-state indices (0 = embeddings)")
    parser.add_argument("--pooling", choices=("mean", "frames"), default="mean", help="time-mean pooled or frame-level")
    parser.add_argument("--cache", help="feature cache folder (default: $AUDIOQUAL_CACHE or ~/.cache/audioqual/features)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips of equal length per forward pass")
    parser.add_argument("--chunk-seconds", type=float, default=30.0, help="longer audio is encoded in chunks")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("-o", "--output", help="output manifest (.jsonl or .csv) with each item's cache file")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors with --engine ray (each loads the backbone once)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor")
    add_engine_arguments(parser)


def parse_layers(text: str) -> tuple[int, ...] | None:
    """'all' -> None; '0,3,12' -> (0, 3, 12)."""
    if text.strip().lower() == "all":
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--layers must be 'all' or integers separated by commas: {text!r}") from err


def run(args: argparse.Namespace) -> int:
    from audioqual.backbones import Backbone  # torch: imported when the command runs, not for --help
    from audioqual.features import DEFAULT_CACHE_DIR, FeatureCache, FeatureSpec, extract_features

    args.cache = args.cache or str(DEFAULT_CACHE_DIR)
    if args.output:
        check_output(args.output, *args.inputs)
    entries = load_entries(args.inputs)
    if not entries:
        print("audioqual extract: no audio files found in the inputs", file=sys.stderr)
        return 1
    if args.engine == "ray":
        return run_on_ray(args, entries)
    backbone = Backbone.from_pretrained(args.backbone)
    cache = FeatureCache(args.cache)
    spec = FeatureSpec(layers=parse_layers(args.layers), pooling=args.pooling, chunk_seconds=args.chunk_seconds)
    result = extract_features(entries, backbone, cache, spec, batch_size=args.batch_size, device=args.device)
    if args.output:
        rows = []
        for entry in entries:
            row = entry.to_row()
            digest = result.digests.get(entry.item_id)
            row["features"] = str(cache.path_for(digest)) if digest else ""
            row["error"] = result.failures.get(entry.item_id, "")
            rows.append(row)
        write_manifest(args.output, rows)
    print(
        f"{len(entries)} items: {result.computed} extracted, {result.reused} reused from cache, "
        f"{len(result.failures)} failed (backbone {backbone.name}, cache {cache.root})"
    )
    for item_id, error in result.failures.items():
        print(f"  failed: {error}", file=sys.stderr)
    return 1 if result.failures and not result.digests else 0


def run_on_ray(args: argparse.Namespace, entries: list) -> int:
    """Extraction spread over Ray actors; the output manifest has the local path's format."""
    from audioqual.distributed.ray_engine import run_ray
    from audioqual.features import FeatureSpec
    from audioqual.features.jobs import ExtractRowJob

    if not args.output:
        raise AudioqualError("--engine ray needs -o/--output (the journal that makes the run resumable)")
    spec = FeatureSpec(layers=parse_layers(args.layers), pooling=args.pooling, chunk_seconds=args.chunk_seconds)
    job = ExtractRowJob(backbone=args.backbone, cache=args.cache, spec=spec, device=args.device)
    rows = {entry.item_id: entry.to_row() for entry in entries}
    job_key = [args.backbone, args.layers, args.pooling, args.chunk_seconds, args.cache]
    keys = {e.item_id: result_key(job_key, input_hash(e.path), e.start_time, e.end_time) for e in entries}
    journal = run_ray(
        list(rows.items()), job, args.output, base_rows=rows, workers=args.workers,
        gpus_per_worker=args.gpus_per_worker, address=args.ray_address, keys=keys,
    )
    failures = journal.failures()
    print(f"{len(entries)} items on Ray: {len(entries) - len(failures)} with features, {len(failures)} failed")
    for error in failures.values():
        print(f"  failed: {error}", file=sys.stderr)
    return 1 if len(failures) == len(entries) else 0
