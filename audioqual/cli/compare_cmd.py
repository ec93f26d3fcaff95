"""Full-reference quality with the default model (NSIM fusion), or any model; non-matching references with DeePAQ.

  audioqual compare --ref REF.wav DEG.wav [DEG2.wav ...]
  audioqual compare --manifest pairs.csv -o out.csv        (columns test,reference; others passed through)
  audioqual compare --nmr-refs CLEAN_DIR_OR_MANIFEST DEG.wav ... | --manifest tests.csv -o out.csv

Manifest rows may give start_time/end_time (seconds): that segment of both
files is scored. Output columns: distance (larger = more degraded), score
(the model's subjective scale), the model's other outputs (the default
model: similarity, nsim_low/mid/high, interference_db, distortion_db; a
DeePAQ model: score_cubic / score_mlp), warning (length or rate
adjustments), error. Different rates are resampled; a DeePAQ model trims
the longer signal to the shorter, the default model aligns patch by patch. Batch runs with -o are journalled:
re-running resumes, and a bad file is recorded in its row without stopping
the job. Without --model the installed default model is used. --engine ray
spreads a batch over Ray actors (several machines) with the same output.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from audioqual import __version__
from audioqual.cli.engine_args import add_engine_arguments
from audioqual.cli.exit_codes import OK, ROWS_FAILED, report_batch
from audioqual.data.hashing import input_hash, result_key
from audioqual.data.journal import check_output, run_batch
from audioqual.data.manifest import finite_or_null, read_manifest
from audioqual.errors import AudioqualError, ManifestError
from audioqual.models.registry import NAMED_MODELS, load_fr_scorer, resolve_fr_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `audioqual compare`."""
    parser.add_argument("tests", nargs="*", help="test (degraded) audio files")
    parser.add_argument("--ref", help="reference file for every test file given on the command line")
    parser.add_argument("--manifest", help="CSV/JSONL with a `test` column (and `reference` for full reference)")
    parser.add_argument("--nmr-refs", help="folder or manifest of clean references: non-matching-reference mode")
    parser.add_argument("-o", "--output", help="output CSV/JSONL (journalled and resumable)")
    parser.add_argument("--model", help=f"model name ({', '.join(NAMED_MODELS)}) or directory (default: default)")
    parser.add_argument("--backbone", help="local directory of the backbone the model references (offline use)")
    parser.add_argument("--device", help="cpu, cuda, ... (default: GPU when present)")
    parser.add_argument("--cache-dir", help="cache of reference-set embeddings (default: the feature cache)")
    parser.add_argument("--retry-failed", action="store_true", help="redo rows that failed in an earlier run")
    parser.add_argument("--workers", type=int, default=2, help="Ray actors with --engine ray (each loads the model once)")
    add_engine_arguments(parser)


Item = tuple[str, dict[str, Any], str, "str | None", "float | None", "float | None"]


def _pairs(args: argparse.Namespace) -> list[Item]:
    """(item id, pass-through row, test path, reference path or None, start_time, end_time)."""
    items = []
    if args.manifest:
        manifest = Path(args.manifest)
        entries = read_manifest(manifest, path_key="test")
        if not entries:
            raise ManifestError(f"{manifest}: manifest has no rows (only a header): nothing to compare")
        for index, entry in enumerate(entries, start=1):
            reference = entry.resolve_path("reference")
            if args.nmr_refs is None and reference is None:
                raise ManifestError(f"{manifest} row {index}: no `reference` (or use --nmr-refs)")
            items.append((f"{index}:{entry.path}", entry.passthrough(), entry.path,
                          None if args.nmr_refs else reference, entry.start_time, entry.end_time))
    for index, test in enumerate(args.tests, start=1):
        row = {"test": test} if args.nmr_refs else {"test": test, "reference": args.ref}
        items.append((f"arg{index}:{test}", row, test, args.ref, None, None))
    return items


def model_token(model: str | None, backbone: str | None) -> str:
    """Digest of the model that scores: every file of its directory (weights, mapping, config), and --backbone."""
    parts = []
    for source in (str(resolve_fr_model(model)), backbone):
        path = Path(source) if source else None
        if path is not None and path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            parts.append([[str(p.relative_to(path)), input_hash(p)] for p in files])
        else:
            parts.append(source)  # a hub id (or nothing)
    return result_key(*parts)


