"""One self-contained HTML page with the tables and plots of an evaluation run.

Reads the folder written by `audioqual evaluate -o RUN` (its results.json,
tables and PNG plots) and writes a single HTML file with every image
inlined, so the page can be mailed or archived on its own.

example:
  audioqual report runs/dev -o runs/dev/report.html
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audioqual.report.html import write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `audioqual report`."""
    parser.add_argument("run_dir", type=Path, help="folder written by `audioqual evaluate -o`")
    parser.add_argument("-o", "--output", type=Path, default=None, help="HTML file (default: RUN_DIR/report.html)")
    parser.add_argument("--title", default=None, help="page title")


def run(args: argparse.Namespace) -> int:
    """Render and write the report."""
    path = write_report(args.run_dir, args.output, args.title)
    print(f"wrote {path}")
    return 0
