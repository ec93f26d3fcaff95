"""Join a listening-test manifest with prediction CSVs and compute every agreement statistic.

A listening-test manifest has one row per rated stimulus with at least the
columns `test` (audio path), `condition` (the system) and `mean` (the
subjective score); `reference` and `signal` are carried along, and a
`subset` (or `dataset`) column splits the results. A prediction CSV names
the same `test` paths and holds one numeric score column. Paths are matched
after resolving each against its own CSV's folder; a prediction path that
still matches nothing is matched by its trailing path components when that
match is unique, so relative/absolute and different-root paths join.

A stimulus is the test file, its segment (`start_time`, `end_time`) and
every column that splits the listening test (`dataset`/`subset`, `scale`):
the same file rated on two scales, or in two subsets, is two stimuli. A
prediction row that carries some of these columns is matched on them too;
one that does not applies to every stimulus of its file. Rating scales are
never pooled: with more than one scale each subset/scale is its own group,
and the `Overall` row of a correlation is the mean of the per-group Fisher z
values, with its interval (MSE has no across-scale summary).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from audioqual.data.manifest import read_table
from audioqual.errors import AudioqualError, ManifestError
from audioqual.eval.aggregate import group_indices, group_means
from audioqual.eval.bootstrap import bootstrap_ci
from audioqual.eval.correlation import STATISTICS
from audioqual.eval.mapping import CUBIC_MIN_POINTS, fit_cubic
from audioqual.eval.significance import TESTED_STATISTICS, PairedTestResult, compare_predictors

log = logging.getLogger(__name__)

OVERALL = "Overall"
LEVELS = ("stimulus", "system")
PREDICTION_KEY_COLUMNS = ("test", "path", "file", "filepath", "audio")
NON_SCORE_COLUMNS = frozenset(
    {"test", "reference", "path", "file", "filepath", "audio", "id", "error", "start_time", "end_time",
     "signal", "condition", "system", "dataset", "subset", "scale", "mean", "std", "n"}
)
"""Columns never taken as a prediction score by default (keys and listening-test metadata)."""

SPLIT_COLUMNS = ("dataset", "subset", "scale", "start_time", "end_time")
"""Columns that, with the test path, identify a stimulus (when the listening test has them)."""

RANK_STATISTICS = frozenset({"SRCC", "KTAU"})
"""Statistics computed on raw predictions even when a mapping is applied (a mapping may not be monotone)."""


@dataclass
class ListeningTest:
    """Rated stimuli of one or more listening tests."""

    source: Path
    columns: list[str]
    rows: list[dict[str, str]]
    keys: list[str]  # normalised absolute `test` path per row
    scores: np.ndarray
    systems: list[str]
    subsets: list[str]
    scales: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)  # source signal of each stimulus (`signal` column), or ""

    @property
    def pooled(self) -> bool:
        """True when every stimulus is on one rating scale (the Overall row may pool subsets)."""
        return len(set(self.scales)) <= 1

    def split_columns(self) -> list[str]:
        """The columns of this test that split stimuli of one file."""
        return [c for c in SPLIT_COLUMNS if c in self.columns]


@dataclass
class PredictionSet:
    """One predictor's scores, aligned to the listening-test rows (NaN where missing)."""

    name: str
    source: Path
    column: str
    values: np.ndarray
    n_rows: int
    n_failed: int  # rows with an error or an empty score
    n_unmatched: int  # rows whose path matched no stimulus


@dataclass(frozen=True)
class EvaluationConfig:
    """What the harness computes."""

    statistics: tuple[str, ...] = ("PCC", "SRCC", "KTAU", "MSE")
    mapping: str = "none"  # "none" or "cubic"
    n_bootstrap: int = 1000  # 0 disables confidence intervals
    confidence: float = 0.95
    seed: int = 0
    alpha: float = 0.05

    def __post_init__(self) -> None:
        unknown = [s for s in self.statistics if s not in STATISTICS]
        if unknown:
            raise AudioqualError(f"unknown statistic(s) {unknown}; choose from {', '.join(STATISTICS)}")
        if self.mapping not in ("none", "cubic"):
            raise AudioqualError(f"mapping must be 'none' or 'cubic', got {self.mapping!r}")


