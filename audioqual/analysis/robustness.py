"""The seed-000 robustness experiment: leave one domain out, compare regularisers and domain-adversarial training.

For every held-out domain of a rated manifest (e.g. speech, singing, instrumental,
environment, generated), each method is trained on the other domains and scored
on the held-out one, for several seeds:

    plain            MultiGauss, no branch
    l2               + AdamW weight decay (1e-4, the authors' baseline.gin)
    dropout          + high dropout (0.5; MultiGauss uses 0.3)
    dat-source       domain branch on the training domains (lambda 0.5)
    dat-kmeans:K     domain branch on K-means clusters of utterance embeddings (lambda 0.1)
    dat-random:K     domain branch on random labels (lambda 0.1; the control)

Every model is also scored on extra evaluation manifests (real listening tests), which are
never used for training or model selection. Each job writes `jobs/<fold>/<method>-seed<S>/
result.json` last and atomically, so rerunning the study resumes it; results are keyed by
the study's settings (a changed setting refuses the folder).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from audioqual.analysis.ablation import _prepared, identity_hash, job_metrics, training_settings
from audioqual.analysis.latent import InputOptions, collect_latents, read_split
from audioqual.data.files import write_csv, write_json
from audioqual.data.manifest import write_manifest
from audioqual.errors import AudioqualError
from audioqual.train.nr_config import DomainConfig, NRTrainConfig

log = logging.getLogger(__name__)
METHODS = ("plain", "l2", "dropout", "dat-source", "dat-kmeans:2", "dat-kmeans:4", "dat-kmeans:8", "dat-kmeans:16",
           "dat-random:8")  # fmt: skip
STUDY_FILE = "study.json"
RESULT_FILE = "result.json"


@dataclass
class RobustnessConfig:
    """Which methods, seeds and folds the study runs."""

    methods: list[str] = field(default_factory=lambda: list(METHODS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    held_out: list[str] | None = None  # None: every domain of the manifest
    l2_weight_decay: float = 1.0e-4
    high_dropout: float = 0.5
    extra_eval: dict[str, str] = field(default_factory=dict)  # name -> rated manifest (never trained on)
    level: str = "utterance"

    def __post_init__(self) -> None:
        for method in self.methods:
            method_domains(method)  # raises on an unknown method
        if not self.seeds:
            raise AudioqualError("the study needs at least one seed")


def method_domains(method: str) -> list[DomainConfig]:
    """The domain branches of a method (none for plain, l2 and dropout)."""
    if method in ("plain", "l2", "dropout"):
        return []
    if method == "dat-source":
        return [DomainConfig(strategy="source")]
    for prefix in ("dat-kmeans:", "dat-random:"):
        if method.startswith(prefix) and method[len(prefix):].isdigit():
            return [DomainConfig(strategy=f"{prefix[4:-1]}:{method[len(prefix):]}")]
    raise AudioqualError(f"unknown method {method!r}: use plain, l2, dropout, dat-source, dat-kmeans:K or dat-random:K")


def method_config(base: NRTrainConfig, method: str, seed: int, config: RobustnessConfig, output: Path) -> NRTrainConfig:
    """The base training config changed for one method and seed."""
    optim, head = base.optim, base.head
    if method == "l2":
        optim = dataclasses.replace(optim, weight_decay=config.l2_weight_decay)
    if method == "dropout":
        head = dataclasses.replace(head, options={**head.options, "dropout": config.high_dropout})
    domains = [dataclasses.replace(d, seed=seed) for d in method_domains(method)]
    return dataclasses.replace(base, name=method, seed=seed, domains=domains, runs=[], optim=optim, head=head,
                               output_dir=str(output))  # fmt: skip


def split_folds(manifest: str | Path, study_dir: Path, domain_field: str, held_out: Sequence[str] | None
                ) -> dict[str, dict[str, Path]]:  # fmt: skip
    """Per held-out domain: train / valid manifests of the other domains and the held-out domain's rows."""
    base = Path(manifest).resolve().parent
    rows = [json.loads(line) for line in Path(manifest).read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:  # the fold manifests live elsewhere: relative audio paths are made absolute
        if row.get("path") and not Path(row["path"]).is_absolute():
            row["path"] = str(base / row["path"])
    domains = sorted({str(row[domain_field]) for row in rows})
    chosen = list(held_out) if held_out else domains
    missing = [d for d in chosen if d not in domains]
    if missing:
        raise AudioqualError(f"{manifest}: no rows of domain(s) {missing}; it has {domains}")
    folds = {}
    for domain in chosen:
        folder = study_dir / "folds" / domain
        parts = {
            "train": [r for r in rows if r[domain_field] != domain and r.get("split") != "validation"],
            "valid": [r for r in rows if r[domain_field] != domain and r.get("split") == "validation"],
            "test": [r for r in rows if r[domain_field] == domain],
        }
        if not all(parts.values()):
            raise AudioqualError(f"fold {domain}: an empty split ({ {k: len(v) for k, v in parts.items()} })")
        folds[domain] = {name: write_manifest(folder / f"{name}.jsonl", part) for name, part in parts.items()}
    return folds


def evaluate(model_dir: Path, manifest: str | Path, base: NRTrainConfig, prepared: Any, level: str
             ) -> dict[str, dict[str, float]]:  # fmt: skip
    from audioqual.nr.model import NoReferenceModel

    model = NoReferenceModel.from_pretrained(model_dir)
    items = read_split(manifest, model.aspects, domain_field=base.data.source_field,
                       system_field=base.data.system_field, path_rewrite=base.data.path_rewrite)  # fmt: skip
    options = InputOptions(cache_dir=base.features.cache_dir, device=base.optim.device,
                           batch_size=base.features.batch_size, progress=False)  # fmt: skip
    latent = collect_latents(model, items, name=model_dir.parent.name, options=options, backbone=prepared.backbone)
    return job_metrics(latent, level if all(s is not None for s in latent.systems) else "utterance")


def run_study(base: NRTrainConfig, manifest: str | Path, config: RobustnessConfig, study_dir: str | Path,
              progress: bool = True, shard: tuple[int, int] = (0, 1)) -> list[dict[str, Any]]:  # fmt: skip
    """Run every (fold, method, seed) without a result yet; return the finished results.

    With shard (I, N) only jobs I, I + N, ... are run (N processes or machines sharing the folder split
    the study); results other shards finished are returned too.
    """
    from audioqual.train.nr import train_single

    study_dir = Path(study_dir)
    identity = {"train": _settings(base), "manifest": _digest_file(manifest), "study": dataclasses.asdict(config),
                "extra_eval": {k: _digest_file(v) for k, v in config.extra_eval.items()}}  # fmt: skip
    digest = identity_hash(identity)
    _claim(study_dir, identity, digest)
    folds = split_folds(manifest, study_dir, base.data.source_field, config.held_out)
    jobs = [(fold, method, seed) for fold in folds for method in config.methods for seed in config.seeds]
    results = []
    bar = tqdm(total=len(jobs), desc="robustness study", unit="run", disable=not progress or None)
    for number, (fold, method, seed) in enumerate(jobs):
        job_dir = study_dir / "jobs" / fold / f"{method.replace(':', '')}-seed{seed}"
        result_path = job_dir / RESULT_FILE
        if result_path.exists():
            result = json.loads(result_path.read_text(encoding="utf-8"))
            if result.get("study") == digest:
                results.append(result)
                bar.update(1)
                continue
        if number % shard[1] != shard[0]:
            bar.update(1)
            continue
        start = time.time()
        fold_base = dataclasses.replace(base, data=dataclasses.replace(base.data, train=str(folds[fold]["train"]),
                                                                       valid=str(folds[fold]["valid"])))  # fmt: skip
        variant = method_config(fold_base, method, seed, config, job_dir)
        prepared = _prepared(variant)
        outcome = train_single(variant, prepared, job_dir, progress=False)
        evaluations = {"held_out": evaluate(outcome.model_dir, folds[fold]["test"], variant, prepared, config.level)}
        for name, extra in config.extra_eval.items():
            evaluations[name] = evaluate(outcome.model_dir, extra, variant, prepared, "utterance")
        result = {"study": digest, "fold": fold, "method": method, "seed": seed, "best_epoch": outcome.result.best_epoch,
                  "evaluations": evaluations, "seconds": round(time.time() - start, 1)}  # fmt: skip
        write_json(result_path, result)
        results.append(result)
        bar.update(1)
    bar.close()
    return results


def _settings(base: NRTrainConfig) -> dict[str, Any]:
    """The training settings without the per-fold manifests."""
    settings = training_settings(base)
    settings["data"].pop("train", None)
    settings["data"].pop("valid", None)
    return settings


def _digest_file(path: str | Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _claim(study_dir: Path, identity: dict[str, Any], digest: str) -> None:
    path = study_dir / STUDY_FILE
    if path.exists():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        if recorded.get("hash") != digest:
            raise AudioqualError(f"{study_dir} holds a study with other settings or data; use a new folder")
        return
    write_json(path, {"hash": digest, "identity": identity})


def _t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of finite values."""
    from scipy import stats

    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if data.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, data.size - 1) * data.std(ddof=1) / math.sqrt(data.size))
    return mean, mean - half, mean + half


SUMMARY_HEADER = ["evaluation", "aspect", "metric", "method", "n", "mean", "ci_low", "ci_high", "delta_vs_plain",
                  "delta_ci_low", "delta_ci_high"]  # fmt: skip


def summarize(results: Sequence[dict[str, Any]], aspect: str = "PQ") -> list[list[Any]]:
    """Per evaluation, metric and method: mean over (fold, seed) runs with a 95 % t-interval, and the paired
    difference to `plain` on the same fold and seed (positive = better: SRCC up, MSE down)."""
    table = []
    index = {(r["fold"], r["method"], r["seed"]): r for r in results}
    methods = list(dict.fromkeys(r["method"] for r in results))
    evaluations = list(dict.fromkeys(e for r in results for e in r["evaluations"]))
    for evaluation in evaluations:
        metrics = sorted({m for r in results for m in r["evaluations"].get(evaluation, {}).get(aspect, {})})
        for metric in metrics:
            sign = -1.0 if metric.endswith("mse") else 1.0
            for method in methods:
                values, deltas = [], []
                for (fold, name, seed), result in index.items():
                    if name != method:
                        continue
                    value = result["evaluations"].get(evaluation, {}).get(aspect, {}).get(metric)
                    if value is None:
                        continue
                    values.append(value)
                    plain = index.get((fold, "plain", seed))
                    if plain is not None:
                        reference = plain["evaluations"].get(evaluation, {}).get(aspect, {}).get(metric)
                        if reference is not None:
                            deltas.append(sign * (value - reference))
                mean, low, high = _t_interval(values)
                delta, dlow, dhigh = _t_interval(deltas) if method != "plain" else (math.nan, math.nan, math.nan)
                table.append([evaluation, aspect, metric, method, len(values), mean, low, high, delta, dlow, dhigh])
    return table


def summary_markdown(table: Sequence[Sequence[Any]], aspect: str, metrics: Sequence[str] = ("utterance_srcc",
                     "system_srcc", "utterance_mse")) -> str:  # fmt: skip
    """One Markdown table per evaluation: mean [95 % CI] per method and metric, and the paired gain over plain."""
    def cell(mean: float, low: float, high: float) -> str:
        if not math.isfinite(mean):
            return "-"
        return f"{mean:.3f} [{low:.3f}, {high:.3f}]" if math.isfinite(low) else f"{mean:.3f}"

    lines = []
    rows = [r for r in table if r[1] == aspect]
    for evaluation in dict.fromkeys(r[0] for r in rows):
        chosen = {(r[3], r[2]): r for r in rows if r[0] == evaluation}
        methods = list(dict.fromkeys(r[3] for r in rows if r[0] == evaluation))
        present = [m for m in metrics if any(key[1] == m for key in chosen)]
        header = ["method", "runs"] + [f"{m} (gain over plain)" for m in present]
        lines += [f"**{evaluation.replace('held_out', 'held-out domain')}, {aspect}**", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]  # fmt: skip
        for method in methods:
            cells = [method, str(chosen.get((method, present[0]), [0] * 5)[4]) if present else "0"]
            for metric in present:
                r = chosen.get((method, metric))
                if r is None:
                    cells.append("-")
                    continue
                gain = "" if method == "plain" else f" ({cell(r[8], r[9], r[10])})"
                cells.append(cell(r[5], r[6], r[7]) + gain)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def robustness_figure(table: Sequence[Sequence[Any]], aspect: str, metric: str = "utterance_srcc"):
    """One panel per evaluation: each method's mean `metric` with its 95 % interval over (fold, seed) runs."""
    from audioqual.eval.plots import new_figure

    rows = [r for r in table if r[1] == aspect and r[2] == metric]
    evaluations = list(dict.fromkeys(r[0] for r in rows))
    figure = new_figure(3.2 * max(len(evaluations), 1) + 1.5, 4.2)
    axes = figure.subplots(1, max(len(evaluations), 1), sharey=False, squeeze=False)[0]
    for axis, evaluation in zip(axes, evaluations):
        chosen = [r for r in rows if r[0] == evaluation]
        y = np.arange(len(chosen))
        means = np.array([r[5] for r in chosen], dtype=float)
        low = np.nan_to_num(means - np.array([r[6] for r in chosen], dtype=float))
        high = np.nan_to_num(np.array([r[7] for r in chosen], dtype=float) - means)
        axis.errorbar(means, y, xerr=[low, high], fmt="o", capsize=3)
        plain = [r[5] for r in chosen if r[3] == "plain"]
        if plain:
            axis.axvline(plain[0], color="grey", linestyle="--", linewidth=0.8)
        axis.set_yticks(y, [r[3] for r in chosen])
        axis.invert_yaxis()
        axis.set_title(evaluation.replace("held_out", "held-out domain"))
        axis.set_xlabel(f"{aspect} {metric.replace('_', ' ')}")
        axis.grid(alpha=0.3)
    return figure


def write_summary(results: Sequence[dict[str, Any]], study_dir: str | Path, aspects: Sequence[str]) -> Path:
    """summary.csv (every aspect), runs.csv (one line per run, evaluation, aspect) and robustness_<aspect>.png."""
    from audioqual.analysis.outputs import save_figure

    study_dir = Path(study_dir)
    rows = [row for aspect in aspects for row in summarize(results, aspect)]
    for aspect in aspects:
        save_figure(robustness_figure(rows, aspect), study_dir / f"robustness_{aspect}.png")
    text = "\n".join(summary_markdown(rows, aspect) for aspect in aspects)
    (study_dir / "summary.md").write_text(text, encoding="utf-8")
    runs = [[r["fold"], r["method"], r["seed"], evaluation, aspect, *[values.get(m) for m in
             ("utterance_srcc", "utterance_mse", "system_srcc", "system_mse")]]
            for r in results for evaluation, per_aspect in r["evaluations"].items()
            for aspect, values in per_aspect.items()]  # fmt: skip
    write_csv(study_dir / "runs.csv", ["fold", "method", "seed", "evaluation", "aspect", "utterance_srcc",
                                       "utterance_mse", "system_srcc", "system_mse"], runs)  # fmt: skip
    return write_csv(study_dir / "summary.csv", SUMMARY_HEADER, rows)
