"""UMAP of the bottleneck h, coloured by domain and by each aspect's score (seed 000, Fig. 3).

Each model's h on the chosen split is projected to 2-D with umap-learn and
drawn in one column: the first row coloured by domain label (dataset of
origin, or the model's own K-means clusters), one further row per aspect
coloured by its score. A model whose h still encodes the dataset shows
domain "islands"; after DAT the domains merge and the score varies
smoothly across the manifold.

The k-nearest-neighbour graph is computed exactly with scikit-learn and
handed to UMAP (`precomputed_knn`), which is what UMAP itself does below
4096 points, minus a slow numba compilation. Tiny splits work: n_neighbors
is capped at N - 1, and below n_components + 2 points the layout starts
from a random instead of a spectral initialisation.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioqual.analysis.latent import LatentSet
from audioqual.analysis.outputs import (
    category_colours,
    category_legend,
    point_size,
    save_figure,
    scatter_categories,
    scatter_values,
)
from audioqual.arrays import finite_rows
from audioqual.data.files import write_csv
from audioqual.errors import AudioqualError
from audioqual.eval.plots import new_figure

log = logging.getLogger(__name__)
MIN_POINTS = 3
PANEL_INCHES = 3.6


@dataclass
class UmapOptions:
    """UMAP hyper-parameters (umap-learn's defaults, fixed seed)."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "euclidean"
    seed: int = 0


@dataclass
class UmapResult:
    """The figure and the files written."""

    figure: object
    png: Path
    csv: Path
    embeddings: list[np.ndarray]


def umap_embedding(h: np.ndarray, n_components: int = 2, options: UmapOptions | None = None) -> np.ndarray:
    """UMAP coordinates [N, n_components] of the rows of h [N, H]."""
    try:
        import umap
    except ModuleNotFoundError as err:
        raise AudioqualError("UMAP plots need umap-learn: pip install umap-learn") from err
    from sklearn.neighbors import NearestNeighbors

    options = options or UmapOptions()
    data = finite_rows(h, "UMAP input h", MIN_POINTS, dtype=np.float32)
    if np.ptp(data, axis=0).max() == 0.0:
        raise AudioqualError("h is the same for every item: there is nothing to project")
    if options.n_neighbors < 2:
        raise AudioqualError(f"n_neighbors must be at least 2, got {options.n_neighbors}")
    k = min(options.n_neighbors, len(data) - 1)
    if k < options.n_neighbors:
        log.info("only %d items: UMAP uses n_neighbors=%d instead of %d", len(data), k, options.n_neighbors)
    distances, indices = NearestNeighbors(n_neighbors=k, metric=options.metric).fit(data).kneighbors(data)
    reducer = umap.UMAP(
        n_components=n_components,
        n_neighbors=k,
        min_dist=options.min_dist,
        metric=options.metric,
        random_state=options.seed,
        n_jobs=1,
        init="spectral" if len(data) >= n_components + 2 else "random",
        precomputed_knn=(indices.astype(np.int32), distances.astype(np.float32)),
    )
    with warnings.catch_warnings(), _torch_threads_kept():
        warnings.filterwarnings("ignore", message=".*n_jobs value.*")
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        return np.asarray(reducer.fit_transform(data), dtype=np.float64)


@contextmanager
def _torch_threads_kept():
    """Keep numba's OpenMP pool from taking over torch's (it shares libgomp and slowed torch ~100x).

    numba gets its own work-queue threads when its threading layer is not started yet, and torch's
    thread count is restored afterwards in any case.
    """
    import numba
    import torch

    try:
        numba.threading_layer()
    except ValueError:  # not launched yet
        numba.config.THREADING_LAYER = "workqueue"
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def embed_latents(latents: Sequence[LatentSet], options: UmapOptions | None = None) -> list[np.ndarray]:
    """2-D UMAP of each model's h (each model's space is projected on its own)."""
    return [umap_embedding(latent.h, 2, options) for latent in latents]


def colour_values(latent: LatentSet, aspect: str) -> tuple[np.ndarray, str]:
    """The subjective scores of `aspect` when every item has one, else the predicted means; and their label."""
    index = latent.aspect_index(aspect)
    scores = latent.targets[:, index]
    if np.isfinite(scores).all():
        return scores, f"{aspect} score (subjective)"
    return latent.predictions[:, index], f"{aspect} (predicted)"


def umap_figure(latents: Sequence[LatentSet], embeddings: Sequence[np.ndarray], aspects: Sequence[str]):
    """Grid: one column per model; row 1 coloured by domain, then one row per aspect."""
    rows = 1 + len(aspects)
    figure = new_figure(PANEL_INCHES * len(latents) + 1.8, PANEL_INCHES * rows * 0.9)
    axes = np.asarray(figure.subplots(rows, len(latents), squeeze=False))
    colours = category_colours(sorted({d for latent in latents for d in latent.domains}))
    for column, (latent, xy) in enumerate(zip(latents, embeddings)):
        axis = axes[0, column]
        scatter_categories(axis, xy[:, 0], xy[:, 1], latent.domains, colours, size=point_size(len(latent)))
        axis.set_title(f"{latent.name}: by domain (n={len(latent)})")
    for row, aspect in enumerate(aspects, start=1):
        coloured = [colour_values(latent, aspect) for latent in latents]
        low = min(float(np.min(values)) for values, _ in coloured)
        high = max(float(np.max(values)) for values, _ in coloured)
        for column, (latent, xy, (values, label)) in enumerate(zip(latents, embeddings, coloured)):
            axis = axes[row, column]
            mappable = scatter_values(axis, xy[:, 0], xy[:, 1], values, size=point_size(len(latent)), vmin=low,
                                      vmax=high)
            axis.set_title(f"{latent.name}: by {label}")
        figure.colorbar(mappable, ax=list(axes[row, :]), label=coloured[-1][1], shrink=0.9)
    for axis in axes.ravel():
        axis.set_xlabel("UMAP 1")
        axis.set_ylabel("UMAP 2")
        axis.grid(alpha=0.2)
    category_legend(figure, colours, "domain")
    figure.suptitle("UMAP of the bottleneck h")
    return figure


def points_rows(latent: LatentSet, xy: np.ndarray, aspects: Sequence[str]) -> list[list[object]]:
    """One CSV row per item: model, item, domain, system, coordinates, score and prediction per aspect."""
    rows = []
    for n, item_id in enumerate(latent.item_ids):
        row: list[object] = [latent.name, item_id, latent.domains[n], latent.systems[n] or "", *xy[n]]
        for aspect in aspects:
            index = latent.aspect_index(aspect)
            row += [latent.targets[n, index], latent.predictions[n, index]]
        rows.append(row)
    return rows


def write_umap(
    latents: Sequence[LatentSet],
    out_dir: str | Path,
    aspects: Sequence[str] | None = None,
    options: UmapOptions | None = None,
) -> UmapResult:
    """Project every model's h, draw the Fig. 3 grid (umap.png) and write its points (umap_points.csv)."""
    if not latents:
        raise AudioqualError("no model to project")
    aspects = list(aspects or latents[0].aspects)
    for latent in latents:
        for aspect in aspects:
            latent.aspect_index(aspect)
    out_dir = Path(out_dir)
    embeddings = embed_latents(latents, options)
    figure = umap_figure(latents, embeddings, aspects)
    png = save_figure(figure, out_dir / "umap.png")
    header = ["model", "item_id", "domain", "system", "umap_1", "umap_2"]
    for aspect in aspects:
        header += [f"{aspect}_score", f"{aspect}_pred"]
    rows = [row for latent, xy in zip(latents, embeddings) for row in points_rows(latent, xy, aspects)]
    csv_path = write_csv(out_dir / "umap_points.csv", header, rows)
    return UmapResult(figure, png, csv_path, embeddings)
