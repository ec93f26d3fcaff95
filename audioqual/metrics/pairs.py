"""Score every (reference, test) pair of a manifest with one metric, in parallel and resumably.

The pairs manifest is a CSV with columns `test` and `reference` (paths
relative to the CSV's folder or absolute), optional `start_time`/`end_time`
in seconds applied to both files, and any other columns, which are passed
through to the output unchanged. The output CSV adds the metric's outputs
(its headline column is the metric name) and an `error` column.

Work goes through `audioqual.data.journal.run_batch`: each finished pair is
journalled before the next is recorded, a re-run skips finished pairs, and
a failing pair is recorded with its error while the others go on. With
more than one worker, pairs are scored by a process pool (one metric
object per worker, one BLAS/torch thread each) and journalled in input order.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from audioqual.data.hashing import input_hash, result_key
from audioqual.data.journal import BatchJournal, check_output, pending_items, run_batch
from audioqual.data.manifest import ManifestEntry, read_manifest_table
from audioqual import __version__ as audioqual_version
from audioqual.errors import AudioInputError, AudioqualError, ManifestError
from audioqual.io import AudioLoadOptions, ChannelPolicy, decode_audio, prepare_samples, resample
from audioqual.metrics.base import MetricInfo, PairMetric
from audioqual.metrics.registry import create

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    """One (reference, test) pair to score; paths are absolute. No reference: only no-reference metrics apply."""

    reference: str | None
    test: str
    start_time: float | None = None
    end_time: float | None = None

    @classmethod
    def from_entry(cls, entry: ManifestEntry) -> Pair:
        """The pair of a manifest row read with `test` as its audio path (its `reference` resolved the same way)."""
        return cls(entry.resolve_path("reference"), entry.path, entry.start_time, entry.end_time)


def read_pairs(path: str | Path, require_reference: bool = True
               ) -> tuple[list[str], list[dict[str, str]], list[Pair]]:
    """Columns, raw rows and resolved pairs of a pairs manifest (CSV or JSONL), through the one manifest reader.

    With require_reference=False the `reference` column may be absent or empty (no-reference metrics).
    """
    path = Path(path)
    required = ("test", "reference") if require_reference else ("test",)
    columns, entries = read_manifest_table(path, path_key="test", kind="pairs manifest", required=required)
    rows, pairs = [], []
    for line_no, entry in entries:
        pair = Pair.from_entry(entry)
        if require_reference and pair.reference is None:
            raise ManifestError(f"{path}:{line_no}: empty test or reference path")
        rows.append({k: "" if v is None else v for k, v in entry.passthrough().items()})
        pairs.append(pair)
    if not pairs:
        raise ManifestError(f"{path}: pairs manifest has no rows (only a header): nothing to score")
    return columns, rows, pairs


def pair_ids(rows: Sequence[dict[str, str]]) -> list[str]:
    """Stable item ids for the journal: test|reference|segment, numbered when repeated."""
    ids, seen = [], {}
    for row in rows:
        base = "|".join(str(row.get(k, "")) for k in ("test", "reference", "start_time", "end_time"))
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return ids


class PairAudio:
    """One pair's files, each decoded once and prepared once per (rate, channels): shared by every metric.

    Decoding once and preparing per metric gives the same samples as `load_audio` per metric
    (`load_audio` is `decode_audio` followed by `prepare_samples`).
    """

    def __init__(self, pair: Pair, decoded: dict[str, tuple[np.ndarray, int]] | None = None):
        """`decoded`: samples (channels, frames) and rate of paths given as arrays (the Python API)."""
        self.pair = pair
        self._decoded: dict[str, tuple[np.ndarray, int]] = dict(decoded or {})
        self._prepared: dict[tuple, tuple[np.ndarray, int]] = {}

    def prepared(self, path: str, info: MetricInfo) -> tuple[np.ndarray, int]:
        """(samples, rate) of one of the pair's files as `info` asks (AudioInputError naming the file)."""
        key = (path, info.sample_rate, info.channels)
        if key not in self._prepared:
            if path not in self._decoded:
                self._decoded[path] = decode_audio(path, self.pair.start_time, self.pair.end_time)
            samples, rate = self._decoded[path]
            options = AudioLoadOptions(sample_rate=info.sample_rate, channels=ChannelPolicy(info.channels))
            self._prepared[key] = prepare_samples(samples, rate, options, source=Path(path))
        return self._prepared[key]