@dataclass
class StatisticResult:
    """One number of the results table, with its bootstrap interval."""

    predictor: str
    subset: str
    level: str
    statistic: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    note: str = ""


@dataclass(frozen=True)
class TestResult(PairedTestResult):
    """A paired two-sided t-test between two predictors: its outcome and what it was run on."""

    predictor_a: str
    predictor_b: str
    subset: str
    level: str
    significant: bool
    n: int


@dataclass
class ScatterData:
    """Points of one predictor for the scatter plots (stimulus and system level)."""

    predictor: str
    x_label: str
    stimulus_x: np.ndarray
    stimulus_y: np.ndarray
    stimulus_subset: list[str]
    system_x: np.ndarray
    system_y: np.ndarray
    system_labels: list[str]


@dataclass
class EvaluationRun:
    """Everything one evaluation produced."""

    config: EvaluationConfig
    manifest: str
    predictors: list[str]
    subsets: list[str]
    results: list[StatisticResult] = field(default_factory=list)
    tests: list[TestResult] = field(default_factory=list)
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)
    scatter: dict[str, ScatterData] = field(default_factory=dict)

    def value(self, predictor: str, subset: str, level: str, statistic: str) -> StatisticResult | None:
        """The result for one cell of the table, if computed."""
        wanted = (predictor, subset, level, statistic)
        for result in self.results:
            if (result.predictor, result.subset, result.level, result.statistic) == wanted:
                return result
        return None


def normalize_path(path: str, base: Path) -> str:
    """Absolute, symlink-free form of `path` (relative paths resolved against `base`)."""
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = base / candidate
    return os.path.realpath(candidate)


def _read_text_table(
    path: Path, kind: str = "file", required: Sequence[str] = ()
) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Columns and rows of a CSV/JSONL file through the project's one manifest reader, values as stripped text."""
    columns, rows = read_table(path, kind, required)
    if not columns:
        raise ManifestError(f"{path}: file has no header row (or no rows)")
    return columns, [(line_no, {k: _text(row.get(k)) for k in columns}) for line_no, row in rows]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _float(value: str, where: str, column: str, finite: bool = True) -> float:
    try:
        number = float(value)
    except ValueError as err:
        raise ManifestError(f"{where}: {column} {value!r} is not a number") from err
    if finite and not math.isfinite(number):
        raise ManifestError(f"{where}: {column} {value!r} is not a finite number")
    return number


def read_listening_test(
    path: str | Path,
    score_column: str = "mean",
    system_column: str = "condition",
    subset_column: str | None = None,
) -> ListeningTest:
    """Read a listening-test manifest; subsets come from `subset_column`, else `subset`/`dataset` if present."""
    path = Path(path)
    columns, rows = _read_text_table(path, "listening-test manifest", ("test", score_column, system_column))
    if subset_column is None:
        subset_column = next((c for c in ("subset", "dataset") if c in columns), None)
    elif subset_column not in columns:
        raise ManifestError(f"{path}: no subset column {subset_column!r} (columns: {', '.join(columns)})")
    if not rows:
        raise ManifestError(f"{path}: listening-test manifest has no rows")
    keys, scores, systems, subsets, scales = [], [], [], [], []
    scale_column = "scale" if "scale" in columns else None
    for line_no, row in rows:
        where = f"{path}:{line_no}"
        if not row["test"]:
            raise ManifestError(f"{where}: empty test path")
        if not row[system_column]:
            raise ManifestError(f"{where}: empty {system_column}")
        keys.append(normalize_path(row["test"], path.parent))
        scores.append(_float(row[score_column], where, score_column))
        systems.append(row[system_column])
        subsets.append(row[subset_column] if subset_column else OVERALL)
        scales.append(row[scale_column] if scale_column else "")
    if len(set(scales)) > 1:  # groups are subset x scale: ratings on different scales are never pooled
        subsets = [f"{sub}/{scale}" if subset_column else scale for sub, scale in zip(subsets, scales)]
    signals = [row.get("signal") or "" for _, row in rows]
    test = ListeningTest(path, columns, [r for _, r in rows], keys, np.array(scores), systems, subsets, scales, signals)
    seen: dict[tuple, int] = {}
    for index, stimulus in enumerate(_stimulus_keys(test)):
        if stimulus in seen:
            first = rows[seen[stimulus]][0]
            raise ManifestError(f"{path}:{rows[index][0]}: the same stimulus as line {first} ({row_label(stimulus)}); "
                                "add a column that tells them apart (subset, scale, start_time/end_time)")
        seen[stimulus] = index
    return test


