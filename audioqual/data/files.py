"""Atomic JSON and CSV files: the one writer of results, model files and analysis tables.

A crash never leaves half a file (each is written to a temporary name and
renamed). NaN and infinities become JSON null or an empty CSV cell; numpy
scalars and arrays are written as the Python numbers and lists they hold.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented JSON, atomically (NaN and infinity become null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(jsonable(data), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def jsonable(value: Any) -> Any:
    """`value` with numpy types as Python ones and NaN / infinity as None, ready for json.dumps."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    return value


def _cell(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(value) else repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return "" if value is None else value


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV atomically; NaN and None become empty cells, floats keep full precision."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(list(header))
            width = len(header)
            for row in rows:
                row = list(row)
                if len(row) != width:
                    raise ValueError(f"CSV row has {len(row)} cells for {width} columns")
                writer.writerow([_cell(v) for v in row])
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """Rows of a CSV written by `write_csv`, as dicts of strings (through the one manifest reader)."""
    from audioqual.data.manifest import read_table

    return [row for _, row in read_table(path, "CSV file")[1]]
