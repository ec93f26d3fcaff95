"""Speed of the pretrained encoders, and the overhead of feature extraction over their bare forward.

Printed figures, not a test. For each encoder (default variant, plus
torchcrepe:full and musicnn:MSD_vgg):

  forward   seconds per audio-second of `Backbone.forward` on one 10 s clip,
            with torch's (and onnxruntime's) intra-op threads fixed to 2 and
            then 1; `--warmup` runs discarded, then `--repeats` timed runs:
            median, min and spread ((max - min) / median).
  overhead  `audioqual.features.extract_features` (hash, decode, batch,
            forward, pool, atomic cache write) into a fresh, empty cache
            directory on `--clips` generated clips, over the bare forward of
            the same clips (pre-decoded tensors, same batch), the two sides
            interleaved A, B, A, B ... in this process; ratio of the medians.
            Run at `--overhead-threads` (default 1: on a shared machine a
            2-thread forward swings by several times between runs, which
            drowns a ratio near 1). The clips are written as mono WAV at the encoder's own rate
            (`--source-rate native`), so the ratio is the harness's cost, not
            resampling's; `--source-rate 44100` includes resampling.

Times on a machine shared with other jobs are indicative: the medians move
with the load, the minimum is the best estimate of the unloaded cost.

  OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_encoders.py
  python benchmarks/bench_encoders.py --encoders cdpam torchcrepe:full --clips 2 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audioqual.backbones import Backbone
from audioqual.backbones.encoders.protobuf import fields, read_varint
from audioqual.data.manifest import entries_from_paths
from audioqual.features import (
    FeatureCache,
    FeatureSpec,
    extract_features,
    load_options_for,
)
from audioqual.io import load_audio, save_audio

DEFAULT_ENCODERS = ["resemblyzer", "musicnn", "musicnn:MSD_vgg", "basic-pitch", "dnsmos", "distillmos",
                    "torchcrepe", "torchcrepe:full", "cdpam"]  # fmt: skip


def set_threads(backbone: Backbone, threads: int) -> None:
    """Fix torch's intra-op threads; ONNX encoders read them when their session opens, so reopen it."""
    torch.set_num_threads(threads)
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


def onnx_parameter_count(data: bytes) -> int:
    """Number of values in an ONNX model's initializers (ModelProto.graph.initializer[].dims), without `onnx`."""
    total = 0
    for number, graph in fields(data):
        if number != 7 or not isinstance(graph, bytes):  # ModelProto.graph
            continue
        for g_number, tensor in fields(graph):
            if g_number != 5 or not isinstance(tensor, bytes):  # GraphProto.initializer
                continue
            dims = []
            for t_number, value in fields(tensor):
                if t_number != 1:  # TensorProto.dims
                    continue
                if isinstance(value, bytes):  # packed
                    pos = 0
                    while pos < len(value):
                        dim, pos = read_varint(value, pos)
                        dims.append(dim)
                else:
                    dims.append(value)
            total += int(np.prod(dims)) if dims else 1
    return total


def parameter_count(backbone: Backbone) -> int:
    model_bytes = getattr(backbone, "_model_bytes", None)
    if model_bytes is not None:
        return onnx_parameter_count(model_bytes)
    return sum(p.numel() for p in backbone.parameters())