def _stimulus_keys(test: ListeningTest) -> list[tuple]:
    split = test.split_columns()
    return [(key, *(_split_value(row.get(c, ""), c) for c in split)) for key, row in zip(test.keys, test.rows)]


def _split_value(value: str, column: str) -> str:
    """Segment times compare as numbers ("1" == "1.0"), other split columns as text."""
    if column in ("start_time", "end_time") and value:
        try:
            return repr(float(value))
        except ValueError:
            return value
    return value


def row_label(stimulus: tuple) -> str:
    return " ".join(str(part) for part in stimulus if part)


def _path_parts(path: str) -> tuple[str, ...]:
    parts = Path(path.replace("\\", "/")).parts
    return tuple(p for p in parts if p not in (".", "..", "/", ""))


class _Matcher:
    """Find the listening-test rows of a prediction path."""

    def __init__(self, test: ListeningTest):
        self.by_key: dict[str, list[int]] = {}
        self.by_name: dict[str, list[int]] = {}
        for i, key in enumerate(test.keys):
            self.by_key.setdefault(key, []).append(i)
            self.by_name.setdefault(Path(key).name, []).append(i)
        self.keys = test.keys

    def rows(self, raw_path: str, base: Path) -> list[int]:
        exact = self.by_key.get(normalize_path(raw_path, base))
        if exact:
            return exact
        parts = _path_parts(raw_path)
        if not parts:
            return []
        candidates = {
            self.keys[i] for i in self.by_name.get(parts[-1], []) if _path_parts(self.keys[i])[-len(parts):] == parts
        }
        if len(candidates) == 1:
            return self.by_key[candidates.pop()]
        if len(candidates) > 1:
            log.warning("%s matches %d stimuli by its trailing path; left unmatched", raw_path, len(candidates))
        return []


def default_score_column(columns: Sequence[str], rows: Sequence[dict[str, str]], exclude: Sequence[str]) -> str | None:
    """First column that is not a key or listening-test column and holds only numbers."""
    excluded = NON_SCORE_COLUMNS | set(exclude)
    for column in columns:
        if column in excluded:
            continue
        values = [row[column] for row in rows if row.get(column)]
        if values and all(_is_number(v) for v in values):
            return column
    return None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def read_predictions(
    path: str | Path, test: ListeningTest, name: str | None = None, column: str | None = None
) -> PredictionSet:
    """Read one prediction CSV and align its scores to the listening-test rows."""
    path = Path(path)
    columns, rows = _read_text_table(path)
    key_column = next((c for c in PREDICTION_KEY_COLUMNS if c in columns), None)
    if key_column is None:
        raise ManifestError(f"{path}: no path column (expected one of {', '.join(PREDICTION_KEY_COLUMNS)})")
    if column is None:
        column = default_score_column(columns, [r for _, r in rows], exclude=test.columns)
        if column is None:
            raise ManifestError(f"{path}: no numeric score column found among {', '.join(columns)}; name one")
    elif column not in columns:
        raise ManifestError(f"{path}: no column {column!r} (columns: {', '.join(columns)})")
    matcher = _Matcher(test)
    split = [c for c in test.split_columns() if c in columns]
    values = np.full(len(test.keys), np.nan)
    n_failed = n_unmatched = 0
    for line_no, row in rows:
        where = f"{path}:{line_no}"
        if row.get("error") or not row[column]:
            n_failed += 1
            continue
        value = _float(row[column], where, column, finite=False)
        if not math.isfinite(value):  # a NaN/Inf prediction is a missing one: counted, not fatal
            n_failed += 1
            continue
        matched = [i for i in matcher.rows(row[key_column], path.parent)
                   if all(_split_value(test.rows[i].get(c, ""), c) == _split_value(row[c], c) for c in split)]
        if not matched:
            n_unmatched += 1
            continue
        for i in matched:
            if not np.isnan(values[i]) and values[i] != value:
                stimulus = row_label(_stimulus_keys(test)[i])
                raise ManifestError(f"{where}: stimulus {stimulus} has two different scores ({values[i]} and {value})")
            values[i] = value
    missing = int(np.isnan(values).sum())
    if missing:
        log.warning("%s: %d of %d stimuli have no prediction from %s", name or column, missing, len(values), path)
    return PredictionSet(name or column, path, column, values, len(rows), n_failed, n_unmatched)


