"""Score reference/test pairs with one or several metrics (ViSQOL, PEAQ, 2f-model, HAAQI, default model, ...).

The pairs manifest is a CSV with columns `test` and `reference` (paths
relative to the CSV or absolute; optional start_time/end_time in seconds);
other columns are copied to the output, which adds the metric's scores (the
headline column is named after the metric) and an `error` column for pairs
that failed. Pairs are scored in parallel by --workers processes (or Ray
actors with --engine ray, for corpora spread over several machines); the job
is journalled, so an interrupted run resumes where it stopped when started
again with the same output. A listening-test manifest works as a pairs
manifest, and the output then feeds `audioqual evaluate` directly.

Several metrics (`visqol,peaq,twof,default`, or `--suite suite.yaml` with
per-metric options) run in one pass: each file is decoded once and resampled
once per rate the metrics need, with one journal and one progress bar
showing each metric's pairs per second. Rows without a reference get the
no-reference metrics (dnsmos) only. Before the first row every metric is
built and its weights loaded, and all problems are reported at once.
--workers N scores a suite's pairs in N processes too (same output as one);
--engine ray takes a single metric.

examples:
  audioqual metric --list
  audioqual metric haaqi --manifest pairs.csv -o haaqi.csv --workers 2
  audioqual metric mypackage.metrics:MyMetric --manifest pairs.csv -o mine.csv
  audioqual metric dnsmos --manifest pairs.csv -o dnsmos.csv --option personalized=true
  audioqual metric visqol,peaq,twof,default --manifest pairs.csv -o all.csv
  audioqual metric --suite suite.yaml --manifest pairs.csv -o all.csv --workers 4
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from audioqual.cli.engine_args import add_engine_arguments
from audioqual.cli.exit_codes import OK, ROWS_FAILED, report_batch
from audioqual.data.manifest import finite_or_null, read_table
from audioqual.errors import AudioqualError
from audioqual.metrics.base import MetricCategory
from audioqual.metrics.pairs import score_pairs
from audioqual.metrics.registry import describe, registered
from audioqual.metrics.suite import SuiteRun, parse_metric_names, read_suite, score_suite


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `audioqual metric`."""
    parser.add_argument("name", nargs="?", help="metric name (see --list) or module:Class; several: a,b,c")
    parser.add_argument("--suite", type=Path, help="YAML list of metrics with per-metric options (VERSA style)")
    parser.add_argument("--list", action="store_true",
                        help="list the metrics with their category (what they compare) and valid input ranges")
    parser.add_argument("--manifest", type=Path, help="pairs manifest CSV (columns test, reference, ...)")
    parser.add_argument("-o", "--output", type=Path, help="output CSV")
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes (default: 1)")
    parser.add_argument("--retry-failed", action="store_true", help="score pairs that failed in an earlier run again")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="constructor option of the metric, repeatable; VALUE is read as YAML "
                             "(e.g. --option model_path=dnsmos.onnx --option chunk_seconds=5)")  # fmt: skip
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the output rows as JSON lines instead of a table")
    output.add_argument("--quiet", action="store_true", help="no progress bar, table or summary (errors only)")
    add_engine_arguments(parser)


def list_metrics() -> str:
    """One block per registered metric: name, category, status, direction, rate, valid range."""
    lines = []
    for name, spec in registered().items():
        info, status = describe(name)
        lines.append(f"{name}: {spec.summary}")
        command = f" (run `{spec.command}`)" if spec.category is MetricCategory.DISTRIBUTIONAL else ""
        lines.append(f"    {spec.category.description}{command}")
        if info is None:
            lines.append(f"    {status}")
            continue
        rate = "any rate" if info.sample_rate is None else f"{info.sample_rate} Hz"
        direction = "higher is better" if info.higher_is_better else "lower is better"
        lines.append(f"    {direction}; inputs at {rate}, channels: {info.channels}")
        if info.valid_range:
            lines.append(f"    valid range: {info.valid_range}")
    return "\n".join(lines)


def parse_options(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` strings -> constructor options, each VALUE parsed as YAML (numbers, booleans, lists)."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise AudioqualError(f"--option {item!r}: expected KEY=VALUE with KEY a Python identifier")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise AudioqualError(f"--option {item!r}: cannot read the value ({err})") from err
    return options


def run(args: argparse.Namespace) -> int:
    """List the metrics, or score a pairs manifest."""
    if args.list:
        print(list_metrics())
        return 0
    if args.manifest is None or args.output is None or bool(args.name) == bool(args.suite):
        raise AudioqualError("give a metric NAME (or several: a,b,c) or --suite FILE, with --manifest and -o "
                             "(or --list)")
    if args.suite or "," in args.name:
        return _run_suite(args)
    journal = score_pairs(
        args.manifest, args.output, args.name, workers=args.workers, metric_options=parse_options(args.option),
        retry_failed=args.retry_failed, engine=args.engine, ray_address=args.ray_address,
    )
    return _finish(args, journal, None)


def _run_suite(args: argparse.Namespace) -> int:
    """Several metrics in one pass (in this process, or in --workers local processes)."""
    if args.engine != "local":
        raise AudioqualError("--engine ray takes a single metric; run a suite on local processes with --workers N")
    entries = read_suite(args.suite) if args.suite else parse_metric_names(args.name, parse_options(args.option))
    run = score_suite(args.manifest, args.output, entries, retry_failed=args.retry_failed, progress=not args.quiet,
                      workers=args.workers)
    return _finish(args, run.journal, run)


def _finish(args: argparse.Namespace, journal, run: SuiteRun | None) -> int:
    """Results to stdout (a compact table, or JSON lines with --json), the summary to stderr; the exit code."""
    columns, table = read_table(args.output, "output")
    rows = [row for _, row in table]
    if args.json:
        for row in rows:
            print(json.dumps(finite_or_null({k: _value(v) for k, v in row.items()})))
    elif not args.quiet:
        inputs = set(read_table(args.manifest, "pairs manifest")[0])
        shown = list(run.headlines.values()) if run else [c for c in columns if c not in inputs and c != "error"]
        print(summary_table(rows, shown, run.seconds if run else None, run.scored if run else None))
    if args.quiet:
        return ROWS_FAILED if journal.failures(journal.order) else OK
    return report_batch(journal, args.output, "pairs")


def _value(text: str):
    """A CSV cell as a number when it is one."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def summary_table(rows: list[dict], columns: list[str], seconds: dict[str, float] | None = None,
                  scored: dict[str, int] | None = None) -> str:
    """One line per output column: pairs with a value, mean, min, max (and pairs/s of each metric in a suite)."""
    lines = [f"{'column':<24} {'n':>5} {'mean':>10} {'min':>10} {'max':>10}"]
    for column in columns:
        values = np.array([v for v in (_value(r.get(column, "")) for r in rows) if isinstance(v, float)])
        values = values[np.isfinite(values)]
        stats = [f"{f(values):>10.4g}" if values.size else f"{'-':>10}" for f in (np.mean, np.min, np.max)]
        lines.append(f"{column:<24} {values.size:>5} {' '.join(stats)}")
    if seconds:
        lines.append("throughput: " + ", ".join(f"{label} {scored[label] / t:.3g} pairs/s"
                                                for label, t in seconds.items() if t > 0))
    return "\n".join(lines)