@torch.inference_mode()
def time_forward(backbone: Backbone, waveform: torch.Tensor, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        backbone(waveform)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backbone(waveform)
        times.append(time.perf_counter() - start)
    return times


def summary(times: list[float], audio_seconds: float) -> dict[str, float]:
    per = [t / audio_seconds for t in times]
    median = statistics.median(per)
    return {"median": median, "min": min(per), "spread": (max(per) - min(per)) / median}


def measure_overhead(backbone: Backbone, folder: Path, args) -> dict[str, float]:
    """Interleaved bare forward (A) and extract_features into a fresh cache (B) on the same clips."""
    rate = backbone.sample_rate if args.source_rate == "native" else int(args.source_rate)
    for index in range(args.clips):
        save_audio(folder / f"clip{index:03d}.wav", make_signal(args.seconds, rate, index)[None], rate)
    entries = entries_from_paths([folder])
    options = load_options_for(backbone)
    clips = [load_audio(e.path, options)[0][0] for e in entries]
    batch = torch.from_numpy(np.stack(clips))
    backbone.fingerprint()  # once per model, as in any real run (a cache key part), outside the timing
    with torch.inference_mode():
        for _ in range(args.warmup):
            backbone(batch)
    bare, extract = [], []
    for repeat in range(args.overhead_repeats):
        start = time.perf_counter()
        with torch.inference_mode():
            hidden = backbone(batch).hidden_states
            hidden.mean(dim=2)  # the same pooling extract_features does
        bare.append(time.perf_counter() - start)
        cache = FeatureCache(folder / f"cache-{repeat}")
        start = time.perf_counter()
        result = extract_features(entries, backbone, cache, FeatureSpec(), batch_size=args.clips, device="cpu",
                                  progress=False)  # fmt: skip
        extract.append(time.perf_counter() - start)
        assert result.computed == len(entries) and not result.failures, result.failures
    ratios = [b / a for a, b in zip(bare, extract)]
    return {"bare": statistics.median(bare), "extract": statistics.median(extract),
            "ratio": statistics.median(extract) / statistics.median(bare), "pair_min": min(ratios),
            "pair_max": max(ratios)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", nargs="+", default=DEFAULT_ENCODERS)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (forward and overhead)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clips", type=int, default=8, help="clips of the overhead comparison")
    parser.add_argument("--overhead-repeats", type=int, default=5)
    parser.add_argument("--overhead-threads", type=int, default=1)
    parser.add_argument("--source-rate", default="native", help="rate of the generated WAVs: native or Hz")
    parser.add_argument("--no-overhead", action="store_true")
    args = parser.parse_args()

    rows = []
    for name in args.encoders:
        backbone = Backbone.from_pretrained(name).eval()
        rate = backbone.sample_rate
        waveform = torch.from_numpy(make_signal(args.seconds, rate, 0))[None]
        row = {"encoder": name, "params": parameter_count(backbone), "rate": rate}
        for threads in args.threads:
            set_threads(backbone, threads)
            stats = summary(time_forward(backbone, waveform, args.warmup, args.repeats), args.seconds)
            row[threads] = stats
            print(f"{name:16s} threads={torch.get_num_threads()}  s/audio-s median {stats['median']:.4f}  "
                  f"min {stats['min']:.4f}  spread {100 * stats['spread']:.0f}%  ({args.repeats} runs after "
                  f"{args.warmup} warm-up, {args.seconds:g} s clip)", flush=True)
        if not args.no_overhead:
            set_threads(backbone, args.overhead_threads)
            with tempfile.TemporaryDirectory() as tmp:
                over = measure_overhead(backbone, Path(tmp), args)
            row["overhead"] = over
            print(f"{name:16s} threads={args.overhead_threads}  {args.clips} x {args.seconds:g} s: bare "
                  f"{over['bare']:.3f} s, extract {over['extract']:.3f} s, overhead x{over['ratio']:.3f} "
                  f"(pairs x{over['pair_min']:.3f}..x{over['pair_max']:.3f})", flush=True)
        rows.append(row)
        del backbone

    print()
    head = ["encoder", "params", "rate"] + [f"s/audio-s {t} thr (median, min, spread)" for t in args.threads]
    head.append(f"overhead ({args.overhead_threads} thr)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        cells = [row["encoder"], f"{row['params'] / 1e6:.2f} M", str(row["rate"])]
        for t in args.threads:
            s = row[t]
            cells.append(f"{s['median']:.4f} ({s['min']:.4f}, {100 * s['spread']:.0f}%)")
        cells.append(f"x{row['overhead']['ratio']:.3f}" if "overhead" in row else "-")
        print("| " + " | ".join(cells) + " |")
    print("\nFigures taken on a machine shared with other jobs are indicative; the min is the least disturbed run.")


if __name__ == "__main__":
    main()
