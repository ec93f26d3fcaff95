"""Rank systems from per-item scores: mean with bootstrap 95 % CI, rank, paired tests (Holm-corrected).

SCORES is the output of `audioqual metric`, `compare` or `score` (CSV or
JSONL) with a column naming each row's system (--by) and one naming the
material, paired across systems (--item; default `item`, else `reference`).
Every numeric column is a metric unless --metrics lists them; --ratings
names a listener-ratings column, ranked alongside. Markdown goes to stdout;
--csv and --html write the table (the HTML page with one plot).

examples:
  audioqual leaderboard scores.csv --by system
  audioqual leaderboard scores.csv --by system --metrics visqol_moslqo,peaq_odg --ratings mos --html board.html
"""

from __future__ import annotations

import argparse
import html
import tempfile
from pathlib import Path

from audioqual.errors import AudioqualError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `audioqual leaderboard`."""
    parser.add_argument("scores", type=Path, help="per-item scores (CSV/JSONL)")
    parser.add_argument("--by", default="system", help="column naming the system of each row (default: system)")
    parser.add_argument("--item", help="column naming the material paired across systems (default: item, reference)")
    parser.add_argument("--metrics", help="comma-separated score columns (default: every numeric column)")
    parser.add_argument("--ratings", help="listener-ratings column, ranked alongside the metrics")
    parser.add_argument("--lower-is-better", default="", help="comma-separated columns where lower is better")
    parser.add_argument("--csv", type=Path, help="write the table as CSV")
    parser.add_argument("--html", type=Path, help="write an HTML page with the tables and one plot")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default: 1000)")


def run(args: argparse.Namespace) -> int:
    """Print the leaderboard; write CSV/HTML on request."""
    from audioqual.eval.leaderboard import build_leaderboard, comparisons_markdown, leaderboard_table
    from audioqual.eval.tables import to_csv, to_markdown

    for out in (args.csv, args.html):
        if out is not None and out.resolve() == args.scores.resolve():
            raise AudioqualError(f"{out}: is the input scores file; write to another file")
    board = build_leaderboard(
        args.scores, by=args.by, item=args.item, ratings=args.ratings, n_resamples=args.resamples,
        metrics=[m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None,
        lower_is_better=tuple(c.strip() for c in args.lower_is_better.split(",") if c.strip()),
    )
    table = leaderboard_table(board)
    print(to_markdown(table))
    print(comparisons_markdown(board))
    if args.csv:
        to_csv(table, args.csv)
    if args.html:
        _write_html(board, table, args.html)
    return 0


def _write_html(board, table, path: Path) -> None:
    from audioqual.eval.leaderboard import comparisons_markdown, leaderboard_plot
    from audioqual.report.html import image_html, table_html

    with tempfile.TemporaryDirectory() as tmp:
        figure = image_html(leaderboard_plot(board, Path(tmp) / "leaderboard.png"), "System means with 95 % CIs")
    tests = html.escape(comparisons_markdown(board))
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>Leaderboard</title></head><body>"
                    f"{table_html(table)}{figure}<pre>{tests}</pre></body></html>", encoding="utf-8")
