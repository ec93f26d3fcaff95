"""One pass of ViSQOL + PEAQ + 2f + the default model over a manifest versus four separate runs.

Generates a few stereo 48 kHz pairs (5 s, noise at several SNRs), then times,
in interleaved repetitions, `score_suite` with the four metrics and the sum of
four `score_pairs` runs (fresh outputs each time, so nothing is reused; metric
construction included in both). Prints the median and spread of each, their
ratio, and whether the values are identical. Figures are printed, not asserted.

  .venv/bin/python benchmarks/bench_metric_suite.py --pairs 4 --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from audioqual.io import save_audio
from audioqual.metrics.pairs import score_pairs
from audioqual.metrics.suite import parse_metric_names, score_suite

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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        manifest = make_pairs(folder, args.pairs, args.seconds)
        one_pass, separate, identical = [], [], True
        for repeat in range(args.repeats):
            start = time.perf_counter()
            run = score_suite(manifest, folder / f"suite{repeat}.csv", parse_metric_names(",".join(METRICS)),
                              progress=False)
            one_pass.append(time.perf_counter() - start)
            start = time.perf_counter()
            for name in METRICS:
                score_pairs(manifest, folder / f"{name}{repeat}.csv", name)
            separate.append(time.perf_counter() - start)
            suite_rows = read(folder / f"suite{repeat}.csv")
            for name in METRICS:
                column = run.headlines[name]
                identical &= [r[column] for r in suite_rows] == [r[column] for r in read(folder / f"{name}{repeat}.csv")]
    for label, times in (("one pass", one_pass), ("separate runs (sum)", separate)):
        print(f"{label:>20}: median {statistics.median(times):.2f} s, min {min(times):.2f}, max {max(times):.2f} "
              f"over {len(times)} repeats ({args.pairs} pairs of {args.seconds:g} s)")
    ratios = [a / b for a, b in zip(one_pass, separate)]
    print(f"{'ratio':>20}: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
          f"aim <= 0.85")
    print(f"{'identical values':>20}: {identical}")


if __name__ == "__main__":
    main()
