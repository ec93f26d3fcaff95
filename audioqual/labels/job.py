"""The labelling job: ViSQOL v3 MOS of every degraded clip against its clean reference.

Rows come from a degrade manifest (or any manifest with `path` and `reference`
columns; `fullband_path`/`fullband_reference` are preferred when present, since
ViSQOL audio mode wants 48 kHz). Pairs are scored in worker processes; every
finished row is journalled, so a re-run skips what is labelled and a killed run
loses at most the pairs in flight. Bad rows are recorded with their error.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from audioqual.baselines.visqol import ViSQOLMetric
from audioqual.data.journal import BatchJournal
from audioqual.data.manifest import ManifestEntry, read_manifest
from audioqual.errors import AudioqualError

log = logging.getLogger(__name__)

PATH_COLUMNS = ("reference", "fullband_path", "fullband_reference")


@dataclass
class LabelConfig:
    """How clips are labelled."""

    mode: str = "audio"  # ViSQOL audio mode (48 kHz) or speech mode (16 kHz)
    speech_mapper: str = "lattice"  # speech mode: lattice (C++ default) or polynomial
    workers: int = 2  # worker processes
    threads_per_worker: int | None = None  # numba threads per worker; None: cores / workers
    retry_failed: bool = False


@dataclass(frozen=True)
class LabelItem:
    """One pair to score: absolute paths of the reference and the degraded clip."""

    reference: str
    test: str


@dataclass
class LabelResult:
    """What a labelling run produced."""

    output: Path
    labelled: int  # rows with a MOS (this run and earlier ones)
    scored_now: int  # pairs scored by this run
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def default_output(manifest: str | Path) -> Path:
    """Where labels of `manifest` go unless told otherwise: <stem>_labelled.jsonl beside it."""
    manifest = Path(manifest)
    return manifest.with_name(f"{manifest.stem}_labelled.jsonl")


def label_manifest(
    manifest: str | Path, output: str | Path | None = None, config: LabelConfig | None = None
) -> LabelResult:
    """Label every row of `manifest` into `output` (resumable); returns counts and per-row failures."""
    started = time.perf_counter()
    config = config or LabelConfig()
    ViSQOLMetric(config.mode, config.speech_mapper).ensure_ready()
    if config.workers < 1:
        raise AudioqualError(f"workers must be >= 1, got {config.workers}")
    manifest = Path(manifest)
    output = Path(output) if output else default_output(manifest)
    entries = read_manifest(manifest)
    ids = [e.item_id for e in entries]
    if len(set(ids)) != len(ids):
        raise AudioqualError(f"{manifest}: item ids are not unique; give each row an `id`")
    base_rows = {e.item_id: _output_row(e, manifest.parent, output.parent) for e in entries}
    journal = BatchJournal(output)
    todo = [e for e in entries if _needs_work(journal, e.item_id, config.retry_failed)]
    if len(todo) < len(entries):
        log.info("%s: %d of %d rows already labelled, resuming", output, len(entries) - len(todo), len(entries))
    items: list[tuple[str, LabelItem | str]] = [(e.item_id, _label_item(e)) for e in todo]
    scored = _run(items, journal, config)
    journal.finalize(ids, base_rows)
    labelled = sum(1 for i in ids if i in journal.records and not journal.records[i].get("error"))
    return LabelResult(output, labelled, scored, journal.failures(), time.perf_counter() - started)


def _needs_work(journal: BatchJournal, item_id: str, retry_failed: bool) -> bool:
    if not journal.is_done(item_id):
        return True
    return retry_failed and bool(journal.records[item_id].get("error"))


def _label_item(entry: ManifestEntry) -> LabelItem | str:
    """The pair to score, or an error message when the row names no reference."""
    if entry.start_time is not None or entry.end_time is not None:
        return "row selects a segment (start_time/end_time); labelling scores whole reference/test files"
    reference = entry.resolve_path("fullband_reference") or entry.resolve_path("reference")
    if not reference:
        return "row has no `reference` (or `fullband_reference`) column"
    return LabelItem(reference=reference, test=entry.resolve_path("fullband_path") or entry.path)


def _resolve(path: str, base: Path) -> Path:
    path = Path(str(path))
    return path if path.is_absolute() else base / path


def _output_row(entry: ManifestEntry, manifest_dir: Path, output_dir: Path) -> dict[str, Any]:
    """The input row with paths re-expressed relative to the output's folder."""
    row = entry.to_row()
    row["path"] = _relative(entry.path, manifest_dir, output_dir)
    for key in PATH_COLUMNS:
        if row.get(key):
            row[key] = _relative(str(row[key]), manifest_dir, output_dir)
    return row


def _relative(path: str, manifest_dir: Path, output_dir: Path) -> str:
    absolute = _resolve(path, manifest_dir).resolve()
    return Path(os.path.relpath(absolute, output_dir.resolve())).as_posix()


def _run(items: list[tuple[str, LabelItem | str]], journal: BatchJournal, config: LabelConfig) -> int:
    """Score items (in worker processes when workers > 1), journalling each result as it arrives."""
    scored = 0
    bar = tqdm(total=len(items), desc=f"label (ViSQOL {config.mode})", unit="clip", disable=None)
    runnable = []
    for item_id, item in items:
        if isinstance(item, str):
            journal.record(item_id, error=item)
            bar.update()
        else:
            runnable.append((item_id, item))
    if config.workers == 1 or len(runnable) <= 1:
        _init_worker(config.mode, config.speech_mapper, config.threads_per_worker)
        for item_id, item in runnable:
            scored += _journal_result(journal, item_id, _score(item))
            bar.update()
        bar.close()
        return scored
    threads = config.threads_per_worker or max(1, (os.cpu_count() or 1) // config.workers)
    # spawn, not fork: forking a process whose numba/BLAS thread pools are running can deadlock.
    with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(config.mode, config.speech_mapper, threads)) as pool:  # fmt: skip
        pending = {}
        queue = iter(runnable)
        for item_id, item in queue:
            pending[pool.submit(_score, item)] = item_id
            if len(pending) >= 4 * config.workers:
                break
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                item_id = pending.pop(future)
                scored += _journal_result(journal, item_id, future.result())
                bar.update()
                next_item = next(queue, None)
                if next_item is not None:
                    pending[pool.submit(_score, next_item[1])] = next_item[0]
    bar.close()
    return scored


def _journal_result(journal: BatchJournal, item_id: str, result: dict[str, Any] | str) -> int:
    if isinstance(result, str):
        journal.record(item_id, error=result)
        return 0
    journal.record(item_id, row=result)
    return 1


_METRIC: ViSQOLMetric | None = None


def _init_worker(mode: str, speech_mapper: str, threads: int | None) -> None:
    """Create the process's ViSQOL instance once; cap numba's threads so workers do not fight."""
    global _METRIC
    if threads:
        try:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        except ImportError:
            pass
    _METRIC = ViSQOLMetric(mode, speech_mapper)


def _score(item: LabelItem) -> dict[str, Any] | str:
    """Label columns of one pair, or the error message (exceptions do not cross processes intact)."""
    assert _METRIC is not None, "worker not initialised"
    try:
        scores = _METRIC.score_files(item.reference, item.test)
    except AudioqualError as err:
        return str(err)
    except Exception as err:  # noqa: BLE001 - one bad pair must not stop the job
        return f"{type(err).__name__}: {err}"
    return {**scores, "visqol_mode": _METRIC.mode}
