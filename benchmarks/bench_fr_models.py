"""Full-reference speed on real pairs, like for like: every shipped model and registered metric against ViSQOL.

  python benchmarks/bench_fr_models.py [--pairs 60] [--passes 3] [--slow-pairs 6] [--threads 2] [--json OUT]

Pairs: the GenSVS development set (5 s, 44.1 kHz stereo), decoded once before any timing. Every
side scores the same pairs the way `audioqual metric` scores one pair (`score_one`: downmix and
resample to the metric's rate, then the metric), and none keeps anything between pairs or metrics:
CDPAM's embedding cache is off, DeePAQ (default-v1) embeds both signals of every pair (what its
reference cache saves is bench_default_model.py's own line), and PEAQ and the 2f-model each
compute the MOVs they share (what sharing saves is its own line). Each pair is one repetition: after
one warm-up call per side (discarded), the sides run interleaved on each pair (A, B, C, A, B, C
...), and over all pairs --passes times, the order of the sides reversed on every other pass (which
side runs after which changes its time). Per side: seconds per audio-second of the test signal
(median and minimum over the pair timings, IQR relative to the median) and ViSQOL's time over its
own (x faster than ViSQOL) as the ratio of the total times over the same pairs (the throughput
ratio; the ratio of the medians of different pairs moved by up to 17 % between two runs, one pass
of totals in one order by up to 13 %), with its 95 % bootstrap interval over the pair timings.
HAAQI and CDPAM take seconds per pair, so they run on the first --slow-pairs pairs only, in
SLOW_PASSES passes (one pass left their ratios 12 % and 15 % apart over five runs), interleaved with
ViSQOL on those same pairs; there ViSQOL scores each pair as many times as fill
the slow sides' mean time per pair (sized on a warm call; its time per call is kept), so that both
sides of the ratio span the same stretch of the machine's drifting speed.
Memory: how far the process's resident memory rises while the metric is built and scores its
first pair.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devdata import decoded, gensvs_pairs  # noqa: E402
from report import Section, add_output_arguments, emit, interval, number  # noqa: E402
from timing import PeakMemory, Ratio, calls_for, fix_process, interleave  # noqa: E402

BASELINE = "visqol"
SLOW_PASSES = 2  # over the --slow-pairs pairs, the second in reverse order


@dataclass(frozen=True)
class Side:
    """One timed side: registry metric names scored in turn on each pair, with their options."""

    label: str
    metrics: tuple[tuple[str, dict], ...]
    alone: bool = True  # forget the PEAQ MOVs that PEAQ and the 2f-model keep for each other


SIDES = {
    "default": Side("default (v2, NSIM fusion)", (("default", {}),)),
    "default-v1": Side("default-v1 (DeePAQ)", (("default", {"model": "default-v1"}),)),
    "visqol": Side("ViSQOL v3, audio mode", (("visqol", {}),)),
    "visqol-speech": Side("ViSQOL v3, speech mode", (("visqol-speech", {}),)),
    "peaq": Side("PEAQ Basic", (("peaq", {}),)),
    "twof": Side("2f-model", (("twof", {}),)),
    "peaq+twof": Side("PEAQ and 2f-model on the same pair (MOVs computed once, as `metric peaq,twof` does)",
                      (("peaq", {}), ("twof", {})), alone=False),
    "embedding-distance": Side("embedding distance (musicnn)", (("embedding-distance", {}),)),
}
SLOW_SIDES = {
    "haaqi": Side("HAAQI", (("haaqi", {}),)),
    "cdpam": Side("CDPAM", (("cdpam", {"cache_size": 0}),)),
}
COLUMNS = ["model or metric", "pairs", "s per audio-s: median", "min", "IQR", "x faster than ViSQOL (95 %)",
           "memory MB"]  # fmt: skip


def forget_shared_movs() -> None:
    """PEAQ and the 2f-model keep the last pair's MOVs for each other: timed alone, each computes them."""
    from audioqual.baselines import peaq_metric

    peaq_metric._LAST_MOVS.clear()


def scorer(side: Side, audio: dict):
    """Score one pair from its decoded samples with every metric of `side`, each through a fresh PairAudio."""
    from audioqual.metrics.pairs import PairAudio, score_one
    from audioqual.metrics.registry import create

    metrics = []
    for name, options in side.metrics:
        metric = create(name, **options)
        metric.ensure_ready()
        metrics.append(metric)

    def score(pair) -> None:
        for index, metric in enumerate(metrics):
            if side.alone or index == 0:
                forget_shared_movs()
            score_one(metric, pair, PairAudio(pair, {pair.reference: audio[pair.reference],
                                                     pair.test: audio[pair.test]}))  # fmt: skip

    return score


