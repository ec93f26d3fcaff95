"""Make coded/degraded variants of clean audio: the surrogate-label training data of DeePAQ.

DeePAQ: Jiang et al. 2025, arXiv:2510.12326.

Clean files (or folders, or .jsonl/.csv manifests) are cut into clips (4 s), coded with
AAC, Opus and MP3 at 16-128 kbps through FFmpeg (optionally also low-passed, noised,
clipped or given packet-loss dropouts), kept sample-aligned with their clean reference,
written at 24 kHz (plus 48 kHz copies for labelling), split train/validation by source
file, and listed in OUT/manifest.jsonl with codec, bitrate (clean: Infinity), source
id and clip offsets. Corrupt or too-short sources are reported and skipped; a re-run
resumes an interrupted job.

No clean audio at hand? --render-music N and --render-speech N first render clean
sources offline into OUT/clean/: music21 corpus scores through fluidsynth and a
General MIDI soundfont, and espeak-ng synthetic speech (see docs/surrogate_labels.md
for what these are and their limits). --label then runs `audioqual label` on the
result, so one command turns rendered audio into a labelled manifest:

  audioqual degrade --render-music 3 --out runs/demo --label

Settings come from --config FILE.yaml and/or --set key=value (YAML values), e.g.
  --set codecs=[aac,opus] --set bitrates_kbps=[16,64,128] --set max_clips_per_source=5
  --set effects.noise_snr_db=[10,20] --set effects.lowpass_hz=[3500,7000]
  --set assignment=random   (one condition per clip, as in the paper)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audioqual.cli.label_args import add_label_options, label_and_report, label_config
from audioqual.config import load_config
from audioqual.data.manifest import load_entries
from audioqual.degrade import DegradeConfig, run_degrade
from audioqual.errors import AudioqualError

CLEAN_DIR = "clean"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the degrade command's options."""
    parser.add_argument("inputs", nargs="*", help="clean audio files, folders or manifests")
    parser.add_argument("--out", required=True, help="output folder (manifest.jsonl, audio/, sources.jsonl)")
    parser.add_argument("--config", help="YAML file of DegradeConfig settings")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
    parser.add_argument("--workers", type=int, help="parallel ffmpeg round trips (threads; default from config: 2)")
    parser.add_argument("--render-music", type=int, default=0, metavar="N",
                        help="first render N clean music pieces (music21 + fluidsynth) into OUT/clean/")  # fmt: skip
    parser.add_argument("--render-speech", type=int, default=0, metavar="N",
                        help="first render N clean espeak-ng speech files into OUT/clean/")  # fmt: skip
    parser.add_argument("--render-seconds", type=float, default=30.0, help="length cap of each rendered piece")
    parser.add_argument("--render-only", action="store_true", help="only render clean audio, do not degrade")
    parser.add_argument("--label", action="store_true", help="label the result with ViSQOL (audioqual label)")
    add_label_options(parser)


def run(args: argparse.Namespace) -> int:
    """Render (optionally), degrade, and label (optionally)."""
    config = load_config(DegradeConfig, args.config, args.set)
    if args.workers is not None:
        config.workers = args.workers
    out = Path(args.out)
    inputs = list(args.inputs)
    if args.render_music or args.render_speech:
        clean = _rendered_clean(out / CLEAN_DIR, args, config.seed)
        inputs.append(str(clean))
        if args.render_only:
            return 0
    if not inputs:
        raise AudioqualError("give clean audio inputs, or --render-music / --render-speech N")
    result = run_degrade(load_entries(inputs), out, config, retry_failed=args.retry_failed)
    per_minute = 60.0 * result.degraded_now / result.seconds if result.seconds > 0 else 0.0
    print(
        f"degraded {result.sources_done} source(s) into {result.clips} clips, {result.rows} rows -> {result.manifest} "
        f"({result.degraded_now} degraded clips made now in {result.seconds:.1f} s, {per_minute:.0f} per minute)"
    )
    for source, error in sorted(result.failures.items()):
        print(f"  skipped {source}: {error}", file=sys.stderr)
    if not result.rows:
        return 1
    if args.label:
        return label_and_report(str(result.manifest), None, label_config(args))
    return 0


def _rendered_clean(folder: Path, args: argparse.Namespace, seed: int) -> Path:
    """Render clean sources, or reuse an earlier rendering of the same counts (so re-runs resume)."""
    from audioqual.data.manifest import read_manifest
    from audioqual.synth import CLEAN_MANIFEST, render_clean

    existing = folder / CLEAN_MANIFEST
    if existing.exists():
        kinds = [e.metadata.get("kind") for e in read_manifest(existing)]
        if kinds.count("music") == args.render_music and kinds.count("speech") == args.render_speech:
            print(f"reusing rendered clean audio in {existing}")
            return existing
    clean = render_clean(folder, music=args.render_music, speech=args.render_speech, seed=seed,
                         max_seconds=args.render_seconds)  # fmt: skip
    print(f"rendered {args.render_music} music and {args.render_speech} speech file(s) -> {clean}")
    return clean
