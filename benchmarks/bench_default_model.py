"""Speed of the packaged default full-reference model on a 10 s stereo pair (CPU).

  python benchmarks/bench_default_model.py [--threads 2] [--repeats 20] [--seconds 10]

Writes a 10 s, 44.1 kHz stereo reference (the bundled example vocal, looped) and a
degraded copy (MP3 at 32 kbit/s) to a temporary folder, then times:
- model load (from the package folder);
- one pair scored with `DeePAQScorer.compare_files` (decode, downmix, resample to 48 kHz,
  two embeddings, distance, mapping), median and min over `--repeats` runs, with no
  reference-embedding cache (so both signals are embedded every time);
- the embedding forward passes alone;
- `audioqual compare --ref REF DEG` as a fresh process (Python start-up and imports included).
Prints the machine's load average before and after, since the CPU may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audioqual.deepaq import PACKAGED_MODEL
from audioqual.deepaq.model import DeePAQModel
from audioqual.deepaq.scorer import DeePAQScorer
from audioqual.degrade.codecs import code_round_trip
from audioqual.io import AudioLoadOptions, ChannelPolicy, load_audio, save_audio

EXAMPLE = Path(__file__).resolve().parents[1] / "audioqual" / "models" / "examples" / "reference.flac"


def make_pair(folder: Path, seconds: float) -> tuple[Path, Path]:
    samples, rate = load_audio(EXAMPLE, AudioLoadOptions(channels=ChannelPolicy.STEREO))
    frames = int(seconds * rate)
    looped = np.tile(samples, (1, frames // samples.shape[1] + 1))[:, :frames]
    degraded = code_round_trip(looped, rate, "mp3", 32).samples
    return save_audio(folder / "ref.wav", looped, rate), save_audio(folder / "deg.wav", degraded, rate)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPU(s) visible; "
          f"load average before: {os.getloadavg()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="audioqual-bench-") as tmp:
        ref, deg = make_pair(Path(tmp), args.seconds)
        started = time.perf_counter()
        model = DeePAQModel.from_pretrained(PACKAGED_MODEL)
        load_seconds = time.perf_counter() - started
        scorer = DeePAQScorer(model, device="cpu", reference_cache_size=0)  # embed both signals every time
        params = sum(p.numel() for p in model.parameters())
        print(f"model: {params / 1e6:.2f} M parameters, loaded in {load_seconds:.3f} s")
        scorer.compare_files(ref, deg)  # warm-up
        pair_times, embed_times = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = scorer.compare_files(ref, deg)
            pair_times.append(time.perf_counter() - started)
        a, b = scorer.load(ref).samples, scorer.load(deg).samples
        for _ in range(args.repeats):
            started = time.perf_counter()
            scorer.embed(a), scorer.embed(b)
            embed_times.append(time.perf_counter() - started)
        print(f"{args.seconds:g} s stereo 44.1 kHz pair (MP3 32 kbit/s): distance {result.distance:.3f}, "
              f"score {result.scores.get('score', float('nan')):.2f}")  # fmt: skip
        print(f"  compare_files (decode + resample + 2 embeddings + mapping): median {statistics.median(pair_times):.3f} s, "
              f"min {min(pair_times):.3f} s over {args.repeats}")  # fmt: skip
        print(f"  two embeddings only: median {statistics.median(embed_times):.3f} s, min {min(embed_times):.3f} s")
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), HF_HUB_OFFLINE="1")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "audioqual.cli.main", "compare", "--ref", str(ref), str(deg)],
                       check=True, capture_output=True, env=env)  # fmt: skip
        print(f"  `audioqual compare --ref REF DEG` fresh process, wall: {time.perf_counter() - started:.2f} s")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
