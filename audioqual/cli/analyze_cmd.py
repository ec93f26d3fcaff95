"""Latent-space analyses and ablations of trained no-reference models (Huang et al. 2026, arXiv:2603.16201, Sec. IV).

  audioqual analyze umap    -m baseline=runs/base/model -m dat=runs/dat/model --manifest dev.jsonl -o out/
  audioqual analyze terrain -m baseline=runs/base/model -m dat=runs/dat/model --manifest dev.jsonl -o out/ --aspect PQ
  audioqual analyze probe   -m baseline=runs/base/model -m dat=runs/dat/model --manifest dev.jsonl -o out/
  audioqual analyze compare -m baseline=... -m dat-source=... -m dat-kmeans=... --manifest eval.jsonl -o out/
  audioqual analyze ablate-k --config configs/nr.yaml -o runs/k_sweep --ks 2,4,6,8,10 --seeds 0,1,2 \\
      --eval-manifest eval.jsonl --workers 2 --devices cuda:0,cuda:1
  audioqual analyze robustness --config configs/nr_default.yaml --manifest rated.jsonl -o runs/lodo \
      --extra gensvs=gensvs.jsonl --seeds 0,1,2

umap: UMAP of the bottleneck h coloured by domain and by each aspect's score (Fig. 3).
terrain: the 3-D quality terrain, UMAP of h with the predicted MOS as height (Fig. 4).
probe: linear probing of h, domain accuracy and per-aspect SRCC, cross-validated (Table II).
compare: system-level MSE / SRCC per aspect with paired tests against a baseline (Table I).
ablate-k: train DAT-Kmeans / DAT-Random for each K and seed; gains over the baseline (Fig. 5).
robustness: leave one domain out; plain, L2, dropout and DAT (source, K-means, random) per seed,
scored on the held-out domain (and on --extra rated sets), with 95 % intervals.
Every analysis writes a PNG and the numbers behind it as CSV. Items that cannot be read are
left out and listed in left_out.csv. A K sweep started again skips finished runs.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from audioqual.errors import AudioqualError

log = logging.getLogger(__name__)
SUBCOMMANDS = {
    "umap": "UMAP of h coloured by domain and by each aspect's score (Huang et al. 2026, Fig. 3)",
    "terrain": "3-D quality terrain: UMAP of h with the predicted MOS as height (Huang et al. 2026, Fig. 4)",
    "probe": "linear probing of h: domain accuracy and per-aspect SRCC (Huang et al. 2026, Table II)",
    "compare": "strategy comparison with paired significance tests (Huang et al. 2026, Table I)",
    "ablate-k": "K sweep of DAT-Kmeans and DAT-Random against the baseline (Huang et al. 2026, Fig. 5)",
    "robustness": "leave-one-domain-out: plain vs L2 vs dropout vs DAT (source, K-means, random), per seed",
}


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from err


def _str_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", action="append", required=True, metavar="[NAME=]DIR",
                        help="trained model directory, optionally named (repeat for several models)")
    parser.add_argument("--member", help="for aspect routers: the member model to analyse")
    parser.add_argument("--manifest", required=True, help="rating manifest of the split (.jsonl/.csv)")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    parser.add_argument("--aspects", type=_str_list, help="aspects to show, e.g. PQ,PC (default: the model's)")
    parser.add_argument("--domain-field", default="source", help="manifest field with the domain label (default: source)")
    parser.add_argument("--domain-branch", help="use a model's K-means branch (e.g. kmeans8) as the domain label")
    parser.add_argument("--system-field", default="system", help="manifest field naming the system (default: system)")
    parser.add_argument("--cache-dir", help="feature cache folder (default: $AUDIOQUAL_CACHE or ~/.cache/audioqual)")
    parser.add_argument("--backbone", help="backbone directory to use instead of the one recorded in the model")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per backbone batch")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _umap_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-neighbors", type=int, default=15, help="UMAP n_neighbors (capped at N-1)")
    parser.add_argument("--min-dist", type=float, default=0.1, help="UMAP min_dist")
    parser.add_argument("--seed", type=int, default=0, help="UMAP random seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    for name, summary in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary)
        if name == "ablate-k":
            _ablation_arguments(p)
            continue
        if name == "robustness":
            _robustness_arguments(p)
            continue
        _model_arguments(p)
        if name in ("umap", "terrain"):
            _umap_arguments(p)
        if name == "terrain":
            p.add_argument("--aspect", help="aspect whose predicted MOS is the height (default: the first)")
        if name == "probe":
            p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
            p.add_argument("--seed", type=int, default=0, help="seed of the fold split")
        if name == "compare":
            p.add_argument("--baseline", help="model the others are tested against (default: the first)")
            p.add_argument("--level", choices=("system", "utterance"), default="system")
            p.add_argument("--alpha", type=float, default=0.05, help="significance level of the paired tests")


def _ablation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="base NR training config (YAML); its domains are replaced per run")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides of the base config")
    parser.add_argument("-o", "--out", required=True, help="sweep folder (one sub-folder per run)")
    parser.add_argument("--ks", type=_int_list, default=[2, 4, 6, 8, 10], help="values of K (default 2,4,6,8,10)")
    parser.add_argument("--seeds", type=_int_list, default=[0, 1, 2], help="training seeds (default 0,1,2)")
    parser.add_argument("--strategies", type=_str_list, default=["kmeans", "random"],
                        help="kmeans and/or random (default both)")
    parser.add_argument("--weight", type=float, help="lambda of the domain branch (default: the paper's, 0.1)")
    parser.add_argument("--eval-manifest", help="manifest the runs are scored on (default: the config's valid set)")
    parser.add_argument("--level", choices=("system", "utterance"), default="system")
    parser.add_argument("--aspect", default="PQ", help="aspect of the figure (default PQ; the CSV has all)")
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel processes")
    parser.add_argument("--devices", type=_str_list, default=[], help="devices handed to runs round-robin, e.g. cuda:0,cuda:1")
    parser.add_argument("--shard", help="I/N: run only jobs I, I+N, ... (to spread a sweep over machines)")
    parser.add_argument("--aggregate-only", action="store_true", help="train nothing; aggregate and plot finished runs")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _robustness_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="base NR training config (YAML); data.train/valid are set per fold")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides of the base config")
    parser.add_argument("--manifest", required=True, help="rated manifest with a domain field and a split field")
    parser.add_argument("-o", "--out", required=True, help="study folder (one sub-folder per run)")
    parser.add_argument("--methods", type=_str_list, help="default: plain,l2,dropout,dat-source,dat-kmeans:2,4,8,16,"
                        "dat-random:8")
    parser.add_argument("--seeds", type=_int_list, default=[0, 1, 2], help="training seeds (default 0,1,2)")
    parser.add_argument("--held-out", type=_str_list, help="domains to hold out (default: every domain)")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=MANIFEST",
                        help="another rated set every model is scored on, never trained on (repeatable)")
    parser.add_argument("--shard", help="I/N: run only jobs I, I+N, ... (N processes sharing the study folder)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def parse_model_argument(text: str) -> tuple[str, Path]:
    """`NAME=DIR` or `DIR` (named after the folder, or its parent when the folder is called `model`)."""
    if "=" in text:
        name, _, path = text.partition("=")
        if not name or not path:
            raise AudioqualError(f"--model {text!r}: expected NAME=DIR")
        return name, Path(path)
    path = Path(text)
    resolved = path.resolve()
    name = resolved.parent.name if resolved.name == "model" and resolved.parent.name else resolved.name
    return name, path


def load_latents(args: argparse.Namespace):
    """Run every --model over --manifest; returns the LatentSets and writes left_out.csv if items failed."""
    from audioqual.analysis.latent import InputOptions, branch_domains, collect_latents, load_model, read_split
    from audioqual.data.files import write_csv

    named = [parse_model_argument(m) for m in args.model]
    names = [n for n, _ in named]
    if len(set(names)) != len(names):
        raise AudioqualError(f"model names must be unique, got {names}; name them with NAME=DIR")
    options = InputOptions(args.cache_dir, args.device, args.batch_size, args.backbone, not args.quiet)
    models = [(name, load_model(path, args.member, "cpu")) for name, path in named]
    aspects = list(dict.fromkeys(a for _, model in models for a in model.aspects))
    items = read_split(args.manifest, aspects, domain_field=args.domain_field, system_field=args.system_field)
    domains = None
    failures: dict[str, dict[str, str]] = {}
    if args.domain_branch:
        owner = next((m for _, m in models if args.domain_branch in m.domains), None)
        if owner is None:
            raise AudioqualError(f"no model has a domain branch {args.domain_branch!r}")
        domains, failed = branch_domains(owner, args.domain_branch, [i.entry for i in items], options)
        failures[f"(domain branch {args.domain_branch})"] = failed
    latents = []
    for name, model in models:
        latent = collect_latents(model, items, name=name, options=options, domains=domains)
        latents.append(latent)
        failures[name] = latent.failures
    rows = [[name, item, error] for name, failed in failures.items() for item, error in failed.items()]
    if rows:
        write_csv(Path(args.out) / "left_out.csv", ["model", "item_id", "error"], rows)
        print(f"{len(rows)} item(s) left out; see {Path(args.out) / 'left_out.csv'}")
    return latents


def run(args: argparse.Namespace) -> int:
    if args.analysis == "ablate-k":
        return _run_ablation(args)
    if args.analysis == "robustness":
        return _run_robustness(args)
    latents = load_latents(args)
    out = Path(args.out)
    if args.analysis in ("umap", "terrain"):
        from audioqual.analysis.umap_plots import UmapOptions

        options = UmapOptions(n_neighbors=args.n_neighbors, min_dist=args.min_dist, seed=args.seed)
        if args.analysis == "umap":
            from audioqual.analysis.umap_plots import write_umap

            result = write_umap(latents, out, args.aspects, options)
        else:
            from audioqual.analysis.terrain import write_terrain

            result = write_terrain(latents, out, args.aspect, options)
        print(f"wrote {result.png} and {result.csv}")
    elif args.analysis == "probe":
        from audioqual.analysis.probing import ProbeOptions, probe_markdown, write_probe

        outputs = write_probe(latents, out, ProbeOptions(folds=args.folds, seed=args.seed), args.aspects)
        print(probe_markdown(outputs.results, args.aspects or latents[0].aspects))
        print(f"wrote {outputs.csv}, {outputs.markdown} and {outputs.png}")
    else:
        from audioqual.analysis.comparison import ComparisonOptions, comparison_markdown, write_comparison

        outputs = write_comparison(
            latents, out, ComparisonOptions(level=args.level, alpha=args.alpha, baseline=args.baseline), args.aspects
        )
        print(comparison_markdown(outputs.comparison))
        print(f"wrote {outputs.csv}, {outputs.tests_csv}, {outputs.markdown} and {outputs.png}")
    return 0


def _parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 1
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError as err:
        raise AudioqualError(f"--shard {text!r}: expected I/N, e.g. 0/2") from err
    if count < 1 or not 0 <= index < count:
        raise AudioqualError(f"--shard {text!r}: need 0 <= I < N")
    return index, count


def _run_ablation(args: argparse.Namespace) -> int:
    from audioqual.analysis.ablation import AblationConfig, finished_results, run_sweep, write_ablation
    from audioqual.config import load_config
    from audioqual.train.nr_config import NRTrainConfig

    base = load_config(NRTrainConfig, args.config, list(args.overrides))
    config = AblationConfig(strategies=args.strategies, ks=args.ks, seeds=args.seeds, weight=args.weight,
                            eval_manifest=args.eval_manifest, level=args.level, aspect=args.aspect)
    shard = _parse_shard(args.shard)
    if args.aggregate_only:
        results = finished_results(base, config, args.out)
        errors: dict[str, str] = {}
    else:
        outcome = run_sweep(base, config, args.out, workers=args.workers, devices=args.devices,
                            progress=not args.quiet, shard=shard)
        results, errors = outcome.results, outcome.errors
        print(f"{len(results)} run(s) finished ({outcome.skipped} from earlier), {len(errors)} failed")
    if not results:
        raise AudioqualError(f"no finished run in {args.out}")
    outputs = write_ablation(results, config, args.out, errors)
    print(f"wrote {outputs.csv}, {outputs.jobs_csv} and {outputs.png}")
    for job_id, error in errors.items():
        print(f"  failed: {job_id}: {error.strip().splitlines()[-1]}")
    return 1 if errors else 0


def _run_robustness(args: argparse.Namespace) -> int:
    from audioqual.analysis.robustness import METHODS, RobustnessConfig, run_study, write_summary
    from audioqual.config import load_config
    from audioqual.train.nr_config import NRTrainConfig

    base = load_config(NRTrainConfig, args.config, list(args.overrides))
    extra = {}
    for text in args.extra:
        name, _, path = text.partition("=")
        if not name or not path:
            raise AudioqualError(f"--extra {text!r}: expected NAME=MANIFEST")
        extra[name] = path
    config = RobustnessConfig(methods=args.methods or list(METHODS), seeds=args.seeds, held_out=args.held_out,
                              extra_eval=extra)
    results = run_study(base, args.manifest, config, args.out, progress=not args.quiet, shard=_parse_shard(args.shard))
    summary = write_summary(results, args.out, base.data.aspects)
    print(f"{len(results)} run(s); wrote {summary} and {Path(args.out) / 'runs.csv'}")
    return 0
