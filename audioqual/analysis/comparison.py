"""Strategy comparison in the layout of seed 000's Table I, with the paired significance test.

Rows are models (baseline, DAT-Source, DAT-Kmeans, ...), column pairs are
aspects with MSE (lower is better) and SRCC (higher is better). As in the
paper, statistics are computed at system level by default: predictions and
subjective scores are first averaged over the items of each system. Each
model is tested against the baseline with the two-sided paired tests of
`audioqual.eval.significance` (Williams' t-test for the dependent SRCCs,
a paired t-test on per-system squared errors for MSE); p <= alpha is
marked with * in the Markdown table. Best value per column is in bold.
A grouped bar chart (the layout of the paper's Fig. 2) shows the same numbers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioqual.analysis.latent import LatentSet
from audioqual.analysis.outputs import save_figure
from audioqual.data.files import write_csv
from audioqual.errors import AudioqualError
from audioqual.eval.aggregate import system_level
from audioqual.eval.correlation import HIGHER_IS_BETTER, STATISTICS
from audioqual.eval.plots import new_figure
from audioqual.eval.significance import (
    TEST_DESCRIPTION,
    PairedTestResult,
    compare_predictors,
)
from audioqual.eval.tables import Cell, Table, format_number, format_p, to_csv

log = logging.getLogger(__name__)
LEVELS = ("system", "utterance")
COMPARED_STATISTICS = ("MSE", "SRCC")


@dataclass
class ComparisonOptions:
    """What the comparison computes."""

    level: str = "system"
    alpha: float = 0.05
    baseline: str | None = None  # default: the first model

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise AudioqualError(f"level must be one of {', '.join(LEVELS)}, got {self.level!r}")


@dataclass
class ComparisonTest:
    """One model against the baseline on one aspect and statistic."""

    model: str
    baseline: str
    aspect: str
    result: PairedTestResult
    significant: bool
    n: int


@dataclass
class Comparison:
    """Every value of the table and every test."""

    models: list[str]
    aspects: list[str]
    baseline: str
    level: str
    n_units: dict[str, int]  # aspect -> number of systems (or items) compared
    values: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (model, aspect, statistic)
    tests: list[ComparisonTest] = field(default_factory=list)
    alpha: float = 0.05

    def test(self, model: str, aspect: str, statistic: str) -> ComparisonTest | None:
        for t in self.tests:
            if (t.model, t.aspect, t.result.statistic) == (model, aspect, statistic):
                return t
        return None


def _aligned(latents: Sequence[LatentSet]) -> tuple[list[str], list[np.ndarray]]:
    """Items every model scored, and each model's row index of them."""
    common = set(latents[0].item_ids)
    for latent in latents[1:]:
        common &= set(latent.item_ids)
    order = [i for i in latents[0].item_ids if i in common]
    if len(order) < len(latents[0].item_ids) or any(len(x.item_ids) != len(order) for x in latents):
        log.warning("comparing on the %d item(s) that every model could score", len(order))
    rows = []
    for latent in latents:
        index = {item: n for n, item in enumerate(latent.item_ids)}
        rows.append(np.asarray([index[i] for i in order], dtype=np.int64))
    return order, rows


def compare_models(latents: Sequence[LatentSet], options: ComparisonOptions | None = None,
                   aspects: Sequence[str] | None = None) -> Comparison:
    """MSE and SRCC of every model per aspect, and paired tests of each model against the baseline."""
    options = options or ComparisonOptions()
    if len(latents) < 1:
        raise AudioqualError("no model to compare")
    names = [x.name for x in latents]
    if len(set(names)) != len(names):
        raise AudioqualError(f"model names must be unique, got {names}")
    baseline = options.baseline or names[0]
    if baseline not in names:
        raise AudioqualError(f"baseline {baseline!r} is not among the models ({', '.join(names)})")
    aspects = list(aspects or latents[0].aspects)
    order, rows = _aligned(latents)
    if not order:
        raise AudioqualError("no item was scored by every model")
    first = latents[0]
    comparison = Comparison(names, aspects, baseline, options.level, {}, alpha=options.alpha)
    systems = [first.systems[r] for r in rows[0]]
    if options.level == "system" and any(s is None for s in systems):
        raise AudioqualError("system-level comparison needs a system for every item (or use level 'utterance')")
    for aspect in aspects:
        target = first.targets[rows[0], first.aspect_index(aspect)]
        rated = np.isfinite(target)
        if rated.sum() < 2:
            log.warning("%s: fewer than 2 rated items, left out of the comparison", aspect)
            continue
        predictions = {x.name: x.predictions[r, x.aspect_index(aspect)][rated] for x, r in zip(latents, rows)}
        y = target[rated]
        if options.level == "system":
            units = [s for s, ok in zip(systems, rated) if ok]
            predictions = {n: system_level(p, y, units)[0] for n, p in predictions.items()}
            y = system_level(target[rated], target[rated], units)[1]
        comparison.n_units[aspect] = int(y.size)
        for name, prediction in predictions.items():
            for statistic in COMPARED_STATISTICS:
                comparison.values[(name, aspect, statistic)] = STATISTICS[statistic](prediction, y)
            if name == baseline:
                continue
            for statistic in COMPARED_STATISTICS:
                try:
                    result = compare_predictors(prediction, predictions[baseline], y, statistic)
                except AudioqualError as err:
                    log.info("no %s test of %s vs %s on %s: %s", statistic, name, baseline, aspect, err)
                    continue
                comparison.tests.append(
                    ComparisonTest(name, baseline, aspect, result, result.p_value <= options.alpha, int(y.size))
                )
    if not comparison.n_units:
        raise AudioqualError("no aspect has enough rated items to compare")
    return comparison


