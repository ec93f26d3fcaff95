"""What every analysis writes besides its CSV files (audioqual.data.files): PNG figures and their colours.

Figures are drawn on their own Agg canvas (pyplot's global state is never
touched, so analyses run headless and in worker processes). Colours are
fixed per category so the same domain has the same colour in every panel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
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