def _system_labels(test: ListeningTest, rows: np.ndarray, multiple_subsets: bool) -> list[str]:
    if multiple_subsets:
        return [f"{test.subsets[i]}/{test.systems[i]}" for i in rows]
    return [test.systems[i] for i in rows]


def _statistic_on(
    statistic: str, linear: np.ndarray, raw: np.ndarray, target: np.ndarray, inverse: np.ndarray | None
) -> float:
    """One statistic on items (inverse None) or on per-system means of items."""
    prediction = raw if statistic in RANK_STATISTICS else linear
    if inverse is not None:
        labels = np.unique(inverse)
        remap = np.searchsorted(labels, inverse)
        prediction = group_means(prediction, remap, labels.size)
        target = group_means(target, remap, labels.size)
    if prediction.size < 3 and statistic != "MSE":
        return float("nan")
    return STATISTICS[statistic](prediction, target)


def evaluate(test: ListeningTest, predictions: Sequence[PredictionSet], config: EvaluationConfig) -> EvaluationRun:
    """Stimulus- and system-level statistics per subset and overall, with CIs and paired tests."""
    names = [p.name for p in predictions]
    if len(set(names)) != len(names):
        raise AudioqualError(f"predictor names must be unique, got {names}")
    distinct_subsets = list(dict.fromkeys(test.subsets))
    multiple = len(distinct_subsets) > 1
    subsets = [OVERALL] + (distinct_subsets if multiple else [])
    subset_rows = {OVERALL: np.arange(len(test.keys))}
    for subset in distinct_subsets if multiple else []:
        subset_rows[subset] = np.flatnonzero(np.array(test.subsets) == subset)
    system_keys = [(test.subsets[i], test.systems[i]) for i in range(len(test.keys))]
    _, system_of_row = group_indices(system_keys)

    run = EvaluationRun(config, str(test.source), names, subsets)
    groups = [sub for sub in subsets if sub != OVERALL or test.pooled]  # never one correlation across scales
    linear_values: dict[tuple[str, str], np.ndarray] = {}
    for prediction in predictions:
        available = np.isfinite(prediction.values)
        run.coverage[prediction.name] = {
            "source": str(prediction.source),
            "column": prediction.column,
            "rows": prediction.n_rows,
            "failed": prediction.n_failed,
            "unmatched": prediction.n_unmatched,
            "stimuli_scored": int(available.sum()),
            "stimuli_total": len(test.keys),
        }
        if not available.all():
            log.warning("%s: %d of %d stimuli have no prediction", prediction.name, (~available).sum(), available.size)
        for subset in subsets:
            rows = subset_rows[subset][available[subset_rows[subset]]]
            if subset not in groups:
                run.scatter[prediction.name] = _scatter(prediction.name, test, rows, prediction.values[rows],
                                                        prediction.values[rows], test.scores[rows],
                                                        system_of_row, multiple, "none")
                continue
            raw = prediction.values[rows]
            target = test.scores[rows]
            linear, note = _mapped(raw, target, config.mapping)
            full = np.full(len(test.keys), np.nan)
            full[rows] = linear
            linear_values[(prediction.name, subset)] = full
            for level in LEVELS:
                inverse = system_of_row[rows] if level == "system" else None
                n = len(rows) if inverse is None else int(np.unique(inverse).size)
                for statistic in config.statistics:
                    run.results.append(_result(
                        prediction.name, subset, level, statistic, linear, raw, target, inverse, n, note, config
                    ))
            if any(test.signals):  # a signal is rated within one subset: (subset, signal) names it
                names = [(test.subsets[i], test.signals[i]) for i in rows]
                positions: dict[tuple[str, str], list[int]] = {}
                for position, name in enumerate(names):
                    positions.setdefault(name, []).append(position)
                signal_groups = [np.array(group) for group in positions.values()]
                run.results.extend(_within_results(prediction.name, subset, linear, raw, target, signal_groups, config))
            if subset == OVERALL:
                run.scatter[prediction.name] = _scatter(prediction.name, test, rows, linear, raw, target,
                                                        system_of_row, multiple, config.mapping)
        if OVERALL not in groups:
            run.results.extend(_across_tests(run, prediction.name, [g for g in groups], config))
    run.tests = _paired_tests(test, predictions, groups, subset_rows, system_of_row, linear_values, config)
    return run


