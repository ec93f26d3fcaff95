"""A leaderboard of systems from per-item scores: means with bootstrap intervals, ranks, paired tests.

For each metric column and system: the mean over the system's items with a
percentile bootstrap 95 % interval (items resampled), and the rank of the
mean (1 = best, in the metric's direction). Every pair of systems is compared
on the items both scored (an item's repeated rows are averaged first) with a
two-sided paired t-test; the p-values of one metric are Holm-corrected over
all its pairs. A listener-ratings column is one more column, ranked the same
way. Works for full- and no-reference scores alike: an item is any column
that identifies the same material across systems (default `item`, else
`reference`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from audioqual.data.manifest import read_table
from audioqual.errors import AudioqualError
from audioqual.eval.bootstrap import bootstrap_ci
from audioqual.eval.significance import paired_t
from audioqual.eval.tables import Cell, Table

LOWER_IS_BETTER = ("distance", "default_distance", "cdpam", "embedding-distance")
"""Score columns where lower is better (the others: higher is better); more with --lower-is-better."""
NOT_SCORES = ("start_time", "end_time", "error", "warning")


@dataclass(frozen=True)
class SystemScore:
    """One system on one metric."""

    system: str
    mean: float
    low: float
    high: float
    n_items: int
    rank: int


@dataclass(frozen=True)
class PairComparison:
    """Paired t-test of two systems on one metric over their common items; p Holm-corrected."""

    metric: str
    system_a: str
    system_b: str
    mean_difference: float  # a - b over the common items
    n_items: int
    t: float
    p_value: float
    p_holm: float


@dataclass
class Leaderboard:
    """Every metric's per-system scores and pairwise tests."""

    by: str
    item: str
    systems: list[str]
    scores: dict[str, list[SystemScore]] = field(default_factory=dict)  # metric -> per system (systems order)
    comparisons: list[PairComparison] = field(default_factory=list)
    higher_is_better: dict[str, bool] = field(default_factory=dict)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _number(value: object) -> float:
    try:
        number = float(str(value))
    except ValueError:
        return math.nan
    return number if math.isfinite(number) else math.nan


def build_leaderboard(path: str | Path, by: str = "system", item: str | None = None,
                      metrics: list[str] | None = None, ratings: str | None = None,
                      lower_is_better: tuple[str, ...] = (), n_resamples: int = 1000, seed: int = 0) -> Leaderboard:
    """The leaderboard of a scores file (output of `metric`, `compare`, `score`, with a `by` column)."""
    columns, table = read_table(path, "scores file")
    rows = [row for _, row in table]
    if by not in columns:
        raise AudioqualError(f"{path}: no column {by!r} to group by (columns: {', '.join(columns)})")
    item = item or next((c for c in ("item", "reference") if c in columns), None)
    if item is None or item not in columns:
        raise AudioqualError(f"{path}: give --item COLUMN, the column naming the same material across systems")
    if metrics is None:
        skip = {by, item, "test", "path", ratings, *NOT_SCORES}
        metrics = [c for c in columns if c not in skip and any(math.isfinite(_number(r.get(c))) for r in rows)]
    if ratings:
        metrics = [m for m in metrics if m != ratings] + [ratings]
    missing = [m for m in metrics if m not in columns]
    if missing or not metrics:
        raise AudioqualError(f"{path}: no score column {', '.join(missing) or ''} (columns: {', '.join(columns)})")
    systems = list(dict.fromkeys(str(r[by]) for r in rows))
    board = Leaderboard(by, item, systems)
    lower = set(LOWER_IS_BETTER) | set(lower_is_better)
    for metric in metrics:
        per_item: dict[str, dict[str, list[float]]] = {s: defaultdict(list) for s in systems}
        for row in rows:
            value = _number(row.get(metric))
            if math.isfinite(value):
                per_item[str(row[by])][str(row[item])].append(value)
        means = {s: {k: float(np.mean(v)) for k, v in items.items()} for s, items in per_item.items()}
        higher = metric not in lower
        board.higher_is_better[metric] = higher
        board.scores[metric] = _system_scores(systems, means, higher, n_resamples, seed)
        board.comparisons.extend(_comparisons(metric, systems, means))
    return board


