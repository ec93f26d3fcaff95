"""Result tables in Markdown, CSV and JSON, laid out like the papers' tables.

- Stimulus level (DeePAQ, Jiang et al. 2025, Table 1): one row per subset (Overall first),
  a PCC/SRCC column pair per predictor.
- System level (Huang et al. 2026, Table I): one row per predictor, an MSE/SRCC
  column pair per subset.
- All statistics: one row per predictor, every statistic at both levels
  for the Overall set, with bootstrap confidence intervals.
The long-form `results.csv` / `results.json` hold every number.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audioqual.data.files import jsonable
from audioqual.eval.harness import (
    LEVELS,
    OVERALL,
    EvaluationConfig,
    EvaluationRun,
    StatisticResult,
    TestResult,
)


@dataclass(frozen=True)
class Cell:
    """One table entry: a statistic with its optional interval."""

    statistic: str
    value: float
    low: float = math.nan
    high: float = math.nan


@dataclass
class Table:
    """A table with one header row of column groups and one of statistics."""

    title: str
    row_header: str
    groups: list[tuple[str, list[str]]]
    rows: list[tuple[str, list[Cell]]] = field(default_factory=list)
    with_ci: bool = False

    def flat_columns(self) -> list[str]:
        """Column names `group statistic` in cell order."""
        return [f"{group} {statistic}" for group, statistics in self.groups for statistic in statistics]


def format_number(value: float, digits: int = 3) -> str:
    """Fixed-point text of a value; NaN shows as an en dash."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def format_cell(cell: Cell, with_ci: bool) -> str:
    """Value, and `[low, high]` when intervals are shown and known."""
    text = format_number(cell.value)
    if with_ci and math.isfinite(cell.low):
        text += f" [{format_number(cell.low)}, {format_number(cell.high)}]"
    return text


def _cell(run: EvaluationRun, predictor: str, subset: str, level: str, statistic: str) -> Cell:
    result = run.value(predictor, subset, level, statistic)
    if result is None:
        return Cell(statistic, math.nan)
    return Cell(statistic, result.value, result.ci_low, result.ci_high)


def stimulus_table(run: EvaluationRun, statistics: tuple[str, ...] = ("PCC", "SRCC")) -> Table:
    """DeePAQ's layout: rows = subsets, column pairs = predictors."""
    return _grid(run, "Stimulus level", "stimulus", statistics, predictors_as_rows=False)


def system_table(run: EvaluationRun, statistics: tuple[str, ...] = ("MSE", "SRCC")) -> Table:
    """Huang et al.'s layout: rows = predictors, column pairs = subsets (system-level averages first)."""
    return _grid(run, "System level", "system", statistics, predictors_as_rows=True)


def _grid(run: EvaluationRun, title: str, level: str, statistics: tuple[str, ...], predictors_as_rows: bool) -> Table:
    """Statistics of one level: a row per subset and a column group per predictor, or transposed."""
    statistics = tuple(s for s in statistics if s in run.config.statistics)
    rows, columns = (run.predictors, run.subsets) if predictors_as_rows else (run.subsets, run.predictors)
    table = Table(title, "Predictor" if predictors_as_rows else "Subset", [(c, list(statistics)) for c in columns])
    for row in rows:
        pairs = [(row, column) if predictors_as_rows else (column, row) for column in columns]
        table.rows.append((row, [_cell(run, predictor, subset, level, s) for predictor, subset in pairs for s in statistics]))
    return table


def overall_table(run: EvaluationRun) -> Table:
    """Every statistic at both levels on the Overall set, with bootstrap intervals."""
    statistics = list(run.config.statistics)
    groups = [(level, statistics) for level in LEVELS]
    within = [s for s in statistics if any(r.level == "within" and r.statistic == s for r in run.results)]
    if within:  # the mean within-signal correlations, where the listening test names each stimulus's signal
        groups.append(("within", within))
    table = Table(f"All statistics ({OVERALL})", "Predictor", groups, with_ci=True)
    for predictor in run.predictors:
        table.rows.append(
            (predictor, [_cell(run, predictor, OVERALL, level, s) for level, chosen in groups for s in chosen])
        )
    return table


