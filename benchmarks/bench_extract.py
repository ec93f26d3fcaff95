"""Extraction throughput and overhead against a bare `model(inputs)` forward.

Generates clips (44.1 kHz stereo WAV, so decoding, downmix and resampling are
included), then times, on the same clips and batches:
  bare:     the transformers model's forward on pre-loaded, pre-resampled tensors
  extract:  audioqual's extract_features into an empty cache (decode, resample,
            normalise, forward, pool, atomic cache write)
and prints audio seconds per wall second and overhead = extract / bare - 1.

  python benchmarks/bench_extract.py --size base --clips 32 --seconds 4 --device cpu

peak_rss_mb is the process's peak resident memory so far (sizes run in the
order given, so list them smallest first); peak_gpu_mb is torch's peak CUDA
allocation.
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from audioqual.backbones import Backbone
from audioqual.backbones.tiny import TINY_CONFIG
from audioqual.data.manifest import entries_from_paths
from audioqual.features import FeatureCache, FeatureSpec, extract_features, load_options_for
from audioqual.io import load_audio, save_audio

SIZES = {
    "tiny": dict(TINY_CONFIG),
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "large": {
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": True,
    },
}


def make_clips(folder: Path, count: int, seconds: float, rate: int = 44100) -> None:
    rng = np.random.default_rng(0)
    for index in range(count):
        t = np.arange(int(seconds * rate)) / rate
        signal = 0.2 * np.sin(2 * np.pi * (200 + 20 * index) * t) + 0.02 * rng.standard_normal(t.shape)
        save_audio(folder / f"clip{index:04d}.wav", np.stack([signal, signal]).astype(np.float32), rate)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.inference_mode()
def time_bare_forward(backbone: Backbone, clips: list[np.ndarray], batch_size: int, device: torch.device) -> float:
    batches = [torch.from_numpy(np.stack(clips[i : i + batch_size])).to(device) for i in range(0, len(clips), batch_size)]
    batches = [backbone.normalize(b) for b in batches]
    backbone.model(batches[0], output_hidden_states=True)  # warm-up
    synchronize(device)
    start = time.perf_counter()
    for batch in batches:
        backbone.model(batch, output_hidden_states=True)
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), nargs="+", default=["tiny", "base"])
    parser.add_argument("--arch", default="hubert")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3, help="best of N for both timings")
    parser.add_argument("--csv", help="append results to this CSV")
    args = parser.parse_args()
    device = torch.device(args.device)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "clips"
        make_clips(folder, args.clips, args.seconds)
        entries = entries_from_paths([folder])
        for size in args.size:
            torch.manual_seed(0)
            backbone = Backbone.from_config(args.arch, name=f"random-{args.arch}-{size}", **SIZES[size]).to(device)
            options = load_options_for(backbone)
            clips = [load_audio(e.path, options)[0][0] for e in entries]
            params = sum(p.numel() for p in backbone.parameters()) / 1e6
            backbone.fingerprint()  # computed once per model, outside the per-corpus timing
            bare = min(time_bare_forward(backbone, clips, args.batch_size, device) for _ in range(args.repeats))
            extract_times = []
            for repeat in range(args.repeats):
                cache = FeatureCache(Path(tmp) / f"cache-{size}-{repeat}")
                synchronize(device)
                start = time.perf_counter()
                result = extract_features(
                    entries, backbone, cache, FeatureSpec(), batch_size=args.batch_size, device=device, progress=False
                )
                synchronize(device)
                extract_times.append(time.perf_counter() - start)
                assert result.computed == len(entries) and not result.failures
            extract = min(extract_times)
            peak_gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
            audio_seconds = args.clips * args.seconds
            row = {
                "arch": args.arch,
                "size": size,
                "params_M": round(params, 1),
                "device": str(device),
                "clips": args.clips,
                "clip_s": args.seconds,
                "batch": args.batch_size,
                "bare_s": round(bare, 4),
                "extract_s": round(extract, 4),
                "audio_s_per_s_bare": round(audio_seconds / bare, 1),
                "audio_s_per_s_extract": round(audio_seconds / extract, 1),
                "overhead_pct": round(100 * (extract / bare - 1), 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
                "peak_gpu_mb": round(peak_gpu, 0),
            }
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.csv:
        path = Path(args.csv)
        new = not path.exists()
        with open(path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            if new:
                writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
