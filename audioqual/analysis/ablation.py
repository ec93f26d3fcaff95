"""K ablation (seed 000, Sec. IV-C, Fig. 5): DAT-Kmeans and DAT-Random over a list of K.

The sweep trains, from one base training config, a baseline (no domain
branch) and one model per (strategy, K) for each seed, evaluates every model
on an evaluation manifest (system level by default, as in the paper), and
reports each strategy's gain over the baseline trained with the same seed:

    delta SRCC = SRCC(strategy, K) - SRCC(baseline)     (positive = better ranking)
    delta MSE  = MSE(baseline) - MSE(strategy, K)       (positive = lower error)

averaged over seeds (mean and sample standard deviation).

Every (strategy, K, seed) run is an independent job in its own folder
(`jobs/<job id>/`), whose `result.json` is written last and atomically: a
sweep started again skips finished jobs, and a job killed mid-training
resumes from its last epoch (the trainer's checkpoint). A job that fails is
recorded in `jobs/<job id>/error.txt` and the sweep goes on. Jobs run in
`workers` processes; `devices` are handed to jobs round-robin.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import multiprocessing
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from audioqual.analysis.latent import (
    InputOptions,
    LatentSet,
    collect_latents,
    read_split,
)
from audioqual.analysis.outputs import save_figure
from audioqual.config import to_dict
from audioqual.data.files import write_csv, write_json
from audioqual.domains.strategies import StrategySpec
from audioqual.errors import AudioqualError
from audioqual.eval.aggregate import system_level
from audioqual.eval.correlation import mse, spearman
from audioqual.eval.plots import new_figure
from audioqual.nr.model import NoReferenceModel
from audioqual.train.nr_config import DomainConfig, NRTrainConfig

log = logging.getLogger(__name__)
BASELINE = "baseline"
ABLATED_KINDS = ("kmeans", "random")
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"
SWEEP_FILE = "sweep.json"
METRICS = ("srcc", "mse")


@dataclass
class AblationConfig:
    """Which runs the sweep trains and how they are scored."""

    strategies: list[str] = field(default_factory=lambda: ["kmeans", "random"])
    ks: list[int] = field(default_factory=lambda: [2, 4, 6, 8, 10])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    weight: float | None = None  # lambda of the domain branch; None = the paper's (0.1 for K-means and random)
    eval_manifest: str | None = None  # None = the base config's validation manifest
    level: str = "system"  # "system" or "utterance"
    aspect: str = "PQ"  # the aspect of the figure (every aspect goes into the CSV)

    def __post_init__(self) -> None:
        unknown = [s for s in self.strategies if s not in ABLATED_KINDS]
        if unknown:
            raise AudioqualError(f"K ablation strategies must be among {', '.join(ABLATED_KINDS)}, got {unknown}")
        if not self.ks or any(k < 2 for k in self.ks):
            raise AudioqualError(f"every K must be at least 2, got {self.ks}")
        if not self.seeds:
            raise AudioqualError("the sweep needs at least one seed")
        if self.level not in ("system", "utterance"):
            raise AudioqualError(f"level must be 'system' or 'utterance', got {self.level!r}")


@dataclass(frozen=True)
class AblationJob:
    """One training run of the sweep: a strategy (or the baseline), K and a seed."""

    strategy: str
    k: int | None
    seed: int

    @property
    def job_id(self) -> str:
        return f"{BASELINE}-seed{self.seed}" if self.strategy == BASELINE else f"{self.strategy}-K{self.k}-seed{self.seed}"

    def domains(self, weight: float | None) -> list[DomainConfig]:
        if self.strategy == BASELINE:
            return []
        return [DomainConfig(strategy=str(StrategySpec(self.strategy, self.k)), weight=weight, seed=self.seed)]


def plan_jobs(config: AblationConfig) -> list[AblationJob]:
    """Baselines first (one per seed), then every strategy x K x seed."""
    jobs = [AblationJob(BASELINE, None, seed) for seed in config.seeds]
    jobs += [AblationJob(s, k, seed) for s in config.strategies for k in config.ks for seed in config.seeds]
    return jobs


def training_settings(base: NRTrainConfig) -> dict[str, Any]:
    """The base config's fields that change what a run learns (not its name, seed, branches, paths or devices)."""
    settings = to_dict(base)
    for key in ("output_dir", "name", "seed", "domains", "runs"):
        settings.pop(key, None)
    settings["optim"].pop("device", None)
    for key in ("device", "cache_dir", "batch_size"):
        settings["features"].pop(key, None)
    return settings


