"""No-reference speed on real speech: the shipped default no-reference model against DNSMOS.

  python benchmarks/bench_nr.py [--clips 50] [--threads 2] [--json OUT]

Clips: the degraded signals of the TCD-VoIP development set (7-11 s, 48 kHz mono). Both sides
score the same files from disk, as their commands do: DNSMOS P.835 (onnxruntime with --threads
intra-op threads) through `score_one` without a reference, and the default no-reference model
through `audioqual.score(path)` (what `audioqual score` runs without --model) with an empty
feature cache, so that it computes its features as DNSMOS computes its own. Each clip is one
repetition, after one warm-up clip that is not among the timed ones (no cache can serve a timed
clip); the sides run interleaved per clip. Per side: seconds per audio-second (median, minimum,
IQR relative to the median); the ratio is DNSMOS's total time over the model's on the same clips (x
faster than DNSMOS: the throughput ratio), with its 95 % bootstrap interval over the clips. Memory:
how far the process's resident memory rises while the side is loaded and scores the warm-up clip.
Where no default no-reference model ships, its row says so and DNSMOS is timed alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devdata import tcdvoip_pairs  # noqa: E402
from report import Section, add_output_arguments, emit, interval, number  # noqa: E402
from timing import PeakMemory, Ratio, fix_process, interleave  # noqa: E402

COLUMNS = ["model or metric", "clips", "s per audio-s: median", "min", "IQR", "x faster than DNSMOS (95 %)",
           "memory MB"]  # fmt: skip


def dnsmos_side(threads: int):
    from audioqual.metrics.pairs import Pair, score_one
    from audioqual.metrics.registry import create

    metric = create("dnsmos", num_threads=threads)
    metric.ensure_ready()
    return lambda path: score_one(metric, Pair(None, path))


def default_nr_side():
    import audioqual

    return lambda path: audioqual.score(path)


def nr_section(clip_count: int, threads: int) -> Section:
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
    raw = interleave(sides, clips) if sides else {}
    stats = {key: value.per(seconds) for key, value in raw.items()}
    section.data = {key: value.to_dict() for key, value in stats.items()}
    for key, value in stats.items():
        speedup = "1 (the baseline)" if key == "dnsmos" else "no DNSMOS to compare with"
        if key != "dnsmos" and "dnsmos" in stats:
            ratio = Ratio.of_totals(raw["dnsmos"], raw[key])
            section.record(f"{key} x faster than DNSMOS ({len(clips)} clips)", ratio)
            speedup = interval(ratio)
        section.add(makers[key][0], len(clips), number(value.median), number(value.minimum),
                    f"{100 * value.spread:.0f} %", speedup, f"{memory[key]:.0f}")  # fmt: skip
    for label, reason in unavailable.items():
        section.add(label, 0, "not available", "", "", reason, "")
    section.seconds = time.perf_counter() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=50, help="TCD-VoIP test signals timed (192 exist)")
    add_output_arguments(parser)
    args = parser.parse_args()
    print(fix_process(args.threads), flush=True)
    with tempfile.TemporaryDirectory(prefix="audioqual-bench-cache-") as cache:
        os.environ["AUDIOQUAL_CACHE"] = cache  # read when audioqual's feature cache is imported, below
        emit([nr_section(args.clips, args.threads)], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
