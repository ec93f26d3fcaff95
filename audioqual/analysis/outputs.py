"""What every analysis writes: CSV files with the numbers behind a figure, and PNG figures.

Figures are drawn on their own Agg canvas (pyplot's global state is never
touched, so analyses run headless and in worker processes). Colours are
fixed per category so the same domain has the same colour in every panel.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


SCORE_COLORMAP = "viridis"


def save_figure(figure, path: str | Path, dpi: int = 120) -> Path:
    """Write `figure` as PNG (atomically: a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    figure.savefig(tmp, format="png", dpi=dpi)
    os.replace(tmp, path)
    return path


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
    """Rows of a CSV written by `write_csv`, as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (NaN and infinity become null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(_jsonable(data), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value


def safe_name(name: str) -> str:
    """A file-name-safe form of a model or strategy name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def category_colours(names: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per category: tab10 up to 10 categories, then tab20, then a sampled colormap."""
    from matplotlib import colormaps

    names = list(dict.fromkeys(names))
    if len(names) <= 10:
        palette = [colormaps["tab10"](i) for i in range(len(names))]
    elif len(names) <= 20:
        palette = [colormaps["tab20"](i) for i in range(len(names))]
    else:
        palette = [colormaps["turbo"](x) for x in np.linspace(0.0, 1.0, len(names))]
    return dict(zip(names, palette))


def scatter_categories(axis, x: np.ndarray, y: np.ndarray, labels: Sequence[str], colours: dict[str, Any],
                       z: np.ndarray | None = None, size: float = 14.0) -> None:
    """One scatter (legend entry) per category, in the order of `colours`; 3-D when `z` is given."""
    labels = np.asarray(labels, dtype=object)
    for name, colour in colours.items():
        mask = labels == name
        if not mask.any():
            continue
        points = (x[mask], y[mask]) if z is None else (x[mask], y[mask], z[mask])
        axis.scatter(*points, s=size, color=colour, alpha=0.8, linewidths=0, label=f"{name} ({int(mask.sum())})")


def scatter_values(axis, x: np.ndarray, y: np.ndarray, values: np.ndarray, z: np.ndarray | None = None,
                   size: float = 14.0, vmin: float | None = None, vmax: float | None = None):
    """A scatter coloured by a continuous value; returns the mappable (for a colour bar)."""
    points = (x, y) if z is None else (x, y, z)
    return axis.scatter(*points, c=values, cmap=SCORE_COLORMAP, s=size, alpha=0.85, linewidths=0,
                        vmin=vmin, vmax=vmax)


def point_size(n: int) -> float:
    """Marker area that keeps small splits visible and large ones readable."""
    return float(np.clip(2500.0 / max(n, 1), 4.0, 36.0))


def category_legend(figure, colours: dict[str, Any], title: str) -> None:
    """One figure-level legend of the categories, outside the panels on the right."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", color=c, markersize=7) for c in colours.values()]
    figure.legend(handles, list(colours), title=title, loc="outside right upper")