def _system_scores(systems: list[str], means: dict[str, dict[str, float]], higher: bool, n_resamples: int,
                   seed: int) -> list[SystemScore]:
    values = {s: np.array(list(means[s].values()), dtype=np.float64) for s in systems}
    system_means = {s: float(v.mean()) if v.size else math.nan for s, v in values.items()}
    ranked = sorted((s for s in systems if math.isfinite(system_means[s])),
                    key=lambda s: -system_means[s] if higher else system_means[s])
    out = []
    for s in systems:
        v = values[s]
        ci = bootstrap_ci(lambda idx, v=v: float(v[idx].mean()), v.size, n_resamples, seed=seed) if v.size else None
        out.append(SystemScore(s, system_means[s], ci.low if ci else math.nan, ci.high if ci else math.nan, v.size,
                               ranked.index(s) + 1 if s in ranked else 0))
    return out


def _comparisons(metric: str, systems: list[str], means: dict[str, dict[str, float]]) -> list[PairComparison]:
    tests = []
    for a, b in combinations(systems, 2):
        common = sorted(set(means[a]) & set(means[b]))
        if len(common) < 2:
            continue
        x, y = np.array([means[a][k] for k in common]), np.array([means[b][k] for k in common])
        t, _, p = paired_t(x, y)
        tests.append((a, b, float((x - y).mean()), len(common), t, p))
    adjusted = holm(np.array([test[-1] for test in tests])) if tests else []
    return [PairComparison(metric, *test, float(p_holm)) for test, p_holm in zip(tests, adjusted)]


def leaderboard_table(board: Leaderboard) -> Table:
    """One row per system; per metric its mean [95 % CI] and rank."""
    table = Table("Leaderboard (mean over items, bootstrap 95 % CI; rank 1 = best)", board.by,
                  [(m, ["mean", "rank"]) for m in board.scores], with_ci=True)
    for index, system in enumerate(board.systems):
        cells = []
        for metric, scores in board.scores.items():
            s = scores[index]
            cells += [Cell("mean", s.mean, s.low, s.high), Cell("rank", float(s.rank) if s.rank else math.nan)]
        table.rows.append((system, cells))
    return table


def comparisons_markdown(board: Leaderboard, alpha: float = 0.05) -> str:
    """The pairwise tests as a Markdown table (significant after Holm marked *)."""
    lines = ["**Pairwise paired t-tests over common items (Holm-corrected per metric)**", "",
             "| metric | A | B | mean A-B | items | t | p | p (Holm) |", "|:---|:---|:---|---:|---:|---:|---:|---:|"]
    for c in board.comparisons:
        mark = " *" if c.p_holm <= alpha else ""
        lines.append(f"| {c.metric} | {c.system_a} | {c.system_b} | {c.mean_difference:.3f} | {c.n_items} | "
                     f"{c.t:.2f} | {c.p_value:.3g} | {c.p_holm:.3g}{mark} |")
    return "\n".join(lines) + "\n"


def leaderboard_plot(board: Leaderboard, path: str | Path) -> Path:
    """One figure: per metric a panel of system means with their intervals."""
    from audioqual.eval.plots import new_figure

    metrics = list(board.scores)
    figure = new_figure(3.2 * len(metrics), 0.5 * len(board.systems) + 1.5)
    for index, metric in enumerate(metrics):
        axis = figure.add_subplot(1, len(metrics), index + 1)
        scores = board.scores[metric]
        y = np.arange(len(scores))
        means = np.array([s.mean for s in scores])
        errors = np.abs(np.array([[s.mean - s.low, s.high - s.mean] for s in scores]).T)
        axis.errorbar(means, y, xerr=errors, fmt="o", capsize=3)
        axis.set_yticks(y, [s.system for s in scores] if index == 0 else [""] * len(scores))
        axis.set_title(f"{metric} ({'higher' if board.higher_is_better[metric] else 'lower'} is better)",
                       fontsize=8)
        axis.invert_yaxis()
    figure.savefig(path)
    return Path(path)