def to_markdown(table: Table) -> str:
    """GitHub-flavoured Markdown with `group statistic` column names."""
    header = [table.row_header, *table.flat_columns()]
    lines = [
        f"**{table.title}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for label, cells in table.rows:
        lines.append("| " + " | ".join([label, *(format_cell(c, table.with_ci) for c in cells)]) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table, path: str | Path) -> Path:
    """CSV with one column per `group statistic` (plus `_low`/`_high` columns when intervals are shown)."""
    path = Path(path)
    header = [table.row_header]
    for column in table.flat_columns():
        header += [column, f"{column} low", f"{column} high"] if table.with_ci else [column]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for label, cells in table.rows:
            row: list[Any] = [label]
            for cell in cells:
                row += [_csv_number(cell.value)] + (
                    [_csv_number(cell.low), _csv_number(cell.high)] if table.with_ci else []
                )
            writer.writerow(row)
    return path


def significance_markdown(run: EvaluationRun) -> str:
    """Every paired test as a Markdown table."""
    lines = [
        f"**Paired two-sided t-tests (significant: p <= {run.config.alpha:g})**",
        "",
        "| A | B | Subset | Level | Statistic | A value | B value | Test | t | df | p | Significant |",
        "|:---|:---|:---|:---|:---|---:|---:|:---|---:|---:|---:|:---:|",
    ]
    for t in run.tests:
        lines.append(
            f"| {t.predictor_a} | {t.predictor_b} | {t.subset} | {t.level} | {t.statistic} | "
            f"{format_number(t.value_a)} | {format_number(t.value_b)} | {t.test} | {format_number(t.t, 2)} | "
            f"{t.df} | {format_p(t.p_value)} | {'yes' if t.significant else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def format_p(p: float) -> str:
    """p-values with three significant digits, small ones in scientific notation."""
    return "–" if not math.isfinite(p) else (f"{p:.2e}" if p < 1e-3 else f"{p:.3f}")


def run_to_json(run: EvaluationRun) -> dict[str, Any]:
    """Everything of a run as JSON-ready data (NaN becomes null)."""
    return jsonable({
        "manifest": run.manifest,
        "config": asdict(run.config),
        "predictors": run.predictors,
        "subsets": run.subsets,
        "coverage": run.coverage,
        "results": [asdict(r) for r in run.results],
        "tests": [asdict(t) for t in run.tests],
    })


def run_from_json(data: dict[str, Any]) -> EvaluationRun:
    """An EvaluationRun (without scatter points) from `run_to_json` output."""
    config = EvaluationConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["config"].items()})
    run = EvaluationRun(config, data["manifest"], list(data["predictors"]), list(data["subsets"]))
    run.coverage = dict(data.get("coverage", {}))
    run.results = [StatisticResult(**_nan(r, ("value", "ci_low", "ci_high"))) for r in data.get("results", [])]
    run.tests = [TestResult(**_nan(t, ("value_a", "value_b", "t", "p_value"))) for t in data.get("tests", [])]
    return run


def _nan(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: (math.nan if k in keys and v is None else v) for k, v in record.items()}


def write_tables(run: EvaluationRun, out_dir: str | Path) -> dict[str, str]:
    """Write every table and the long-form results; returns {kind: file name} relative to out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    tables = {"stimulus": stimulus_table(run), "system": system_table(run), "overall": overall_table(run)}
    for key, table in tables.items():
        (out_dir / f"table_{key}.md").write_text(to_markdown(table), encoding="utf-8")
        to_csv(table, out_dir / f"table_{key}.csv")
        files[f"table_{key}_md"] = f"table_{key}.md"
        files[f"table_{key}_csv"] = f"table_{key}.csv"
    with open(out_dir / "results.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["predictor", "subset", "level", "statistic", "value", "ci_low", "ci_high", "n", "note"])
        for r in run.results:
            writer.writerow([r.predictor, r.subset, r.level, r.statistic, _csv_number(r.value),
                             _csv_number(r.ci_low), _csv_number(r.ci_high), r.n, r.note])
    files["results_csv"] = "results.csv"
    with open(out_dir / "significance.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["predictor_a", "predictor_b", "subset", "level", "statistic", "value_a", "value_b",
                         "test", "t", "df", "p_value", "significant", "n"])
        for t in run.tests:
            writer.writerow([t.predictor_a, t.predictor_b, t.subset, t.level, t.statistic, _csv_number(t.value_a),
                             _csv_number(t.value_b), t.test, _csv_number(t.t), t.df, _csv_number(t.p_value),
                             int(t.significant), t.n])
    (out_dir / "significance.md").write_text(significance_markdown(run), encoding="utf-8")
    files["significance_csv"] = "significance.csv"
    files["significance_md"] = "significance.md"
    return files


def _csv_number(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))