def build(sides: dict[str, Side], audio: dict, first_pair) -> tuple[dict, dict[str, float], dict[str, str]]:
    """Each side's scorer (built and warmed up on one pair), its memory rise, or why it is not available."""
    from audioqual.errors import AudioqualError

    scorers, memory, unavailable = {}, {}, {}
    for key, side in sides.items():
        try:
            with PeakMemory() as peak:
                scorers[key] = scorer(side, audio)
                scorers[key](first_pair)  # warm-up: imports, JIT compilation, model loading
        except (AudioqualError, ImportError, OSError) as err:
            unavailable[key] = f"{type(err).__name__}: {err}"
            scorers.pop(key, None)
            continue
        memory[key] = peak.growth_mb
    return scorers, memory, unavailable


def balanced_calls(sides: dict, pair) -> int:
    """How often the baseline scores a pair so that its timing lasts as long as the other sides' mean (warm calls)."""
    took = {}
    for key, score in sides.items():
        start = time.perf_counter()
        score(pair)
        took[key] = time.perf_counter() - start
    others = [value for key, value in took.items() if key != BASELINE]
    return calls_for(took[BASELINE], sum(others) / len(others)) if others else 1


def fr_section(pair_count: int, slow_count: int, passes: int = 3) -> Section:
    started = time.perf_counter()
    pairs, source = gensvs_pairs(max(pair_count, slow_count))
    audio = {path: decoded(path) for pair in pairs for path in (pair.reference, pair.test)}
    seconds = [audio[pair.test][0].shape[1] / audio[pair.test][1] for pair in pairs]
    section = Section(
        "fr", f"Full-reference models and metrics against ViSQOL ({len(pairs[:pair_count])} pairs of {source})",
        __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(), COLUMNS,
    )
    groups = [(SIDES, pairs[:pair_count], passes)]
    if slow_count > 0:
        groups.append(({BASELINE: SIDES[BASELINE], **SLOW_SIDES}, pairs[:slow_count], SLOW_PASSES))
    else:
        section.notes.append(f"{', '.join(side.label for side in SLOW_SIDES.values())}: not run (--slow-pairs 0)")
    built, memory = {}, {}
    for sides, timed, group_passes in groups:
        todo = {key: value for key, value in sides.items() if key not in built}
        scorers, rises, unavailable = build(todo, audio, pairs[0])
        built.update(scorers)
        memory.update(rises)
        for key, reason in unavailable.items():
            section.add(sides[key].label, 0, "not available", "", "", reason, "")
        timed_sides = {key: built[key] for key in sides if key in built}
        baseline_calls = 1
        if sides is not SIDES and BASELINE in timed_sides:
            baseline_calls = balanced_calls(timed_sides, pairs[0])
            once = timed_sides[BASELINE]
            timed_sides[BASELINE] = lambda pair: [once(pair) for _ in range(baseline_calls)]
        # passes over the pairs, the sides' order reversed every other pass: which side follows which changes
        # its time (a torch side leaves OpenMP threads spinning); in one order, two runs put default-v1 and
        # ViSQOL speech mode 12-13 % apart
        stats = interleave(timed_sides, timed * group_passes, reverse_every=len(timed))
        if BASELINE in stats:
            stats[BASELINE] = stats[BASELINE].per([baseline_calls] * stats[BASELINE].n)
        sizes = seconds[: len(timed)] * group_passes
        per_second = {key: value.per(sizes) for key, value in stats.items()}
        section.data[f"{len(timed)} pairs"] = {key: value.to_dict() for key, value in per_second.items()}
        for key, value in per_second.items():
            if sides is not SIDES and key == BASELINE:
                continue  # the baseline's own row is the one on all pairs
            speedup = "1 (the baseline)" if key == BASELINE else "ViSQOL not available"
            if key != BASELINE and BASELINE in stats:
                ratio = Ratio.of_totals(stats[BASELINE], stats[key])
                speedup = interval(ratio)
                section.record(f"{key} x faster than ViSQOL ({len(timed)} pairs)", ratio)
            section.add(sides[key].label, len(timed), number(value.median), number(value.minimum),
                        f"{100 * value.spread:.0f} %", speedup, f"{memory[key]:.0f}")
        if group_passes > 1:
            section.notes.append(f"The {len(timed)} pairs were timed in {group_passes} passes "
                                 f"({len(timed) * group_passes} timings per side), the sides in reverse order "
                                 "on every other pass.")
        if baseline_calls > 1:
            section.notes.append(f"On the {len(timed)} pairs of {', '.join(k for k in stats if k != BASELINE)}, "
                                 f"ViSQOL scored each pair {baseline_calls} times per timing (its time per call kept).")
    section.seconds = time.perf_counter() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=60, help="GenSVS pairs for the main metrics (60 exist)")
    parser.add_argument("--passes", type=int, default=3, help="passes over the --pairs pairs (sides reversed on each)")
    parser.add_argument("--slow-pairs", type=int, default=6, help="pairs for HAAQI and CDPAM (0: skip them)")
    add_output_arguments(parser)
    args = parser.parse_args()
    print(fix_process(args.threads), flush=True)
    emit([fr_section(args.pairs, args.slow_pairs, args.passes)], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
