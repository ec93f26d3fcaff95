"""DeePAQ speed: training seconds per step and scoring throughput.

  python benchmarks/bench_deepaq.py                          # MERT-v1-95M-shaped model (random weights), LoRA
  python benchmarks/bench_deepaq.py --arch tiny --device cpu # tiny HuBERT, quick CPU check
  python benchmarks/bench_deepaq.py --adaptation full --mixed-precision bf16

Weights are random (no download needed): speed depends on the architecture
only. A training step is forward + Rank-N-Contrast loss (ViSQOL + bitrate
terms) + backward + AdamW on a batch of clips; scoring embeds clips in
inference mode. Each is timed --steps times after --warmup discarded runs; prints one JSON
line per measurement with the median (and minimum and IQR relative to the median).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import MIN_REPETITIONS, fix_process, repeat  # noqa: E402

from audioqual.backbones import Backbone  # noqa: E402
from audioqual.backbones.tiny import tiny_backbone  # noqa: E402
from audioqual.deepaq.config import DeePAQTrainingConfig, ModelConfig  # noqa: E402
from audioqual.deepaq.model import DeePAQModel  # noqa: E402
from audioqual.deepaq.training import build_optimizer  # noqa: E402
from audioqual.losses.rank_n_contrast import CLEAN_CODEC, RankNContrastLoss  # noqa: E402


def build(arch: str, adaptation: str) -> DeePAQModel:
    torch.manual_seed(0)
    if arch == "tiny":
        backbone = tiny_backbone("hubert")
    else:
        backbone = Backbone.from_config(arch, mask_time_prob=0.0, layerdrop=0.0)
    return DeePAQModel.from_config(ModelConfig(backbone=None, backbone_arch=backbone.info.arch, adaptation=adaptation), backbone)


def labels(batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    mos = torch.rand(batch, generator=g, dtype=torch.float64) * 4 + 1
    codec = torch.randint(0, 3, (batch,), generator=g)
    bitrate = torch.tensor([16.0, 32.0, 64.0, 128.0], dtype=torch.float64)[torch.randint(0, 4, (batch,), generator=g)]
    codec[: max(1, batch // 8)] = CLEAN_CODEC
    bitrate[: max(1, batch // 8)] = math.inf
    return mos.to(device), bitrate.to(device), codec.to(device)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_training(model, device, batch, seconds, steps, warmup, dtype) -> dict:
    config = DeePAQTrainingConfig()
    optimizer = build_optimizer(model, config)
    loss_fn = RankNContrastLoss()
    waves = torch.randn(batch, int(seconds * model.sample_rate), device=device) * 0.1
    mos, bitrate, codec = labels(batch, device)
    model.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            embeddings = model(waves)
        loss = loss_fn(embeddings.float(), mos, bitrate, codec)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize(device)

    synchronize(device)
    times = repeat(step, steps, warmup)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    return {
        "measure": "train_step",
        "seconds_per_step": times.median,
        "min_seconds_per_step": times.minimum,
        "spread": times.spread,
        "clips_per_second": batch / times.median,
        "peak_gpu_memory_gib": peak,
    }


@torch.inference_mode()
def bench_scoring(model, device, batch, seconds, repeats, warmup, dtype) -> dict:
    model.eval()
    waves = torch.randn(batch, int(seconds * model.sample_rate), device=device) * 0.1

    def forward() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            model(waves)
        synchronize(device)

    synchronize(device)
    times = repeat(forward, repeats, warmup)
    clips_per_second = batch / times.median
    return {
        "measure": "scoring",
        "seconds_per_batch": times.median,
        "min_seconds_per_batch": times.minimum,
        "spread": times.spread,
        "clips_per_second": clips_per_second,
        "full_reference_pairs_per_second": clips_per_second / 2,  # test + reference (references are cached in practice)
        "audio_seconds_per_second": clips_per_second * seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="mert", choices=["mert", "wav2vec2", "hubert", "wavlm", "tiny"])
    parser.add_argument("--adaptation", default="lora", choices=["frozen", "lora", "full"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--score-batch", type=int, default=32)
    parser.add_argument("--clip-seconds", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (at least %d)" % MIN_REPETITIONS)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of every pool")
    args = parser.parse_args()
    print(fix_process(args.threads))

    device = torch.device(args.device)
    dtype = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.mixed_precision]
    model = build(args.arch, args.adaptation).to(device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    setup = {
        "arch": args.arch,
        "adaptation": args.adaptation,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "clip_seconds": args.clip_seconds,
        "sample_rate": model.sample_rate,
        "mixed_precision": args.mixed_precision,
        "trainable_parameters": trainable,
        "head_inputs": model.head.linear.in_features,
    }
    print(json.dumps({**setup, **bench_training(model, device, args.batch, args.clip_seconds, args.steps, args.warmup, dtype)}))
    print(json.dumps({**setup, "batch": args.score_batch,
                      **bench_scoring(model, device, args.score_batch, args.clip_seconds, args.steps, args.warmup, dtype)}))


if __name__ == "__main__":
    main()
