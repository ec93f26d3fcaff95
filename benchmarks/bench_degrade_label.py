"""Benchmark of the surrogate-label pipeline: render clean music, degrade, label with ViSQOL.

Prints clips per minute for `degrade` and for `label`, the MOS per condition, the
Spearman correlation of MOS with bitrate per codec (it should be strongly positive),
and, with --conformance, the full ViSQOL conformance check against Google's C++ values.

  python benchmarks/bench_degrade_label.py --music 4 --max-clips 2
  python benchmarks/bench_degrade_label.py --conformance-only
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from audioqual.baselines.visqol import ViSQOLMetric  # noqa: E402
from audioqual.data.manifest import load_entries  # noqa: E402
from audioqual.degrade import DegradeConfig, run_degrade  # noqa: E402
from audioqual.labels import LabelConfig, bitrate_trends, format_summary, label_manifest  # noqa: E402
from audioqual.synth import render_clean  # noqa: E402

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "visqol_conformance"


def conformance() -> bool:
    """Score the 10 conformance pairs; True when all are within 0.01 MOS of C++ ViSQOL v3."""
    if not CONFORMANCE.is_dir():
        print(f"conformance: {CONFORMANCE} absent, skipped")
        return True
    metric = ViSQOLMetric("audio")
    worst = 0.0
    with open(CONFORMANCE / "conformance.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        expected = float(next(v for k, v in row.items() if k.startswith("expected")))
        started = time.perf_counter()
        got = metric.score_files(CONFORMANCE / row["reference"], CONFORMANCE / row["degraded"])["visqol_moslqo"]
        worst = max(worst, abs(got - expected))
        print(f"conformance {row['condition']:<16} C++ {expected:.6f}  ours {got:.6f}  diff {got - expected:+.2e}"
              f"  ({time.perf_counter() - started:.1f} s)")  # fmt: skip
    print(f"conformance: max |diff| = {worst:.2e} over {len(rows)} pairs -> {'PASS' if worst <= 0.01 else 'FAIL'}")
    return worst <= 0.01


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--music", type=int, default=4, help="clean music pieces to render")
    parser.add_argument("--speech", type=int, default=0, help="clean speech files to render")
    parser.add_argument("--seconds", type=float, default=12.0, help="length cap of each rendered piece")
    parser.add_argument("--max-clips", type=int, default=2, help="clips per source")
    parser.add_argument("--bitrates", default="16,32,48,64,80,96,128", help="comma-separated kbps ladder")
    parser.add_argument("--codecs", default="aac,opus,mp3")
    parser.add_argument("--channels", default="keep", help="DegradeConfig.channels: keep (stereo coding) or downmix")
    parser.add_argument("--workers", type=int, default=2, help="degrade threads")
    parser.add_argument("--label-workers", type=int, default=2, help="label processes")
    parser.add_argument("--out", help="work folder (default: a temporary one)")
    parser.add_argument("--conformance", action="store_true", help="also run the full ViSQOL conformance check")
    parser.add_argument("--conformance-only", action="store_true")
    args = parser.parse_args()
    if args.conformance_only:
        return 0 if conformance() else 1

    work = Path(args.out or tempfile.mkdtemp(prefix="audioqual-bench-"))
    started = time.perf_counter()
    clean = render_clean(work / "clean", music=args.music, speech=args.speech, max_seconds=args.seconds)
    print(f"render: {args.music + args.speech} clean files in {time.perf_counter() - started:.1f} s")

    config = DegradeConfig(
        codecs=args.codecs.split(","),
        bitrates_kbps=[int(b) for b in args.bitrates.split(",")],
        max_clips_per_source=args.max_clips,
        channels=args.channels,
        workers=args.workers,
    )
    result = run_degrade(load_entries([clean]), work / "run", config)
    rows = [json.loads(line) for line in result.manifest.read_text().splitlines()]
    coded = [r for r in rows if r["degradation"] != "clean"]
    print(f"degrade: {result.clips} clips -> {result.degraded_now} degraded clips in {result.seconds:.1f} s = "
          f"{60 * result.degraded_now / result.seconds:.0f} degraded clips/min ({config.workers} threads)")  # fmt: skip
    lags = [r["align_lag_samples"] for r in coded if "align_lag_samples" in r]
    print(f"alignment: residual codec lag non-zero on {sum(1 for lag in lags if lag)} of {len(lags)} coded clips")

    labelled = label_manifest(result.manifest, None, LabelConfig(workers=args.label_workers))
    print(f"label: {labelled.scored_now} clips in {labelled.seconds:.1f} s = "
          f"{60 * labelled.scored_now / labelled.seconds:.1f} clips/min ({args.label_workers} processes), "
          f"{len(labelled.failures)} failed")  # fmt: skip
    out_rows = [json.loads(line) for line in labelled.output.read_text().splitlines()]
    print(format_summary(out_rows))
    trends = bitrate_trends(out_rows)
    ok = all(t.spearman > 0.5 for t in trends)
    if args.conformance:
        ok = conformance() and ok
    print(f"work folder: {work}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
