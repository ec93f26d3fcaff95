"""How cost grows with clip length and with corpus size: where it grows faster than linearly.

  python benchmarks/bench_scaling.py [--lengths 1 10 30 120 600] [--corpus 10 40 160] [--threads 2] [--json OUT]

Clip length: one GenSVS pair (5 s, 44.1 kHz stereo) looped to each length and decoded beforehand,
scored as bench_fr_models.py scores a pair (nothing reused between runs) by the default model (v2),
default-v1, ViSQOL (audio mode), PEAQ and DNSMOS (the test signal only), each up to its cap (CAPS:
beyond it one run takes minutes, more than this benchmark's time). At each length L, one metric at a
time, its run at L and its run at the 10 s reference length alternate, the order reversed every
other repetition (A, A', A', A, ...: with all metrics in one round, 4 others ran between A and A'
and growth factors moved by 14-56 % between two runs; in one fixed order, default-v1's 10 s run
right after its 120 s run took 0.43 s in one run and 0.55 s in another, its growth factors 12-28 %
apart): at least 5 repetitions and more until the growth factor is known to +-4 % (95 %) or its time
budget is spent (`budget`; up to 3 budgets while it is known to worse than +-8 %), after two warm-up
runs at each length (discarded; shortest first, the process's resident memory sampled during the
first). A repetition of a short run scores the clip as many times as fill about 0.3 s (CALL_SECONDS,
sized by the second warm-up run: at 1 s the default model takes 6 ms, and single calls that short
moved its factors by 15-40 % between two runs of this benchmark). Per metric and length: seconds per
audio-second (median) and the growth factor, seconds per audio-second at L over those at 10 s (the
median of the per-repetition ratios, with its 95 % interval). Above 10 s a factor above 1 is cost
growing faster than the length; below 10 s it is a fixed cost per clip. Memory: how far resident
memory rose during the first warm-up run.

Corpus size: N pairs (the GenSVS pairs, repeated when N exceeds them) through the batch paths:
`score_pairs` with the default model (`audioqual metric default`: decode, score, journal every
row) and `extract_features` of the N test signals with the resemblyzer encoder (the default
no-reference model's) into a fresh cache. At each N each job alternates with the same job at the
smallest N, repeated as the lengths are (budget CORPUS_BUDGET: with 25 s, the resemblyzer
extraction's factor at 160 items stopped at 9 repetitions known to +-6-8 % and two runs gave 1.00 and
0.90); growth factor = seconds per item at N over seconds per item at the smallest N, the median of
the per-repetition ratios.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fr_models import forget_shared_movs  # noqa: E402
from devdata import decoded, gensvs_pairs  # noqa: E402
from report import Section, add_output_arguments, emit, interval, number  # noqa: E402
from timing import PATIENCE, PeakMemory, Ratio, calls_for, fix_process, interleave_until  # noqa: E402

REFERENCE_SECONDS = 10.0
CALL_SECONDS = 0.3  # a timed repetition of a short run repeats it to about this long
CORPUS_ENCODER = "resemblyzer"
METRICS = {  # key -> (registry name, options, label)
    "default": ("default", {}, "default (v2)"),
    "default-v1": ("default", {"model": "default-v1"}, "default-v1 (DeePAQ)"),
    "visqol": ("visqol", {}, "ViSQOL v3 audio"),
    "peaq": ("peaq", {}, "PEAQ Basic"),
    "dnsmos": ("dnsmos", {}, "DNSMOS P.835"),
}
CAPS = {"default": 600.0, "default-v1": 120.0, "visqol": 30.0, "peaq": 120.0, "dnsmos": 30.0}  # seconds of audio
LENGTH_COLUMNS = ["metric", "clip s", "runs (x calls each)", "s per audio-s: median",
                  f"growth vs {REFERENCE_SECONDS:g} s (95 %)", "memory MB"]  # fmt: skip
CORPUS_COLUMNS = ["batch job", "items", "runs", "s per item: median", "growth vs smallest (95 %)"]


def budget_cap(seconds: float, cap: float | None) -> float:
    """`seconds`, or `cap` when that is smaller (--budget: --quick's short runs)."""
    return seconds if cap is None else min(seconds, cap)


def patience(cap: float | None) -> float:
    """How many budgets an imprecise growth factor may take: a --budget cap is a hard one."""
    return PATIENCE if cap is None else 1.0


def budget(seconds: float, cap: float | None = None) -> float:
    """Seconds of timed repetitions of one metric at one clip length (fewer once precise), at most `cap`."""
    return budget_cap(20.0 if seconds <= 30 else 40.0 if seconds <= 120 else 60.0, cap)


CORPUS_BUDGET = 60.0


def growth(stats: dict, key: str, size: float, base: float, section: Section, ratio_name: str, base_cell: str,
           calls: dict | None = None):
    """Cost per unit at `size` and its growth cell against `base` (the ratio is recorded unless size is base).

    `calls[key, size]` is how many times one timed repetition ran the job (1 when absent)."""
    calls = calls or {}
    per_unit = stats[key, size].per([size * calls.get((key, size), 1)] * stats[key, size].n)
    ratio = Ratio.paired(per_unit, stats[key, base].per([base * calls.get((key, base), 1)] * per_unit.n))
    if size == base:
        return per_unit, base_cell
    section.record(ratio_name, ratio)
    return per_unit, interval(ratio)


def looped_pair(seconds: float):
    """One GenSVS pair looped to `seconds`: (Pair, {path: (samples, rate)})."""
    import numpy as np

    pairs, source = gensvs_pairs(1)
    pair = pairs[0]
    audio = {}
    for path in (pair.reference, pair.test):
        samples, rate = decoded(path)
        frames = int(seconds * rate)
        audio[path] = (np.tile(samples, (1, frames // samples.shape[1] + 1))[:, :frames], rate)
    return pair, audio, source


def length_section(lengths: list[float], threads: int, keys: list[str], cap: float | None = None) -> Section:
    from audioqual.metrics.pairs import Pair, PairAudio, score_one
    from audioqual.metrics.registry import create

    started = time.perf_counter()
    metrics = {}
    for key in keys:
        name, options, _ = METRICS[key]
        metrics[key] = create(name, **options, **({"num_threads": threads} if name == "dnsmos" else {}))
        metrics[key].ensure_ready()
    inputs = {}

    def side(key: str, seconds: float):
        if seconds not in inputs:
            inputs[seconds] = looped_pair(seconds)
        pair, audio, _ = inputs[seconds]
        if not metrics[key].info.requires_reference:
            pair = Pair(None, pair.test)

        def score(_) -> None:
            for _call in range(calls.get((key, seconds), 1)):
                forget_shared_movs()  # PEAQ would otherwise reuse the MOVs of its previous run on the same pair
                score_one(metrics[key], pair, PairAudio(pair, audio))

        return score

    section = Section("length", f"Cost against clip length (one pair of {looped_pair(1.0)[2]}, looped)",
                      __doc__.split("\n\n", 2)[2].split("\n\n")[0].replace("\n", " ").strip(), LENGTH_COLUMNS)  # fmt: skip
    capped = [f"{METRICS[key][2]} stops at {CAPS[key]:g} s" for key in keys if CAPS[key] < max(lengths)]
    if capped:
        section.notes.append("Capped to fit the run's time: " + "; ".join(capped) + ".")
    memory: dict[tuple[str, float], float] = {}
    calls: dict[tuple[str, float], int] = {}  # how many scorings one timed repetition makes

    def warm(key: str, seconds: float) -> None:
        with PeakMemory() as peak:
            side(key, seconds)(None)
        memory[key, seconds] = peak.growth_mb
        start = time.perf_counter()  # a second, warm call sizes the repetitions (the first one pays one-off costs)
        side(key, seconds)(None)
        calls[key, seconds] = calls_for(time.perf_counter() - start, CALL_SECONDS)

    all_lengths = sorted(set(lengths) | {REFERENCE_SECONDS})
    for seconds in all_lengths:  # shortest first, so that each rise is measured above the shorter runs' memory
        for key in keys:
            if seconds <= CAPS[key]:
                warm(key, seconds)
        inputs.pop(seconds, None)
    rows = {}
    reference = {key: side(key, REFERENCE_SECONDS) for key in keys}
    for seconds in all_lengths:
        for key in [key for key in keys if seconds <= CAPS[key]]:
            sides = {(key, seconds): side(key, seconds)}  # this metric alone: nothing else runs between its pair
            growths = []
            if seconds != REFERENCE_SECONDS:
                sides[key, REFERENCE_SECONDS] = reference[key]
                growths = [((key, seconds), (key, REFERENCE_SECONDS))]
            stats = interleave_until(sides, growths, budget=budget(seconds, cap), alternate=True,
                                     patience=patience(cap))
            at_length, cell = growth(stats, key, seconds, REFERENCE_SECONDS, section,
                                     f"{key} at {seconds:g} s / at {REFERENCE_SECONDS:g} s", "1 (the reference length)",
                                     calls)
            runs = at_length.n if calls[key, seconds] == 1 else f"{at_length.n} x {calls[key, seconds]}"
            rows[list(METRICS).index(key), seconds] = (METRICS[key][2], f"{seconds:g}", runs,
                                                       number(at_length.median), cell, f"{memory[key, seconds]:.0f}")
            for (name, length), value in stats.items():  # the 10 s runs beside each length are kept apart
                label = f"{name} {length:g}" + (f" beside {seconds:g}" if length != seconds else "")
                section.data[label] = value.to_dict()
        inputs.pop(seconds, None)  # long clips take hundreds of MB
    for place in sorted(rows):
        section.add(*rows[place])
    section.seconds = time.perf_counter() - started
    return section


def corpus_section(sizes: list[int], cap: float | None = None) -> Section:
    from audioqual.data.manifest import ManifestEntry
    from audioqual.features import FeatureCache, FeatureSpec, extract_features
    from audioqual.metrics.pairs import score_pairs
    from bench_extract import open_backbone

    started = time.perf_counter()
    all_pairs, source = gensvs_pairs(60)
    backbone = open_backbone(CORPUS_ENCODER)
    section = Section("corpus", f"Cost against corpus size ({source} pairs, repeated as needed)",
                      __doc__.split("\n\n", 3)[3].replace("\n", " ").strip(), CORPUS_COLUMNS)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="audioqual-bench-") as tmp:
        folder = Path(tmp)

        def jobs(count: int) -> dict:
            pairs = [all_pairs[i % len(all_pairs)] for i in range(count)]
            manifest = folder / f"pairs{count}.csv"
            with open(manifest, "w", newline="") as handle:
                csv.writer(handle).writerows([["test", "reference"], *[[p.test, p.reference] for p in pairs]])
            entries = [ManifestEntry(p.test, metadata={"id": str(i)}) for i, p in enumerate(pairs)]

            def metric(_) -> None:
                score_pairs(manifest, tempfile.mkdtemp(dir=folder) + "/scores.csv", "default")

            def extract(_) -> None:
                extract_features(entries, backbone, FeatureCache(tempfile.mkdtemp(dir=folder)), FeatureSpec(),
                                 device="cpu", progress=False)  # fmt: skip

            return {("metric default", count): metric, (f"extract {CORPUS_ENCODER}", count): extract}

        smallest = min(sizes)
        baseline = jobs(smallest)
        for run in baseline.values():
            run(None)  # warm-up
        for count in sorted(sizes):
            for job in ("metric default", f"extract {CORPUS_ENCODER}"):
                sides = {(job, count): jobs(count)[job, count] if count != smallest else baseline[job, count]}
                growths = []
                if count != smallest:
                    sides[job, smallest] = baseline[job, smallest]
                    growths = [((job, count), (job, smallest))]
                stats = interleave_until(sides, growths, budget=budget_cap(CORPUS_BUDGET, cap), alternate=True,
                                         patience=patience(cap))
                per_item, cell = growth(stats, job, count, smallest, section, f"{job} at {count} / at {smallest} items",
                                        "1 (the smallest corpus)")
                section.add(job, count, per_item.n, number(per_item.median), cell)
                section.data[f"{job} {count}"] = per_item.to_dict()
    section.rows.sort(key=lambda row: (row[0], int(row[1])))
    section.seconds = time.perf_counter() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=float, nargs="+", default=[1, 10, 30, 120, 600], help="clip seconds")
    parser.add_argument("--metrics", nargs="+", choices=list(METRICS), default=list(METRICS))
    parser.add_argument("--corpus", type=int, nargs="+", default=[10, 40, 160], help="corpus sizes (0: skip)")
    parser.add_argument("--budget", type=float, help="hard cap on the seconds of timing per length and corpus size")
    add_output_arguments(parser)
    args = parser.parse_args()
    print(fix_process(args.threads), flush=True)
    sections = [length_section(args.lengths, args.threads, args.metrics, args.budget)]
    if args.corpus != [0]:
        sections.append(corpus_section(args.corpus, args.budget))
    emit(sections, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
