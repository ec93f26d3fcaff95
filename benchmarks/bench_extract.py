"""Feature extraction against a bare forward of the same backbone on the same clips, for every backbone.

  python benchmarks/bench_extract.py [--backbones NAME ...] [--budget 30] [--threads 2] [--json OUT]

Backbones: each SSL architecture with random weights in its base size (12 layers, 768 wide, as
wav2vec 2.0 Base, HuBERT Base, WavLM Base and MERT-v1-95M; speed depends on the architecture only,
and the tiny test configurations are left out: their forward takes a millisecond, so their
"overhead" is the fixed cost of reading a file and moved by 10-25 % between two runs of this
benchmark); and every pretrained encoder whose weights ship in a wheel, in its default variant. Clips:
GenSVS test signals (44.1 kHz stereo) cut to one length, so that they form one batch. Two sides,
interleaved (A, B, A, B ...) after one warm-up run of each:
bare: `Backbone.forward` on the clips already decoded, downmixed and resampled, as one batch, and
the same mean pooling over time;
extract: `extract_features` into a fresh, empty cache folder (content hashes, decoding in
background threads, downmix, resampling, the same forward, pooling, atomic cache writes).
Repetitions: at least 5, more until the overhead is known to +-4 % (95 % interval of the median of
the per-repetition ratios) or --budget seconds of timing per backbone have gone by (up to 3 budgets
while it is known to worse than +-8 %; with 5 runs of about a second, the machine's drifting speed
moved overheads by 10-16 % between two runs).
Overhead = extract / bare - 1, the median of the per-repetition ratios, with its 95 % interval. Slow
encoders get fewer and shorter clips (WORK), so that one of their runs takes about a second.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devdata import gensvs_pairs  # noqa: E402
from report import Section, add_output_arguments, emit, number, overhead  # noqa: E402
from timing import Ratio, Stats, fix_process, interleave, interleave_until  # noqa: E402

BASE_CONFIG = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
RANDOM = {"wav2vec2-base": "wav2vec2", "hubert-base": "hubert", "wavlm-base": "wavlm", "mert-base": "mert"}
ENCODERS = ("resemblyzer", "musicnn", "distillmos", "torchcrepe", "basic-pitch", "dnsmos", "cdpam")
DEFAULT_WORK = (4, 5.0)  # clips, seconds each
WORK = {**{name: (2, 5.0) for name in RANDOM}, "torchcrepe": (1, 5.0), "dnsmos": (2, 5.0), "cdpam": (1, 1.0)}
COLUMNS = ["backbone", "parameters", "clips x s", "repetitions", "bare s per audio-s: median", "extract: median",
           "extract overhead (95 %)"]  # fmt: skip


def open_backbone(name: str):
    """A random-weight architecture of RANDOM, else a pretrained encoder (or any name Backbone.from_pretrained takes)."""
    import torch

    from audioqual.backbones import Backbone

    if name in RANDOM:
        torch.manual_seed(0)
        return Backbone.from_config(RANDOM[name], name=f"random-{name}", **BASE_CONFIG)
    return Backbone.from_pretrained(name).eval()


def onnx_parameter_count(data: bytes) -> int:
    """Number of values in an ONNX model's initializers (ModelProto.graph.initializer[].dims), without `onnx`."""
    import numpy as np

    from audioqual.backbones.encoders.protobuf import fields, read_varint

    total = 0
    for field_number, graph in fields(data):
        if field_number != 7 or not isinstance(graph, bytes):  # ModelProto.graph
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


def parameter_count(backbone) -> int:
    """Weights of a torch backbone, or the initializer values of an ONNX encoder's graph."""
    model_bytes = getattr(backbone, "_model_bytes", None)
    if model_bytes is not None:
        return onnx_parameter_count(model_bytes)
    return sum(p.numel() for p in backbone.parameters())


def clip_entries(count: int, seconds: float) -> tuple[list, str]:
    """`count` GenSVS test signals cut to their first `seconds` (ManifestEntry objects)."""
    from audioqual.data.manifest import ManifestEntry

    pairs, source = gensvs_pairs(count)
    return [ManifestEntry(pair.test, 0.0, seconds) for pair in pairs], source


def extraction_sides(backbone, entries: list, folder: Path) -> dict:
    """The bare forward and extract_features of the same clips, as interleave sides."""
    import numpy as np
    import torch

    from audioqual.features import FeatureCache, FeatureSpec, extract_features, load_options_for
    from audioqual.io import load_audio

    options = load_options_for(backbone)
    batch = torch.from_numpy(np.stack([load_audio(e.path, options, e.start_time, e.end_time)[0][0] for e in entries]))
    caches = itertools.count()

    @torch.inference_mode()
    def bare(_) -> None:
        backbone(batch).hidden_states.mean(dim=2).transpose(0, 1).float().numpy()

    def extract(_) -> None:
        cache = FeatureCache(folder / f"cache-{next(caches)}")
        result = extract_features(entries, backbone, cache, FeatureSpec(), batch_size=len(entries), device="cpu",
                                  progress=False)  # fmt: skip
        if result.computed != len(entries) or result.failures:
            raise RuntimeError(f"extraction failed: {result.failures}")

    return {"bare": bare, "extract": extract}


def measure_overhead(backbone, entries: list, folder: Path, budget: float) -> tuple[dict[str, Stats], Ratio]:
    """Interleaved bare forward and extraction of `entries`: their timings and extract / bare."""
    sides = extraction_sides(backbone, entries, folder)
    interleave(sides, [None])  # warm-up; also computes the backbone's fingerprint once, as any run does
    stats = interleave_until(sides, [("extract", "bare")], budget=budget, maximum=300)
    return stats, Ratio.paired(stats["extract"], stats["bare"])


def extract_section(names: list[str], budget: float) -> Section:
    started = time.perf_counter()
    _, source = clip_entries(DEFAULT_WORK[0], DEFAULT_WORK[1])
    section = Section("extract", f"Extraction overhead over the bare forward, every backbone (clips from {source})",
                      __doc__.split("\n\n", 2)[2].replace("\n", " ").strip(), COLUMNS)  # fmt: skip
    for name in names:
        clips, seconds = WORK.get(name, DEFAULT_WORK)
        entries, _ = clip_entries(clips, seconds)
        try:
            backbone = open_backbone(name)
        except Exception as err:  # noqa: BLE001 - a missing wheel makes a row, not a failed benchmark
            section.add(name, "", f"{clips} x {seconds:g}", 0, "not available", "", f"{type(err).__name__}: {err}")
            continue
        with tempfile.TemporaryDirectory(prefix="audioqual-bench-") as tmp:
            stats, ratio = measure_overhead(backbone, entries, Path(tmp), budget)
        audio_seconds = clips * seconds
        section.add(name, f"{parameter_count(backbone) / 1e6:.2f} M", f"{clips} x {seconds:g}", stats["bare"].n,
                    number(stats["bare"].median / audio_seconds), number(stats["extract"].median / audio_seconds),
                    overhead(ratio))  # fmt: skip
        section.record(f"{name} extract / bare", ratio)
        section.data[name] = {key: value.to_dict() for key, value in stats.items()}
        del backbone
    section.seconds = time.perf_counter() - started
    return section


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=[*RANDOM, *ENCODERS],
                        help="random architectures (" + ", ".join(RANDOM) + ") or encoder names")
    parser.add_argument("--budget", type=float, default=30.0,
                        help="no repetition is added after this many seconds of timing per backbone (at least 5)")
    add_output_arguments(parser)
    args = parser.parse_args()
    print(fix_process(args.threads), flush=True)
    emit([extract_section(args.backbones, args.budget)], args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