def item_keys(args: argparse.Namespace, items: list[Item]) -> dict[str, str]:
    """Journal key of every row: contents of test and reference, segment, model, reference set, version."""
    nmr = None
    if args.nmr_refs is not None:
        from audioqual.deepaq.reference_set import reference_paths

        nmr = sorted(input_hash(path) for path in reference_paths(args.nmr_refs))
    job = ["deepaq-compare", __version__, model_token(args.model, args.backbone), nmr]
    return {
        item_id: result_key(job, input_hash(test), input_hash(reference), start, end)
        for item_id, _, test, reference, start, end in items
    }


def run(args: argparse.Namespace) -> int:
    """Score every test signal; print a table, or write -o."""
    if not args.manifest and not args.tests:
        raise AudioqualError("nothing to compare: give test files or --manifest")
    if args.nmr_refs is None and args.tests and not args.ref:
        raise AudioqualError("full-reference mode needs --ref REF.wav (or use --nmr-refs for non-matching references)")
    if args.nmr_refs is not None and args.ref:
        raise AudioqualError("give either --ref (full reference) or --nmr-refs (non-matching reference), not both")
    if args.output:
        check_output(args.output, args.manifest, args.nmr_refs)
    items = _pairs(args)
    keys = item_keys(args, items) if args.output else {}
    if args.engine == "ray":
        return _run_on_ray(args, items, keys)
    scorer = load_fr_scorer(args.model, args.backbone, args.device)
    references = None
    if args.nmr_refs is not None:
        from audioqual.deepaq.reference_set import build_reference_set
        from audioqual.features import FeatureCache
        from audioqual.features.cache import DEFAULT_CACHE_DIR

        if not scorer.non_matching_reference:
            raise AudioqualError(f"--nmr-refs: the model {resolve_fr_model(args.model)} compares a test with its own "
                                 "reference only; use a DeePAQ model (--model default-v1 or your own)")
        cache = FeatureCache(args.cache_dir or DEFAULT_CACHE_DIR)
        reference_set = build_reference_set(scorer, args.nmr_refs, cache)
        references = reference_set.embeddings
        print(
            f"non-matching reference set: {len(reference_set.paths)} file(s), "
            f"{reference_set.reused} from cache, {len(reference_set.failures)} skipped",
            file=sys.stderr,
        )

    def score(item: tuple[str, str | None, float | None, float | None]) -> dict[str, Any]:
        test, reference, start, end = item
        if references is not None:
            return scorer.compare_to_set(test, references, start, end).row()
        return scorer.compare_files(reference, test, start, end).row()

    if args.output:
        journal = run_batch(
            [(item_id, (test, reference, start, end)) for item_id, _, test, reference, start, end in items],
            score,
            args.output,
            base_rows={item_id: base for item_id, base, *_ in items},
            description="compare",
            retry_failed=args.retry_failed,
            keys=keys,
        )
        return report_batch(journal, args.output, "rows")

    failed = 0
    for _, base, test, reference, start, end in items:
        try:
            row = {**base, **score((test, reference, start, end))}
        except AudioqualError as err:
            row = {**base, "error": str(err)}
            failed += 1
        print(json.dumps(finite_or_null(row)))
    return ROWS_FAILED if failed else OK


def _run_on_ray(args: argparse.Namespace, items: list[Item], keys: dict[str, str]) -> int:
    """The -o batch path on Ray actors: same journal, same output columns."""
    if not args.output:
        raise AudioqualError("--engine ray needs -o/--output (the journal that makes the run resumable)")
    from audioqual.deepaq.jobs import CompareRowJob
    from audioqual.distributed.ray_engine import run_ray

    job = CompareRowJob(args.model, args.backbone, args.device, args.nmr_refs, args.cache_dir)
    journal = run_ray(
        [(item_id, {"test": test, "reference": reference, "start_time": start, "end_time": end})
         for item_id, _, test, reference, start, end in items],
        job,
        args.output,
        base_rows={item_id: base for item_id, base, *_ in items},
        workers=args.workers,
        address=args.ray_address,
        retry_failed=args.retry_failed,
        keys=keys,
    )
    return report_batch(journal, args.output, "rows")
