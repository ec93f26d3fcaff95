"""Write one evaluation run to a folder: tables, significance tests, plots, and results.json.

`results.json` indexes every file of the run (paths relative to the folder),
so `audioqual report` needs nothing but the folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

from audioqual.errors import AudioqualError
from audioqual.eval.harness import EvaluationRun
from audioqual.eval.plots import write_plots
from audioqual.data.files import write_json
from audioqual.eval.tables import run_to_json, write_tables

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"


def write_run(run: EvaluationRun, out_dir: str | Path, plots: bool = True) -> Path:
    """Write every output of `run` under `out_dir`; returns the path of results.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = run_to_json(run)
    data["files"] = write_tables(run, out_dir)
    data["plots"] = {}
    if plots:
        try:
            data["plots"] = write_plots(run, out_dir)
        except AudioqualError as err:
            log.warning("no plots written: %s", err)
    return write_json(out_dir / RESULTS_FILE, data)