def score_one(metric: PairMetric, pair: Pair, audio: PairAudio | None = None) -> dict[str, float]:
    """Load both files as the metric needs them (from `audio` when shared between metrics) and score the pair.

    An independent metric (`info.requires_reference` False) gets the test only; its reference is None.
    """
    info = metric.info
    audio = audio or PairAudio(pair)
    reference, rate = None, None
    if info.requires_reference:
        if pair.reference is None:
            raise AudioqualError(f"{pair.test}: {info.name} needs a reference and the row has none")
        reference, rate = audio.prepared(pair.reference, info)
    test, test_rate = audio.prepared(pair.test, info)
    if rate is None:
        rate = test_rate
    elif rate != test_rate:
        test = resample(test, test_rate, rate)
    for samples, path in ((reference, pair.reference), (test, pair.test)):
        if samples is not None:
            check_length(samples, rate, info, path)
    try:
        scores = metric.score_pair(reference, test, rate)
    except AudioInputError:
        raise
    except Exception as err:  # noqa: BLE001 - the metric's own message does not know the files: name them
        detail = str(err) if isinstance(err, AudioqualError) else f"{type(err).__name__}: {err}"
        raise AudioqualError(f"{pair.test} (reference {pair.reference}): {info.name} failed: {detail}") from err
    return {key: float(value) for key, value in scores.items()}


def check_length(samples: np.ndarray, rate: int, info: MetricInfo, path: str) -> None:
    """AudioInputError naming the file when it is shorter or longer than the metric accepts."""
    seconds = samples.shape[-1] / rate
    if seconds < info.min_seconds:
        raise AudioInputError(path, f"too short for {info.name}: {seconds * 1000:.1f} ms "
                                    f"({samples.shape[-1]} samples), it needs at least {info.min_seconds:g} s")
    if info.max_seconds is not None and seconds > info.max_seconds:
        raise AudioInputError(path, f"too long for {info.name}: {seconds:.1f} s, over its limit of "
                                    f"{info.max_seconds:g} s; score segments (start_time/end_time) or raise "
                                    f"the limit with --option max_seconds=N")


def pair_keys(metric: str, scorer: PairMetric, options: dict[str, Any], ids: Sequence[str],
              pairs: Sequence[Pair]) -> dict[str, str]:
    """Journal key of every pair: input contents, segment, metric (name, class, version, options, loading)."""
    cls = type(scorer)
    info = scorer.info
    metric_part = [metric, f"{cls.__module__}:{cls.__qualname__}", getattr(scorer, "version", None),
                   audioqual_version, sorted(options.items()), info.sample_rate, info.channels, info.name]
    hashes: dict[str, str] = {}

    def content(path: str) -> str:
        if path not in hashes:
            hashes[path] = input_hash(path)
        return hashes[path]

    return {
        item_id: result_key(metric_part, content(pair.reference), content(pair.test), pair.start_time, pair.end_time)
        for item_id, pair in zip(ids, pairs)
    }


@dataclass(frozen=True)
class MetricRowJob:
    """Picklable factory of a per-pair processor for Ray actors and worker processes (metric built once per worker)."""

    metric: str
    options: tuple[tuple[str, Any], ...] = ()

    def __call__(self) -> Callable[[dict[str, Any]], dict[str, float]]:
        scorer = create(self.metric, **dict(self.options))
        return lambda item: score_one(scorer, Pair(**item))


_WORKER_PROCESS: Callable[[dict[str, Any]], Any] | None = None


def _die_with_parent(parent_pid: int, interval: float = 0.5) -> None:
    """End this worker as soon as the process that started it is gone (even SIGKILLed).

    On Linux the kernel delivers SIGKILL when the parent dies (PR_SET_PDEATHSIG);
    everywhere, a daemon thread also checks the parent every `interval` seconds.
    Without this, workers of a killed run wait forever on their task queue.
    """
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the above took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="audioqual-parent-watch", daemon=True).start()


