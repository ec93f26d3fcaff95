"""Score a list of clips into a JSONL/CSV output as a crash-safe, resumable batch, with any scorer.

A scorer has `prepare(entries) -> {item_id: error}` and `score_one(entry, covariance) -> row`
(`audioqual.nr.scoring.Scorer` for torch models, `audioqual.nr.exported.ExportedNRModel` for
exported ones). This module imports no torch, so scoring an exported model starts fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from audioqual.data.journal import BatchJournal, run_batch
from audioqual.data.manifest import ManifestEntry
from audioqual.errors import AudioqualError

log = logging.getLogger(__name__)


def model_digest(directory: str | Path) -> str:
    """Hash of every file of a saved model directory (config, weights, domain labels, members)."""
    digest = hashlib.sha256()
    root = Path(directory)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:24]


def score_entries(
    scorer: Any,
    entries: Sequence[ManifestEntry],
    output: str | Path,
    covariance: bool = False,
    job: dict[str, Any] | None = None,
    ray_job: Callable[[], Callable[[dict[str, Any]], dict[str, Any]]] | None = None,
    workers: int = 2,
    ray_address: str | None = None,
) -> BatchJournal:
    """Score every entry into `output` (JSONL/CSV), resumable; failed items carry an error.

    `job` identifies what produced the output (model, options): a journal left by a
    job with other settings is discarded rather than mixed into the new output.
    With `ray_job` (a per-row job factory), `workers` Ray actors score the rows
    instead of `scorer`, with the same output.
    """
    ids = [e.item_id for e in entries]
    if len(set(ids)) != len(ids):
        raise AudioqualError("the same item appears more than once in the input; give rows an 'id' field")
    _reset_if_other_job(Path(output), {**(job or {}), "covariance": covariance})
    if ray_job is not None:
        from audioqual.distributed.ray_engine import run_ray

        rows = {e.item_id: e.to_row() for e in entries}
        return run_ray(list(rows.items()), ray_job, output, rows, workers=workers, address=ray_address)
    journal = BatchJournal(output)
    todo = [e for e in entries if not journal.is_done(e.item_id)]
    failures = scorer.prepare(todo) if todo else {}

    def process(entry: ManifestEntry) -> dict[str, Any]:
        if entry.item_id in failures:
            raise AudioqualError(failures[entry.item_id])
        return scorer.score_one(entry, covariance)

    return run_batch(
        [(e.item_id, e) for e in entries],
        process,
        output,
        base_rows={e.item_id: e.to_row() for e in entries},
        description="score",
    )


def _reset_if_other_job(output: Path, job: dict[str, Any]) -> None:
    """Keep a journal only if it was written by the same job; record this job's identity."""
    journal = BatchJournal(output)
    marker = output.with_name(output.name + ".job.json")
    previous = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None
    if journal.path.exists() and previous != job:
        log.warning("%s was started with another model or options: starting it over", output)
        journal.path.unlink()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(job, sort_keys=True, default=str), encoding="utf-8")
