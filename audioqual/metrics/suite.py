"""Several metrics over one pairs manifest in one pass: decode once, one journal, one progress bar.

A suite is a list of metrics with their options, from the command line
(`visqol,peaq,twof,default`) or a YAML file in the style of VERSA:

    - name: visqol
      max_seconds: 300          # every other key is a constructor option
    - peaq                      # a bare name: default options
    - name: visqol
      label: visqol_speech      # the same metric twice needs distinct labels
      mode: speech

Each pair's files are decoded once and prepared once per (rate, channels)
that the metrics need (`PairAudio`), so the values equal those of separate
runs. Rows without a reference get the no-reference metrics only. Before the
first row, `preflight` builds every metric, loads its weights and checks its
options, and reports every problem at once; missing files are listed at once
too (their rows then fail with their error, as in every batch command).
A failing metric on one row leaves the other metrics' values in that row;
its message goes to the row's `error` column, prefixed with the metric label.
An output key that an earlier metric of the suite also produces (PEAQ's and
the 2f-model's MOVs, the same metric twice) is prefixed with the label.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm.auto import tqdm

from audioqual import __version__ as audioqual_version
from audioqual.data.hashing import input_hash, result_key
from audioqual.data.journal import BatchJournal, call_safely, check_output, pending_items
from audioqual.errors import AudioqualError
from audioqual.metrics.base import PairMetric
from audioqual.metrics.pairs import Pair, PairAudio, PoolScorer, pair_ids, read_pairs, score_one
from audioqual.metrics.registry import create

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuiteEntry:
    """One metric of a suite: registry name (or module:Class), output label and constructor options."""

    name: str
    label: str
    options: dict[str, Any] = field(default_factory=dict)


def parse_metric_names(text: str, options: dict[str, Any] | None = None) -> list[SuiteEntry]:
    """`visqol,peaq,twof` -> entries; `options` (from --option) apply when there is a single metric."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise AudioqualError(f"no metric named in {text!r}")
    if options and len(names) > 1:
        raise AudioqualError("--option applies to a single metric; give per-metric options in a --suite YAML file")
    return check_labels([SuiteEntry(name, name, dict(options or {})) for name in names])


