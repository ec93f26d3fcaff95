"""Full-reference speed, like for like: the default model (NSIM fusion v2) against ViSQOL v3 and the v1 model.

  python benchmarks/bench_fr_models.py [--pairs 50] [--repeats 3] [--threads 2]

Every side scores the same pre-decoded pairs (decoding is not timed, for
anyone): real pairs from the GenSVS development set when ../shared/data is
present (5 s, 48 kHz), else generated ones. Per pair, the sides run
interleaved (v2, ViSQOL, v1, v2, ViSQOL, v1, ...) so that machine load hits
them alike; after one warm-up pass, each pair is timed `--repeats` times and
its minimum kept. Printed: per side the median and total seconds per pair,
seconds per audio-second of the pair, and the ratio to ViSQOL. Then
`audioqual compare --ref R D` in a fresh process (imports included), median
of 5. Thread counts are fixed and printed; figures taken while other work
runs are indicative.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GENSVS = ROOT.parent / "shared" / "data" / "dev_listening" / "manifest.csv"
RATE = 48000


def load_pairs(count: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    from audioqual.io import AudioLoadOptions, load_audio

    options = AudioLoadOptions(sample_rate=RATE)
    if GENSVS.is_file():
        from audioqual.data.manifest import read_manifest

        entries = read_manifest(GENSVS, path_key="test")[:count]
        pairs = [(load_audio(e.resolve_path("reference"), options)[0], load_audio(e.path, options)[0]) for e in entries]
        return pairs, f"{len(pairs)} GenSVS pairs (5 s, 48 kHz mono)"
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(count):
        clean = (0.1 * rng.standard_normal((1, 5 * RATE))).astype(np.float32)
        pairs.append((clean, clean + (0.02 * rng.standard_normal(clean.shape)).astype(np.float32)))
    return pairs, f"{count} generated noise pairs (5 s, 48 kHz) - ../shared/data is absent"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from audioqual.metrics.registry import create
    from audioqual.models.registry import load_fr_scorer

    torch.set_num_threads(args.threads)
    pairs, what = load_pairs(args.pairs)
    print(f"{what}; {args.threads} thread(s) (OMP, torch); {os.cpu_count()} CPUs visible; "
          f"load average {os.getloadavg()}")
    v2, v1 = load_fr_scorer("default"), load_fr_scorer("default-v1")
    visqol = create("visqol")
    visqol.ensure_ready()
    sides = {
        "default (v2, NSIM fusion)": lambda r, d: v2.compare_samples(r[0], d[0]),
        "ViSQOL v3 audio": lambda r, d: visqol.score_pair(r, d, RATE),
        "default-v1 (DeePAQ)": lambda r, d: v1.compare_loaded(*_loaded(v1, r, d)),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    for reference, test in pairs:
        for run in range(args.repeats + 1):
            for name, score in sides.items():
                started = time.perf_counter()
                score(reference, test)
                elapsed = time.perf_counter() - started
                if run == 0:
                    continue  # warm-up
                if run == 1:
                    times[name].append(elapsed)
                else:
                    times[name][-1] = min(times[name][-1], elapsed)
    seconds = statistics.median(p[0].shape[1] / RATE for p in pairs)
    base = statistics.median(times["ViSQOL v3 audio"])
    print(f"\n{'side':28s} {'median s/pair':>14s} {'total s':>9s} {'s per audio-s':>14s} {'x faster than ViSQOL':>21s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28s} {median:14.4f} {sum(values):9.2f} {median / seconds:14.5f} {base / median:21.1f}")
    examples = ROOT / "audioqual" / "models" / "examples"
    command = [sys.executable, "-m", "audioqual.cli.main", "compare", "--ref", str(examples / "reference.flac"),
               str(examples / "mp3_32k.flac")]
    walls = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        walls.append(time.perf_counter() - started)
    print(f"\naudioqual compare --ref R D (fresh process, default model): median {statistics.median(walls):.2f} s "
          f"wall (min {min(walls):.2f}, max {max(walls):.2f}); load average after {os.getloadavg()}")
    return 0


def _loaded(scorer, reference: np.ndarray, test: np.ndarray):
    import soxr

    from audioqual.io.pair import LoadedAudio

    def at_rate(samples: np.ndarray) -> np.ndarray:
        return soxr.resample(samples[0], RATE, scorer.sample_rate).astype(np.float32)

    return LoadedAudio("<reference>", at_rate(reference), RATE), LoadedAudio("<test>", at_rate(test), RATE)


if __name__ == "__main__":
    sys.exit(main())
