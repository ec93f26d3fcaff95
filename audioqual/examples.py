"""The quick-start job: generate example audio and run the toolkit's pipeline on it.

Run as `python -m audioqual.examples OUT_DIR`. It writes a few synthetic
clips, builds a tiny randomly initialised backbone (no weights can be
downloaded offline, and the output says so), and extracts cached features
twice to show the cache at work.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from audioqual.backbones.tiny import tiny_backbone
from audioqual.data.manifest import entries_from_paths
from audioqual.features import FeatureCache, extract_features
from audioqual.io import save_audio


def write_example_clips(folder: Path, count: int = 4, rate: int = 44100, seconds: float = 3.0) -> list[Path]:
    """Harmonic tones with a little noise, stereo; deterministic."""
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    paths = []
    for index in range(count):
        f0 = 110.0 * 2 ** (index / 3)
        signal = sum(0.2 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 8))
        signal = signal * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t)) + 0.003 * rng.standard_normal(t.shape)
        stereo = np.stack([signal, np.roll(signal, 40)]).astype(np.float32)
        paths.append(save_audio(folder / f"example{index}.wav", stereo, rate))
    return paths


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "runs/quickstart")
    write_example_clips(out / "clips")
    backbone = tiny_backbone("hubert")
    print("NOTE: using a tiny randomly initialised HuBERT: no pretrained weights are available offline.")
    cache = FeatureCache(out / "cache")
    entries = entries_from_paths([out / "clips"])
    for attempt in ("first run", "second run"):
        start = time.perf_counter()
        result = extract_features(entries, backbone, cache, progress=False)
        print(
            f"{attempt}: {result.computed} clips extracted, {result.reused} reused from cache "
            f"in {time.perf_counter() - start:.2f}s; features {result.get(entries[0].item_id).shape} per clip"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