FISHER_Z_VARIANCE = {"PCC": lambda n: 1.0 / (n - 3), "SRCC": lambda n: 1.06 / (n - 3), "KTAU": lambda n: 0.437 / (n - 4)}
"""Approximate variance of atanh(r) with n points (Fisher; Fieller, Hartley & Pearson for SRCC and Kendall's tau)."""


def _across_tests(run: EvaluationRun, predictor: str, groups: list[str], config: EvaluationConfig) -> list:
    """The Overall row when scales differ: mean of per-group Fisher z, with a normal interval on the mean."""
    from scipy import stats

    results = []
    for level in LEVELS:
        for statistic in config.statistics:
            cells = [run.value(predictor, g, level, statistic) for g in groups]
            if statistic not in FISHER_Z_VARIANCE:
                results.append(StatisticResult(predictor, OVERALL, level, statistic, math.nan, math.nan, math.nan,
                                               sum(c.n for c in cells if c), "not pooled across rating scales"))
                continue
            usable = [c for c in cells if c and math.isfinite(c.value) and c.n > 4]
            if not usable:
                results.append(StatisticResult(predictor, OVERALL, level, statistic, math.nan, math.nan, math.nan, 0,
                                               "no group with enough stimuli"))
                continue
            z = np.array([np.arctanh(np.clip(c.value, -0.999999, 0.999999)) for c in usable])
            se = math.sqrt(sum(FISHER_Z_VARIANCE[statistic](c.n) for c in usable)) / len(usable)
            q = stats.norm.ppf(0.5 + config.confidence / 2)
            mean = float(z.mean())
            results.append(StatisticResult(
                predictor, OVERALL, level, statistic, float(np.tanh(mean)), float(np.tanh(mean - q * se)),
                float(np.tanh(mean + q * se)), sum(c.n for c in usable),
                f"mean Fisher z over {len(usable)} test/scale groups (scales are not pooled)",
            ))
    return results


def _mapped(raw: np.ndarray, target: np.ndarray, mapping: str) -> tuple[np.ndarray, str]:
    if mapping == "none" or raw.size == 0:
        return raw, ""
    if raw.size < CUBIC_MIN_POINTS or np.ptp(raw) == 0.0:
        return raw, f"cubic mapping skipped ({raw.size} stimuli, need {CUBIC_MIN_POINTS} distinct)"
    return fit_cubic(raw, target)(raw), ""


def _result(
    predictor: str, subset: str, level: str, statistic: str, linear: np.ndarray, raw: np.ndarray,
    target: np.ndarray, inverse: np.ndarray | None, n: int, note: str, config: EvaluationConfig,
) -> StatisticResult:
    if len(raw) == 0:
        return StatisticResult(predictor, subset, level, statistic, math.nan, math.nan, math.nan, 0, "no predictions")
    value = _statistic_on(statistic, linear, raw, target, inverse)
    low = high = math.nan
    if config.n_bootstrap > 0 and math.isfinite(value):
        interval = bootstrap_ci(
            lambda idx: _statistic_on(statistic, linear[idx], raw[idx], target[idx],
                                      None if inverse is None else inverse[idx]),
            len(raw), config.n_bootstrap, config.confidence, config.seed, strata=inverse,
        )
        low, high = interval.low, interval.high
    return StatisticResult(predictor, subset, level, statistic, value, low, high, n, note)