def _init_worker(job: Callable[[], Callable[[dict[str, Any]], Any]], parent_pid: int | None = None) -> None:
    """Build the worker's processor (`job()`: its metrics), then hold every thread pool it loaded to one thread
    (workers are the parallelism)."""
    global _WORKER_PROCESS
    from threadpoolctl import threadpool_limits

    if parent_pid is not None:
        _die_with_parent(parent_pid)
    _WORKER_PROCESS = job()
    threadpool_limits(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


class WorkerError(AudioqualError):
    """An error raised while scoring in a worker, carried back as plain text."""


def _score_in_worker(item: dict[str, Any]) -> Any:
    """Score one pair (a Pair as a dict) in a worker; errors come back as WorkerError, which always pickles.

    An exception that cannot be unpickled in the parent (one whose __init__
    takes other arguments than its message) would break the whole pool.
    """
    if _WORKER_PROCESS is None:
        raise WorkerError("worker metric was not initialised")
    try:
        return _WORKER_PROCESS(item)
    except AudioqualError as err:
        raise WorkerError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - recorded per pair, same text as run_batch writes in-process
        raise WorkerError(f"{type(err).__name__}: {err}") from None


class PoolScorer:
    """run_batch's `process` for parallel work: results come from a process pool, in input order.

    `job` is a picklable factory (MetricRowJob, or a suite's job) that each worker calls once to build
    its processor of pairs given as dicts; workers die with this process.

    Every pending pair is submitted up front. If a worker dies (killed,
    segfault), the pair being waited for is re-scored alone in a fresh pool:
    if that crashes too, the pair is recorded as failed; either way the
    remaining pairs are resubmitted and the job goes on.
    """

    def __init__(self, job: Callable[[], Callable[[dict[str, Any]], Any]], workers: int,
                 todo: list[tuple[str, Pair]]):
        self.job, self.workers = job, workers
        self.todo = todo
        self.position = {item_id: i for i, (item_id, _) in enumerate(todo)}
        self.pool: ProcessPoolExecutor | None = None
        self.futures: dict[str, Future] = {}

    def _new_pool(self, size: int) -> ProcessPoolExecutor:
        self.close()
        self.pool = ProcessPoolExecutor(max_workers=max(1, min(self.workers, size)), mp_context=get_context("spawn"),
                                        initializer=_init_worker, initargs=(self.job, os.getpid()))
        return self.pool

    def _submit_from(self, first: int) -> None:
        rest = self.todo[first:]
        pool = self._new_pool(len(rest))
        self.futures = {item_id: pool.submit(_score_in_worker, asdict(pair)) for item_id, pair in rest}

    def __call__(self, item: tuple[str, Pair]) -> Any:
        item_id, pair = item
        if self.pool is None:
            self._submit_from(0)
        try:
            return self.futures[item_id].result()
        except BrokenProcessPool:
            log.warning("a worker process died; scoring %s alone to find out whether it is the cause", pair.test)
        try:
            return self._new_pool(1).submit(_score_in_worker, asdict(pair)).result()
        except BrokenProcessPool as err:
            raise AudioqualError(f"{pair.test}: the worker process crashed (killed or segfault) on this pair") from err
        finally:
            self._submit_from(self.position[item_id] + 1)

    def close(self) -> None:
        """Stop the pool, cancelling work not started."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def score_pairs(
    manifest: str | Path,
    output: str | Path,
    metric: str,
    workers: int = 1,
    metric_options: dict[str, Any] | None = None,
    retry_failed: bool = False,
    engine: str = "local",
    ray_address: str | None = None,
) -> BatchJournal:
    """Score every pair of `manifest` with the named metric and write `output` (CSV).

    `metric` is a registered name or a `module:Class` path. Re-running with
    the same output resumes: finished pairs are not scored again. With
    engine="ray", `workers` Ray actors score the pairs (same output format).
    """
    if workers < 1:
        raise AudioqualError(f"workers must be >= 1, got {workers}")
    check_output(output, manifest)
    _, rows, pairs = read_pairs(manifest)
    metric_options = metric_options or {}
    ids = pair_ids(rows)
    items = [(item_id, (item_id, pair)) for item_id, pair in zip(ids, pairs)]
    base_rows = dict(zip(ids, rows))
    description = f"{metric} on {Path(manifest).name}"
    scorer = create(metric, **metric_options)  # fails here, before any work, when the metric cannot be built
    keys = pair_keys(metric, scorer, metric_options, ids, pairs)
    job = MetricRowJob(metric, tuple(sorted(metric_options.items())))
    if engine == "ray":
        from audioqual.distributed.ray_engine import run_ray

        ray_items = [(item_id, asdict(pair)) for item_id, pair in zip(ids, pairs)]
        return run_ray(ray_items, job, output, base_rows, workers=workers, address=ray_address,
                       retry_failed=retry_failed, keys=keys)
    if workers == 1:
        return run_batch(items, lambda item: score_one(scorer, item[1]), output, base_rows, description,
                         retry_failed, keys)
    todo = [(item_id, item[1]) for item_id, item in pending_items(BatchJournal(output), items, retry_failed, keys)]
    pool_scorer = PoolScorer(job, workers, todo)
    try:
        return run_batch(items, pool_scorer, output, base_rows, description, retry_failed, keys)
    finally:
        pool_scorer.close()
