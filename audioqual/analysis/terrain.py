"""The 3-D "quality terrain" (seed 000, Fig. 4): 2-D UMAP of h with the predicted MOS as height.

One 3-D panel per model, points coloured by domain. With domain bias the
domains sit side by side at the same height (horizontal segregation); after
DAT they stack into one "quality pillar" ordered by the predicted score.
The 2-D layout is the same projection `umap_plots` draws (same options,
same seed), so the two figures can be read together.
"""

from __future__ import annotations

from collections.abc import Sequence
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
)
from audioqual.analysis.umap_plots import UmapOptions, embed_latents
from audioqual.data.files import write_csv
from audioqual.errors import AudioqualError
from audioqual.eval.plots import new_figure

PANEL_INCHES = 4.6


@dataclass
class TerrainResult:
    """The figure and the files written."""

    figure: object
    png: Path
    csv: Path


def terrain_figure(latents: Sequence[LatentSet], embeddings: Sequence[np.ndarray], aspect: str):
    """One 3-D scatter per model: UMAP 1, UMAP 2, predicted `aspect`; one series per domain."""
    figure = new_figure(PANEL_INCHES * len(latents) + 1.6, PANEL_INCHES)
    colours = category_colours(sorted({d for latent in latents for d in latent.domains}))
    heights = [latent.predictions[:, latent.aspect_index(aspect)] for latent in latents]
    low, high = min(float(z.min()) for z in heights), max(float(z.max()) for z in heights)
    margin = 0.05 * (high - low) or 0.5
    for column, (latent, xy, z) in enumerate(zip(latents, embeddings, heights), start=1):
        axis = figure.add_subplot(1, len(latents), column, projection="3d")
        scatter_categories(axis, xy[:, 0], xy[:, 1], latent.domains, colours, z=z, size=point_size(len(latent)))
        axis.set_zlim(low - margin, high + margin)
        axis.set_xlabel("UMAP 1")
        axis.set_ylabel("UMAP 2")
        axis.set_zlabel(f"predicted {aspect}")
        axis.set_title(f"{latent.name} (n={len(latent)})")
        axis.view_init(elev=18, azim=-60)
    category_legend(figure, colours, "domain")
    figure.suptitle(f"Quality terrain: UMAP of h, height = predicted {aspect}")
    return figure


def write_terrain(
    latents: Sequence[LatentSet],
    out_dir: str | Path,
    aspect: str | None = None,
    options: UmapOptions | None = None,
) -> TerrainResult:
    """Draw the terrain (terrain_<aspect>.png) and write its points (terrain_<aspect>.csv)."""
    if not latents:
        raise AudioqualError("no model to draw")
    aspect = aspect or latents[0].aspects[0]
    for latent in latents:
        latent.aspect_index(aspect)
    out_dir = Path(out_dir)
    embeddings = embed_latents(latents, options)
    figure = terrain_figure(latents, embeddings, aspect)
    png = save_figure(figure, out_dir / f"terrain_{aspect}.png")
    rows = []
    for latent, xy in zip(latents, embeddings):
        index = latent.aspect_index(aspect)
        for n, item_id in enumerate(latent.item_ids):
            rows.append([latent.name, item_id, latent.domains[n], latent.systems[n] or "", xy[n, 0], xy[n, 1],
                         latent.predictions[n, index], latent.targets[n, index]])
    header = ["model", "item_id", "domain", "system", "umap_1", "umap_2", f"{aspect}_pred", f"{aspect}_score"]
    csv_path = write_csv(out_dir / f"terrain_{aspect}.csv", header, rows)
    return TerrainResult(figure, png, csv_path)
