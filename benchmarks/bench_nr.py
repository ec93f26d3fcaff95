"""No-reference speed on real speech: the shipped default no-reference model against DNSMOS.

  python benchmarks/bench_nr.py [--clips 50] [--budget 60] [--threads 2] [--json OUT]

Clips: the degraded signals of the TCD-VoIP development set (7-11 s, 48 kHz mono). Both sides
score the same files from disk, as their commands do: DNSMOS P.835 (onnxruntime with --threads
intra-op threads) through `score_one` without a reference, and the default no-reference model
through `audioqual.score(path)` (what `audioqual score` runs without --model): an exported model
(onnxruntime) that keeps no feature cache, so it computes its features on every pass as DNSMOS
does. After one warm-up clip (not among the timed ones, discarded), the sides score each clip in
turn (A, B per clip), pass after pass over all clips, the order of the sides reversed on every other
pass; each pass is one repetition of the same work, at least 5 and more until the ratio is known to
+-4 % (95 %) or --budget seconds have gone by (up to 3 budgets while it is known only to worse than
+-8 %). One pass, ratio of the totals with a bootstrap interval over the clips, left two runs 11-14 %
apart: DNSMOS's time per clip varies sevenfold between clips, so the interval reflected the clips,
not the run. Per side: seconds per audio-second over every clip timing (median, minimum, IQR relative
to the median); the ratio is DNSMOS's total time over the model's per pass (x faster than DNSMOS),
the median over the passes with its order-statistic 95 % interval. Memory: how far the process's
resident memory rises while the side is loaded and scores the warm-up clip. Where no default
no-reference model ships, its row says so and DNSMOS is timed alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devdata import tcdvoip_pairs  # noqa: E402
from report import Section, add_output_arguments, emit, interval, number  # noqa: E402
from timing import PeakMemory, Ratio, fix_process, passes_until  # noqa: E402

COLUMNS = ["model or metric", "clips x passes", "s per audio-s: median", "min", "IQR", "x faster than DNSMOS (95 %)",
           "memory MB"]  # fmt: skip


def dnsmos_side(threads: int):
    from audioqual.metrics.pairs import Pair, score_one
    from audioqual.metrics.registry import create

    metric = create("dnsmos", num_threads=threads)
    metric.ensure_ready()
    return lambda path: score_one(metric, Pair(None, path))


def default_nr_side():
    import audioqual
    from audioqual.nr.exported import is_exported
    from audioqual.nr.shipped import default_nr_dir

    if default_nr_dir().is_dir() and not is_exported(default_nr_dir()):  # a cache would serve passes 2, 3, ...
        raise RuntimeError(f"{default_nr_dir()} is not an exported model: passes over the same clips would be cached")
    return lambda path: audioqual.score(path)


def nr_section(clip_count: int, threads: int, budget: float) -> Section:
    started = time.perf_counter()
    pairs, source = tcdvoip_pairs(clip_count + 1)
    warmup, clips = pairs[-1].test, [pair.test for pair in pairs[:-1]]
    section = Section("nr", f"No-reference: the default model against DNSMOS ({len(clips)} test signals of {source})",
                      __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(), COLUMNS)  # fmt: skip
    import soundfile

    from audioqual.errors import AudioqualError

    seconds = [soundfile.info(path).duration for path in clips]
    makers = {"dnsmos": ("DNSMOS P.835 (OVRL, SIG, BAK)", lambda: dnsmos_side(threads)),
              "default": ("default no-reference model", default_nr_side)}  # fmt: skip
    sides, memory, unavailable = {}, {}, {}
    for key, (label, make) in makers.items():
        try:
            with PeakMemory() as peak:
                side = make()
                side(warmup)
        except AudioqualError as err:
            unavailable[label] = str(err).split(":")[0]
            continue
        sides[key], memory[key] = side, peak.growth_mb
    ratios = [("dnsmos", key) for key in sides if key != "dnsmos" and "dnsmos" in sides]
    raw, totals = passes_until(sides, clips, ratios, budget=budget) if sides else ({}, {})
    passes = next(iter(totals.values())).n if totals else 0
    stats = {key: value.per(seconds * passes) for key, value in raw.items()}
    section.data = {key: value.to_dict() for key, value in stats.items()}
    section.data |= {f"{key} per pass": value.to_dict() for key, value in totals.items()}
    for key, value in stats.items():
        speedup = "1 (the baseline)" if key == "dnsmos" else "no DNSMOS to compare with"
        if ("dnsmos", key) in ratios:
            ratio = Ratio.paired(totals["dnsmos"], totals[key])
            section.record(f"{key} x faster than DNSMOS ({len(clips)} clips)", ratio)
            speedup = interval(ratio)
        section.add(makers[key][0], f"{len(clips)} x {passes}", number(value.median), number(value.minimum),
                    f"{100 * value.spread:.0f} %", speedup, f"{memory[key]:.0f}")  # fmt: skip
    for label, reason in unavailable.items():
        section.add(label, 0, "not available", "", "", reason, "")
    section.seconds = time.perf_counter() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=50, help="TCD-VoIP test signals timed (192 exist)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds of passes, at least 5 (fewer once precise, up to 3 budgets while imprecise)")
    add_output_arguments(parser)
    args = parser.parse_args()
    print(fix_process(args.threads), flush=True)
    emit([nr_section(args.clips, args.threads, args.budget)], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
