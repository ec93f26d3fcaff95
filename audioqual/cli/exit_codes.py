"""The exit codes and the end-of-run summary every `audioqual` command uses.

  0  success: every row (file, pair) was processed
  1  some rows failed: the output was written, failed rows carry their `error`
  2  usage or input error: bad options, unreadable manifest, output onto an input, ...
     nothing was computed

Every message (summaries, warnings, errors) goes to stderr; stdout carries
only results (JSON lines, tables).
"""

from __future__ import annotations

import sys
from pathlib import Path

from audioqual.data.journal import BatchJournal

OK = 0
ROWS_FAILED = 1
USAGE_ERROR = 2


def report_batch(journal: BatchJournal, output: str | Path, noun: str = "rows", order: list[str] | None = None,
                 command: str = "") -> int:
    """Print the summary of a journalled run (this run's rows only) and return its exit code."""
    order = list(order) if order is not None else list(journal.order)
    failures = journal.failures(order)
    print(f"wrote {output}: {journal.summary_line(order, noun)}", file=sys.stderr)
    for error in list(failures.values())[:10]:
        print(f"  failed: {error}", file=sys.stderr)
    if len(failures) > 10:
        print(f"  ... and {len(failures) - 10} more (see the `error` column of {output})", file=sys.stderr)
    if failures:
        print(f"  to retry the failed {noun} after fixing them, rerun the same command with --retry-failed",
              file=sys.stderr)
    return ROWS_FAILED if failures else OK
