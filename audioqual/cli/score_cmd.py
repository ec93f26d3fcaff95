"""No-reference quality of audio files: each aspect's predicted mean and standard deviation.

  audioqual score clip.wav folder/ -o scores.csv        # the shipped default (docs/model_card_default_nr.md)
  audioqual score clip.wav folder/ -o scores.jsonl --model runs/nr/dat_source/model
  audioqual score manifest.jsonl -o scores.csv --model MODEL_DIR --covariance

Inputs are audio files, folders (searched recursively) or manifests
(.jsonl/.csv, rows with `path` and optional `start_time`/`end_time`). Each
output row keeps the input's fields and adds, per aspect (e.g. PQ, PC, CE,
CU), `<aspect>` (mean) and `<aspect>_std`; `--covariance` adds the full
covariance matrix. The shipped default (an exported ONNX model: no torch is imported)
also writes `overall` (1-5); its outputs are trained on surrogates, not listener ratings.
An input column named like an output (e.g. a rated `PQ`) is kept and the prediction is
written as `PQ_pred`. Works with single models and aspect-specific routers, for
any head. Unreadable files get an `error` and the job goes on; running the
same command again resumes an interrupted job (another model or other options
start the output over). --engine ray spreads the rows over Ray actors (several
machines) with the same output.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from audioqual.cli.engine_args import add_engine_arguments
from audioqual.data.manifest import load_entries
from audioqual.errors import AudioqualError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="audio files, folders or manifests")
    parser.add_argument("-o", "--output", required=True, help="output manifest (.jsonl or .csv)")
    parser.add_argument(
        "--model",
        "-m",
        default=os.environ.get("AUDIOQUAL_NR_MODEL"),
        help="trained model directory, or 'default' (default: $AUDIOQUAL_NR_MODEL, else the shipped default "
        "model, docs/model_card_default_nr.md)",
    )
    parser.add_argument("--covariance", action="store_true", help="also write the full covariance matrix")
    parser.add_argument(
        "--backbone",
        help="backbone directory to use instead of the one recorded in the model (features heads such as "
        "MultiGauss; waveform heads such as aesthetics carry their own fine-tuned encoder)",
    )
    parser.add_argument("--cache-dir", help="feature cache folder (default: $AUDIOQUAL_CACHE or ~/.cache/audioqual)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per backbone batch")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors with --engine ray (each loads the model once)")
    add_engine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from audioqual.nr.batch import model_digest, score_entries
    from audioqual.nr.exported import ExportedNRModel, is_exported
    from audioqual.nr.shipped import default_nr_dir

    model = default_nr_dir() if args.model in (None, "", "default") else Path(args.model)
    entries = load_entries(args.inputs)
    if not entries:
        raise AudioqualError("no audio files found in the inputs")
    job = {"model": str(model.resolve()), "model_digest": model_digest(model), "backbone": args.backbone}
    if is_exported(model) and args.backbone is None and args.engine != "ray":
        journal = score_entries(ExportedNRModel(model), entries, args.output, covariance=args.covariance, job=job)
        return _report(journal, entries, args.output)
    from audioqual.nr.jobs import ScoreRowJob  # torch: imported only for torch models
    from audioqual.nr.scoring import Scorer, load_scorer

    if is_exported(model):
        model = model / "torch"  # --backbone and Ray run the torch copy of a shipped model
    scorer = Scorer(
        load_scorer(model),
        cache_dir=args.cache_dir,
        device=args.device,
        batch_size=args.batch_size,
        backbone=args.backbone,
        progress=not args.quiet,
    )
    job = {"model": str(model.resolve()), "model_digest": model_digest(model), "backbone": args.backbone}
    ray_job = None
    if args.engine == "ray":
        ray_job = ScoreRowJob(str(model), args.cache_dir, args.device, args.backbone, args.covariance)
    journal = score_entries(
        scorer, entries, args.output, covariance=args.covariance, job=job,
        ray_job=ray_job, workers=args.workers, ray_address=args.ray_address,
    )
    return _report(journal, entries, args.output)


def _report(journal, entries: list, output: str) -> int:
    """Print the summary and the first failures; exit 1 only when nothing could be scored."""
    failures = journal.failures()
    print(f"scored {len(entries) - len(failures)} of {len(entries)} item(s) -> {output}")
    for item_id, error in list(failures.items())[:10]:
        print(f"  failed: {item_id}: {error}")
    return 1 if failures and len(failures) == len(entries) else 0