def comparison_table(comparison: Comparison) -> Table:
    """Table I layout as an `audioqual.eval.tables.Table`: rows = models, column pairs = aspects."""
    aspects = [a for a in comparison.aspects if a in comparison.n_units]
    table = Table(f"{comparison.level.capitalize()} level", "System / Strategy",
                  [(a, list(COMPARED_STATISTICS)) for a in aspects])
    for model in comparison.models:
        cells = [Cell(s, comparison.values.get((model, a, s), math.nan)) for a in aspects for s in COMPARED_STATISTICS]
        table.rows.append((model, cells))
    return table


def comparison_markdown(comparison: Comparison) -> str:
    """Markdown Table I: best per column in bold, * where a model differs from the baseline at p <= alpha."""
    aspects = [a for a in comparison.aspects if a in comparison.n_units]
    arrows = {s: "↑" if HIGHER_IS_BETTER[s] else "↓" for s in COMPARED_STATISTICS}
    header = ["System / Strategy"] + [f"{a} {s} {arrows[s]}" for a in aspects for s in COMPARED_STATISTICS]
    lines = [f"**{comparison.level.capitalize()}-level MSE and SRCC (baseline: {comparison.baseline})**", "",
             "| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1)]
    best = {}
    for aspect in aspects:
        for statistic in COMPARED_STATISTICS:
            column = [comparison.values.get((m, aspect, statistic), math.nan) for m in comparison.models]
            finite = [v for v in column if math.isfinite(v)]
            if finite:
                best[(aspect, statistic)] = max(finite) if HIGHER_IS_BETTER[statistic] else min(finite)
    for model in comparison.models:
        cells = [model]
        for aspect in aspects:
            for statistic in COMPARED_STATISTICS:
                value = comparison.values.get((model, aspect, statistic), math.nan)
                text = format_number(value)
                test = comparison.test(model, aspect, statistic)
                if test is not None and test.significant:
                    text += "\\*"
                if math.isfinite(value) and value == best.get((aspect, statistic)):
                    text = f"**{text}**"
                cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    units = ", ".join(f"{a}: {n}" for a, n in comparison.n_units.items())
    lines += ["", f"Units compared ({comparison.level}s): {units}.",
              f"\\* p <= {comparison.alpha:g} against {comparison.baseline}. {TEST_DESCRIPTION}"]
    return "\n".join(lines) + "\n"


def comparison_figure(comparison: Comparison):
    """Two panels (MSE, SRCC): per aspect, one bar per model (the layout of seed 000's Fig. 2)."""
    aspects = [a for a in comparison.aspects if a in comparison.n_units]
    figure = new_figure(3.0 + 1.4 * len(aspects) + 0.3 * len(comparison.models), 3.8)
    axes = figure.subplots(1, len(COMPARED_STATISTICS))
    width = 0.8 / len(comparison.models)
    places = np.arange(len(aspects))
    for axis, statistic in zip(axes, COMPARED_STATISTICS):
        for i, model in enumerate(comparison.models):
            values = np.asarray([comparison.values.get((model, a, statistic), np.nan) for a in aspects])
            places_i = places + (i - (len(comparison.models) - 1) / 2) * width
            axis.bar(places_i, values, width, color=f"C{i % 10}", label=model)
            for x, value, aspect in zip(places_i, values, aspects):
                test = comparison.test(model, aspect, statistic)
                if test is not None and test.significant and np.isfinite(value):
                    axis.annotate("*", (x, value), ha="center", va="bottom" if value >= 0 else "top", fontsize=13)
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_xticks(places, aspects)
        axis.set_xlabel("aspect")
        arrow = "higher is better" if HIGHER_IS_BETTER[statistic] else "lower is better"
        axis.set_ylabel(statistic)
        axis.set_title(f"{comparison.level.capitalize()}-level {statistic} ({arrow})")
        axis.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, title="model", loc="outside right upper", fontsize=8)
    figure.suptitle(f"Strategy comparison (* p <= {comparison.alpha:g} vs {comparison.baseline}, paired two-sided test)")
    return figure


@dataclass
class ComparisonOutputs:
    """The comparison, its figure and the files written."""

    comparison: Comparison
    figure: object
    png: Path
    csv: Path
    tests_csv: Path
    markdown: Path


def write_comparison(latents: Sequence[LatentSet], out_dir: str | Path, options: ComparisonOptions | None = None,
                     aspects: Sequence[str] | None = None) -> ComparisonOutputs:
    """Compare the models; write comparison.csv / .md / .png and comparison_tests.csv."""
    comparison = compare_models(latents, options, aspects)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = to_csv(comparison_table(comparison), out_dir / "comparison.csv")
    rows = [
        [t.model, t.baseline, t.aspect, comparison.level, t.result.statistic, t.result.value_a, t.result.value_b,
         t.result.test, t.result.t, t.result.df, t.result.p_value, int(t.significant), t.n]
        for t in comparison.tests
    ]
    tests_csv = write_csv(
        out_dir / "comparison_tests.csv",
        ["model", "baseline", "aspect", "level", "statistic", "value_model", "value_baseline", "test", "t", "df",
         "p_value", "significant", "n"],
        rows,
    )
    markdown = out_dir / "comparison.md"
    text = comparison_markdown(comparison) + "\n" + "\n".join(
        f"- {t.model} vs {t.baseline}, {t.aspect} {t.result.statistic}: t = {format_number(t.result.t, 2)}, "
        f"df = {t.result.df}, p = {format_p(t.result.p_value)}" for t in comparison.tests
    ) + "\n"
    markdown.write_text(text, encoding="utf-8")
    figure = comparison_figure(comparison)
    png = save_figure(figure, out_dir / "comparison.png")
    return ComparisonOutputs(comparison, figure, png, csv_path, tests_csv, markdown)
