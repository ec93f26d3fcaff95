"""Scatter plots of predictions against subjective scores (PNG, matplotlib's Agg canvas).

One figure per predictor: stimulus level (coloured by subset) and system
level (per-system means, labelled), each with its least-squares regression
line dashed in red as in seed 003's Fig. 2. A summary figure puts every
predictor's correlations with bootstrap intervals side by side. Figures are
drawn on their own Agg canvas, so pyplot's global state is never touched.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from audioqual.errors import AudioqualError
from audioqual.eval.harness import LEVELS, OVERALL, EvaluationRun, ScatterData


def new_figure(width: float, height: float):
    """A matplotlib Figure on an Agg canvas (constrained layout); no pyplot state, safe in threads."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as err:
        raise AudioqualError("plots need matplotlib: pip install matplotlib") from err
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def safe_name(name: str) -> str:
    """A file-name-safe form of a predictor name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "predictor"


def _regression(axis, x: np.ndarray, y: np.ndarray) -> None:
    if x.size < 2 or np.ptp(x) == 0.0:
        return
    slope, intercept = np.polyfit(x, y, 1)
    xs = np.linspace(x.min(), x.max(), 50)
    axis.plot(xs, slope * xs + intercept, "--", color="red", linewidth=1.5, label="linear fit")


def _stats_text(run: EvaluationRun, predictor: str, level: str) -> str:
    parts = []
    for statistic in ("PCC", "SRCC"):
        result = run.value(predictor, OVERALL, level, statistic)
        if result is not None and math.isfinite(result.value):
            parts.append(f"{statistic} {result.value:.3f}")
    return ", ".join(parts)


def scatter_plot(run: EvaluationRun, data: ScatterData, path: str | Path) -> Path:
    """Two panels (stimulus, system) of prediction vs subjective score for one predictor."""
    figure = new_figure(10.0, 4.4)
    left, right = figure.subplots(1, 2)
    subsets = list(dict.fromkeys(data.stimulus_subset))
    colours = {s: f"C{i % 10}" for i, s in enumerate(subsets)}
    for subset in subsets:
        mask = np.array([s == subset for s in data.stimulus_subset])
        left.scatter(data.stimulus_x[mask], data.stimulus_y[mask], s=18, alpha=0.75, color=colours[subset],
                     label=subset if len(subsets) > 1 else "stimuli")
    _regression(left, data.stimulus_x, data.stimulus_y)
    left.set_title(f"Stimulus level (n={data.stimulus_x.size})\n{_stats_text(run, data.predictor, 'stimulus')}")
    right.scatter(data.system_x, data.system_y, s=40, color="C0", marker="D")
    for x, y, label in zip(data.system_x, data.system_y, data.system_labels):
        right.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    _regression(right, data.system_x, data.system_y)
    right.margins(x=0.25, y=0.1)
    right.set_title(f"System level (n={data.system_x.size})\n{_stats_text(run, data.predictor, 'system')}")
    for axis in (left, right):
        axis.set_xlabel(data.x_label)
        axis.set_ylabel("subjective score")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="best")
    figure.suptitle(data.predictor)
    path = Path(path)
    figure.savefig(path, format="png")
    return path


def summary_plot(run: EvaluationRun, path: str | Path, statistics: tuple[str, ...] = ("PCC", "SRCC")) -> Path:
    """Bar chart of each predictor's Overall correlations at both levels, with bootstrap intervals."""
    statistics = tuple(s for s in statistics if s in run.config.statistics)
    figure = new_figure(max(6.0, 1.3 * len(run.predictors) + 3.0), 4.0)
    axes = figure.subplots(1, len(LEVELS), sharey=True)
    width = 0.8 / max(len(statistics), 1)
    positions = np.arange(len(run.predictors))
    for axis, level in zip(np.atleast_1d(axes), LEVELS):
        for k, statistic in enumerate(statistics):
            values, lows, highs = [], [], []
            for predictor in run.predictors:
                result = run.value(predictor, OVERALL, level, statistic)
                value = result.value if result is not None else math.nan
                values.append(value)
                low = result.ci_low if result is not None and math.isfinite(result.ci_low) else value
                high = result.ci_high if result is not None and math.isfinite(result.ci_high) else value
                lows.append(value - low)
                highs.append(high - value)
            axis.bar(positions + (k - (len(statistics) - 1) / 2) * width, values, width,
                     yerr=np.nan_to_num([lows, highs]), capsize=3, label=statistic, color=f"C{k}")
        axis.axhline(0.0, color="black", linewidth=0.8)
        axis.set_xticks(positions, run.predictors, rotation=30, ha="right")
        axis.set_ylim(-1.0, 1.0)
        axis.set_title(f"{level.capitalize()} level ({OVERALL})")
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=8)
    path = Path(path)
    figure.savefig(path, format="png")
    return path


def write_plots(run: EvaluationRun, out_dir: str | Path) -> dict[str, str]:
    """Every scatter plot and the summary plot; returns {name: file name relative to out_dir}."""
    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    files = {"summary": str(Path("plots") / "summary.png")}
    summary_plot(run, out_dir / files["summary"])
    used: set[str] = set()
    for index, predictor in enumerate(run.predictors):
        data = run.scatter.get(predictor)
        if data is None or data.stimulus_x.size == 0:
            continue
        stem = safe_name(predictor)
        stem = f"{stem}_{index}" if stem in used else stem
        used.add(stem)
        relative = str(Path("plots") / f"scatter_{stem}.png")
        scatter_plot(run, data, out_dir / relative)
        files[predictor] = relative
    return files