def sweep_identity(base: NRTrainConfig, config: AblationConfig, eval_manifest: str) -> dict[str, Any]:
    """What every job's result depends on (not the job list, devices, epochs shown to resume, or paths)."""
    settings = training_settings(base)
    settings["optim"].pop("num_workers", None)
    return {"train": settings, "weight": config.weight, "eval_manifest": str(Path(eval_manifest).resolve())}


def identity_hash(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def job_config(base: NRTrainConfig, job: AblationJob, weight: float | None, job_dir: Path, device: str | None) -> NRTrainConfig:
    """The base config with this job's name, seed, domain branch, output folder and device."""
    optim, features = base.optim, base.features
    if device:
        optim = dataclasses.replace(optim, device=device)
        features = dataclasses.replace(features, device=device)
    return dataclasses.replace(
        base, name=job.job_id, seed=job.seed, domains=job.domains(weight), runs=[], output_dir=str(job_dir),
        optim=optim, features=features,
    )


_PREPARED: dict[str, Any] = {}
"""PreparedData per data/feature settings, kept for the life of a (worker) process."""


def _prepared(config: NRTrainConfig):
    from audioqual.train.nr import prepare_data

    settings = to_dict(config)
    key = json.dumps({"data": settings["data"], "features": {k: v for k, v in settings["features"].items()
                      if k != "device"}, "head": settings["head"]["name"], "seed": 0 if config.data.valid else config.seed},
                     sort_keys=True, default=str)
    if key not in _PREPARED:
        _PREPARED[key] = prepare_data(config, progress=False)
    return _PREPARED[key]


def job_metrics(latent: LatentSet, level: str) -> dict[str, dict[str, float]]:
    """Per aspect: SRCC and MSE at utterance level and (when every item names a system) at system level."""
    metrics: dict[str, dict[str, float]] = {}
    has_systems = all(s is not None for s in latent.systems)
    for index, aspect in enumerate(latent.aspects):
        y = latent.targets[:, index]
        rated = np.isfinite(y)
        if rated.sum() < 2:
            continue
        p, y = latent.predictions[rated, index], y[rated]
        row = {"utterance_srcc": spearman(p, y), "utterance_mse": mse(p, y)}
        if has_systems:
            ps, ys, _ = system_level(p, y, [s for s, ok in zip(latent.systems, rated) if ok])
            row["system_srcc"] = spearman(ps, ys) if ps.size >= 2 else math.nan
            row["system_mse"] = mse(ps, ys)
        elif level == "system":
            raise AudioqualError("system-level K ablation needs a system for every evaluation item (or level 'utterance')")
        metrics[aspect] = row
    return metrics


def run_job(
    job: AblationJob,
    base: NRTrainConfig,
    config: AblationConfig,
    eval_manifest: str,
    sweep_dir: str,
    device: str | None = None,
    identity: str = "",
) -> dict[str, Any]:
    """Train one job, score it on the evaluation manifest, write result.json (last) and return it."""
    from audioqual.train.nr import train_single

    start = time.time()
    job_dir = Path(sweep_dir) / "jobs" / job.job_id
    variant = job_config(base, job, config.weight, job_dir, device)
    prepared = _prepared(variant)
    outcome = train_single(variant, prepared, job_dir, progress=False)
    model = NoReferenceModel.from_pretrained(outcome.model_dir)
    data = variant.data
    items = read_split(eval_manifest, model.aspects, domain_field=data.source_field, system_field=data.system_field,
                       path_rewrite=data.path_rewrite)
    options = InputOptions(cache_dir=variant.features.cache_dir, device=variant.optim.device,
                           batch_size=variant.features.batch_size, progress=False)
    latent = collect_latents(model, items, name=job.job_id, options=options, backbone=prepared.backbone)
    header = ["item_id", "system"] + [f"{a}_{kind}" for a in latent.aspects for kind in ("pred", "score")]
    write_csv(job_dir / "predictions.csv", header, [
        [item, latent.systems[n] or "", *[v for i in range(len(latent.aspects))
                                         for v in (latent.predictions[n, i], latent.targets[n, i])]]
        for n, item in enumerate(latent.item_ids)
    ])
    result = {
        "job_id": job.job_id,
        "strategy": job.strategy,
        "k": job.k,
        "seed": job.seed,
        "sweep": identity,
        "device": device or variant.optim.device,
        "model_dir": str(outcome.model_dir),
        "best_epoch": outcome.result.best_epoch,
        "n_items": len(latent),
        "n_left_out": len(latent.failures),
        "n_systems": len({s for s in latent.systems if s is not None}),
        "metrics": job_metrics(latent, config.level),
        "seconds": time.time() - start,
    }
    (job_dir / ERROR_FILE).unlink(missing_ok=True)
    write_json(job_dir / RESULT_FILE, result)
    return result


def _run_job_safely(*args: Any) -> tuple[dict[str, Any] | None, str | None]:
    """run_job in a worker, returning (result, None) or (None, traceback) instead of raising."""
    try:
        return run_job(*args), None
    except Exception:  # noqa: BLE001 - a failed job is recorded; the sweep goes on
        return None, traceback.format_exc()


def load_result(sweep_dir: Path, job: AblationJob, identity: str) -> dict[str, Any] | None:
    """A finished job's result, or None (absent, unreadable, or from a different sweep)."""
    path = sweep_dir / "jobs" / job.job_id / RESULT_FILE
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return result if result.get("sweep") == identity else None


@dataclass
class SweepOutcome:
    """Results of finished jobs and errors of failed ones (by job id)."""

    results: dict[str, dict[str, Any]]
    errors: dict[str, str]
    skipped: int


def evaluation_manifest(base: NRTrainConfig, config: AblationConfig) -> str:
    """The manifest the runs are scored on: the sweep's, else the base config's validation manifest."""
    manifest = config.eval_manifest or base.data.valid
    if not manifest:
        raise AudioqualError("name an evaluation manifest (the base config has no validation manifest)")
    return manifest


def finished_results(base: NRTrainConfig, config: AblationConfig, sweep_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Results of the planned jobs that finished in `sweep_dir` under this config."""
    digest = identity_hash(sweep_identity(base, config, evaluation_manifest(base, config)))
    results = {}
    for job in plan_jobs(config):
        result = load_result(Path(sweep_dir), job, digest)
        if result is not None:
            results[job.job_id] = result
    return results


def run_sweep(
    base: NRTrainConfig,
    config: AblationConfig,
    sweep_dir: str | Path,
    *,
    workers: int = 1,
    devices: Sequence[str] = (),
    progress: bool = True,
    shard: tuple[int, int] = (0, 1),
) -> SweepOutcome:
    """Run the jobs of this shard that have no result yet; return every finished result and the failures.

    With shard (I, N) only jobs I, I + N, I + 2N, ... of the plan are run, so N invocations (on
    different machines sharing the folder) split the sweep between them.
    """
    sweep_dir = Path(sweep_dir)
    eval_manifest = evaluation_manifest(base, config)
    if config.eval_manifest is None:
        log.warning("scoring on the validation manifest %s (also used to pick the best epoch)", eval_manifest)
    identity = sweep_identity(base, config, eval_manifest)
    digest = identity_hash(identity)
    _check_sweep_dir(sweep_dir, identity, digest)
    jobs = plan_jobs(config)
    results = finished_results(base, config, sweep_dir)
    index, count = shard
    todo = [job for n, job in enumerate(jobs) if n % count == index and job.job_id not in results]
    skipped = len(results)
    if skipped:
        log.info("%d of %d job(s) already finished", skipped, len(jobs))
    errors: dict[str, str] = {}
    assigned = assign_devices(todo, devices)
    bar = tqdm(total=len(todo), desc="K ablation", unit="run", disable=not progress or None)

    def finish(job: AblationJob, result: dict[str, Any] | None, error: str | None) -> None:
        if result is not None:
            results[job.job_id] = result
        else:
            errors[job.job_id] = error or "unknown error"
            path = sweep_dir / "jobs" / job.job_id / ERROR_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(errors[job.job_id], encoding="utf-8")
            log.warning("job %s failed: %s", job.job_id, errors[job.job_id].strip().splitlines()[-1])
        bar.update(1)

    if todo and workers <= 1:
        for job, device in assigned:
            finish(job, *_run_job_safely(job, base, config, eval_manifest, str(sweep_dir), device, digest))
    elif todo:
        _warm_caches(base, config, eval_manifest, assigned[0][1])
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {
                pool.submit(_run_job_safely, job, base, config, eval_manifest, str(sweep_dir), device, digest): job
                for job, device in assigned
            }
            for future in as_completed(futures):
                try:
                    finish(futures[future], *future.result())
                except BrokenProcessPool as err:
                    finish(futures[future], None, f"worker process died: {err}")
    bar.close()
    return SweepOutcome(results, errors, skipped)


def assign_devices(jobs: Sequence[AblationJob], devices: Sequence[str]) -> list[tuple[AblationJob, str | None]]:
    """Each job with its device, round-robin over `devices` (None everywhere when no device is named)."""
    if not devices:
        return [(job, None) for job in jobs]
    return [(job, devices[n % len(devices)]) for n, job in enumerate(jobs)]


def _check_sweep_dir(sweep_dir: Path, identity: dict[str, Any], digest: str) -> None:
    """Refuse to mix jobs of different configs in one folder; record the sweep's identity."""
    path = sweep_dir / SWEEP_FILE
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise AudioqualError(f"{path}: unreadable ({err}); delete it or use a new folder") from err
        if recorded.get("hash") != digest:
            raise AudioqualError(
                f"{sweep_dir} holds a sweep with a different training config or evaluation manifest; "
                "use a new output folder (or delete that one)"
            )
        return
    write_json(path, {"hash": digest, "identity": identity})


def _warm_caches(base: NRTrainConfig, config: AblationConfig, eval_manifest: str, device: str | None) -> None:
    """Extract features (and K-means embeddings) once, before worker processes read them from the cache."""
    from audioqual.nr.features import crop_frame_features
    from audioqual.train.nr import domain_branches

    warm = job_config(base, AblationJob(BASELINE, None, config.seeds[0]), None, Path(base.output_dir), device)
    prepared = _prepared(warm)
    if "kmeans" in config.strategies:
        domain_branches([DomainConfig(strategy=f"kmeans:{min(config.ks)}")], prepared, warm, progress=False)
    spec = prepared.input_spec
    if spec.kind == "features":
        items = read_split(eval_manifest, base.data.aspects, domain_field=base.data.source_field,
                           system_field=base.data.system_field, path_rewrite=base.data.path_rewrite)
        crop_frame_features([i.entry for i in items], prepared.backbone, prepared.cache, layer=spec.layer,
                            seconds=spec.crop_seconds, batch_size=base.features.batch_size,
                            device=warm.features.device, progress=False)


@dataclass
class DeltaRow:
    """Mean and spread over seeds of one (strategy, K, aspect)."""

    strategy: str
    k: int | None
    aspect: str
    seeds: list[int]
    srcc: list[float]
    mse: list[float]
    delta_srcc: list[float]
    delta_mse: list[float]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return math.nan, math.nan
    return float(data.mean()), float(data.std(ddof=1)) if data.size > 1 else math.nan


def aggregate(results: dict[str, dict[str, Any]], jobs: Sequence[AblationJob], level: str) -> list[DeltaRow]:
    """Per (strategy, K, aspect): metrics per seed and the gain over the baseline of the same seed."""
    baselines = {j.seed: results[j.job_id] for j in jobs if j.strategy == BASELINE and j.job_id in results}
    groups: dict[tuple[str, int | None], list[AblationJob]] = {}
    for job in jobs:
        groups.setdefault((job.strategy, job.k), []).append(job)
    rows = []
    for (strategy, k), members in groups.items():
        done = [j for j in members if j.job_id in results]
        aspects = list(dict.fromkeys(a for j in done for a in results[j.job_id]["metrics"]))
        for aspect in aspects:
            row = DeltaRow(strategy, k, aspect, [], [], [], [], [])
            for job in done:
                metrics = results[job.job_id]["metrics"].get(aspect)
                base = baselines.get(job.seed, {}).get("metrics", {}).get(aspect)
                if metrics is None:
                    continue
                srcc, error = metrics.get(f"{level}_srcc", math.nan), metrics.get(f"{level}_mse", math.nan)
                row.seeds.append(job.seed)
                row.srcc.append(_number(srcc))
                row.mse.append(_number(error))
                if base is None:
                    row.delta_srcc.append(math.nan)
                    row.delta_mse.append(math.nan)
                else:
                    row.delta_srcc.append(_number(srcc) - _number(base.get(f"{level}_srcc")))
                    row.delta_mse.append(_number(base.get(f"{level}_mse")) - _number(error))
            rows.append(row)
    return rows


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


DELTA_HEADER = ["strategy", "k", "aspect", "level", "n_seeds", "seeds", "srcc_mean", "srcc_std", "mse_mean", "mse_std",
                "delta_srcc_mean", "delta_srcc_std", "delta_mse_mean", "delta_mse_std"]


def delta_table_rows(rows: Sequence[DeltaRow], level: str) -> list[list[Any]]:
    table = []
    for r in rows:
        table.append([r.strategy, "" if r.k is None else r.k, r.aspect, level, len(r.seeds),
                      " ".join(str(s) for s in r.seeds), *_mean_std(r.srcc), *_mean_std(r.mse),
                      *_mean_std(r.delta_srcc), *_mean_std(r.delta_mse)])
    return table


def ablation_figure(rows: Sequence[DeltaRow], aspect: str, level: str, strategies: Sequence[str]):
    """Fig. 5: delta SRCC (top) and delta MSE (bottom) against K, one series per strategy, mean +- std.

    Series are shifted sideways a little so their error bars do not hide each other; the star marks
    the K with the highest mean delta SRCC of the first strategy.
    """
    figure = new_figure(6.4, 6.0)
    top, bottom = figure.subplots(2, 1, sharex=True)
    names = {"kmeans": "DAT-Kmeans", "random": "DAT-Random"}
    markers = {"kmeans": "o", "random": "s"}
    best_marked = False
    distinct = sorted({r.k for r in rows if r.k is not None})
    gap = float(np.min(np.diff(distinct))) if len(distinct) > 1 else 1.0
    all_ks: set[int] = set()
    seeds_used: set[int] = set()
    for index, strategy in enumerate(strategies):
        series = sorted((r for r in rows if r.strategy == strategy and r.aspect == aspect and r.k is not None),
                        key=lambda r: r.k)
        if not series:
            continue
        ks = np.asarray([r.k for r in series])
        all_ks.update(ks.tolist())
        seeds_used.update(s for r in series for s in r.seeds)
        shift = (index - (len(strategies) - 1) / 2) * 0.06 * gap  # keep error bars of strategies apart
        for axis, attribute in ((top, "delta_srcc"), (bottom, "delta_mse")):
            stats = np.asarray([_mean_std(getattr(r, attribute)) for r in series])
            axis.errorbar(ks + shift, stats[:, 0], yerr=np.nan_to_num(stats[:, 1]), marker=markers.get(strategy, "o"),
                          capsize=4, color=f"C{index}", label=names.get(strategy, strategy))
        if not best_marked:
            gains = np.asarray([_mean_std(r.delta_srcc)[0] for r in series])
            if np.isfinite(gains).any():
                best = int(np.nanargmax(gains))
                top.scatter([ks[best] + shift], [gains[best]], marker="*", s=260, color="gold", edgecolors="black",
                            zorder=5, label=f"best {names.get(strategy, strategy)} K (ΔSRCC) = {ks[best]}")
                best_marked = True
    for axis, label in ((top, "ΔSRCC (↑ better)"), (bottom, "ΔMSE = MSE_base − MSE (↑ better)")):
        axis.axhline(0.0, color="black", linewidth=0.9, linestyle="--", label="baseline")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    bottom.set_xlabel("number of domains K")
    if all_ks:
        bottom.set_xticks(sorted(all_ks))
    top.legend(fontsize=8, loc="best")
    top.set_title(f"Domain granularity K, {aspect} ({level} level; mean ± std over {len(seeds_used)} seed(s))")
    return figure


@dataclass
class AblationOutputs:
    """The sweep's aggregate, its figure and the files written."""

    rows: list[DeltaRow]
    figure: object
    png: Path
    csv: Path
    jobs_csv: Path
    errors: dict[str, str]


def write_ablation(results: dict[str, dict[str, Any]], config: AblationConfig, sweep_dir: str | Path,
                   errors: dict[str, str] | None = None) -> AblationOutputs:
    """ablation_k.csv (mean/std per strategy, K, aspect), jobs.csv (every job), ablation_k_<aspect>.png."""
    sweep_dir = Path(sweep_dir)
    jobs = plan_jobs(config)
    rows = aggregate(results, jobs, config.level)
    if not any(r.aspect == config.aspect for r in rows):
        raise AudioqualError(f"no finished job has results for aspect {config.aspect!r}")
    csv_path = write_csv(sweep_dir / "ablation_k.csv", DELTA_HEADER, delta_table_rows(rows, config.level))
    job_rows = []
    for job in jobs:
        result = results.get(job.job_id)
        if result is None:
            job_rows.append([job.job_id, job.strategy, job.k or "", job.seed, "", "", "", "", "", (errors or {}).get(
                job.job_id, "not run").strip().splitlines()[-1]])
            continue
        for aspect, metrics in result["metrics"].items():
            job_rows.append([job.job_id, job.strategy, job.k or "", job.seed, aspect,
                             metrics.get("system_srcc"), metrics.get("system_mse"), metrics.get("utterance_srcc"),
                             metrics.get("utterance_mse"), ""])
    jobs_csv = write_csv(sweep_dir / "jobs.csv", ["job_id", "strategy", "k", "seed", "aspect", "system_srcc",
                                                  "system_mse", "utterance_srcc", "utterance_mse", "error"], job_rows)
    figure = ablation_figure(rows, config.aspect, config.level, config.strategies)
    png = save_figure(figure, sweep_dir / f"ablation_k_{config.aspect}.png")
    return AblationOutputs(rows, figure, png, csv_path, jobs_csv, dict(errors or {}))