def read_suite(path: str | Path) -> list[SuiteEntry]:
    """The metrics of a suite YAML file: a list of names or mappings with `name`, optional `label`, options."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise AudioqualError(f"{path}: not a readable YAML file ({err})") from err
    if isinstance(data, dict) and "metrics" in data:
        data = data["metrics"]
    if not isinstance(data, list) or not data:
        raise AudioqualError(f"{path}: a suite is a non-empty list of metrics (names, or mappings with `name`)")
    entries = []
    for index, item in enumerate(data, start=1):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise AudioqualError(f"{path}: entry {index} needs a `name` (got {item!r})")
        options = {k: v for k, v in item.items() if k not in ("name", "label")}
        entries.append(SuiteEntry(item["name"], str(item.get("label") or item["name"]), options))
    return check_labels(entries, str(path))


def check_labels(entries: list[SuiteEntry], where: str = "metrics") -> list[SuiteEntry]:
    """The entries, or an error when two share a label (their columns could not be told apart)."""
    seen: set[str] = set()
    for entry in entries:
        if entry.label in seen:
            raise AudioqualError(f"{where}: metric {entry.label!r} appears twice; give each a distinct `label`")
        seen.add(entry.label)
    return entries


@dataclass
class Preflight:
    """What preflight found: the ready metrics, and the input files that do not exist."""

    metrics: list[tuple[SuiteEntry, PairMetric]]
    missing_files: list[str]


def preflight(entries: Sequence[SuiteEntry], pairs: Sequence[Pair]) -> Preflight:
    """Build every metric and load its weights, check its options and the files; every problem at once.

    Raises AudioqualError listing every metric that cannot run (dependency, weights, options) and a
    reference column that full-reference metrics need but no row has. Missing files are returned.
    """
    problems, metrics = [], []
    for entry in entries:
        try:
            metric = create(entry.name, **entry.options)
            metric.ensure_ready()
        except Exception as err:  # noqa: BLE001 - every failure to build is reported, then the run stops
            detail = str(err) if isinstance(err, AudioqualError) else f"{type(err).__name__}: {err}"
            problems.append(f"{entry.label}: {detail}")
            continue
        metrics.append((entry, metric))
    full_reference = [entry.label for entry, metric in metrics if metric.info.requires_reference]
    if full_reference and all(pair.reference is None for pair in pairs):
        problems.append(f"{', '.join(full_reference)} need a reference and no row has one (column `reference`)")
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise AudioqualError(f"preflight found {len(problems)} problem(s); nothing was computed:\n{listed}")
    paths = dict.fromkeys(path for pair in pairs for path in (pair.reference, pair.test) if path is not None)
    return Preflight(metrics, [path for path in paths if not os.path.isfile(path)])


def report_missing(missing: Sequence[str], shown: int = 20) -> None:
    """One warning listing the missing input files (their rows will fail)."""
    if not missing:
        return
    more = f"\n  ... and {len(missing) - shown} more" if len(missing) > shown else ""
    log.warning("%d input file(s) do not exist; their rows will fail:\n%s%s", len(missing),
                "\n".join(f"  - {path}" for path in missing[:shown]), more)


def suite_key_part(metrics: Sequence[tuple[SuiteEntry, PairMetric]]) -> list:
    """What of the metrics enters the journal key: per metric its label, class, version, options and loading."""
    parts = []
    for entry, metric in metrics:
        cls, info = type(metric), metric.info
        parts.append([entry.label, entry.name, f"{cls.__module__}:{cls.__qualname__}", getattr(metric, "version", None),
                      sorted(entry.options.items()), info.sample_rate, info.channels, info.name])
    return ["suite", audioqual_version, parts]


@dataclass
class SuiteRun:
    """A finished suite run: the journal, the headline column of each metric, and time per metric."""

    journal: BatchJournal
    headlines: dict[str, str]  # label -> output column of its headline value
    higher_is_better: dict[str, bool]  # label -> direction of its headline
    seconds: dict[str, float]  # label -> seconds spent scoring this run (decoding included where it came first)
    scored: dict[str, int]  # label -> pairs scored this run


PairMeasurement = dict[str, tuple[dict[str, float] | None, str | None, float]]
"""label -> (its scores or None, its error or None, seconds spent); metrics skipped on the row are absent."""


@dataclass(frozen=True)
class SuiteRowJob:
    """Picklable factory of a worker's processor: builds the suite's metrics once, measures pairs given as dicts."""

    entries: tuple[SuiteEntry, ...]

    def __call__(self) -> Callable[[dict[str, Any]], PairMeasurement]:
        scorer = SuiteScorer([(entry, create(entry.name, **entry.options)) for entry in self.entries])
        return lambda item: scorer.measure(Pair(**item))


class SuiteScorer:
    """Scores one pair with every metric of a suite, sharing decoded audio; keeps per-metric time.

    `measure` computes (in this process or a worker), `assemble` turns a measurement into the output
    row here, so output columns are named the same whichever process measured.
    """

    def __init__(self, metrics: Sequence[tuple[SuiteEntry, PairMetric]]):
        self.metrics = list(metrics)
        self.seconds = {entry.label: 0.0 for entry, _ in self.metrics}
        self.scored = {entry.label: 0 for entry, _ in self.metrics}
        self.keys: dict[str, set[str]] = {entry.label: {metric.info.name} for entry, metric in self.metrics}

    def __call__(self, pair: Pair) -> tuple[dict[str, float], str | None]:
        """(row of every metric's outputs, error text of the metrics that failed, or None)."""
        return self.assemble(self.measure(pair))

    def measure(self, pair: Pair) -> PairMeasurement:
        """Every applicable metric's scores (or error) on the pair, with the seconds each took."""
        audio, measured = PairAudio(pair), {}
        for entry, metric in self.metrics:
            if pair.reference is None and metric.info.requires_reference:
                continue  # full-reference metric on a row without reference: left empty
            start = time.perf_counter()
            scores, error = call_safely(lambda p: score_one(metric, p, audio), pair, pair.test)
            measured[entry.label] = (scores, error, time.perf_counter() - start)
        return measured

    def assemble(self, measured: PairMeasurement) -> tuple[dict[str, float], str | None]:
        """(output row, error text of the metrics that failed, or None) of a measurement; counts time per metric."""
        row, errors = {}, []
        for label, (scores, error, seconds) in measured.items():
            self.seconds[label] += seconds
            self.scored[label] += 1
            if error is not None:
                errors.append(f"{label}: {error}")
                continue
            self.keys[label].update(scores)
            for key, value in scores.items():
                row[self.column(label, key)] = value
        return row, "; ".join(errors) or None

    def column(self, label: str, key: str) -> str:
        """Output column of a metric's key: prefixed with its label when an earlier metric of the suite has it."""
        for earlier, _ in self.metrics:
            if earlier.label == label:
                return key
            if key in self.keys[earlier.label]:
                return f"{label}_{key}"
        raise AudioqualError(f"metric {label!r} is not part of this suite")

    def throughput(self) -> str:
        """Pairs per second of each metric so far, for the progress bar."""
        return " ".join(f"{label} {self.scored[label] / seconds:.2g}/s"
                        for label, seconds in self.seconds.items() if seconds > 0)


def score_suite(
    manifest: str | Path,
    output: str | Path,
    entries: Sequence[SuiteEntry],
    retry_failed: bool = False,
    progress: bool = True,
    workers: int = 1,
) -> SuiteRun:
    """Score every pair of `manifest` with every metric of `entries` in one pass; write `output` (CSV/JSONL).

    Journalled like every batch job: a re-run with the same output resumes, and a changed metric list,
    option or input recomputes the rows it affects. With `workers` > 1, pairs are measured by a process
    pool (every worker holds every metric, one thread each; pairs.PoolScorer) and journalled in input
    order: the output is that of a serial run. Time per metric is then summed over the workers.
    """
    if workers < 1:
        raise AudioqualError(f"workers must be >= 1, got {workers}")
    check_output(output, manifest)
    _, rows, pairs = read_pairs(manifest, require_reference=False)
    ready = preflight(entries, pairs)
    report_missing(ready.missing_files)
    ids = pair_ids(rows)
    suite_part = suite_key_part(ready.metrics)
    hashes: dict[str, str] = {}

    def content(path: str | None) -> str | None:
        if path is not None and path not in hashes:
            hashes[path] = input_hash(path)
        return None if path is None else hashes[path]

    keys = {item_id: result_key(suite_part, content(pair.reference), content(pair.test), pair.start_time,
                                pair.end_time) for item_id, pair in zip(ids, pairs)}
    journal = BatchJournal(output)
    todo = pending_items(journal, list(zip(ids, pairs)), retry_failed, keys)
    scorer = SuiteScorer(ready.metrics)
    pool = PoolScorer(SuiteRowJob(tuple(entries)), workers, todo) if workers > 1 and todo else None
    labels = ", ".join(entry.label for entry in entries)
    try:
        with tqdm(todo, desc=f"{labels} on {Path(manifest).name}", unit="pair", disable=not progress or None) as bar:
            for item_id, pair in bar:
                row, error = scorer(pair) if pool is None else _pool_row(pool, scorer, item_id, pair)
                journal.record(item_id, row=row, error=error)
                bar.set_postfix_str(scorer.throughput(), refresh=False)
    finally:
        if pool is not None:
            pool.close()
    journal.finalize(ids, dict(zip(ids, rows)))
    return SuiteRun(journal, headline_columns(scorer),
                    {entry.label: metric.info.higher_is_better for entry, metric in ready.metrics},
                    scorer.seconds, scorer.scored)


def _pool_row(pool: PoolScorer, scorer: SuiteScorer, item_id: str, pair: Pair) -> tuple[dict[str, float], str | None]:
    """The pair's row measured in the pool; a worker that crashed on it (alone, too) fails the whole row."""
    try:
        return scorer.assemble(pool((item_id, pair)))
    except AudioqualError as err:
        return {}, str(err)


def headline_columns(scorer: SuiteScorer) -> dict[str, str]:
    """label -> output column of its headline value."""
    return {entry.label: scorer.column(entry.label, metric.info.name) for entry, metric in scorer.metrics}
