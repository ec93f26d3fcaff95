"""One pass of ViSQOL + PEAQ + 2f + the default model over a manifest versus four separate runs.

Generates a few stereo 48 kHz pairs (5 s, noise at several SNRs), then times `score_suite`
with the four metrics against the four `score_pairs` runs one after the other (fresh outputs
each time, so nothing is reused between repetitions; metric construction included in both),
interleaved (one pass, separate runs, one pass, ...) after one warm-up of each. One pass does
less work by design: it decodes each pair once and PEAQ and the 2f-model share their MOVs.
Prints the median and spread of each, the ratio of the medians with the quartiles of the
per-repetition ratios, and whether the values are identical. Figures are printed, not asserted.

  .venv/bin/python benchmarks/bench_metric_suite.py --pairs 4 --repeats 5
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import MIN_REPETITIONS, Ratio, fix_process, interleave  # noqa: E402

from audioqual.io import save_audio  # noqa: E402
from audioqual.metrics.pairs import score_pairs  # noqa: E402
from audioqual.metrics.suite import parse_metric_names, score_suite  # noqa: E402

METRICS = ("visqol", "peaq", "twof", "default")


def make_pairs(folder: Path, n: int, seconds: float) -> Path:
    """n stereo reference/test pairs at 48 kHz and their manifest."""
    rng = np.random.default_rng(0)
    rate, rows = 48000, []
    t = np.arange(int(seconds * rate)) / rate
    for i in range(n):
        tone = 0.2 * np.sin(2 * np.pi * (220 + 40 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        ref = np.stack([tone, np.roll(tone, 100)]) + 0.01 * rng.standard_normal((2, t.size))
        deg = ref + 10 ** (-(10 + 5 * i) / 20) * 0.2 * rng.standard_normal(ref.shape)
        save_audio(folder / f"ref{i}.wav", ref.astype(np.float32), rate)
        save_audio(folder / f"deg{i}.wav", deg.astype(np.float32), rate)
        rows.append({"test": f"deg{i}.wav", "reference": f"ref{i}.wav"})
    manifest = folder / "pairs.csv"
    with open(manifest, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["test", "reference"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=MIN_REPETITIONS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(fix_process(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = make_pairs(folder, args.pairs, args.seconds)
        runs = itertools.count()
        outputs: list[tuple[Path, dict[str, str], Path]] = []  # suite output, its headline columns, separate folder

        def one_pass(_) -> None:
            output = folder / f"suite{next(runs)}.csv"
            run = score_suite(manifest, output, parse_metric_names(",".join(METRICS)), progress=False)
            outputs.append((output, run.headlines, folder / f"separate{len(outputs)}"))

        def separate(_) -> None:
            target = outputs[-1][2]
            target.mkdir()
            for name in METRICS:
                score_pairs(manifest, target / f"{name}.csv", name)

        stats = interleave({"one pass": one_pass, "separate runs (sum)": separate}, [None] * args.repeats, [None])
        identical = all(
            [r[headlines[name]] for r in read(suite)] == [r[headlines[name]] for r in read(others / f"{name}.csv")]
            for suite, headlines, others in outputs for name in METRICS
        )
    for label, times in stats.items():
        print(f"{label:>20}: {times.describe()} ({args.pairs} pairs of {args.seconds:g} s)")
    ratio = Ratio.paired(stats["one pass"], stats["separate runs (sum)"])
    print(f"{'ratio':>20}: {ratio.describe()}; aim <= 0.85")
    print(f"{'identical values':>20}: {identical}")


if __name__ == "__main__":
    main()
