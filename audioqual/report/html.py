"""One self-contained HTML page of an evaluation run: tables, tests and plots.

Everything is inlined (CSS in a <style> element, PNGs as base64 data URIs),
so the page opens anywhere without its run folder and loads nothing from
the network. Correlation cells are shaded from red (low) to green (high),
as in seed 003's Table 1.
"""

from __future__ import annotations

import base64
import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from audioqual import __version__
from audioqual.errors import AudioqualError
from audioqual.eval.correlation import HIGHER_IS_BETTER
from audioqual.eval.harness import EvaluationRun
from audioqual.eval.outputs import RESULTS_FILE
from audioqual.eval.significance import TEST_DESCRIPTION
from audioqual.eval.tables import (
    Cell,
    Table,
    format_number,
    format_p,
    overall_table,
    run_from_json,
    stimulus_table,
    system_table,
)

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px 32px; color: #1d1d1f;
       background: #ffffff; line-height: 1.45; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { font-size: 20px; margin-top: 32px; border-bottom: 1px solid #d0d0d0; padding-bottom: 4px; }
p.meta { color: #555; font-size: 13px; margin-top: 0; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
th, td { border: 1px solid #c8c8c8; padding: 4px 8px; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.label { text-align: left; font-weight: 600; }
span.ci { font-size: 11px; color: #444; }
tr.significant td { background: #e9f6e9; }
figure { margin: 12px 0 24px 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 13px; color: #555; }
.note { font-size: 13px; color: #444; max-width: 900px; }
"""


def _cell_colour(cell: Cell) -> str:
    """Background shade: red (0) to green (1) for correlations, none otherwise."""
    if not HIGHER_IS_BETTER.get(cell.statistic, False) or not math.isfinite(cell.value):
        return ""
    hue = 120.0 * min(max(cell.value, 0.0), 1.0)
    return f' style="background: hsl({hue:.0f}, 70%, 82%)"'


def table_html(table: Table) -> str:
    """A two-row-header HTML table (column groups, then statistics)."""
    out = [f"<table><caption><b>{html.escape(table.title)}</b></caption><thead><tr>"]
    out.append(f'<th rowspan="2">{html.escape(table.row_header)}</th>')
    for group, statistics in table.groups:
        out.append(f'<th colspan="{len(statistics)}">{html.escape(group)}</th>')
    out.append("</tr><tr>")
    for _, statistics in table.groups:
        out.extend(f"<th>{html.escape(s)}</th>" for s in statistics)
    out.append("</tr></thead><tbody>")
    for label, cells in table.rows:
        out.append(f'<tr><td class="label">{html.escape(label)}</td>')
        for cell in cells:
            text = html.escape(format_number(cell.value))
            if table.with_ci and math.isfinite(cell.low):
                text += f'<br><span class="ci">[{format_number(cell.low)}, {format_number(cell.high)}]</span>'
            out.append(f'<td class="num"{_cell_colour(cell)}>{text}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _coverage_html(run: EvaluationRun) -> str:
    rows = ["<table><thead><tr><th>Predictor</th><th>Column</th><th>Stimuli scored</th><th>Failed rows</th>"
            "<th>Unmatched rows</th><th>Source</th></tr></thead><tbody>"]
    for name in run.predictors:
        c = run.coverage.get(name, {})
        rows.append(
            f'<tr><td class="label">{html.escape(name)}</td><td>{html.escape(str(c.get("column", "")))}</td>'
            f'<td class="num">{c.get("stimuli_scored", "")}/{c.get("stimuli_total", "")}</td>'
            f'<td class="num">{c.get("failed", "")}</td><td class="num">{c.get("unmatched", "")}</td>'
            f'<td>{html.escape(str(c.get("source", "")))}</td></tr>'
        )
    rows.append("</tbody></table>")
    return "".join(rows)


def _tests_html(run: EvaluationRun) -> str:
    if not run.tests:
        return "<p class='note'>No paired tests (fewer than two predictors).</p>"
    significant = sum(t.significant for t in run.tests)
    rows = [f"<details{' open' if len(run.tests) <= 30 else ''}><summary>{len(run.tests)} tests, "
            f"{significant} significant</summary>"
            "<table><thead><tr><th>A</th><th>B</th><th>Subset</th><th>Level</th><th>Statistic</th><th>A</th>"
            "<th>B</th><th>Test</th><th>t</th><th>df</th><th>p</th></tr></thead><tbody>"]
    for t in run.tests:
        css = ' class="significant"' if t.significant else ""
        rows.append(
            f"<tr{css}><td>{html.escape(t.predictor_a)}</td><td>{html.escape(t.predictor_b)}</td>"
            f"<td>{html.escape(t.subset)}</td><td>{t.level}</td><td>{t.statistic}</td>"
            f'<td class="num">{format_number(t.value_a)}</td><td class="num">{format_number(t.value_b)}</td>'
            f'<td>{t.test}</td><td class="num">{format_number(t.t, 2)}</td><td class="num">{t.df}</td>'
            f'<td class="num">{format_p(t.p_value)}</td></tr>'
        )
    rows.append("</tbody></table></details>")
    return "".join(rows)


def image_html(path: Path, caption: str) -> str:
    if not path.is_file():
        return f"<p class='note'>Missing plot {html.escape(str(path.name))}.</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def render_report(run_dir: str | Path, title: str | None = None) -> str:
    """The HTML page of the run in `run_dir` (which holds results.json)."""
    run_dir = Path(run_dir)
    results_path = run_dir / RESULTS_FILE
    if not results_path.is_file():
        raise AudioqualError(f"{run_dir}: no {RESULTS_FILE}; run `audioqual evaluate -o {run_dir}` first")
    try:
        data: dict[str, Any] = json.loads(results_path.read_text(encoding="utf-8"))
        run = run_from_json(data)
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise AudioqualError(f"{results_path}: not an evaluation results file ({err})") from err
    plots: dict[str, str] = data.get("plots", {})
    config = run.config
    title = title or f"Evaluation of {len(run.predictors)} predictor(s) on {Path(run.manifest).name}"
    mapping = "cubic least-squares mapping before PCC and MSE" if config.mapping == "cubic" else "raw predictions"
    interval = (f"{config.confidence:.0%} percentile bootstrap intervals, {config.n_bootstrap} resamples, "
                f"seed {config.seed}" if config.n_bootstrap > 0 else "no confidence intervals")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>Listening test: {html.escape(run.manifest)} · generated "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by audioqual {__version__} · {html.escape(mapping)} · "
        f"{html.escape(interval)}</p>",
        "<h2>Summary: correlations side by side</h2>",
        table_html(stimulus_table(run)),
        table_html(system_table(run)),
        "<p class='note'>System level: predictions and subjective scores are averaged per system (condition) "
        "first, then compared (as Huang et al. 2026, arXiv:2603.16201). SRCC and Kendall tau use raw predictions; PCC and MSE use the "
        "mapped predictions when a mapping is on. MSE is only meaningful when predictions are on the "
        "subjective scale.</p>",
    ]
    if "summary" in plots:
        parts.append(image_html(run_dir / plots["summary"], "Overall PCC and SRCC with bootstrap intervals"))
    parts += [
        "<h2>All statistics with confidence intervals</h2>",
        table_html(overall_table(run)),
        "<h2>Coverage</h2>",
        _coverage_html(run),
        "<h2>Paired significance tests</h2>",
        f"<p class='note'>{html.escape(TEST_DESCRIPTION)} Highlighted rows: p ≤ {config.alpha:g}.</p>",
        _tests_html(run),
        "<h2>Scatter plots</h2>",
    ]
    for predictor in run.predictors:
        if predictor in plots:
            parts.append(image_html(run_dir / plots[predictor],
                                     f"{predictor}: prediction vs subjective score, dashed red: linear fit"))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(run_dir: str | Path, output: str | Path | None = None, title: str | None = None) -> Path:
    """Render the run's report and write it (default: `<run_dir>/report.html`).

    `run_dir` may also be the run's results.json itself. The page is rendered
    before anything is written, so a bad input leaves no file behind.
    """
    run_dir = Path(run_dir)
    if run_dir.is_file() and run_dir.name == RESULTS_FILE:
        run_dir = run_dir.parent
    elif run_dir.exists() and not run_dir.is_dir():
        raise AudioqualError(f"{run_dir}: is a file; give the folder written by `audioqual evaluate -o`")
    output = Path(output) if output else run_dir / "report.html"
    if output.is_dir():
        raise AudioqualError(f"{output}: -o is a directory; give an .html file name")
    page = render_report(run_dir, title)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    return output
