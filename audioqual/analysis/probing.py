"""Linear probing of the bottleneck h (seed 000, Table II): what a linear model can read from h.

- Domain accuracy: a standardised multinomial logistic regression predicts
  the domain label from h, scored by stratified k-fold cross-validation
  (`audioqual.nr.probe.linear_probe_accuracy`). High accuracy means h still
  carries the dataset signature DAT is meant to remove. Chance level (the
  share of the largest domain) is reported next to it.
- Aspect SRCC: a standardised ridge regression predicts each aspect's
  subjective score from h; the penalty is chosen by leave-one-out inside
  each training fold (RidgeCV), and the SRCC is computed on the pooled
  out-of-fold predictions of a k-fold split. Ridge, because h is often as
  wide as the split is long (MultiGauss on 8 s clips: 480 dimensions).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioqual.analysis.latent import UNKNOWN_DOMAIN, LatentSet
from audioqual.analysis.outputs import save_figure
from audioqual.data.files import write_csv
from audioqual.errors import AudioqualError
from audioqual.eval.correlation import spearman
from audioqual.eval.plots import new_figure
from audioqual.eval.tables import format_number
from audioqual.nr.probe import linear_probe_accuracy

log = logging.getLogger(__name__)
RIDGE_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)


@dataclass
class ProbeOptions:
    """Cross-validation of the probes."""

    folds: int = 5
    seed: int = 0
    alphas: tuple[float, ...] = RIDGE_ALPHAS


@dataclass
class ProbeResult:
    """Table II row of one model: domain accuracy and per-aspect SRCC of linear probes on h."""

    model: str
    n_items: int
    n_domains: int
    domain_accuracy: float
    chance_accuracy: float
    aspect_srcc: dict[str, float] = field(default_factory=dict)
    aspect_srcc_fold_std: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def probe_domain(h: np.ndarray, domains: Sequence[str], options: ProbeOptions) -> tuple[float, float, int, list[str]]:
    """Cross-validated domain accuracy, chance accuracy, number of domains, notes.

    Items without a domain, and domains with a single item (which cannot be
    both trained on and tested), are left out of the probe.
    """
    labels = np.asarray(domains, dtype=object)
    notes = []
    keep = labels != UNKNOWN_DOMAIN
    if not keep.all():
        notes.append(f"{int((~keep).sum())} item(s) without a domain left out of the domain probe")
    names, counts = np.unique(labels[keep].astype(str), return_counts=True)
    single = set(names[counts < 2])
    if single:
        notes.append(f"domain(s) with one item left out of the domain probe: {', '.join(sorted(single))}")
        keep &= ~np.isin(labels.astype(str), list(single))
    names, counts = np.unique(labels[keep].astype(str), return_counts=True)
    if len(names) < 2:
        raise AudioqualError("the domain probe needs at least two domains with two items each")
    accuracy = linear_probe_accuracy(h[keep], labels[keep].astype(str), folds=options.folds, seed=options.seed)
    return accuracy, float(counts.max() / counts.sum()), len(names), notes


def probe_aspect(h: np.ndarray, scores: np.ndarray, options: ProbeOptions) -> tuple[float, float]:
    """SRCC of out-of-fold ridge predictions of `scores` from h, and the SRCC's std over folds."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(h, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    folds = min(options.folds, len(y))
    if folds < 2 or len(y) < 4:
        raise AudioqualError(f"the aspect probe needs at least 4 rated items, got {len(y)}")
    predictions = np.empty_like(y)
    per_fold = []
    for train, test in KFold(n_splits=folds, shuffle=True, random_state=options.seed).split(x):
        probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.asarray(options.alphas, dtype=np.float64))).fit(x[train], y[train])
        predictions[test] = probe.predict(x[test])
        if len(test) >= 3:
            per_fold.append(spearman(predictions[test], y[test]))
    spread = float(np.nanstd(per_fold, ddof=1)) if len(per_fold) > 1 else float("nan")
    return spearman(predictions, y), spread


def probe_latents(latent: LatentSet, options: ProbeOptions | None = None, aspects: Sequence[str] | None = None) -> ProbeResult:
    """Domain and per-aspect probes of one model's h (aspects without subjective scores are skipped)."""
    options = options or ProbeOptions()
    accuracy, chance, n_domains, notes = probe_domain(latent.h, latent.domains, options)
    result = ProbeResult(latent.name, len(latent), n_domains, accuracy, chance, notes=notes)
    for aspect in aspects or latent.aspects:
        scores = latent.targets[:, latent.aspect_index(aspect)]
        rated = np.isfinite(scores)
        if rated.sum() < 4:
            result.notes.append(f"{aspect}: fewer than 4 rated items, not probed")
            continue
        if not rated.all():
            result.notes.append(f"{aspect}: probed on the {int(rated.sum())} rated item(s)")
        srcc, spread = probe_aspect(latent.h[rated], scores[rated], options)
        result.aspect_srcc[aspect] = srcc
        result.aspect_srcc_fold_std[aspect] = spread
    for note in result.notes:
        log.warning("%s: %s", latent.name, note)
    return result