def _within_results(
    predictor: str, subset: str, linear: np.ndarray, raw: np.ndarray, target: np.ndarray,
    groups: list[np.ndarray], config: EvaluationConfig,
) -> list[StatisticResult]:
    """Rank agreement among stimuli of the same source signal: the mean over signals of each correlation.

    It asks what a listening test with one reference asks (which version of this signal is better), free of
    how hard each signal is. Signals with fewer than 3 stimuli, or a constant prediction or rating, are left
    out; the interval bootstraps signals. MSE has no within-signal form.
    """
    usable = [g for g in groups if g.size >= 3 and np.ptp(target[g]) > 0]

    def mean_over(statistic: str, chosen: Sequence[int]) -> float:
        values = [_statistic_on(statistic, linear[usable[i]], raw[usable[i]], target[usable[i]], None) for i in chosen]
        values = [v for v in values if math.isfinite(v)]
        return float(np.mean(values)) if values else math.nan

    results = []
    for statistic in (s for s in config.statistics if s in FISHER_Z_VARIANCE):
        if not usable:
            results.append(StatisticResult(predictor, subset, "within", statistic, math.nan, math.nan, math.nan, 0,
                                           "no signal with 3 or more rated stimuli"))
            continue
        value = mean_over(statistic, range(len(usable)))
        low = high = math.nan
        if config.n_bootstrap > 0 and math.isfinite(value) and len(usable) > 1:
            interval = bootstrap_ci(lambda idx: mean_over(statistic, idx), len(usable), config.n_bootstrap,
                                    config.confidence, config.seed)
            low, high = interval.low, interval.high
        results.append(StatisticResult(predictor, subset, "within", statistic, value, low, high, len(usable),
                                       f"mean over {len(usable)} source signals"))
    return results


def _scatter(
    name: str, test: ListeningTest, rows: np.ndarray, linear: np.ndarray, raw: np.ndarray,
    target: np.ndarray, system_of_row: np.ndarray, multiple: bool, mapping: str,
) -> ScatterData:
    labels, inverse = group_indices(_system_labels(test, rows, multiple))
    x = linear if mapping == "cubic" else raw
    system_x = group_means(x, inverse, len(labels)) if len(rows) else np.array([])
    system_y = group_means(target, inverse, len(labels)) if len(rows) else np.array([])
    return ScatterData(
        name, f"{name} (cubic-mapped)" if mapping == "cubic" else name, x, target,
        [test.subsets[i] for i in rows], system_x, system_y, [str(label) for label in labels],
    )


def _paired_tests(
    test: ListeningTest, predictions: Sequence[PredictionSet], subsets: list[str],
    subset_rows: dict[str, np.ndarray], system_of_row: np.ndarray,
    linear_values: dict[tuple[str, str], np.ndarray], config: EvaluationConfig,
) -> list[TestResult]:
    """Two-sided paired t-tests between every pair of predictors, on the stimuli both scored."""
    results = []
    statistics = [s for s in config.statistics if s in TESTED_STATISTICS]
    for a, b in combinations(predictions, 2):
        for subset in subsets:
            rows = subset_rows[subset]
            rows = rows[np.isfinite(a.values[rows]) & np.isfinite(b.values[rows])]
            for level in LEVELS:
                for statistic in statistics:
                    use_raw = statistic in RANK_STATISTICS
                    xa = a.values[rows] if use_raw else linear_values[(a.name, subset)][rows]
                    xb = b.values[rows] if use_raw else linear_values[(b.name, subset)][rows]
                    y = test.scores[rows]
                    if level == "system":
                        labels, inverse = np.unique(system_of_row[rows], return_inverse=True)
                        xa, xb, y = (group_means(v, inverse, labels.size) for v in (xa, xb, y))
                    try:
                        outcome = compare_predictors(xa, xb, y, statistic)
                    except AudioqualError as err:
                        log.info("no %s test %s vs %s on %s/%s: %s", statistic, a.name, b.name, subset, level, err)
                        continue
                    results.append(TestResult(
                        **asdict(outcome), predictor_a=a.name, predictor_b=b.name, subset=subset, level=level,
                        significant=outcome.p_value <= config.alpha, n=int(y.size),
                    ))
    return results
