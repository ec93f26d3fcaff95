"""All throughput benchmarks in one run: a printed table, a CSV and a plot.

  python benchmarks/run_all.py [--out runs/bench] [--quick]

1. Feature extraction against a bare forward of the same backbone, per backbone
   size (random weights: speed depends on the architecture only), with peak
   memory; each configuration runs in its own process so its peak RSS is its own.
2. How extraction time grows with clip length and with corpus size.
3. DeePAQ full-reference scoring (decode, resample, embed both signals, distance)
   against a bare forward of the same backbone on the same clips, per size.
4. DeePAQ full-reference scoring against visqol-python (audio mode) on the same
   pairs; the DeePAQ model is the shipped default when installed, else a
   MERT-shaped model with random weights (the output says which).
Ratios are measured within this one run, on this machine.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def run_extract(args: list[str], csv_path: Path) -> list[dict[str, str]]:
    """One bench_extract.py process; returns the rows it appended."""
    before = len(read_csv(csv_path))
    subprocess.run([sys.executable, str(HERE / "bench_extract.py"), *args, "--csv", str(csv_path)], check=True)
    return read_csv(csv_path)[before:]


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def scoring_vs_bare(size: str, pairs: int, seconds: float) -> dict[str, float | str]:
    """DeePAQ full-reference scoring of `pairs` file pairs against bare forwards of the same backbone."""
    import torch

    from audioqual.backbones import Backbone
    from audioqual.deepaq.config import ModelConfig
    from audioqual.deepaq.model import DeePAQModel
    from audioqual.deepaq.scorer import DeePAQScorer
    from bench_extract import SIZES, make_clips, time_bare_forward

    torch.manual_seed(0)
    backbone = Backbone.from_config("hubert", name=f"random-hubert-{size}", **SIZES[size])
    model = DeePAQModel.from_config(ModelConfig(backbone=None, backbone_arch="hubert", adaptation="frozen"), backbone)
    scorer = DeePAQScorer(model, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_clips(folder, 2 * pairs, seconds)
        files = sorted(folder.glob("*.wav"))
        clips = [scorer.load(path).samples for path in files]
        bare = min(time_bare_forward(backbone, clips, 1, torch.device("cpu")) for _ in range(2))
        scorer.compare_files(files[0], files[1])  # warm-up
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            for index in range(pairs):
                scorer.compare_files(files[2 * index], files[2 * index + 1])
            timings.append(time.perf_counter() - start)
    scoring = min(timings)
    return {
        "size": size,
        "params_M": round(sum(p.numel() for p in backbone.parameters()) / 1e6, 1),
        "pairs": pairs,
        "pair_seconds": seconds,
        "bare_s": round(bare, 4),
        "scoring_s": round(scoring, 4),
        "overhead_pct": round(100 * (scoring / bare - 1), 1),
    }


def deepaq_vs_visqol(pairs: int, seconds: float) -> dict[str, float | str]:
    """Pairs per second of DeePAQ scoring and of ViSQOL on the same generated pairs."""
    from audioqual.baselines.visqol import ViSQOLMetric
    from audioqual.deepaq import DEFAULT_MODEL, load_model
    from audioqual.deepaq.scorer import DeePAQScorer
    from audioqual.io import save_audio

    if (Path(DEFAULT_MODEL) / "deepaq.json").is_file():
        model, label = load_model(), f"default model ({DEFAULT_MODEL})"
    else:
        from audioqual.backbones import Backbone
        from audioqual.deepaq.config import ModelConfig
        from audioqual.deepaq.model import DeePAQModel

        backbone = Backbone.from_config("mert", mask_time_prob=0.0, layerdrop=0.0)
        model = DeePAQModel.from_config(ModelConfig(backbone=None, backbone_arch="mert", adaptation="frozen"), backbone)
        label = "MERT-95M-shaped, random weights (no default model installed)"
    scorer = DeePAQScorer(model, device="cpu")
    visqol = ViSQOLMetric()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for index in range(pairs):
            t = np.arange(int(48000 * seconds)) / 48000
            clean = (0.3 * np.sin(2 * np.pi * (220 + 30 * index) * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
            noisy = clean + 0.03 * rng.standard_normal(t.size).astype(np.float32)
            files.append(
                (save_audio(Path(tmp) / f"r{index}.wav", np.stack([clean, clean]), 48000),
                 save_audio(Path(tmp) / f"d{index}.wav", np.stack([noisy, noisy]), 48000))
            )
        scorer.compare_files(*files[0])  # warm-up
        start = time.perf_counter()
        for reference, test in files:
            scorer.compare_files(reference, test)
        deepaq_s = time.perf_counter() - start
        from audioqual.metrics.pairs import Pair, score_one

        score_one(visqol, Pair(str(files[0][0]), str(files[0][1])))  # warm-up (numba compile)
        start = time.perf_counter()
        for reference, test in files:
            score_one(visqol, Pair(str(reference), str(test)))
        visqol_s = time.perf_counter() - start
    return {
        "deepaq_model": label,
        "pairs": pairs,
        "pair_seconds": seconds,
        "deepaq_s_per_pair": round(deepaq_s / pairs, 4),
        "visqol_s_per_pair": round(visqol_s / pairs, 4),
        "speedup_vs_visqol": round(visqol_s / deepaq_s, 2),
    }


def plot(rows: list[dict[str, str]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    sizes = [r for r in rows if r["study"] == "size"]
    positions = np.arange(len(sizes))
    axes[0].bar(positions - 0.2, [float(r["audio_s_per_s_extract"]) for r in sizes], 0.4, label="extract")
    axes[0].bar(positions + 0.2, [float(r["audio_s_per_s_bare"]) for r in sizes], 0.4, label="bare forward")
    axes[0].set_xticks(positions, [f"{r['size']} ({r['params_M']} M)" for r in sizes])
    axes[0].set(title="Throughput by backbone size", ylabel="audio seconds per wall second", yscale="log")
    axes[0].legend()
    for ax, study, key, label in (
        (axes[1], "length", "clip_s", "clip length (s)"),
        (axes[2], "corpus", "clips", "corpus size (clips)"),
    ):
        points = [r for r in rows if r["study"] == study]
        ax.plot([float(r[key]) for r in points], [float(r["extract_s"]) for r in points], "o-", label="extract")
        ax.plot([float(r[key]) for r in points], [float(r["bare_s"]) for r in points], "s--", label="bare forward")
        ax.set(title=f"Time vs {label}", xlabel=label, ylabel="wall seconds", xscale="log", yscale="log")
        ax.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/bench", help="folder for the CSV files and bench.png")
    parser.add_argument("--quick", action="store_true", help="fewer and shorter clips (a smoke run)")
    parser.add_argument("--sizes", nargs="+", default=["tiny", "base"], help="backbone sizes (large is slow on CPU)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "extract_raw.csv"
    raw.unlink(missing_ok=True)
    clips = 4 if args.quick else 16
    rows: list[dict[str, str]] = []
    for size in args.sizes:
        for row in run_extract(["--size", size, "--clips", str(clips), "--seconds", "4", "--repeats", "2"], raw):
            rows.append({"study": "size", **row})
    for seconds in ((2, 8) if args.quick else (2, 8, 32)):
        for row in run_extract(["--size", "tiny", "--clips", "4", "--seconds", str(seconds), "--repeats", "2"], raw):
            rows.append({"study": "length", **row})
    for count in ((4, 16) if args.quick else (8, 32, 128)):
        for row in run_extract(["--size", "tiny", "--clips", str(count), "--seconds", "2", "--repeats", "2"], raw):
            rows.append({"study": "corpus", **row})
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    columns = ["study", "size", "params_M", "clips", "clip_s", "bare_s", "extract_s", "overhead_pct",
               "audio_s_per_s_extract", "peak_rss_mb"]
    print("\n" + " | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[c]) for c in columns))

    sys.path.insert(0, str(HERE))
    scoring_rows = [scoring_vs_bare(size, pairs=2 if args.quick else 8, seconds=4.0) for size in args.sizes]
    with open(out / "scoring_vs_bare.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(scoring_rows[0]))
        writer.writeheader()
        writer.writerows(scoring_rows)
    print("\nDeePAQ scoring vs bare forward (2 forwards per pair):")
    for row in scoring_rows:
        print("  " + ", ".join(f"{k}={v}" for k, v in row.items()))

    comparison = deepaq_vs_visqol(pairs=3 if args.quick else 8, seconds=4.0)
    with open(out / "deepaq_vs_visqol.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(comparison))
        writer.writeheader()
        writer.writerow(comparison)
    print("\nDeePAQ vs ViSQOL: " + ", ".join(f"{k}={v}" for k, v in comparison.items()))
    plot(rows, out / "bench.png")
    print(f"\nwrote {out / 'results.csv'}, {out / 'scoring_vs_bare.csv'}, {out / 'deepaq_vs_visqol.csv'}, {out / 'bench.png'}")


if __name__ == "__main__":
    main()