def probe_markdown(results: Sequence[ProbeResult], aspects: Sequence[str]) -> str:
    """Table II layout: model, domain accuracy (%, lower = less domain information), SRCC per aspect."""
    header = ["Model", "Domain Acc. (%, ↓)", "Chance (%)", *[f"{a} SRCC (↑)" for a in aspects]]
    lines = ["| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1)]
    for r in results:
        cells = [r.model, format_number(100 * r.domain_accuracy, 1), format_number(100 * r.chance_accuracy, 1)]
        cells += [format_number(r.aspect_srcc.get(a, float("nan"))) for a in aspects]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def probe_figure(results: Sequence[ProbeResult], aspects: Sequence[str]):
    """Left: domain accuracy per model with chance level; right: per-aspect probe SRCC, one bar series per model."""
    figure = new_figure(4.0 + 1.2 * len(aspects) + 0.6 * len(results), 3.8)
    left, right = figure.subplots(1, 2, width_ratios=[1.0, max(1.0, 0.6 * len(aspects))])
    positions = np.arange(len(results))
    left.bar(positions, [100 * r.domain_accuracy for r in results], color=[f"C{i % 10}" for i in positions])
    left.scatter(positions, [100 * r.chance_accuracy for r in results], marker="_", s=400, color="black",
                 label="chance", zorder=3)
    left.set_xticks(positions, [r.model for r in results], rotation=20, ha="right")
    left.set_ylim(0, 100)
    left.set_ylabel("domain accuracy (%)")
    left.set_title("Domain probe on h (lower = more invariant)")
    left.legend(fontsize=8)
    width = 0.8 / len(results)
    places = np.arange(len(aspects))
    for i, r in enumerate(results):
        values = [r.aspect_srcc.get(a, np.nan) for a in aspects]
        errors = [r.aspect_srcc_fold_std.get(a, np.nan) for a in aspects]
        right.bar(places + (i - (len(results) - 1) / 2) * width, values, width, yerr=np.nan_to_num(errors),
                  capsize=3, color=f"C{i % 10}", label=r.model)
    right.set_xticks(places, list(aspects))
    right.axhline(0.0, color="black", linewidth=0.8)
    right.set_ylim(min(0.0, *[min(r.aspect_srcc.values(), default=0.0) for r in results]) - 0.05, 1.0)
    right.set_ylabel("SRCC of out-of-fold predictions")
    right.set_title("Aspect probes on h (± std over folds)")
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.grid(axis="y", alpha=0.3)
    figure.suptitle("Linear probing of the bottleneck h")
    return figure


@dataclass
class ProbeOutputs:
    """Results, the figure and the files written."""

    results: list[ProbeResult]
    figure: object
    png: Path
    csv: Path
    markdown: Path


def write_probe(
    latents: Sequence[LatentSet], out_dir: str | Path, options: ProbeOptions | None = None,
    aspects: Sequence[str] | None = None,
) -> ProbeOutputs:
    """Probe every model; write probe.csv, probe.md (Table II layout) and probe.png."""
    if not latents:
        raise AudioqualError("no model to probe")
    aspects = list(aspects or latents[0].aspects)
    results = [probe_latents(latent, options, aspects) for latent in latents]
    out_dir = Path(out_dir)
    header = ["model", "n_items", "n_domains", "domain_accuracy", "chance_accuracy"]
    header += [f"{a}_srcc" for a in aspects] + [f"{a}_srcc_fold_std" for a in aspects] + ["notes"]
    rows = [
        [r.model, r.n_items, r.n_domains, r.domain_accuracy, r.chance_accuracy,
         *[r.aspect_srcc.get(a, np.nan) for a in aspects], *[r.aspect_srcc_fold_std.get(a, np.nan) for a in aspects],
         "; ".join(r.notes)]
        for r in results
    ]
    csv_path = write_csv(out_dir / "probe.csv", header, rows)
    markdown = out_dir / "probe.md"
    markdown.write_text("**Linear probing on h**\n\n" + probe_markdown(results, aspects), encoding="utf-8")
    figure = probe_figure(results, aspects)
    return ProbeOutputs(results, figure, save_figure(figure, out_dir / "probe.png"), csv_path, markdown)
